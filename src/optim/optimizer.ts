// The optimizer base, as torch.optim.Optimizer: parameter groups with per-group
// hyper-parameters, per-parameter state, step/zeroGrad, and a checkpoint state that
// round-trips exactly.
//
// Memory: step() runs under noGrad (an update must not enter the autograd graph) and
// inside tidy, so every temporary it makes is freed; each parameter's update gets its
// own inner tidy, so temporaries never pile up beyond one parameter's worth. State
// tensors (moments, momentum buffers) are created with keep(): they outlive any scope
// the caller has open and are freed by dispose() or when a loaded state replaces them.
import { ConfigError, keep, noGrad, tidy, type Tensor } from '../torch/index.js';

/** Hyper-parameters every optimizer has. Subclass option types extend this. */
export interface GroupOptions {
  lr: number;
}

/** A live parameter group: its params, its hyper-parameters, and the schedule's base lr. */
export type ParamGroup<O extends GroupOptions> = O & {
  params: Tensor[];
  /** Set by the first LR scheduler attached (PyTorch's `initial_lr`); schedules start from it. */
  initialLr?: number;
};

/** A group as given to a constructor or addParamGroup: params plus any hyper-parameters to override. */
export type ParamGroupInput<O extends GroupOptions> = { params: Tensor[] } & Partial<O> & { initialLr?: number };

/** `Tensor[]` (one group with the defaults) or a list of groups, as PyTorch accepts. */
export type ParamsInput<O extends GroupOptions> = Tensor[] | ParamGroupInput<O>[];

/** Per-parameter state: update count and named buffers (PyTorch's names, e.g. `exp_avg`). */
export interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

/** Checkpoint state. `tensors` are REFERENCES to live state (do not dispose); `meta` is JSON. */
export interface OptimizerStateDict {
  tensors: Record<string, Tensor>;
  meta: unknown;
}

/** The JSON half of a state dict (meta), as written by stateDict(). */
export interface OptimizerMeta {
  format: typeof META_FORMAT;
  /** The optimizer class, e.g. "Adam"; loading into another class is refused. */
  type: string;
  /** Hyper-parameters per group and the global indices of the group's params. */
  groups: (Record<string, unknown> & { params: number[] })[];
  /** Shape of each parameter, by global index (group order, then position in group). */
  shapes: number[][];
  /** State per global param index; buffer i is in `tensors["state.<index>.<name>"]`. */
  state: Record<string, { step: number; buffers: string[] }>;
}

export const META_FORMAT = 'distill.optim/1';

/** The key of one state tensor in a state dict. */
export const stateKey = (index: number, name: string) => `state.${index}.${name}`;

type Defaults<O extends GroupOptions> = Omit<O, 'lr'> & { lr?: number };

export abstract class Optimizer<O extends GroupOptions = GroupOptions> {
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Hyper-parameters a group gets when it does not set its own. */
  readonly defaults: Readonly<Defaults<O>>;
  protected readonly state = new Map<Tensor, ParamState>();
  /** Class name written into the state dict (survives minification, unlike constructor.name). */
  protected abstract readonly kind: string;
  /** Buffer names this optimizer may hold per parameter (checked on load). */
  protected abstract readonly bufferNames: readonly string[];

  constructor(params: ParamsInput<O>, defaults: Defaults<O>) {
    this.defaults = Object.freeze({ ...defaults });
    if (!Array.isArray(params) || params.length === 0) throw new ConfigError('optimizer got an empty parameter list');
    const groups: ParamGroupInput<O>[] = isTensorList(params) ? [{ params } as ParamGroupInput<O>] : (params as ParamGroupInput<O>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group (e.g. unfrozen layers during fine-tuning); missing hyper-parameters come from the defaults. */
  addParamGroup(input: ParamGroupInput<O>): void {
    if (!input || !Array.isArray(input.params)) throw new ConfigError('a parameter group needs `params`, an array of tensors');
    const params = [...input.params];
    params.forEach((p, i) => {
      if (!p || typeof p !== 'object' || !('handle' in p)) throw new ConfigError(`parameter group entry ${i} is not a Tensor`);
      if (!p.isLeaf) throw new ConfigError(`cannot optimize a non-leaf tensor (parameter ${i}, shape [${p.shape.join(', ')}]); detach it and call requiresGrad_()`);
    });
    const seen = new Set(this.params);
    for (const p of params) {
      if (seen.has(p)) throw new ConfigError('some parameters appear in more than one parameter group (or twice in one)');
      seen.add(p);
    }
    const { params: _, ...hyper } = input;
    // Deep copies, so groups never share a mutable hyper-parameter (e.g. the betas array).
    const group = { ...structuredClone({ ...this.defaults }), ...structuredClone(hyper), params } as ParamGroup<O>;
    if (typeof group.lr !== 'number') throw new ConfigError(`parameter group ${this.paramGroups.length} has no learning rate: give \`lr\` in the options or the group`);
    this.validateGroup(group, this.paramGroups.length);
    this.paramGroups.push(group);
  }

  /** Throws ConfigError for invalid hyper-parameters; subclasses add their checks. */
  protected validateGroup(g: ParamGroup<O>, index: number): void {
    if (!(g.lr >= 0)) throw new ConfigError(`invalid learning rate ${g.lr} in parameter group ${index}`);
  }

  /** Every parameter, in global-index order. */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Sets every group's learning rate. */
  setLr(lr: number): void {
    for (const g of this.paramGroups) g.lr = lr;
  }

  /** Sets each parameter's grad to null (PyTorch's zero_grad(set_to_none=True)): no memory, no memset. */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    noGrad(() =>
      tidy(() => {
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            tidy(() => {
              const grad = p.grad;
              if (grad === null) return;
              let st = this.state.get(p);
              if (!st) this.state.set(p, (st = { step: 0, buffers: {} }));
              this.update(p, grad, st, group);
            });
          }
        }
      }),
    );
  }

  /** The update rule for one parameter; runs under noGrad in a tidy. New buffers must go through `buffer()`. */
  protected abstract update(p: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<O>): void;

  /** Stores a new state buffer, kept out of every open scope. */
  protected buffer(state: ParamState, name: string, t: Tensor): Tensor {
    state.buffers[name] = keep(t);
    return t;
  }

  /** The state of one parameter (for inspection and tests), or undefined before its first update. */
  stateOf(p: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(p);
  }

  /** Number of live state tensors this optimizer owns. */
  get stateTensorCount(): number {
    let n = 0;
    for (const st of this.state.values()) n += Object.keys(st.buffers).length;
    return n;
  }

  /**
   * Checkpoint state: `tensors` are references to the live buffers under
   * `state.<paramIndex>.<name>` (callers must not dispose them); `meta` is JSON with
   * hyper-parameters per group, step counts and the parameter layout.
   */
  stateDict(): { tensors: Record<string, Tensor>; meta: OptimizerMeta } {
    const index = new Map<Tensor, number>();
    const groups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      return { ...(structuredClone(hyper) as Record<string, unknown>), params: params.map((p) => {
        index.set(p, index.size);
        return index.size - 1;
      }) };
    });
    const shapes = this.params.map((p) => [...p.shape]);
    const tensors: Record<string, Tensor> = {};
    const state: OptimizerMeta['state'] = {};
    for (const [p, st] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      state[String(i)] = { step: st.step, buffers: Object.keys(st.buffers) };
      for (const [name, t] of Object.entries(st.buffers)) tensors[stateKey(i, name)] = t;
    }
    return { tensors, meta: { format: META_FORMAT, type: this.kind, groups, shapes, state } };
  }

  /**
   * Restores hyper-parameters, step counts and buffers from a state dict by copying
   * (the given tensors stay the caller's). Everything is validated first: on any
   * mismatch it throws ConfigError and this optimizer is unchanged.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const { meta, tensors } = sd ?? ({} as OptimizerStateDict);
    const m = meta as Partial<OptimizerMeta> | null;
    const bad = (why: string): never => {
      throw new ConfigError(`cannot load optimizer state: ${why}`);
    };
    if (!m || typeof m !== 'object' || m.format !== META_FORMAT) bad(`meta.format is not '${META_FORMAT}'`);
    if (m!.type !== this.kind) bad(`it was saved by ${String(m!.type)}, this optimizer is ${this.kind}`);
    if (!tensors || typeof tensors !== 'object') bad('`tensors` is missing');
    const groups = m!.groups;
    if (!Array.isArray(groups) || groups.length !== this.paramGroups.length)
      bad(`it has ${Array.isArray(groups) ? groups.length : 'no'} parameter groups, this optimizer has ${this.paramGroups.length}`);
    const params = this.params;
    const shapes = m!.shapes;
    if (!Array.isArray(shapes) || shapes.length !== params.length) bad(`it has ${Array.isArray(shapes) ? shapes.length : 'no'} parameters, this optimizer has ${params.length}`);

    // Hyper-parameters: validated on candidate groups before anything changes.
    let next = 0;
    const candidates = this.paramGroups.map((live, gi) => {
      const saved = groups![gi];
      if (!saved || !Array.isArray(saved.params) || saved.params.length !== live.params.length)
        bad(`parameter group ${gi} has ${saved?.params?.length ?? 'no'} parameters saved, ${live.params.length} here`);
      saved.params.forEach((idx, k) => {
        if (idx !== next + k) bad(`parameter group ${gi} lists index ${idx} at position ${k}, expected ${next + k}`);
      });
      next += live.params.length;
      const cand: Record<string, unknown> = { ...(live as unknown as Record<string, unknown>) };
      for (const [key, v] of Object.entries(saved)) {
        if (key === 'params') continue;
        const cur = (live as unknown as Record<string, unknown>)[key] ?? (key === 'initialLr' ? 0 : undefined);
        if (cur === undefined) bad(`parameter group ${gi} has unknown hyper-parameter '${key}'`);
        if (typeof v !== typeof cur || Array.isArray(v) !== Array.isArray(cur)) bad(`parameter group ${gi}: '${key}' is ${JSON.stringify(v)}, expected a ${typeof cur}`);
        cand[key] = structuredClone(v);
      }
      this.validateGroup(cand as unknown as ParamGroup<O>, gi);
      return cand as unknown as ParamGroup<O>;
    });
    params.forEach((p, i) => {
      const s = shapes![i];
      if (!Array.isArray(s) || s.length !== p.ndim || s.some((d, k) => d !== p.shape[k]))
        bad(`parameter ${i} has shape [${p.shape.join(', ')}] here but [${Array.isArray(s) ? s.join(', ') : '?'}] in the saved state`);
    });

    // Per-parameter state.
    const state = m!.state ?? {};
    if (typeof state !== 'object') bad('meta.state is not an object');
    const used = new Set<string>();
    const plan: [Tensor, number, [string, Tensor][]][] = [];
    for (const [key, entry] of Object.entries(state)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= params.length) bad(`state for parameter index '${key}', but there are ${params.length} parameters`);
      if (!entry || !Number.isInteger(entry.step) || entry.step < 0 || !Array.isArray(entry.buffers)) bad(`state ${key} is malformed`);
      const p = params[i];
      const bufs: [string, Tensor][] = [];
      for (const name of entry.buffers) {
        if (!this.bufferNames.includes(name)) bad(`state ${key} has buffer '${name}', which ${this.kind} does not use (expected ${this.bufferNames.join(', ')})`);
        const k = stateKey(i, name);
        const t = tensors[k];
        if (!t || typeof t !== 'object' || !('handle' in t)) bad(`tensor '${k}' is missing`);
        if (t.isDisposed) bad(`tensor '${k}' is disposed`);
        if (t.ndim !== p.ndim || t.shape.some((d, j) => d !== p.shape[j]))
          bad(`tensor '${k}' has shape [${t.shape.join(', ')}], parameter ${i} has [${p.shape.join(', ')}]`);
        used.add(k);
        bufs.push([name, t]);
      }
      plan.push([p, entry.step, bufs]);
    }
    for (const k of Object.keys(tensors)) if (!used.has(k)) bad(`unexpected tensor '${k}' (not listed in meta.state)`);

    // Commit: copy the buffers (cast to the parameter's dtype, as PyTorch does), then swap.
    const fresh = new Map<Tensor, ParamState>();
    noGrad(() => {
      for (const [p, step, bufs] of plan) {
        const buffers: Record<string, Tensor> = {};
        for (const [name, t] of bufs) buffers[name] = keep(t.dtype === p.dtype ? t.clone() : t.toDtype(p.dtype));
        fresh.set(p, { step, buffers });
      }
    });
    this.disposeState();
    for (const [p, st] of fresh) this.state.set(p, st);
    candidates.forEach((c, gi) => Object.assign(this.paramGroups[gi], c));
  }

  private disposeState(): void {
    for (const st of this.state.values()) for (const t of Object.values(st.buffers)) t.dispose();
    this.state.clear();
  }

  /** Frees every state tensor; the optimizer can keep stepping (state restarts from zero). */
  dispose(): void {
    this.disposeState();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function isTensorList(x: unknown[]): boolean {
  return x.every((v) => v !== null && typeof v === 'object' && 'handle' in v && !('params' in v));
}

// The base of every layer, as torch.nn.Module: a tree of named submodules, each owning
// named parameters (tensors the optimizer trains) and buffers (state that is saved but
// not trained, e.g. BatchNorm's running statistics).
//
// Registration is explicit (`registerParameter`, `registerBuffer`, `registerModule`);
// each returns what it registered so a subclass writes `this.weight = this.registerParameter(…)`.
// Parameters and buffers are taken out of every open scope with `keep`, so a module built
// inside `tidy` outlives it; they are freed by `dispose()`.
//
// Names follow PyTorch, so `stateDict()` keys (`0.weight`, `fc1.bias`, `1.running_mean`)
// match `model.state_dict()` and a checkpoint can move between the two.
import * as torch from '../torch/index.js';
import type { Tensor, DType } from '../torch/index.js';

/** Any module, whatever its forward signature. */
export type AnyModule = Module<any[], any>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ForwardHook<In extends unknown[], Out> = (module: any, inputs: In, output: Out) => void;

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  /** Train mode (true) or eval mode; changes Dropout and BatchNorm. Set it with train()/eval(). */
  training = true;
  // Insertion order is PyTorch's registration order, which fixes the stateDict key order.
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #nonPersistent = new Set<string>();
  readonly #modules = new Map<string, AnyModule>();
  // Stored loosely typed: a hook typed for one module's In/Out must not make Module invariant.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  #hooks: ((module: any, inputs: any, output: any) => void)[] = [];

  abstract forward(...args: In): Out;

  /** The entry point callers use (PyTorch's `__call__`); it runs `forward`, then the forward hooks. */
  call(...args: In): Out {
    const out = this.forward(...args);
    for (const hook of this.#hooks) hook(this, args, out);
    return out;
  }

  /**
   * Runs `hook(module, inputs, output)` after every `call` (PyTorch's register_forward_hook).
   * Feature-distillation losses use it to read intermediate outputs by module name without
   * editing the model. A hook that keeps `output` past the call must `torch.keep` it, since
   * containers free their intermediates. Returns a function that removes the hook.
   */
  registerForwardHook(hook: ForwardHook<In, Out>): () => void {
    this.#hooks.push(hook);
    return () => {
      this.#hooks = this.#hooks.filter((h) => h !== hook);
    };
  }

  // ── registration ──

  /** Registers `t` as a trainable parameter: it becomes a kept leaf with requiresGrad. */
  registerParameter(name: string, t: Tensor): Tensor {
    this.#checkName(name, this.#parameters);
    if (!(t instanceof torch.Tensor)) throw new torch.ConfigError(`${this.#kind()}.registerParameter('${name}'): expected a Tensor`);
    if (!t.isLeaf) throw new torch.ConfigError(`${this.#kind()}.registerParameter('${name}'): a parameter must be a leaf tensor; pass t.detach()`);
    torch.keep(t);
    t.requiresGrad_(true);
    this.#parameters.set(name, t);
    return t;
  }

  /**
   * Registers `t` as a buffer: saved in stateDict (unless `persistent` is false), moved by
   * loadStateDict, never trained.
   */
  registerBuffer(name: string, t: Tensor, opts: { persistent?: boolean } = {}): Tensor {
    this.#checkName(name, this.#buffers);
    if (!(t instanceof torch.Tensor)) throw new torch.ConfigError(`${this.#kind()}.registerBuffer('${name}'): expected a Tensor`);
    torch.keep(t);
    this.#buffers.set(name, t);
    if (opts.persistent ?? true) this.#nonPersistent.delete(name);
    else this.#nonPersistent.add(name);
    return t;
  }

  /** Registers a child module; its parameters appear under `name.`. */
  registerModule<M extends AnyModule>(name: string, m: M): M {
    this.#checkName(name, this.#modules);
    if (!(m instanceof Module)) throw new torch.ConfigError(`${this.#kind()}.registerModule('${name}'): expected a Module`);
    this.#modules.set(name, m);
    return m;
  }

  #checkName(name: string, own: Map<string, unknown>): void {
    if (typeof name !== 'string' || name === '' || name.includes('.'))
      throw new torch.ConfigError(`${this.#kind()}: bad name '${String(name)}': names must be non-empty and contain no '.'`);
    // Re-registering under the same kind replaces (as PyTorch); a clash across kinds is an error.
    for (const m of [this.#parameters, this.#buffers, this.#modules] as Map<string, unknown>[])
      if (m !== own && m.has(name)) throw new torch.ConfigError(`${this.#kind()}: '${name}' is already registered as another kind of member`);
  }

  #kind(): string {
    return this.constructor.name;
  }

  // ── traversal (arrays, in PyTorch's order; shared members are listed once) ──

  /** [name, child] for the direct children. */
  namedChildren(): [string, AnyModule][] {
    return [...this.#modules];
  }
  children(): AnyModule[] {
    return [...this.#modules.values()];
  }

  /** [dotted name, module] for this module ('' ) and every descendant, depth first. */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [];
    const seen = new Set<AnyModule>();
    const visit = (m: AnyModule, p: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([p, m]);
      for (const [n, c] of m.#modules) visit(c, p ? `${p}.${n}` : n);
    };
    visit(this, prefix);
    return out;
  }
  modules(): AnyModule[] {
    return this.namedModules().map(([, m]) => m);
  }

  namedParameters(): [string, Tensor][] {
    return this.#namedMembers((m) => m.#parameters);
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** All buffers, persistent or not. */
  namedBuffers(): [string, Tensor][] {
    return this.#namedMembers((m) => m.#buffers);
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  #namedMembers(pick: (m: AnyModule) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [p, m] of this.namedModules())
      for (const [n, t] of pick(m)) {
        if (seen.has(t)) continue; // a tied weight is trained (and counted) once
        seen.add(t);
        out.push([p ? `${p}.${n}` : n, t]);
      }
    return out;
  }

  // ── modes and gradients ──

  /** Sets train mode on this module and all descendants; returns this. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.#modules.values()) c.train(mode);
    return this;
  }
  /** Eval mode: Dropout is the identity, BatchNorm uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  /** Drops every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Turns gradient tracking of every parameter on or off (e.g. to freeze a teacher); returns this. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }

  /** Calls `fn` on every descendant, then on this module (PyTorch's order); returns this. */
  apply(fn: (m: AnyModule) => void): this {
    for (const c of this.#modules.values()) c.apply(fn);
    fn(this);
    return this;
  }

  // ── dtype ──

  /**
   * PyTorch's `module.to(torch.bfloat16)`: converts every floating parameter and buffer to
   * `dtype` in place, through `param.data = param.to(dtype)` (Tensor.setData). The Tensor
   * objects stay the same (optimizers, tied weights and stateDict references keep working),
   * requiresGrad is kept, integer buffers are left alone. A converted parameter's gradient is
   * dropped (PyTorch converts it too; here it would be of the wrong dtype for the next backward).
   * Returns this.
   */
  to(dtype: DType): this {
    if (!torch.isFloating(dtype))
      throw new torch.ConfigError(`${this.#kind()}.to: a module converts to a floating dtype (float32, bfloat16, float16, float64), got '${String(dtype)}'`);
    // Children first, each through its own `to` (PyTorch's _apply order), so a module that
    // overrides `to` (CausalLM keeps its RoPE tables in float32) is honoured when nested.
    for (const c of this.#modules.values()) c.to(dtype);
    torch.noGrad(() => {
      for (const t of [...this.#parameters.values(), ...this.#buffers.values()]) {
        // A tied or already converted tensor is in `dtype` by now: nothing to do.
        if (!torch.isFloating(t.dtype) || t.dtype === dtype) continue;
        const converted = t.toDtype(dtype);
        t.grad = null;
        t.setData(converted);
        converted.dispose(); // t now owns the storage
      }
    });
    return this;
  }
  /** `to('float32')`. */
  float(): this {
    return this.to('float32');
  }
  /** `to('bfloat16')`. */
  bfloat16(): this {
    return this.to('bfloat16');
  }
  /** `to('float16')`. */
  half(): this {
    return this.to('float16');
  }

  // ── state ──

  /**
   * The live parameter and persistent-buffer tensors under PyTorch's state_dict keys.
   * These are REFERENCES, not copies: do not dispose them; read or save them.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.#collectState(out, '');
    return out;
  }

  #collectState(out: Record<string, Tensor>, prefix: string): void {
    for (const [n, t] of this.#parameters) out[prefix + n] = t;
    for (const [n, t] of this.#buffers) if (!this.#nonPersistent.has(n)) out[prefix + n] = t;
    for (const [n, m] of this.#modules) m.#collectState(out, `${prefix}${n}.`);
  }

  /**
   * Copies `sd`'s values into this module's tensors in place (so optimizers keep
   * their references). Everything is checked before anything is copied:
   * - strict (default): any missing or unexpected key throws a ConfigError naming them all;
   * - a shape mismatch always throws a ShapeError naming the key.
   * Dtypes are converted by `copy_` as in PyTorch.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(sd, k));
    const unexpectedKeys = Object.keys(sd).filter((k) => !Object.hasOwn(own, k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts: string[] = [];
      const q = (ks: string[]) => ks.map((k) => `"${k}"`).join(', ');
      if (missingKeys.length) parts.push(`missing key(s): ${q(missingKeys)}`);
      if (unexpectedKeys.length) parts.push(`unexpected key(s): ${q(unexpectedKeys)}`);
      throw new torch.ConfigError(`Error(s) in loading state dict for ${this.#kind()}: ${parts.join('; ')}`);
    }
    const pairs: [Tensor, Tensor][] = [];
    for (const [k, dst] of Object.entries(own)) {
      if (!Object.hasOwn(sd, k)) continue;
      const src = sd[k];
      if (!(src instanceof torch.Tensor)) throw new torch.ConfigError(`loadStateDict: value for "${k}" is not a Tensor`);
      if (src.isDisposed) throw new torch.ConfigError(`loadStateDict: value for "${k}" has been disposed`);
      const a = src.shape;
      const b = dst.shape;
      if (a.length !== b.length || a.some((s, i) => s !== b[i]))
        throw new torch.ShapeError('ERR_SHAPE', 'loadStateDict',
          `size mismatch for "${k}": the state dict has shape [${a.join(', ')}], the ${this.#kind()} has [${b.join(', ')}]`, '');
      pairs.push([dst, src]);
    }
    torch.noGrad(() => {
      for (const [dst, src] of pairs) dst.copy_(src);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter and buffer of this module and its descendants. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
    for (const t of this.buffers()) t.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ── printing ──

  /** The constructor arguments shown by toString(), as PyTorch's extra_repr. */
  extraRepr(): string {
    return '';
  }

  /** PyTorch-style summary: `Sequential(\n  (0): Linear(in_features=3, …)\n)`. */
  toString(): string {
    const head = `${this.#kind()}(${this.extraRepr()}`;
    if (!this.#modules.size) return `${head})`;
    const lines = [...this.#modules].map(([n, m]) => `  (${n}): ${String(m).replace(/\n/g, '\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

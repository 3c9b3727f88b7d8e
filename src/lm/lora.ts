// LoRA (Hu et al. 2021) on the Linear layers of a CausalLM, as PEFT's LoraModel does it:
// a frozen W and a trainable low-rank update,
//   y = x·Wᵀ + b + s · B(A(dropout(x))),   A (r, in), B (out, r), s = α/r (or α/√r, rsLoRA),
// A drawn like PEFT (nn.Linear's kaiming-uniform, a = √5), B zero, so training starts at the
// base model exactly. The model's file (model.ts) is not edited: each targeted Linear is swapped
// in its parent for a LoraLinear that holds the SAME weight and bias tensors under the same
// names, so `stateDict()` keeps every base key and adds `….lora_A.weight`, `….lora_B.weight`
// (the Trainer checkpoints and resumes them with the rest). mergeLora folds s·B·A into W and
// puts the original Linear back. The PEFT file layout (adapter_model.safetensors) is peft.ts.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Linear, Module, init, type AnyModule } from '../nn/index.js';
import type { CausalLM } from './model.js';

export interface LoraConfig {
  /** Rank r of the update B·A. */
  r: number;
  /** lora_alpha: the update is scaled by α/r (α/√r with rslora). */
  alpha: number;
  /** Dropout on the adapter's input, in training only (default 0). */
  dropout?: number;
  /** Module names (the last part of the dotted name, or a dotted suffix) that get adapters. */
  targets?: string[];
  /** Rank-stabilised scaling α/√r (Kalajdzievski 2023), PEFT's use_rslora. */
  rslora?: boolean;
}

export const DEFAULT_LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** A config with every field set: what a model carries and a recipe compares. */
export type ResolvedLoraConfig = Required<LoraConfig>;

/** The update's scale s: α/r, or α/√r with rsLoRA (PEFT's LoraLayer.update_layer). */
export function loraScaling(cfg: Pick<LoraConfig, 'r' | 'alpha' | 'rslora'>): number {
  return cfg.rslora ? cfg.alpha / Math.sqrt(cfg.r) : cfg.alpha / cfg.r;
}

/** Checks a config and fills its defaults; every problem is one ConfigError. */
export function resolveLoraConfig(cfg: LoraConfig): ResolvedLoraConfig {
  if (cfg === null || typeof cfg !== 'object') throw new torch.ConfigError('LoRA: the config must be an object { r, alpha, dropout?, targets?, rslora? }');
  const { r, alpha } = cfg;
  const dropout = cfg.dropout ?? 0;
  const targets = cfg.targets ?? DEFAULT_LORA_TARGETS;
  const rslora = cfg.rslora ?? false;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) throw new torch.ConfigError(`LoRA: the rank r must be an integer ≥ 1, got ${String(r)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0) throw new torch.ConfigError(`LoRA: alpha must be a number > 0, got ${String(alpha)}`);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new torch.ConfigError(`LoRA: dropout must be in [0, 1), got ${String(dropout)}`);
  if (!Array.isArray(targets) || targets.length === 0 || targets.some((t) => typeof t !== 'string' || t === ''))
    throw new torch.ConfigError(`LoRA: targets must be a non-empty list of module names (e.g. ${DEFAULT_LORA_TARGETS.join(', ')}), got ${JSON.stringify(targets)}`);
  const dup = targets.find((t, i) => targets.indexOf(t) !== i);
  if (dup !== undefined) throw new torch.ConfigError(`LoRA: target '${dup}' is listed twice`);
  if (typeof rslora !== 'boolean') throw new torch.ConfigError(`LoRA: rslora must be true or false, got ${String(rslora)}`);
  return { r, alpha, dropout, targets: [...targets], rslora };
}

/**
 * The CLI's `--lora r=16,alpha=32[,dropout=0.05][,targets=q_proj+v_proj][,rslora]`: comma-separated
 * key=value pairs, targets joined by '+', rslora bare (or rslora=true|false).
 */
export function parseLoraFlag(s: string): LoraConfig {
  const syntax = "expected r=16,alpha=32[,dropout=0.05][,targets=q_proj+v_proj][,rslora]";
  if (typeof s !== 'string' || s.trim() === '') throw new torch.ConfigError(`--lora: empty value; ${syntax}`);
  const out: Partial<LoraConfig> = {};
  const seen = new Set<string>();
  const num = (k: string, v: string) => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n)) throw new torch.ConfigError(`--lora: ${k}='${v}' is not a number; ${syntax}`);
    return n;
  };
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? null : part.slice(eq + 1).trim();
    if (seen.has(key)) throw new torch.ConfigError(`--lora: '${key}' is given twice in '${s}'`);
    seen.add(key);
    if (key === 'rslora') {
      if (value !== null && value !== 'true' && value !== 'false') throw new torch.ConfigError(`--lora: rslora takes no value (or true/false), got '${value}'`);
      out.rslora = value !== 'false';
      continue;
    }
    if (value === null) throw new torch.ConfigError(`--lora: '${part}' has no value; ${syntax}`);
    if (key === 'r') out.r = num(key, value);
    else if (key === 'alpha') out.alpha = num(key, value);
    else if (key === 'dropout') out.dropout = num(key, value);
    else if (key === 'targets') out.targets = value.split('+').map((t) => t.trim());
    else throw new torch.ConfigError(`--lora: unknown setting '${key}' (known: r, alpha, dropout, targets, rslora); ${syntax}`);
  }
  if (out.r === undefined || out.alpha === undefined) throw new torch.ConfigError(`--lora: r and alpha are required, got '${s}'; ${syntax}`);
  resolveLoraConfig(out as LoraConfig); // the same checks as applyLora, at parse time
  return out as LoraConfig;
}

/**
 * A Linear with a LoRA adapter (PEFT's lora.Linear). `weight` and `bias` are the base layer's own
 * tensors (frozen), `lora_A` (in → r) and `lora_B` (r → out) are bias-free Linears, so the state
 * dict keys are `weight`, `bias`, `lora_A.weight`, `lora_B.weight`.
 */
export class LoraLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** (out, in), the base layer's tensor */
  readonly weight: Tensor;
  /** (out) or null, the base layer's tensor */
  readonly bias: Tensor | null;
  /** (in → r): weight (r, in) */
  readonly lora_A: Linear;
  /** (r → out): weight (out, r) */
  readonly lora_B: Linear;
  readonly scaling: number;

  constructor(readonly base: Linear, readonly r: number, alpha: number, readonly dropoutP: number, rslora: boolean) {
    super();
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    // registerParameter turns requiresGrad on; the base tensors keep what they had (applyLora froze them).
    const trains = [base.weight.requiresGrad, base.bias?.requiresGrad ?? false];
    this.weight = this.registerParameter('weight', base.weight).requiresGrad_(trains[0]);
    this.bias = base.bias ? this.registerParameter('bias', base.bias).requiresGrad_(trains[1]) : null;
    // PEFT's update_layer: nn.Linear(in, r) and nn.Linear(r, out) (each drawing its default
    // kaiming init), then reset_lora_parameters redraws A with kaiming_uniform_(a=√5) and zeros B.
    // The same draws in the same order, so after the same seed A equals PEFT's bit for bit.
    this.lora_A = this.registerModule('lora_A', new Linear(base.inFeatures, r, { bias: false }));
    this.lora_B = this.registerModule('lora_B', new Linear(r, base.outFeatures, { bias: false }));
    init.kaimingUniform_(this.lora_A.weight, { a: Math.sqrt(5) });
    torch.noGrad(() => this.lora_B.weight.zero_());
    this.scaling = loraScaling({ r, alpha, rslora });
  }

  /**
   * x (…, in) → (…, out): base(x) + s·B(A(dropout(x))), PEFT's order of operations. Adapters kept
   * in float32 on a bf16/f16 base run in float32 and their output is cast to the base's dtype,
   * as PEFT does (autocast_adapter_dtype).
   */
  forward(x: Tensor): Tensor {
    const y = torch.linear(x, this.weight, this.bias);
    let h = this.dropoutP > 0 ? torch.dropout(x, this.dropoutP, this.training) : x;
    if (h.dtype !== this.lora_A.weight.dtype) h = h.toDtype(this.lora_A.weight.dtype);
    let delta = this.lora_B.call(this.lora_A.call(h)).mul(this.scaling);
    if (delta.dtype !== y.dtype) delta = delta.toDtype(y.dtype);
    return y.add(delta);
  }

  /** ΔW = s·B·A (out, in) in W's dtype, the update mergeLora adds to W. */
  deltaWeight(): Tensor {
    const d = torch.matmul(this.lora_B.weight, this.lora_A.weight).mul(this.scaling);
    return d.dtype === this.weight.dtype ? d : d.toDtype(this.weight.dtype);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, r=${this.r}, scaling=${this.scaling}, dropout=${this.dropoutP}`;
  }
}

/** What applyLora did to a model, so loraConfigOf and mergeLora can read and undo it. */
interface LoraState {
  cfg: ResolvedLoraConfig;
  /** Base parameters applyLora froze (those that required grad before). */
  frozen: Tensor[];
}
const applied = new WeakMap<AnyModule, LoraState>();

/** Whether a module's dotted name matches a target: equal, or ending in `.target` (PEFT's rule for a list). */
const matches = (name: string, target: string) => name === target || name.endsWith(`.${target}`);

/** Swaps child `name` of `parent` for `m`: in its registry (stateDict, parameters) and its field (forward). */
function replaceChild(parent: AnyModule, name: string, m: AnyModule): void {
  parent.registerModule(name, m);
  // The parent's forward reads its field (this.q_proj.call(x)); `readonly` is a compile-time mark.
  if (name in parent) (parent as unknown as Record<string, unknown>)[name] = m;
}

/** The parent module and own name of each dotted name. */
function parentOf(modules: Map<string, AnyModule>, name: string): [AnyModule, string] {
  const dot = name.lastIndexOf('.');
  return [modules.get(dot < 0 ? '' : name.slice(0, dot))!, name.slice(dot + 1)];
}

/**
 * [dotted name, Linear] of every Linear a target list selects. A target that matches no Linear
 * is a ConfigError naming the Linear modules the model has.
 */
export function loraTargets(model: CausalLM, targets: readonly string[]): [string, Linear][] {
  const all = model.namedModules();
  const linears = all.filter(([, m]) => m instanceof Linear) as [string, Linear][];
  const unmatched = targets.filter((t) => !linears.some(([n]) => matches(n, t)));
  if (unmatched.length) {
    const other = all.filter(([n, m]) => !(m instanceof Linear) && unmatched.some((t) => matches(n, t)));
    const existing = [...new Set(linears.map(([n]) => n.slice(n.lastIndexOf('.') + 1)))];
    throw new torch.ConfigError(
      `LoRA: target(s) ${unmatched.map((t) => `'${t}'`).join(', ')} match no Linear module of this model` +
      (other.length ? ` ('${other[0][0]}' is a ${other[0][1].constructor.name}, not a Linear)` : '') +
      `; its Linear modules are ${existing.join(', ')}`);
  }
  return linears.filter(([n]) => targets.some((t) => matches(n, t)));
}

/**
 * Puts a LoRA adapter on every Linear whose name matches a target and freezes every base
 * parameter (requiresGrad false): only loraParameters(model) train. `seed`, when given, seeds
 * libtorch's generator before the adapters are drawn (as torch.manual_seed before get_peft_model).
 */
export function applyLora(model: CausalLM, cfg: LoraConfig, seed?: number): void {
  const c = resolveLoraConfig(cfg);
  if (applied.has(model)) throw new torch.ConfigError('applyLora: this model already has LoRA adapters (merge them with mergeLora first)');
  const chosen = loraTargets(model, c.targets);
  if (seed !== undefined) torch.manualSeed(seed);
  const frozen = model.parameters().filter((p) => p.requiresGrad);
  for (const p of frozen) p.requiresGrad_(false);
  const byName = new Map(model.namedModules());
  for (const [name, lin] of chosen) {
    const [parent, own] = parentOf(byName, name);
    replaceChild(parent, own, new LoraLinear(lin, c.r, c.alpha, c.dropout, c.rslora));
  }
  model.train(model.training); // the new modules take the model's mode (dropout on in training only)
  applied.set(model, { cfg: c, frozen });
}

/** [dotted name, module] of the model's LoRA layers, in model order. */
export function loraModules(model: CausalLM): [string, LoraLinear][] {
  return model.namedModules().filter(([, m]) => m instanceof LoraLinear) as [string, LoraLinear][];
}

/** The adapters' tensors (each layer's A, then B): what the optimizer gets. Empty without LoRA. */
export function loraParameters(model: CausalLM): Tensor[] {
  return loraModules(model).flatMap(([, m]) => [m.lora_A.weight, m.lora_B.weight]);
}

/** The model's LoRA settings (defaults filled in), or null when it has none. */
export function loraConfigOf(model: CausalLM): ResolvedLoraConfig | null {
  const s = applied.get(model);
  return s ? { ...s.cfg, targets: [...s.cfg.targets] } : null;
}

/**
 * Folds every adapter into its base weight, W ← W + s·B·A (PEFT's merge_and_unload), puts the
 * original Linear modules back (same tensors, so nothing else changes) and frees the adapters.
 * The base parameters applyLora froze require grad again: the model is a plain CausalLM.
 */
export function mergeLora(model: CausalLM): void {
  const s = applied.get(model);
  if (!s) throw new torch.ConfigError('mergeLora: this model has no LoRA adapters');
  const byName = new Map(model.namedModules());
  for (const [name, m] of loraModules(model)) {
    torch.tidy(() => torch.noGrad(() => m.weight.add_(m.deltaWeight())));
    const [parent, own] = parentOf(byName, name);
    replaceChild(parent, own, m.base);
    m.lora_A.dispose();
    m.lora_B.dispose();
  }
  for (const p of s.frozen) p.requiresGrad_(true);
  applied.delete(model);
}

/** Two configs that train the same adapters (targets compared as sets): a resume or a load may mix them. */
export function sameLoraConfig(a: LoraConfig, b: LoraConfig): boolean {
  const x = resolveLoraConfig(a), y = resolveLoraConfig(b);
  return x.r === y.r && x.alpha === y.alpha && x.dropout === y.dropout && x.rslora === y.rslora &&
    x.targets.length === y.targets.length && x.targets.every((t) => y.targets.includes(t));
}

/** A config as one line, for messages: r=16, alpha=32, dropout=0.05, targets=q_proj+v_proj, rslora. */
export function formatLoraConfig(cfg: LoraConfig): string {
  const c = resolveLoraConfig(cfg);
  return `r=${c.r}, alpha=${c.alpha}, dropout=${c.dropout}, targets=${c.targets.join('+')}${c.rslora ? ', rslora' : ''}`;
}

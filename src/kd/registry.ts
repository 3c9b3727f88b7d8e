// Losses by name, so an experiment's config can say `loss: [{ name: hinton }, { name:
// hint, weight: 0.5, student: '2', teacher: '4', studentDim: 64, teacherDim: 128 }]`.
// Each name has a typed options object, checked when the loss is created: an unknown
// name, an unknown option or a bad value is a ConfigError naming it and listing what is
// valid. createLoss gives one callable for a single spec or a weighted sum of several.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkT, checkUnit, describe } from './util.js';
import { reverseKL, jsd, totalVariation, mseLogits } from './divergences.js';
import { hardCE, hintonLoss, softKL, type Mixup, type TeacherInput } from './hinton.js';
import { isSparseTeacher, sparseKL } from './sparse.js';
import { multiTeacherKL, normaliseWeights } from './multi_teacher.js';
import { HintRegressor, hintLoss } from './hint.js';
import { attentionTransfer } from './attention.js';
import type { LossResult } from '../nn/index.js';

// ── the call ──

export interface LossInputs {
  /** Student logits (…, C). */
  student: Tensor;
  /** Teacher logits (…, C), a sparse top-k teacher, or several teachers' logits. */
  teacher?: TeacherInput;
  /** Class indices (…), int64: needed by 'hinton' (when alpha > 0) and 'ce'. */
  labels?: Tensor;
  /** Mixup of this batch: the hard terms ('hinton', 'ce') use λ·CE(y) + (1−λ)·CE(y[perm]). */
  mixed?: Mixup;
  /** Intermediate features by module name (see captureFeatures), for 'hint' and 'attention'. */
  features?: { student: Record<string, Tensor>; teacher: Record<string, Tensor> };
}

export interface LossContext {
  /** Temperature, > 0. */
  T: number;
  /** Weight of the hard (label) term in 'hinton', in [0, 1]. */
  alpha: number;
}

// ── the options of each built-in loss (an interface, so a registerLoss user can augment it) ──

/* eslint-disable @typescript-eslint/no-empty-interface */
export interface NoOptions {}
export interface LossOptions {
  /** Hinton et al. 2015: α·CE + (1−α)·T²·KL; the teacher may be full, sparse or several. */
  hinton: { weights?: number[]; labelSmoothing?: number; standardize?: boolean };
  /** T²·KL(p_t ‖ q_s); the teacher may be full, sparse or several. */
  kl: { weights?: number[] };
  reverse_kl: NoOptions;
  jsd: { beta?: number };
  tv: NoOptions;
  mse_logits: NoOptions;
  /** KL against a sparse top-k teacher (tail bucket). */
  sparse_kl: NoOptions;
  /** KL against the weighted mixture of several teachers. */
  multi_teacher: { weights?: number[] };
  /** Plain cross-entropy on the labels (the student's own task loss). */
  ce: { labelSmoothing?: number };
  /** FitNets hint: MSE(regressor(features.student[student]), features.teacher[teacher]). */
  hint: { student: string; teacher: string; studentDim?: number; teacherDim?: number; spatial?: boolean; regressor?: boolean };
  /** Attention transfer over pairs of feature maps named [student, teacher]. */
  attention: { pairs: [string, string][]; p?: number; squared?: boolean };
}
export type LossName = keyof LossOptions;
export type LossSpec = { [N in LossName]: { name: N; weight?: number } & LossOptions[N] }[LossName];

// ── definitions ──

/** Module names whose outputs a loss reads, on each model. */
export interface FeatureNames {
  student: string[];
  teacher: string[];
}

/** A built loss: its value on a batch (a LossResult whose sub-parts may be omitted), plus any trainable state (a hint regressor). */
export interface LossComponent {
  run(inputs: LossInputs, ctx: LossContext): { loss: Tensor; parts?: Record<string, Tensor> };
  /** The intermediate features it reads, by module name on each side (feature losses). */
  features?: FeatureNames;
  parameters?(): Tensor[];
  dispose?(): void;
}

/** Checks one option value; returns it (normalised) or throws a ConfigError via `fail`. */
export type OptionRule = (value: unknown, fail: (why: string) => never) => unknown;

export interface LossDefinition<O extends object = object> {
  description: string;
  /** Every option the loss takes, with its check; `required` lists the ones without a default. */
  options: { [K in keyof O]-?: OptionRule };
  required?: (keyof O & string)[];
  /** `key` is the component's name in the result's parts. */
  build(options: O, key: string): LossComponent;
}

const registry = new Map<string, LossDefinition<any>>(); // eslint-disable-line @typescript-eslint/no-explicit-any

/** Adds (or replaces) a loss under `name`. */
export function registerLoss<O extends object>(name: string, def: LossDefinition<O>): void {
  if (typeof name !== 'string' || !name) throw new torch.ConfigError('registerLoss: name must be a non-empty string');
  registry.set(name, def);
}

/** The registered names, in registration order. */
export function lossNames(): string[] {
  return [...registry.keys()];
}

/** The description of each registered loss, for `--help` and docs. */
export function describeLosses(): Record<string, string> {
  return Object.fromEntries([...registry].map(([n, d]) => [n, d.description]));
}

// ── option rules ──

const rule = {
  number: ((v, fail) => (typeof v === 'number' && Number.isFinite(v) ? v : fail('must be a finite number'))) as OptionRule,
  openUnit: ((v, fail) => (typeof v === 'number' && v > 0 && v < 1 ? v : fail('must be a number strictly between 0 and 1'))) as OptionRule,
  unit: ((v, fail) => (typeof v === 'number' && v >= 0 && v <= 1 ? v : fail('must be a number in [0, 1]'))) as OptionRule,
  positive: ((v, fail) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail('must be a finite number > 0'))) as OptionRule,
  dim: ((v, fail) => (Number.isInteger(v) && (v as number) >= 1 ? v : fail('must be an integer ≥ 1'))) as OptionRule,
  boolean: ((v, fail) => (typeof v === 'boolean' ? v : fail('must be true or false'))) as OptionRule,
  name: ((v, fail) => (typeof v === 'string' && v !== '' ? v : fail('must be a module name (a non-empty string)'))) as OptionRule,
  weights: ((v, fail) =>
    Array.isArray(v) && v.length > 0 && v.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0) && v.some((w) => w > 0)
      ? v
      : fail('must be a non-empty array of finite numbers ≥ 0, not all 0')) as OptionRule,
  pairs: ((v, fail) => {
    const ok = (p: unknown) => Array.isArray(p) && p.length === 2 && p.every((s) => typeof s === 'string' && s !== '');
    return Array.isArray(v) && v.length > 0 && v.every(ok) ? v : fail("must be a non-empty array of [studentName, teacherName] pairs, e.g. [['layer2', 'layer3']]");
  }) as OptionRule,
};

// ── input checks, naming the loss ──

function teacherLogits(key: string, inputs: LossInputs): Tensor {
  const t = inputs.teacher;
  if (t instanceof torch.Tensor) return t;
  const hint = isSparseTeacher(t) ? " (a sparse teacher works with 'kl', 'hinton' and 'sparse_kl')" : Array.isArray(t) ? " (several teachers work with 'kl', 'hinton' and 'multi_teacher')" : '';
  throw new torch.ConfigError(`loss '${key}' needs teacher logits (a Tensor) in inputs.teacher; got ${t === undefined ? 'none' : describe(t)}${hint}`);
}

function anyTeacher(key: string, inputs: LossInputs): TeacherInput {
  if (inputs.teacher === undefined) throw new torch.ConfigError(`loss '${key}' needs inputs.teacher (teacher logits, a sparse teacher or an array of teachers' logits)`);
  return inputs.teacher;
}

function labels(key: string, inputs: LossInputs): Tensor {
  if (!(inputs.labels instanceof torch.Tensor)) throw new torch.ConfigError(`loss '${key}' needs inputs.labels (class indices, int64)`);
  return inputs.labels;
}

function feature(key: string, inputs: LossInputs, side: 'student' | 'teacher', name: string): Tensor {
  const rec = inputs.features?.[side];
  if (!rec) throw new torch.ConfigError(`loss '${key}' needs inputs.features.${side} (features by module name; see captureFeatures)`);
  const t = rec[name];
  if (!(t instanceof torch.Tensor))
    throw new torch.ConfigError(`loss '${key}': no ${side} feature named '${name}'; the ${side} features given are: ${Object.keys(rec).map((k) => `'${k}'`).join(', ') || '(none)'}`);
  return t;
}

// ── the built-in losses ──

registerLoss<LossOptions['hinton']>('hinton', {
  description: 'Hinton et al. 2015: alpha·CE(y, s) + (1 − alpha)·T²·KL(p_t ‖ q_s); uses ctx.T and ctx.alpha; standardize: z-score both logits first (Sun et al. 2024)',
  options: { weights: rule.weights, labelSmoothing: rule.unit, standardize: rule.boolean },
  build: (o, key) => ({
    run: (inputs, ctx) => {
      const y = ctx.alpha > 0 ? labels(key, inputs) : inputs.labels;
      const { loss, parts } = hintonLoss(inputs.student, anyTeacher(key, inputs), y, {
        T: ctx.T, alpha: ctx.alpha, weights: o.weights, labelSmoothing: o.labelSmoothing, mixed: inputs.mixed, standardize: o.standardize,
      });
      return { loss, parts: { [`${key}.hard`]: parts.hard, [`${key}.soft`]: parts.soft } };
    },
  }),
});

registerLoss<LossOptions['kl']>('kl', {
  description: 'forward KL T²·KL(p_t ‖ q_s), batchmean; teacher logits, sparse top-k or several teachers',
  options: { weights: rule.weights },
  build: (o, key) => ({ run: (inputs, ctx) => ({ loss: softKL(inputs.student, anyTeacher(key, inputs), ctx.T, o.weights) }) }),
});

registerLoss<LossOptions['reverse_kl']>('reverse_kl', {
  description: 'reverse KL T²·KL(q_s ‖ p_t), batchmean (mode-seeking)',
  options: {},
  build: (_o, key) => ({ run: (inputs, ctx) => ({ loss: reverseKL(inputs.student, teacherLogits(key, inputs), ctx.T) }) }),
});

registerLoss<LossOptions['jsd']>('jsd', {
  description: 'generalised JSD(beta) of GKD (Agarwal et al. 2024) × T²; beta in (0, 1), default 0.5',
  options: { beta: rule.openUnit },
  build: (o, key) => ({ run: (inputs, ctx) => ({ loss: jsd(inputs.student, teacherLogits(key, inputs), ctx.T, o.beta ?? 0.5) }) }),
});

registerLoss<LossOptions['tv']>('tv', {
  description: 'total variation T²·½Σ|p_t − q_s|, mean over rows',
  options: {},
  build: (_o, key) => ({ run: (inputs, ctx) => ({ loss: totalVariation(inputs.student, teacherLogits(key, inputs), ctx.T) }) }),
});

registerLoss<LossOptions['mse_logits']>('mse_logits', {
  description: 'logit matching (Ba & Caruana 2014): mean (s − t)², independent of T',
  options: {},
  build: (_o, key) => ({ run: (inputs, ctx) => ({ loss: mseLogits(inputs.student, teacherLogits(key, inputs), ctx.T) }) }),
});

registerLoss<LossOptions['sparse_kl']>('sparse_kl', {
  description: 'forward KL × T² against a sparse top-k teacher { indices, logits, logZ }, with a tail bucket',
  options: {},
  build: (_o, key) => ({
    run: (inputs, ctx) => {
      const t = inputs.teacher;
      if (!isSparseTeacher(t)) throw new torch.ConfigError(`loss '${key}' needs a sparse teacher { indices, logits, logZ } in inputs.teacher; got ${t === undefined ? 'none' : describe(t)}`);
      return { loss: sparseKL(inputs.student, t, ctx.T) };
    },
  }),
});

registerLoss<LossOptions['multi_teacher']>('multi_teacher', {
  description: "forward KL × T² against the weighted mixture of several teachers' soft targets",
  options: { weights: rule.weights },
  build: (o, key) => ({
    run: (inputs, ctx) => {
      const t = inputs.teacher;
      if (!Array.isArray(t)) throw new torch.ConfigError(`loss '${key}' needs an array of teachers' logits in inputs.teacher; got ${t === undefined ? 'none' : describe(t)}`);
      if (o.weights) normaliseWeights(`loss '${key}'`, t.length, o.weights);
      return { loss: multiTeacherKL(inputs.student, t, ctx.T, o.weights) };
    },
  }),
});

registerLoss<LossOptions['ce']>('ce', {
  description: "cross-entropy on the labels, the student's own task loss",
  options: { labelSmoothing: rule.unit },
  build: (o, key) => ({
    run: (inputs) => ({ loss: hardCE(inputs.student, labels(key, inputs), { labelSmoothing: o.labelSmoothing, mixed: inputs.mixed }) }),
  }),
});

registerLoss<LossOptions['hint']>('hint', {
  description: 'FitNets hint (Romero et al. 2015): MSE(regressor(f_s), f_t) with a learned Linear or 1×1 Conv2d regressor',
  options: { student: rule.name, teacher: rule.name, studentDim: rule.dim, teacherDim: rule.dim, spatial: rule.boolean, regressor: rule.boolean },
  required: ['student', 'teacher'],
  build: (o, key) => {
    let regressor: HintRegressor | null = null;
    if (o.regressor ?? true) {
      const missing = (['studentDim', 'teacherDim'] as const).filter((k) => o[k] === undefined);
      if (missing.length)
        throw new torch.ConfigError(`loss '${key}': option(s) ${missing.map((k) => `'${k}'`).join(', ')} are needed to build the regressor (feature widths, channels for spatial features); or set regressor: false when the shapes already agree`);
      regressor = new HintRegressor(o.studentDim!, o.teacherDim!, { spatial: o.spatial ?? false });
    }
    return {
      run: (inputs) => ({ loss: hintLoss(feature(key, inputs, 'student', o.student), feature(key, inputs, 'teacher', o.teacher), regressor) }),
      features: { student: [o.student], teacher: [o.teacher] },
      parameters: () => regressor?.parameters() ?? [],
      dispose: () => regressor?.dispose(),
    };
  },
});

registerLoss<LossOptions['attention']>('attention', {
  description: 'attention transfer (Zagoruyko & Komodakis 2017) over [student, teacher] feature-map pairs; mean over pairs of ‖A_s − A_t‖₂',
  options: { pairs: rule.pairs, p: rule.positive, squared: rule.boolean },
  required: ['pairs'],
  build: (o, key) => ({
    features: { student: o.pairs.map((p) => p[0]), teacher: o.pairs.map((p) => p[1]) },
    run: (inputs) => ({
      loss: attentionTransfer(o.pairs.map(([s, t]) => [feature(key, inputs, 'student', s), feature(key, inputs, 'teacher', t)] as const), { p: o.p, squared: o.squared }),
    }),
  }),
});

// ── createLoss ──

/** The callable createLoss returns, with the trainable state of its components. */
export interface KDLoss {
  (inputs: LossInputs, ctx: LossContext): LossResult;
  /** One entry per spec: its key in `parts`, its registered name and its weight. */
  readonly components: readonly { key: string; name: string; weight: number }[];
  /** The features its components read (captured by kd.train with a live teacher model); empty lists for logit losses. */
  readonly features: FeatureNames;
  /** Trainable parameters of the loss itself (hint regressors); kd.train optimizes and checkpoints them. */
  parameters(): Tensor[];
  /** Frees those parameters. */
  dispose(): void;
}

function validNames(): string {
  return lossNames().map((n) => `'${n}'`).join(', ');
}

function buildOne(raw: unknown, where: string, usedKeys: Set<string>): { key: string; name: string; weight: number; component: LossComponent } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new torch.ConfigError(`${where}: a loss spec must be an object { name, weight?, ...options }; valid names: ${validNames()}`);
  const { name, weight = 1, ...options } = raw as Record<string, unknown>;
  if (typeof name !== 'string') throw new torch.ConfigError(`${where}: the spec needs a 'name'; valid names: ${validNames()}`);
  const def = registry.get(name);
  if (!def) throw new torch.ConfigError(`${where}: unknown loss '${name}'; valid names: ${validNames()}`);
  const here = `${where} '${name}'`;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) throw new torch.ConfigError(`${here}: 'weight' must be a finite number ≥ 0, got ${JSON.stringify(weight)}`);
  const valid = Object.keys(def.options);
  const validList = ['weight', ...valid].map((k) => `'${k}'`).join(', ');
  const checked: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    const check = (def.options as Record<string, OptionRule>)[k];
    if (!check) throw new torch.ConfigError(`${here}: unknown option '${k}'; valid options: ${validList}`);
    if (v === undefined) continue;
    checked[k] = check(v, (why) => {
      throw new torch.ConfigError(`${here}: option '${k}' ${why}, got ${JSON.stringify(v)}`);
    });
  }
  for (const k of def.required ?? []) if (checked[k] === undefined) throw new torch.ConfigError(`${here}: option '${k}' is required; valid options: ${validList}`);
  let key = name;
  for (let i = 2; usedKeys.has(key); i++) key = `${name}#${i}`;
  usedKeys.add(key);
  return { key, name, weight, component: def.build(checked, key) };
}

/**
 * A loss from one spec `{ name, weight?, ...options }` or the weighted sum of several.
 * Everything is checked here, before training starts. The result is called once per
 * batch with the inputs and the current { T, alpha } (see makeSchedule):
 *   loss = Σ_k weight_k · loss_k,   parts[key_k] = loss_k (unweighted).
 */
export function createLoss(spec: LossSpec | readonly LossSpec[]): KDLoss {
  const list: unknown[] = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0) throw new torch.ConfigError(`createLoss: the list of loss specs is empty; valid names: ${validNames()}`);
  const used = new Set<string>();
  const built: ReturnType<typeof buildOne>[] = [];
  try {
    list.forEach((s, i) => built.push(buildOne(s, Array.isArray(spec) ? `loss[${i}]` : 'loss', used)));
  } catch (e) {
    for (const b of built) b.component.dispose?.();
    throw e;
  }

  const call = (inputs: LossInputs, ctx: LossContext): LossResult => {
    if (!inputs || !(inputs.student instanceof torch.Tensor)) throw new torch.ConfigError('loss: inputs.student must be the student logits (a Tensor)');
    if (!ctx || typeof ctx !== 'object') throw new torch.ConfigError('loss: the context { T, alpha } is missing');
    checkT('loss', ctx.T);
    checkUnit('loss', 'alpha', ctx.alpha);
    return torch.tidy(() => {
      const parts: Record<string, Tensor> = {};
      let total: Tensor | null = null;
      for (const b of built) {
        const { loss: value, parts: sub } = b.component.run(inputs, ctx);
        parts[b.key] = value;
        Object.assign(parts, sub);
        const weighted = b.weight === 1 ? value : value.mul(b.weight);
        total = total ? total.add(weighted) : weighted;
      }
      // A lone unit-weight component: total is a distinct tensor from parts[key], so
      // disposing one never frees the other.
      if (total === parts[built[0].key]) total = total.clone();
      return { loss: total!, parts };
    });
  };
  return Object.assign(call, {
    components: built.map(({ key, name, weight }) => ({ key, name, weight })),
    features: {
      student: [...new Set(built.flatMap((b) => b.component.features?.student ?? []))],
      teacher: [...new Set(built.flatMap((b) => b.component.features?.teacher ?? []))],
    },
    parameters: () => built.flatMap((b) => b.component.parameters?.() ?? []),
    dispose: () => {
      for (const b of built) b.component.dispose?.();
    },
  });
}

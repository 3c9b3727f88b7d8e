// Experiments: small data-only YAML files over typed defaults, checked with zod.
// Every key has a default, so an empty file (or none) is the built-in demo recipe.
// Errors name the file, the key path and what was expected.
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../torch/index.js';
import * as kd from '../kd/index.js';

// The library's training config (kd/config.ts) is the source of every `train:` key's type,
// default and bound; the experiment adds the data loader's batch size. mixup and viewEpochs are
// set in the kd section and the seed at the top level, from the same fields. The keys are listed
// in this order on purpose: the teacher's cache key hashes the parsed section (cli/pipeline.ts).
const tc = kd.trainConfigSchema.shape;
const trainSchema = z.strictObject({
  epochs: tc.epochs,
  lr: tc.lr,
  batchSize: z.number().int().positive().default(128),
  optimizer: tc.optimizer,
  momentum: tc.momentum,
  weightDecay: tc.weightDecay,
  schedule: tc.schedule,
  warmupSteps: tc.warmupSteps,
  gradAccumulation: tc.gradAccumulation,
  clipGradNorm: tc.clipGradNorm,
  labelSmoothing: tc.labelSmoothing,
  patience: tc.patience,
  ema: tc.ema,
  checkpointEvery: tc.checkpointEvery,
  logEvery: tc.logEvery,
});

// Random shifts (pixels) and horizontal flips, for a teacher's training or KD's views (cli/pipeline.ts).
const augmentSchema = z.strictObject({ shift: z.number().int().min(0).default(0), flip: z.boolean().default(false) }).prefault({});

const lossSpec = z.looseObject({ name: z.string(), weight: z.number().optional() });

/**
 * The classifier architectures nn.buildArch builds (src/nn/zoo.ts): 'cnn', or 'mlp:' and the
 * hidden widths. Checked in the schema, so a typo is one error naming its key before the run
 * folder is made or any data is loaded.
 */
export const ARCH_HINT = "expected 'cnn' or 'mlp:<hidden sizes>' such as 'mlp:128,128'";
const ARCH_SPEC = /^(cnn|mlp:[1-9]\d*(,[1-9]\d*)*)$/;
export const archSchema = z.string().superRefine((spec, ctx) => {
  if (!ARCH_SPEC.test(spec.replace(/\s+/g, ''))) ctx.addIssue({ code: 'custom', message: `unknown architecture '${spec}': ${ARCH_HINT}` });
});

/** An architecture given on the command line (`evaluate --arch`), checked like the config's. */
export function checkArch(spec: string, flag: string): string {
  const r = archSchema.safeParse(spec);
  if (!r.success) throw new ConfigError(`${flag}: ${r.error.issues[0].message}`);
  return spec;
}

export const experimentSchema = z.strictObject({
  // A folder name under runsDir: no path separators, no "." or "..", not starting with "-" (the dashboard's rule too).
  name: z.string().regex(/^[A-Za-z0-9_][\w.-]{0,127}$/, 'letters, digits, ".", "_" or "-" (not first), at most 128 characters').default('demo'),
  seed: tc.seed,
  threads: z.number().int().positive().optional(),
  runsDir: z.string().default('runs'),
  data: z.strictObject({
    dataset: z.string().default('auto'), // auto | fashion-mnist | mnist-digits | <file.csv|.jsonl>
    dir: z.string().optional(),
    valFraction: z.number().min(0).max(0.5).default(0.1),
    transfer: z.strictObject({
      omitClasses: z.array(z.number().int().min(0)).default([]),
      subset: z.number().int().min(0).default(0),
    }).prefault({}),
  }).prefault({}),
  teacher: z.strictObject({
    arch: archSchema.default('cnn'),
    dropout: z.number().min(0).max(0.9).default(0.3),
    augment: augmentSchema,
    train: trainSchema.prefault({ epochs: 10 }),
    weights: z.string().optional(),
  }).prefault({}),
  student: z.strictObject({
    arch: archSchema.default('mlp:128,128'),
    dropout: z.number().min(0).max(0.9).default(0),
    train: trainSchema.prefault({ epochs: 20 }),
  }).prefault({}),
  kd: z.strictObject({
    loss: z.union([z.string(), z.array(lossSpec)]).default('hinton'),
    T: kd.scheduleSpecSchema.default(4),
    alpha: kd.scheduleSpecSchema.default(0.1),
    teacher: z.enum(['cached', 'live', 'consistent']).default('cached'),
    topK: z.number().int().min(0).default(0),
    augment: augmentSchema,
    mixup: tc.mixup,
    // Replay the views of this many epochs with the teacher's logits on them kept in memory and in the cache's views/ folder
    // (kd/trainer.ts, kd/view_store.ts); 0 = fresh views.
    viewEpochs: tc.viewEpochs,
  }).prefault({}).refine((k) => k.teacher === 'consistent' || (!k.mixup && !k.augment.shift && !k.augment.flip && !k.viewEpochs), {
    // Checked before any training starts, so a bad combination costs nothing.
    message: 'kd.mixup, kd.augment and kd.viewEpochs need kd.teacher: consistent (the teacher must see the same view as the student)',
  }),
});

export type Experiment = z.infer<typeof experimentSchema>;

/** Reads, parses and validates an experiment file; `undefined` gives the defaults. */
export function loadExperiment(path?: string, overrides: Record<string, unknown> = {}): Experiment {
  let raw: unknown = {};
  const where = path ?? '<defaults>';
  if (path) {
    if (!existsSync(path)) throw new ConfigError(`${path}: no such experiment file`);
    try {
      raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
    } catch (e) {
      throw new ConfigError(`${path}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${path}: expected a mapping of keys at the top level`);
  }
  const exp = kd.parseConfig(experimentSchema, deepMerge(raw as Record<string, unknown>, overrides), where);
  // The loss specs and schedules are checked by the KD library itself, before any training.
  try {
    const k = exp.kd;
    kd.createLoss((typeof k.loss === 'string' ? { name: k.loss } : k.loss) as kd.LossSpec).dispose();
    kd.makeSchedule(k.T, 'kd.T');
    kd.makeSchedule(k.alpha, 'kd.alpha');
  } catch (e) {
    throw new ConfigError(`${where}: kd: ${(e as Error).message}`);
  }
  return exp;
}

/** Sets a dotted key path (from a CLI flag) into a nested object. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[keys[keys.length - 1]] = value;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
      ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

// The distillation layer's configs as zod schemas: the one definition of their keys, types
// (z.infer), defaults (schema.parse({})) and bounds. train() parses its config with them, and
// experiment files (cli/experiment.ts) build their `train:` and `kd:` sections from the same
// fields, so a default or a bound changed here changes both (issue #21 §3).
import { z } from 'zod';
import * as torch from '../torch/index.js';

/** How train() (kd/trainer.ts) optimizes a classifier; every key has a default. */
export const trainConfigSchema = z.strictObject({
  epochs: z.number().int().positive().default(10),
  lr: z.number().positive().default(1e-3),
  optimizer: z.enum(['adam', 'adamw', 'sgd']).default('adam'),
  /** SGD's momentum (unused by Adam and AdamW). */
  momentum: z.number().min(0).max(1).default(0.9),
  weightDecay: z.number().min(0).default(0),
  schedule: z.enum(['constant', 'cosine', 'warmup-cosine']).default('constant'),
  warmupSteps: z.number().int().min(0).default(0),
  gradAccumulation: z.number().int().positive().default(1),
  /** Max global gradient norm; 0 = no clipping. */
  clipGradNorm: z.number().min(0).default(0),
  labelSmoothing: z.number().min(0).max(1).default(0),
  /** Mixup α (Zhang et al. 2018); 0 = off. With a teacher, it sees the same mixed input. */
  mixup: z.number().min(0).default(0),
  /** Replay the views (order, augmentation, mixup) of this many epochs, with the teacher's logits on them memoised; 0 = fresh views every epoch. */
  viewEpochs: z.number().int().min(0).default(0),
  /** Decay d of an exponential moving average of the weights (optim/ema.ts), validated and returned instead of the last iterate; 0 = off. */
  ema: z.number().min(0).lt(1).default(0),
  seed: z.number().int().min(0).default(0),
  checkpointEvery: z.number().int().positive().default(1),
  /** Stop after this many epochs without a better validation accuracy; 0 = never. */
  patience: z.number().int().min(0).default(0),
  logEvery: z.number().int().positive().default(50),
});

/** A resolved training config: every key set. */
export type TrainConfig = z.infer<typeof trainConfigSchema>;
/** What train() accepts: any subset of the keys; the rest take their defaults. */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

/** α or T over training progress (kd/schedule.ts's makeSchedule): a number, or a kind with its values. */
export const scheduleSpecSchema = z.union([
  z.number(),
  z.strictObject({ kind: z.literal('constant'), value: z.number() }),
  z.strictObject({ kind: z.enum(['linear', 'cosine']), from: z.number(), to: z.number() }),
]);
export type ScheduleSpec = z.infer<typeof scheduleSpecSchema>;

/**
 * Checks `value` against `schema`: the parsed value (defaults filled in), or one ConfigError
 * with a line per problem, `<where>: <key path>: <what was expected>`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new torch.ConfigError(r.error.issues.map((i) => `${where}: ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n'));
}

/** A training config with every key set: `c`'s keys, checked, and the defaults for the rest. */
export const trainConfig = (c: TrainConfigInput = {}): TrainConfig => parseConfig(trainConfigSchema, c, 'train config');

/** The defaults, derived from the schema (read-only: spread it to change a key). */
export const DEFAULT_TRAIN: Readonly<TrainConfig> = Object.freeze(trainConfig());

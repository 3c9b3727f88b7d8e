// Fine-tuning a causal LM on chat examples: SFT on the completion tokens, plus
// token-level KD where the examples carry teacher distributions, on the one training loop
// (train/trainer.ts). Seeded, checkpointed, and resumable to the same weights: the batch
// order is a pure function of (seed, step).
//
// At real size (issue 19) four options change how a step is computed, not what it computes:
//   lora           only low-rank adapters train (lm/lora.ts); the base is frozen, so the
//                  optimizer, the clipping and the data-parallel all-reduce see the adapters only;
//   chunkedLoss    the LM head and the loss run over chunks of tokens with their own backward
//                  (lm/chunked_loss.ts): the (tokens × vocab) logits never exist at once;
//   checkpointing  each block's activations are recomputed in the backward pass (lm/checkpointing.ts);
//   pack           a step's examples share rows of `maxLen` positions (lm/pack.ts), positions
//                  restarting per document and attention kept inside it: the same loss and
//                  gradients as the unpacked batch, with less padding.
// and one changes the arithmetic:
//   precision      'bf16' runs the forward under torch.autocast('bfloat16') (PyTorch's mixed
//                  precision: matmuls and linears in bfloat16, the rest in float32) with float32
//                  master weights and optimizer state; the logits are upcast to float32 before the
//                  loss, as Hugging Face does (`logits.float()`), and backward runs outside the scope.
import * as torch from '../torch/index.js';
import { AdamW, warmupCosine } from '../optim/index.js';
import { disposeLmBatch, makeBatch, type CausalLM, type LmBatch, type LmExample } from '../lm/index.js';
import { applyLora, loraConfigOf, type LoraConfig } from '../lm/lora.js';
import { chunkedLmLoss } from '../lm/chunked_loss.js';
import { forwardBackward } from '../lm/checkpointing.js';
import { packExamples } from '../lm/pack.js';
import { Trainer, checkpointHasRecipe, type LossOutput } from '../train/index.js';
import { tokenKdLoss, lossValues, type LossResult } from '../kd/index.js';
import { permutation } from '../data/index.js';
import { readCheckpointInfo } from '../io/index.js';
import { existsSync } from 'node:fs';

export { checkpointHasRecipe };

export interface LmTrainOptions {
  model: CausalLM;
  examples: readonly LmExample[];
  steps: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  clip?: number;
  /** Weight of the hard (SFT) term; 1 = plain SFT, ignoring any teacher distributions. */
  alpha?: number;
  /** KD temperature. */
  T?: number;
  seed?: number;
  padId: number;
  /** Longest sequence trained on (prompt + completion), cut beyond. */
  maxLen?: number;
  /**
   * Batch examples of similar length (within groups of 8 batches), so batches pad less;
   * the batches' order stays random. Default off.
   */
  groupByLength?: boolean;
  /** Resumable checkpoint file; written every checkpointEvery steps and at the end. */
  checkpoint?: string;
  checkpointEvery?: number;
  /**
   * What the run was asked to do (the caller's options, as JSON). Stored in the checkpoint;
   * resuming a checkpoint written with another recipe is refused, so a rerun with changed
   * options never continues the old run silently.
   */
  recipe?: Record<string, unknown>;
  /** LoRA adapters on the frozen model (applied here, seeded by `seed`, unless it has them already); only they train. */
  lora?: LoraConfig | null;
  /** The head and loss over chunks of tokens, never the whole (tokens × vocab) logits. */
  chunkedLoss?: boolean;
  /** Tokens per chunk of the chunked loss (default: chunked_loss.ts's). */
  chunkSize?: number;
  /** Recompute each block's activations in the backward pass instead of keeping them. */
  checkpointing?: boolean;
  /** Pack each step's examples into rows of maxLen positions; an example longer is a ConfigError. */
  pack?: boolean;
  /** Data parallel: each rank trains on its slice of every step's batchSize·worldSize examples. */
  dist?: torch.ProcessGroup;
  /**
   * 'fp32' (default) or 'bf16': the forward under bfloat16 autocast, float32 master weights and
   * optimizer state. Recorded in the checkpoint's recipe; resuming with the other one is refused.
   */
  precision?: Precision;
  /** With `dist`: 1 = ZeRO stage 1, each rank keeps the optimizer state of its shard only (optim/zero.ts). */
  zero?: 0 | 1;
  onStep?: (s: LmStepInfo) => void;
}

export type Precision = 'fp32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];

/** Runs `fn` in the precision's autocast state: bf16 = torch.autocast('bfloat16'), fp32 = as it is. */
export function withPrecision<T>(precision: Precision, fn: () => T): T {
  return precision === 'bf16' ? torch.autocast('bfloat16', fn) : fn();
}

/** Logits for a loss: float32 (a bf16 forward's logits upcast, as Hugging Face's `logits.float()`). */
export const float32 = (t: torch.Tensor) => (t.dtype === 'float32' ? t : t.toDtype('float32'));

/** The precision a checkpoint's recipe records (absent = 'fp32', what every older run used). */
export function checkpointPrecision(path: string): Precision {
  return ((readCheckpointInfo(path).extra.recipe ?? {}) as { precision?: Precision }).precision ?? 'fp32';
}

/** A run resumed without a precision keeps its checkpoint's (undefined: no readable checkpoint). */
export function resumedPrecision(checkpoint: string): Precision | undefined {
  if (!existsSync(checkpoint)) return undefined;
  try {
    return checkpointPrecision(checkpoint);
  } catch {
    return undefined; // an unreadable checkpoint is the Trainer's to report
  }
}

/** A resume in another precision would continue float32 training in bf16 (or back): one error naming both. */
export function refuseOtherPrecision(path: string | undefined, precision: Precision): void {
  if (!path || !existsSync(path)) return;
  let was: Precision;
  try {
    was = checkpointPrecision(path);
  } catch {
    return; // an unreadable checkpoint is the Trainer's to report
  }
  if (was !== precision) throw new torch.ConfigError(`${path} was written by a run with precision ${was}, but this run asks for precision ${precision}; rerun with --precision ${was} to resume it, or delete it to start anew`);
}

export interface LmStepInfo {
  step: number;
  steps: number;
  loss: number;
  ce: number;
  kl: number | null;
  lr: number;
  tokens: number;
}

/** The examples of step `step`: consecutive slices of each epoch's shuffled order. */
export function batchAt(n: number, bs: number, seed: number, step: number): number[] {
  const perEpoch = Math.max(1, Math.floor(n / bs));
  const epoch = Math.floor(step / perEpoch);
  const at = (step % perEpoch) * bs;
  return Array.from(permutation(n, seed, epoch).subarray(at, at + bs));
}

/** Batches per length group: each group is GROUP_BATCHES·bs shuffled examples, sorted by length. */
const GROUP_BATCHES = 8;

/**
 * The examples of step `step` with length grouping (Hugging Face Trainer's group_by_length):
 * each epoch's shuffled order is cut into groups of GROUP_BATCHES batches, each group sorted
 * by length and sliced into batches, and the epoch's batches then visited in a shuffled
 * order. Still a pure function of (seed, step), so a resumed run sees the same batches.
 */
export function groupedBatchAt(lengths: readonly number[], bs: number, seed: number, step: number): number[] {
  const n = lengths.length;
  const perEpoch = Math.max(1, Math.floor(n / bs));
  const epoch = Math.floor(step / perEpoch);
  const order = Array.from(permutation(n, seed, epoch));
  const batches: number[][] = [];
  for (let g = 0; g < perEpoch; g += GROUP_BATCHES) {
    const group = order.slice(g * bs, Math.min(perEpoch, g + GROUP_BATCHES) * bs).sort((a, b) => lengths[a] - lengths[b]);
    for (let i = 0; i < group.length; i += bs) batches.push(group.slice(i, i + bs));
  }
  return batches[permutation(perEpoch, seed, epoch, 1)[step % perEpoch]];
}

export interface LmLossOptions {
  alpha: number;
  T: number;
  /** The micro-batch's weight in the step's mean (LossOutput.weight). */
  weight: number;
  precision?: Precision;
  chunkedLoss?: boolean;
  chunkSize?: number;
  checkpointing?: boolean;
}

/**
 * One micro-batch's loss as the Trainer takes it (train/trainer.ts's computeLoss): either the
 * loss tensor (the Trainer runs `loss.mul(weight).backward()`), or, with the chunked loss or
 * checkpointing, a LossOutput whose `backward(scale)` runs the forward and the reverse pass
 * together. `stats` holds CE and KL once the loss exists (after `backward` in the second case).
 */
export function lmBatchLoss(model: CausalLM, batch: LmBatch, o: LmLossOptions): LossOutput & { stats: { ce: number; kl: number | null } } {
  const { alpha, T, weight } = o;
  const amp = <R>(fn: () => R): R => withPrecision(o.precision ?? 'fp32', fn);
  const fo = { positions: batch.positions, segments: batch.segments };
  const teacher = alpha < 1 ? batch.teacher : null;
  const stats: { ce: number; kl: number | null } = { ce: NaN, kl: null };
  if (!o.chunkedLoss && !o.checkpointing) {
    const logits = float32(amp(() => model.call(batch.input, undefined, fo))); // (B, T, V)
    const parts = tokenKdLoss(logits, batch.target, teacher, { alpha, T });
    Object.assign(stats, ceKl(lossValues(parts), T));
    return { loss: parts.loss, weight, stats };
  }
  // Blocks (checkpointed or not), then the head's loss, each with its own reverse pass: the
  // head leaves dLoss/dhidden in hidden.grad and forwardBackward carries it through the blocks.
  const out: LossOutput & { stats: typeof stats } = {
    loss: torch.tensor(Float32Array.of(NaN), { shape: [] }),
    weight,
    stats,
    backward: (scale) => {
      // Under bf16 the whole pass runs in the autocast scope; forwardBackward and the chunked
      // loss run their backward passes outside it and recompute blocks inside it.
      const value = amp(() => forwardBackward(model, batch.input, (hidden) => { // (B, T, d), a leaf
        const d = hidden.shape[2];
        if (o.chunkedLoss) return chunkedLmLoss(hidden.view([-1, d]), model.headWeight, batch.target.reshape([-1]), { alpha, T, teacher: teacher ?? undefined, scale, chunkSize: o.chunkSize });
        const parts = tokenKdLoss(float32(model.head(hidden)), batch.target, teacher, { alpha, T }); // logits (B, T, V)
        torch.noAutocast(() => parts.loss.mul(scale).backward());
        return lossValues(parts);
      }, { ...fo, checkpointing: o.checkpointing }));
      Object.assign(stats, ceKl(value, T));
      out.loss = torch.tensor(Float32Array.of(value.loss), { shape: [] });
    },
  };
  return out;
}

/** The figures a step logs: the mean CE and the mean KL without its T² (null when no KL was computed). */
function ceKl(v: LossResult<number>, T: number): { ce: number; kl: number | null } {
  return { ce: v.parts.hard, kl: v.parts.soft === undefined ? null : v.parts.soft / (T * T) };
}

/** Trains `o.model` for `o.steps` steps of one batch each; resumes from `o.checkpoint` when it exists. */
export function trainLm(o: LmTrainOptions): { step: number; last: LmStepInfo | null; optimizerStateBytes: number } {
  const { model, examples, dist } = o;
  if (examples.length === 0) throw new torch.ConfigError('trainLm: no training examples');
  const world = dist?.worldSize ?? 1, rank = dist?.rank ?? 0;
  const bs = Math.min(o.batchSize ?? 32, Math.floor(examples.length / world));
  if (bs < 1) throw new torch.ConfigError(`trainLm: ${examples.length} examples cannot give each of ${world} ranks one`);
  const alpha = o.alpha ?? 1;
  const T = o.T ?? 1;
  const seed = o.seed ?? 0;
  const maxLen = o.maxLen ?? model.cfg.maxSeqLen - 1;
  const precision = o.precision ?? 'fp32';
  if (!PRECISIONS.includes(precision)) throw new torch.ConfigError(`trainLm: precision must be one of ${PRECISIONS.join(', ')}, got '${String(precision)}'`);
  refuseOtherPrecision(o.checkpoint, precision);
  if (o.lora && !loraConfigOf(model)) applyLora(model, o.lora, seed);
  // A LoRA model's settings (defaults filled in) join the recipe, so a resume with other LoRA settings is refused.
  const lora = loraConfigOf(model);
  // So does a bf16 precision (fp32 stays unrecorded, so older recipes compare equal).
  const recipe0 = precision === 'bf16' ? { ...(o.recipe ?? {}), precision } : o.recipe;
  const recipe = lora ? { ...(recipe0 ?? {}), lora } : recipe0;
  // The chunked loss multiplies by the head's weight itself, so an adapter on lm_head would be left out.
  if (o.chunkedLoss && lora?.targets.includes('lm_head')) throw new torch.ConfigError('the chunked loss computes the LM head from its weight and cannot include a LoRA adapter on lm_head; leave lm_head out of the LoRA targets, or turn the chunked loss off (--no-chunked-loss)');
  // Only what trains: with LoRA (lm/lora.ts) the frozen base stays out, the adapters go in
  // (and the Trainer clips and all-reduces only what requires grad).
  const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: o.lr ?? 1e-3, weightDecay: o.weightDecay ?? 0.01 });
  // Linear warm-up (default 10% of the run, at most 100 steps), then cosine to zero.
  const warmup = Math.max(1, Math.min(o.warmupSteps ?? Math.min(100, Math.floor(o.steps / 10)), o.steps - 1));
  const sched = o.steps >= 2 ? warmupCosine(opt, { warmupSteps: warmup, totalSteps: o.steps, startFactor: 0.01 }) : undefined;
  const lengths = o.groupByLength ? examples.map((e) => Math.min(e.prompt.length + e.completion.length, maxLen + 1)) : null;
  // A step takes bs·world examples; rank r trains on its slice (the same order as one process with bs·world).
  const global = bs * world;
  const perEpoch = Math.max(1, Math.floor(examples.length / global));
  let last: LmStepInfo | null = null;
  let kl: number | null = null;
  let ce = NaN;
  let tokens = 0;
  try {
    const r = new Trainer<LmBatch>({
      model, optimizer: opt, scheduler: sched, dist, zero: o.zero,
      data: {
        batchesPerEpoch: perEpoch,
        *batches(epoch: number, start: number) {
          for (let b = start; b < perEpoch; b++) {
            const step = epoch * perEpoch + b;
            const ids = (lengths ? groupedBatchAt(lengths, global, seed, step) : batchAt(examples.length, global, seed, step)).slice(rank * bs, (rank + 1) * bs);
            const batch = ids.map((i) => examples[i]);
            yield o.pack ? packExamples(batch, maxLen, o.padId) : makeBatch(batch, maxLen, o.padId);
          }
        },
        release: disposeLmBatch,
      },
      computeLoss: (batch) => {
        tokens = batch.tokens;
        // The loss is already the mean over the batch's completion tokens: weight 1 per step. Data
        // parallel: each rank's mean weighs by its token count, so the step is the mean over every
        // rank's tokens, as one process with the whole batch computes it.
        const weight = world > 1 ? batch.tokens : 1;
        const out = lmBatchLoss(model, batch, { alpha, T, weight, precision, chunkedLoss: o.chunkedLoss, chunkSize: o.chunkSize, checkpointing: o.checkpointing });
        const backward = out.backward;
        if (backward) out.backward = (scale) => { backward(scale); ({ ce, kl } = out.stats); }; // the loss exists after its backward
        else ({ ce, kl } = out.stats);
        return out;
      },
      epochs: Math.ceil(o.steps / perEpoch),
      maxSteps: o.steps,
      clipGradNorm: o.clip ?? 1,
      checkpoint: o.checkpoint ? { path: o.checkpoint, everySteps: o.checkpointEvery, recipe: recipe ?? null } : undefined,
      resume: true,
      callbacks: [{
        onStep: (s) => {
          last = { step: s.step, steps: o.steps, loss: s.loss, ce, kl, lr: s.lr, tokens };
          o.onStep?.(last);
        },
      }],
    }).fit();
    return { step: r.step, last, optimizerStateBytes: r.optimizerStateBytes };
  } finally {
    opt.dispose();
    model.eval();
  }
}

// Fine-tuning a causal LM on chat examples: SFT on the completion tokens, plus
// token-level KD where the examples carry teacher distributions, on the one training loop
// (train/trainer.ts). Seeded, checkpointed, and resumable to the same weights: the batch
// order is a pure function of (seed, step).
import * as torch from '../torch/index.js';
import { AdamW, warmupCosine } from '../optim/index.js';
import { disposeLmBatch, makeBatch, loraConfigOf, type CausalLM, type LmBatch, type LmExample } from '../lm/index.js';
import { Trainer, checkpointHasRecipe } from '../train/index.js';
import { tokenKdLoss } from '../kd/index.js';
import { permutation } from '../data/index.js';

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
  onStep?: (s: LmStepInfo) => void;
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
function batchAt(n: number, bs: number, seed: number, step: number): number[] {
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

/** Trains `o.model` for `o.steps` steps of one batch each; resumes from `o.checkpoint` when it exists. */
export function trainLm(o: LmTrainOptions): { step: number; last: LmStepInfo | null } {
  const { model, examples } = o;
  if (examples.length === 0) throw new torch.ConfigError('trainLm: no training examples');
  const bs = Math.min(o.batchSize ?? 32, examples.length);
  const alpha = o.alpha ?? 1;
  const T = o.T ?? 1;
  const seed = o.seed ?? 0;
  const maxLen = o.maxLen ?? model.cfg.maxSeqLen - 1;
  // Only what trains: with LoRA (lm/lora.ts) the frozen base stays out, the adapters go in.
  const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: o.lr ?? 1e-3, weightDecay: o.weightDecay ?? 0.01 });
  // A LoRA model's settings join the recipe, so a resume with other LoRA settings is refused.
  const lora = loraConfigOf(model);
  const recipe = lora ? { ...(o.recipe ?? {}), lora } : o.recipe;
  // Linear warm-up (default 10% of the run, at most 100 steps), then cosine to zero.
  const warmup = Math.max(1, Math.min(o.warmupSteps ?? Math.min(100, Math.floor(o.steps / 10)), o.steps - 1));
  const sched = o.steps >= 2 ? warmupCosine(opt, { warmupSteps: warmup, totalSteps: o.steps, startFactor: 0.01 }) : undefined;
  const lengths = o.groupByLength ? examples.map((e) => Math.min(e.prompt.length + e.completion.length, maxLen + 1)) : null;
  const perEpoch = Math.max(1, Math.floor(examples.length / bs));
  let last: LmStepInfo | null = null;
  let kl: number | null = null;
  let ce = NaN;
  let tokens = 0;
  try {
    const r = new Trainer<LmBatch>({
      model, optimizer: opt, scheduler: sched,
      data: {
        batchesPerEpoch: perEpoch,
        *batches(epoch: number, start: number) {
          for (let b = start; b < perEpoch; b++) {
            const step = epoch * perEpoch + b;
            const ids = lengths ? groupedBatchAt(lengths, bs, seed, step) : batchAt(examples.length, bs, seed, step);
            yield makeBatch(ids.map((i) => examples[i]), maxLen, o.padId);
          }
        },
        release: disposeLmBatch,
      },
      computeLoss: (batch) => {
        const logits = model.call(batch.input); // (B, T, V)
        const parts = tokenKdLoss(logits, batch.target, alpha < 1 ? batch.teacher : null, { alpha, T });
        ({ ce, kl } = parts);
        tokens = batch.tokens;
        // The loss is already the mean over the batch's completion tokens: weight 1 per step.
        return { loss: parts.loss, weight: 1 };
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
    return { step: r.step, last };
  } finally {
    opt.dispose();
    model.eval();
  }
}

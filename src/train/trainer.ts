// The one training loop. Classifier KD (kd/trainer.ts) and LM distillation (reason/sft.ts)
// both run on it; each supplies its data and a `computeLoss` hook, the way TRL's trainers
// override `compute_loss`, and observes the run through callbacks.
//
// One optimizer step = `gradAccumulation` micro-batches. computeLoss returns a loss that is a
// mean over its micro-batch together with that micro-batch's weight w (its sample count, or
// 1 for a loss that is already the step's mean). Each loss is backpropagated as w·loss and
// the summed gradients are divided by Σw before the step, so an uneven last group weighs
// exactly like one big batch (the normalisation Hugging Face's Trainer fixed in 2024 divided
// by the micro-batch count instead).
//
// Resuming: the checkpoint (model, loss-owned parameters, the weights' EMA, optimizer,
// schedule, the position reached and each callback's state) is written atomically at the end
// of every `checkpoint.everyEpochs` epochs, every `checkpoint.everySteps` steps and at the end.
// The data of an epoch is a pure function of the epoch (EpochData), so a killed run restarted
// with `resume` continues at the saved position and ends at the same final weights. A
// checkpoint written with another `recipe` is refused, and left as it was.
//
// Weight averaging (`ema` = d > 0, optim/ema.ts): θ̄ ← d·θ̄ + (1 − d)·θ after each step; the
// average is what `evaluate` and the epoch-end callbacks see, and what the run returns.
//
// Data parallel (`dist`, train/distributed.ts): each rank trains on its own shard; after the
// backward passes one allreduce sums the gradients and weights; only rank 0 writes files.
// With `zero: 1` (optim/zero.ts) each rank keeps the optimizer state of its 1/W shard of the
// parameters only, steps that shard and all-gathers the updated parameters; the checkpoint
// holds the gathered, unsharded optimizer state, so it resumes with any number of ranks.
import { existsSync, rmSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { AnyModule } from '../nn/index.js';
import { clipGradNorm, WeightEma, ZeroRedundancyOptimizer, disposeStateDict, type Optimizer, type LRScheduler } from '../optim/index.js';
import { saveCheckpoint, loadCheckpoint, readCheckpointInfo, removeStaleTempFiles } from '../io/index.js';
import { hashSeed } from '../data/index.js';
import { allreduceGradients, allreduceSums, agree, broadcastState } from './distributed.js';

/** What computeLoss returns for one micro-batch. */
export interface LossOutput {
  /** Scalar mean loss of the micro-batch. */
  loss: Tensor;
  /** Named components, logged (not backpropagated). */
  parts?: Record<string, Tensor>;
  /** The micro-batch's weight in the step's mean: its sample count, or 1. */
  weight: number;
  /** Called after backward: frees what only this backward needed (captured features). */
  release?: () => void;
  /**
   * Runs this micro-batch's backward itself, as if `loss.mul(scale).backward()`: for losses
   * whose graph is not kept whole (a chunked LM head, checkpointed blocks), which run their
   * own reverse pass. Default: `loss.mul(scale).backward()`.
   */
  backward?: (scale: number) => void;
}

export interface StepContext {
  epoch: number;
  /** Index of the micro-batch within its epoch. */
  batchInEpoch: number;
  /** Optimizer steps completed before this micro-batch. */
  step: number;
  /** Training progress in [0, 1): (step + micro/gradAccumulation) / totalSteps. */
  progress: number;
}

/** The training data, epoch by epoch; batches(e, start) must be a pure function of (e, start). */
export interface EpochData<B> {
  readonly batchesPerEpoch: number;
  /** Epoch e's micro-batches from index `start` on. */
  batches(epoch: number, start: number): Iterable<B>;
  /** Frees a batch once its step is done (when the data does not). */
  release?(batch: B): void;
}

export interface StepRecord {
  epoch: number;
  /** Optimizer steps completed, this one included. */
  step: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  /** The last micro-batch's loss and parts. */
  loss: number;
  parts: Record<string, number>;
  /** The learning rate this step used. */
  lr: number;
  /** Σ weights of the step over every rank. */
  weight: number;
}

export interface EpochSummary {
  epoch: number;
  /** Weighted means over the epoch's micro-batches (and every rank's). */
  loss: number;
  parts: Record<string, number>;
  /** What `evaluate` returned, measured with the averaged weights when EMA is on. */
  metrics: Record<string, number | null>;
  /** The learning rate after the epoch's last step. */
  lr: number;
  seconds: number;
}

/** Observes a run; `state`/`loadState` put the callback's own state in the checkpoint. */
export interface TrainerCallback {
  /** Key of this callback's state in the checkpoint. */
  readonly name?: string;
  onStart?(info: { resumed: boolean; startEpoch: number; step: number; stepsPerEpoch: number; totalSteps: number }): void;
  onEpochStart?(epoch: number): void;
  onStep?(s: StepRecord): void;
  /** Runs with the averaged weights in place (EMA). Returning true stops the run. */
  onEpochEnd?(e: EpochSummary): boolean | void;
  /** After the last epoch, with the final weights in place. */
  onEnd?(): void;
  state?(): unknown;
  loadState?(state: unknown): void;
}

export interface CheckpointOptions {
  path: string;
  /** Save at the end of every this many epochs (default: only at the end of the run). */
  everyEpochs?: number;
  /** Save every this many optimizer steps. */
  everySteps?: number;
  /** What the run was asked to do; resuming a checkpoint of another recipe is refused. */
  recipe?: Record<string, unknown> | null;
}

export interface TrainerOptions<B> {
  model: AnyModule;
  /** Trainable tensors outside the model (a loss's regressor); optimized and checkpointed. */
  extraParams?: Tensor[];
  optimizer: Optimizer<{ lr: number }>;
  scheduler?: LRScheduler | null;
  data: EpochData<B>;
  computeLoss: (batch: B, ctx: StepContext) => LossOutput;
  epochs: number;
  /** Stop after this many optimizer steps, mid-epoch if need be. */
  maxSteps?: number;
  gradAccumulation?: number;
  /** Max global gradient norm; 0 = no clipping. */
  clipGradNorm?: number;
  /** EMA decay d of the weights; 0 = off. */
  ema?: number;
  /** Per-epoch metrics (validation), computed with the averaged weights. */
  evaluate?: () => Record<string, number | null>;
  checkpoint?: CheckpointOptions;
  /** Resume from the checkpoint when there is one; otherwise an old one is deleted. */
  resume?: boolean;
  dist?: torch.ProcessGroup;
  /**
   * ZeRO stage: 0 (default) = every rank holds the whole optimizer state; 1 = each rank holds
   * the state of its 1/worldSize shard of the parameters (optim/zero.ts). Without `dist` there
   * is nothing to shard over and 1 changes nothing.
   */
  zero?: 0 | 1;
  /** Under `zero: 1`: elements of each rank's shard per allgather (default optim/zero.ts's, 2²²). */
  zeroBucketElements?: number;
  /** Seeds each rank's dropout per epoch under `dist`. */
  seed?: number;
  callbacks?: TrainerCallback[];
  /** Where the run lives, for error messages. */
  where?: string;
}

export interface TrainerResult {
  /** Optimizer steps completed. */
  step: number;
  /** The epoch the run resumed in, or null for a fresh start. */
  resumedAt: number | null;
  /** A callback stopped the run early. */
  stopped: boolean;
  /** Bytes of optimizer state this process held at the end (its shard's under `zero: 1`). */
  optimizerStateBytes: number;
}

/** Raised when the loss stops being finite; the last checkpoint is left intact. */
export class NonFiniteLossError extends torch.DistillError {
  constructor(message: string) {
    super('ERR_NONFINITE', message);
  }
}

/** Where a run stands: the next micro-batch to train on. */
interface Position {
  epoch: number;
  batch: number;
  stopped: boolean;
}

const EXTRA = '__extra.';
const EMA = '__ema.';
const COUNT = '\u0000weight'; // a key no loss part can have

/** A recipe as the checkpoint compares it. */
const recipeKey = (recipe: unknown) => JSON.stringify(recipe ?? null);

/** Whether resuming `path` would continue a run of this recipe. */
export function checkpointHasRecipe(path: string, recipe: Record<string, unknown> | null | undefined): boolean {
  return recipeKey(readCheckpointInfo(path).extra.recipe) === recipeKey(recipe);
}

export class Trainer<B> {
  readonly #o: TrainerOptions<B>;
  constructor(options: TrainerOptions<B>) {
    const o = options;
    const acc = o.gradAccumulation ?? 1;
    if (!Number.isInteger(acc) || acc < 1) throw new torch.ConfigError(`Trainer: gradAccumulation must be an integer ≥ 1, got ${acc}`);
    if (!Number.isInteger(o.epochs) || o.epochs < 0) throw new torch.ConfigError(`Trainer: epochs must be a non-negative integer, got ${o.epochs}`);
    if (o.data.batchesPerEpoch < 1) throw new torch.ConfigError('Trainer: the data has no batches');
    if (o.zero !== undefined && o.zero !== 0 && o.zero !== 1) throw new torch.ConfigError(`Trainer: zero must be 0 or 1 (ZeRO stage 1 shards the optimizer state), got ${String(o.zero)}`);
    this.#o = o;
  }

  /** Trains; denormals are flushed for the run (without it Adam's state underflows into them and epochs slow down). */
  fit(): TrainerResult {
    return torch.withFlushDenormal(() => this.#run());
  }

  #run(): TrainerResult {
    const { optimizer: opt, dist, zero: stage, zeroBucketElements: bucketElements } = this.#o;
    // ZeRO-1: the optimizer's state moves into per-rank shards; `opt` keeps the hyper-parameters.
    const zero = dist && stage === 1 ? new ZeroRedundancyOptimizer(opt, dist, { bucketElements }) : null;
    try {
      return this.#loop(zero);
    } finally {
      zero?.dispose();
    }
  }

  #loop(zero: ZeroRedundancyOptimizer | null): TrainerResult {
    const o = this.#o;
    const { model, optimizer: opt, dist } = o;
    const sched = o.scheduler ?? null;
    const lead = !dist || dist.rank === 0;
    const acc = o.gradAccumulation ?? 1;
    const callbacks = o.callbacks ?? [];
    const extras = o.extraParams ?? [];
    // Frozen parameters (a LoRA base) get no gradient: they are neither reduced nor clipped.
    const params = [...model.parameters().filter((p) => p.requiresGrad), ...extras];
    const stepsPerEpoch = Math.ceil(o.data.batchesPerEpoch / acc);
    const totalSteps = Math.min(stepsPerEpoch * o.epochs, o.maxSteps ?? Infinity);
    const ema = (o.ema ?? 0) > 0 ? new WeightEma(model, o.ema!) : null;
    const ckpt = o.checkpoint;
    const where = o.where ?? ckpt?.path ?? 'the run folder';
    // What the checkpoint saves and loads as the optimizer: under ZeRO-1 the full state,
    // gathered from every rank (so saving is a collective) and split again on load.
    const optState = zero ?? opt;

    // The checkpoint's tensors: the model, loss-owned parameters and the weights' EMA.
    const state = {
      stateDict: () => ({
        ...model.stateDict(),
        ...Object.fromEntries(extras.map((t, i) => [`${EXTRA}${i}`, t])),
        ...Object.fromEntries(Object.entries(ema?.average ?? {}).map(([k, t]) => [`${EMA}${k}`, t])),
      }),
      loadStateDict: (sd: Record<string, Tensor>) => {
        const own: Record<string, Tensor> = {};
        for (const [k, t] of Object.entries(sd)) if (!k.startsWith(EXTRA) && !k.startsWith(EMA)) own[k] = t;
        model.loadStateDict(own);
        torch.noGrad(() => extras.forEach((t, i) => t.copy_(sd[`${EXTRA}${i}`])));
        if (!ema) return;
        if (!Object.keys(sd).some((k) => k.startsWith(EMA))) throw new torch.ConfigError(`${ckpt!.path} has no weight average: it was written with ema off, so it cannot resume a run with ema on`);
        torch.noGrad(() => Object.entries(ema.average).forEach(([k, t]) => t.copy_(sd[`${EMA}${k}`])));
      },
    };

    let pos: Position = { epoch: 0, batch: 0, stopped: false };
    let step = 0;
    let resuming = false;
    let resumedAt: number | null = null;
    if (ckpt) {
      if (lead) removeStaleTempFiles(ckpt.path); // left by a killed write
      resuming = !!o.resume && existsSync(ckpt.path);
      if (dist) {
        // Rank 0's files decide; a rank that cannot see the checkpoint must not start fresh alone.
        resuming = agree(dist, lead && resuming ? 1 : 0) === 1;
        if (resuming && !existsSync(ckpt.path))
          throw new torch.ConfigError(`rank ${dist.rank}: cannot read ${ckpt.path}, which rank 0 resumes from; a data-parallel run needs its run folder on a filesystem every rank shares`);
      }
      if (resuming) {
        const info = readCheckpointInfo(ckpt.path);
        const [was, now] = [recipeKey(info.extra.recipe), recipeKey(ckpt.recipe)];
        if (was !== now) throw new torch.ConfigError(`${ckpt.path} was written by a run with other options (${was}, now ${now}); rerun with those options to resume it, or delete it to start anew`);
        if (!info.extra.trainer) throw new torch.ConfigError(`${ckpt.path} was written by an older version of distill and cannot be resumed; delete it to start anew`);
        const loaded = loadCheckpoint(ckpt.path, { model: state, optimizer: optState, scheduler: sched ?? undefined });
        step = loaded.step;
        const extra = loaded.extra as { trainer: Position; callbacks?: Record<string, unknown> };
        pos = extra.trainer;
        resumedAt = pos.epoch;
        for (const c of callbacks) if (c.name && c.loadState && extra.callbacks && c.name in extra.callbacks) c.loadState(extra.callbacks[c.name]);
      } else if (lead) {
        rmSync(ckpt.path, { force: true }); // a fresh start never picks up an old run later
      }
    }
    const save = () => {
      if (!ckpt) return;
      const full = zero?.stateDict(0) ?? null; // a collective: every rank takes part, rank 0 alone keeps and writes it
      try {
        if (!lead) return;
        const cbState = Object.fromEntries(callbacks.filter((c) => c.name && c.state).map((c) => [c.name!, c.state!()]));
        const optimizer = full ? { stateDict: () => full, loadStateDict: () => {} } : opt;
        saveCheckpoint(ckpt.path, { model: state, optimizer, scheduler: sched ?? undefined, step, extra: { trainer: pos, callbacks: cbState, recipe: ckpt.recipe ?? null } });
      } finally {
        if (full) disposeStateDict(full);
      }
    };
    if (dist) {
      // Replicas start equal (fresh: rank 0's initialisation; resumed: the same file, made sure).
      broadcastState(dist, Object.values(state.stateDict()));
      dist.barrier(); // nobody rewrites the checkpoint before every rank has read it
    }
    for (const c of callbacks) c.onStart?.({ resumed: resuming, startEpoch: pos.epoch, step, stepsPerEpoch, totalSteps });

    try {
      while (pos.epoch < o.epochs && !pos.stopped && step < totalSteps) {
        const epoch = pos.epoch;
        const t0 = performance.now();
        // Ranks seeded alike would draw the same dropout masks; a key of (seed, epoch, rank) decorrelates them and keeps resume exact.
        if (dist && dist.worldSize > 1) torch.manualSeed(hashSeed(o.seed ?? 0, epoch, dist.rank));
        for (const c of callbacks) c.onEpochStart?.(epoch);
        model.train();
        const sums: Record<string, number> = {};
        let epochWeight = 0;
        let groupWeight = 0;
        let micro = 0;
        let stepInEpoch = pos.batch / acc;
        let last = { loss: NaN, parts: {} as Record<string, number> };
        let pendingSave = false;

        const finishStep = () => {
          // Gradients hold Σ_micro w_i·∇loss_i; divide by Σ w_i for the group's true mean
          // (with dist, both sums run over every rank's micro-batches too).
          if (dist) groupWeight = allreduceGradients(dist, params, groupWeight);
          torch.noGrad(() => {
            for (const p of params) {
              const g = p.grad;
              if (g) {
                g.mul_(1 / groupWeight);
                g.dispose();
              }
            }
          });
          // Every rank holds the whole reduced gradient (under ZeRO-1 too), so this is the global norm.
          if ((o.clipGradNorm ?? 0) > 0) clipGradNorm(params, o.clipGradNorm!);
          const lr = opt.paramGroups[0].lr;
          if (zero) zero.step();
          else opt.step();
          ema?.update();
          sched?.step();
          if (zero) zero.zeroGrad();
          else opt.zeroGrad();
          step++;
          stepInEpoch++;
          pos = { epoch, batch: stepInEpoch * acc, stopped: false };
          const rec: StepRecord = { epoch, step, stepInEpoch, stepsPerEpoch, loss: last.loss, parts: last.parts, lr, weight: groupWeight };
          groupWeight = 0;
          micro = 0;
          for (const c of callbacks) c.onStep?.(rec);
          // A step that ends its epoch is saved after the epoch's end has run, so a resumed run never repeats it.
          if (ckpt?.everySteps && step % ckpt.everySteps === 0 && step < totalSteps) {
            if (stepInEpoch < stepsPerEpoch) save();
            else pendingSave = true;
          }
        };

        let batchInEpoch = pos.batch - 1;
        for (const batch of o.data.batches(epoch, pos.batch)) {
          batchInEpoch++;
          try {
            const progress = (step + micro / acc) / Math.max(1, totalSteps);
            const { loss, parts, weight } = torch.tidy(() => {
              const out = o.computeLoss(batch, { epoch, batchInEpoch, step, progress });
              if (out.backward) out.backward(out.weight);
              else out.loss.mul(out.weight).backward();
              out.release?.();
              const parts: Record<string, number> = {};
              for (const [k, v] of Object.entries(out.parts ?? {})) parts[k] = v.item();
              return { loss: out.loss.item(), parts, weight: out.weight };
            });
            if (!Number.isFinite(loss)) {
              throw new NonFiniteLossError(
                `loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (${Object.entries(parts).map(([k, v]) => `${k}=${v}`).join(', ') || 'no parts'}); ` +
                  `lower the learning rate (now ${opt.paramGroups[0].lr}) or the temperature; the last checkpoint in ${where} is intact`,
              );
            }
            last = { loss, parts };
            epochWeight += weight;
            groupWeight += weight;
            sums.loss = (sums.loss ?? 0) + loss * weight;
            for (const [k, v] of Object.entries(parts)) sums[k] = (sums[k] ?? 0) + v * weight;
            micro++;
          } finally {
            o.data.release?.(batch);
          }
          if (micro === acc) finishStep();
          // maxSteps reached mid-epoch. (At an epoch's end the data is left to finish, so a
          // source that frees each batch when the next is asked for frees the last one too.)
          if (step >= totalSteps && stepInEpoch < stepsPerEpoch) break;
        }
        if (micro > 0) finishStep(); // an uneven last group
        if (step >= totalSteps && stepInEpoch < stepsPerEpoch) break; // maxSteps reached mid-epoch: no epoch end

        if (dist) {
          // The epoch's loss is the mean over every rank's micro-batches, as one process would log it.
          const all = allreduceSums(dist, { ...sums, [COUNT]: epochWeight });
          epochWeight = all[COUNT];
          delete all[COUNT];
          Object.assign(sums, all);
        }
        const avg: Record<string, number> = {};
        for (const [k, v] of Object.entries(sums)) avg[k] = v / Math.max(1, epochWeight);
        const { loss: epochLoss, ...epochParts } = avg;
        ema?.swap(); // evaluated, and kept as the best, with the averaged weights
        let stop = false;
        try {
          const metrics = o.evaluate?.() ?? {};
          const summary: EpochSummary = { epoch, loss: epochLoss, parts: epochParts, metrics, lr: opt.paramGroups[0].lr, seconds: (performance.now() - t0) / 1000 };
          for (const c of callbacks) if (c.onEpochEnd?.(summary)) stop = true;
        } finally {
          ema?.swap();
        }
        pos = { epoch: epoch + 1, batch: 0, stopped: stop };
        const every = ckpt?.everyEpochs;
        if ((every && (epoch + 1) % every === 0) || pendingSave || epoch === o.epochs - 1 || stop || step >= totalSteps) save();
      }
      if (step >= totalSteps && ckpt && (pos.batch > 0)) save(); // ended mid-epoch (maxSteps)
      ema?.swap(); // the run's model is the average
    } finally {
      ema?.dispose();
    }
    for (const c of callbacks) c.onEnd?.();
    const optimizerStateBytes = zero ? zero.stateBytes : Object.values(opt.stateDict().tensors).reduce((s, t) => s + t.numel * torch.ITEM_SIZE[t.dtype], 0);
    return { step, resumedAt, stopped: pos.stopped, optimizerStateBytes };
  }
}

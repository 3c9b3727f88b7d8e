// The training loop for teachers, baseline students and distilled students.
//
// One step = `gradAccumulation` micro-batches. Each micro-batch's mean loss is
// multiplied by its size before backward and the summed gradients are divided by the
// group's total sample count before the optimizer step, so an uneven last group is
// weighted exactly like one big batch (the normalisation bug Hugging Face's Trainer
// fixed in 2024 was dividing by the micro-batch count instead).
//
// Resuming: a checkpoint (model, optimizer, schedule, RNG, epoch, best score, history)
// is written atomically at the end of every `checkpointEvery` epochs. The data order is
// a pure function of (seed, epoch), so a killed run restarted with `resume` redoes the
// interrupted epoch and ends at the same final weights.
//
// Replayed views (`viewEpochs` = K > 0, after FKD: Shen & Xing 2022, "A Fast Knowledge
// Distillation Framework for Visual Recognition"): epoch e draws its data order, augmentation
// and mixup from view epoch e mod K, and a live teacher's logits on those K epochs of views are
// kept in memory. The teacher then runs only during the first K epochs; a patient schedule of
// E ≫ K epochs costs K teacher passes instead of E, and teacher and student still see the same
// view. Memory: K · N · C floats (K = 40, N = 54k, C = 10: 82 MiB). A resumed run refills the
// memo on first use, with the same logits, so it still ends at the same weights; with a
// `viewStore` (kd/view_store.ts) it reads them from disk instead, and so can another student
// recipe on the same views.
//
// Weight averaging (`ema` = d > 0, optim/ema.ts): θ̄ ← d·θ̄ + (1 − d)·θ after each step; the
// average is what is validated, kept as the best and returned, and it is in the checkpoint.
//
// Data parallel (`dist`, kd/distributed.ts): each rank trains on its own shard; after
// backward one allreduce sums the gradients and sample counts; rank 0 alone writes files.
import { existsSync, mkdirSync, readFileSync, appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { Adam, AdamW, SGD, CosineAnnealingLR, warmupCosine, clipGradNorm, WeightEma, type Optimizer, type LRScheduler } from '../optim/index.js';
import { saveCheckpoint, loadCheckpoint, saveSafetensors, loadSafetensors, writeFileAtomic, removeStaleTempFiles } from '../io/index.js';
import { mixup, hashSeed } from '../data/index.js';
import { hardCE } from './hinton.js';
import { computeLogits, type Teacher, type SparseLogits } from './teacher.js';
import type { ViewLogitsStore } from './view_store.js';
import type { FeatureCapture } from './capture.js';
import { allreduceGradients, allreduceSums, agree, broadcastState } from './distributed.js';

export interface Batch {
  x: Tensor;
  y: Tensor;
  index: Tensor;
}
/** What the trainer needs of a data loader (src/data's DataLoader). */
export interface BatchSource {
  setEpoch(epoch: number): void;
  readonly numBatches: number;
  [Symbol.iterator](): Iterator<Batch>;
}
export interface EvalSet {
  x: Tensor;
  y: Tensor;
}

export interface TrainConfig {
  epochs: number;
  lr: number;
  optimizer: 'adam' | 'adamw' | 'sgd';
  momentum: number;
  weightDecay: number;
  schedule: 'constant' | 'cosine' | 'warmup-cosine';
  warmupSteps: number;
  gradAccumulation: number;
  /** Max global gradient norm; 0 = no clipping. */
  clipGradNorm: number;
  labelSmoothing: number;
  /** Mixup α (Zhang et al. 2018); 0 = off. With a teacher, it sees the same mixed input. */
  mixup: number;
  /** Replay the views (order, augmentation, mixup) of this many epochs, with the teacher's logits on them memoised; 0 = fresh views every epoch. */
  viewEpochs: number;
  /** Decay d of an exponential moving average of the weights (optim/ema.ts), validated and returned instead of the last iterate; 0 = off. */
  ema: number;
  seed: number;
  checkpointEvery: number;
  /** Stop after this many epochs without a better validation accuracy; 0 = never. */
  patience: number;
  logEvery: number;
}

export const DEFAULT_TRAIN: TrainConfig = {
  epochs: 10, lr: 1e-3, optimizer: 'adam', momentum: 0.9, weightDecay: 0, schedule: 'constant', warmupSteps: 0,
  gradAccumulation: 1, clipGradNorm: 0, labelSmoothing: 0, mixup: 0, viewEpochs: 0, ema: 0, seed: 0, checkpointEvery: 1, patience: 0, logEvery: 50,
};

/** A distillation loss: the KD library's registry builds these. */
export type KDLossFn = (
  inputs: {
    student: Tensor;
    teacher?: Tensor | SparseLogits;
    labels?: Tensor;
    mixed?: { perm: Tensor; lambda: number };
    features?: { student: Record<string, Tensor>; teacher: Record<string, Tensor> };
  },
  ctx: { T: number; alpha: number },
) => { total: Tensor; parts: Record<string, Tensor> };

export interface KDSetup {
  teacher: Teacher;
  loss: KDLossFn;
  /** T and α as functions of training progress in [0, 1]. */
  T: (progress: number) => number;
  alpha: (progress: number) => number;
  /** Intermediate outputs captured by module name, for feature losses (hint, attention); needs a live teacher. */
  features?: { student: FeatureCapture; teacher: FeatureCapture };
}

export type TrainEvent =
  | { type: 'start'; epochs: number; stepsPerEpoch: number; resumedFrom: number | null }
  | { type: 'step'; epoch: number; step: number; stepInEpoch: number; stepsPerEpoch: number; loss: number; parts: Record<string, number>; lr: number; samplesPerSec: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'early-stop'; epoch: number; best: number };

export interface EpochRecord {
  epoch: number;
  loss: number;
  parts: Record<string, number>;
  valAccuracy: number | null;
  teacherAgreement: number | null;
  lr: number;
  T: number | null;
  alpha: number | null;
  seconds: number;
}

export interface TrainRequest {
  model: Module;
  train: BatchSource;
  val?: EvalSet;
  config: TrainConfig;
  kd?: KDSetup;
  /** Extra trainable tensors (e.g. a FitNets regressor's). */
  extraParams?: Tensor[];
  /** The teacher model, for the agreement-with-teacher metric on the validation set. */
  teacherModel?: Module;
  runDir: string;
  resume?: boolean;
  onEvent?: (e: TrainEvent) => void;
  /**
   * Data parallel: this process is one rank of the group and `train` yields this rank's
   * shard (a DataLoader over a DistributedSampler). Weights start as rank 0's, gradients are
   * averaged over the global batch, rank 0 writes the checkpoint and metrics, and every
   * rank resumes from that checkpoint (so the run folder must be on a shared filesystem).
   */
  dist?: torch.ProcessGroup;
  /**
   * With `viewEpochs`, where the teacher's logits on each view epoch are also kept on disk
   * (kd/view_store.ts): an epoch found there is read instead of running the teacher, and one
   * the teacher labelled is written there at the epoch's end.
   */
  viewStore?: ViewLogitsStore;
}

export interface TrainResult {
  history: EpochRecord[];
  bestValAccuracy: number | null;
  stoppedEarly: boolean;
  resumedFrom: number | null;
}

/** Raised when the loss stops being finite; the last checkpoint is left intact. */
export class NonFiniteLossError extends torch.DistillError {
  constructor(message: string) {
    super('ERR_NONFINITE', message);
  }
}

function makeOptimizer(params: Tensor[], c: TrainConfig): Optimizer<{ lr: number }> {
  if (c.optimizer === 'sgd') return new SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
  if (c.optimizer === 'adamw') return new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay });
  return new Adam(params, { lr: c.lr, weightDecay: c.weightDecay });
}

function makeSchedule(opt: Optimizer<{ lr: number }>, c: TrainConfig, totalSteps: number): LRScheduler | null {
  if (c.schedule === 'cosine') return new CosineAnnealingLR(opt, { tMax: totalSteps });
  if (c.schedule === 'warmup-cosine') return warmupCosine(opt, { warmupSteps: Math.max(1, c.warmupSteps), totalSteps });
  return null;
}

const argmaxAgreement = (a: Tensor, b: Tensor) => torch.tidy(() => a.eq(b).toDtype('float32').mean().item());

export function train(req: TrainRequest): TrainResult {
  // Denormals are flushed for the run (torch.setFlushDenormal): without it Adam's state
  // underflows into them and a distillation epoch grew 0.59 → 0.72 s over five epochs.
  return torch.withFlushDenormal(() => runTraining(req));
}

function runTraining(req: TrainRequest): TrainResult {
  const { model, config: c, kd, dist } = req;
  const lead = !dist || dist.rank === 0; // the one rank that writes files
  mkdirSync(req.runDir, { recursive: true });
  const ckptPath = join(req.runDir, 'checkpoint.safetensors');
  const metricsPath = join(req.runDir, 'metrics.jsonl');
  const params = [...model.parameters(), ...(req.extraParams ?? [])];
  const opt = makeOptimizer(params, c);
  const stepsPerEpoch = Math.ceil(req.train.numBatches / c.gradAccumulation);
  const totalSteps = stepsPerEpoch * c.epochs;
  const sched = makeSchedule(opt, c, totalSteps);

  const bestPath = join(req.runDir, 'best.safetensors');
  if (lead) for (const f of [ckptPath, bestPath, metricsPath]) removeStaleTempFiles(f); // left by a killed write
  // The checkpoint covers the model, any extra trainable tensors (a hint regressor) and the weights' EMA, so all resume.
  const extras = req.extraParams ?? [];
  const ema = c.ema > 0 ? new WeightEma(model, c.ema) : null;
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
      if (!Object.keys(sd).some((k) => k.startsWith(EMA))) throw new torch.ConfigError(`${ckptPath} has no weight average: it was written with ema off, so it cannot resume a run with ema on`);
      torch.noGrad(() => Object.entries(ema.average).forEach(([k, t]) => t.copy_(sd[`${EMA}${k}`])));
    },
  };

  let history: EpochRecord[] = [];
  let best: number | null = null;
  let badEpochs = 0;
  let startEpoch = 0;
  let resumedFrom: number | null = null;
  let stoppedEarly = false;
  let resuming = !!req.resume && existsSync(ckptPath);
  if (dist) {
    // Rank 0's files decide; a rank that cannot see the checkpoint must not start fresh alone.
    resuming = agree(dist, lead && resuming ? 1 : 0) === 1;
    if (resuming && !existsSync(ckptPath))
      throw new torch.ConfigError(`rank ${dist.rank}: cannot read ${ckptPath}, which rank 0 resumes from; a data-parallel run needs its run folder on a filesystem every rank shares`);
  }
  if (resuming) {
    const info = loadCheckpoint(ckptPath, { model: state, optimizer: opt, scheduler: sched ?? undefined });
    const extra = info.extra as { epoch: number; best: number | null; badEpochs: number; history: EpochRecord[]; stoppedEarly?: boolean };
    startEpoch = extra.epoch + 1;
    best = extra.best;
    badEpochs = extra.badEpochs;
    history = extra.history;
    stoppedEarly = !!extra.stoppedEarly;
    resumedFrom = extra.epoch;
    // Keep the metrics of the epochs the checkpoint covers; drop what the killed run logged after it.
    if (lead && existsSync(metricsPath)) {
      // A line cut short by the kill does not parse and is dropped too.
      const kept = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => {
        try {
          return (JSON.parse(l) as { epoch: number }).epoch <= extra.epoch;
        } catch {
          return false;
        }
      });
      writeFileAtomic(metricsPath, kept.map((l) => l + '\n').join(''));
    }
  } else if (lead) {
    // A fresh start: nothing of an earlier run in this folder may be resumed or reported later.
    rmSync(ckptPath, { force: true });
    rmSync(bestPath, { force: true });
    writeFileAtomic(metricsPath, '');
  }
  const log = (o: object) => {
    if (lead) appendFileSync(metricsPath, JSON.stringify(o) + '\n');
  };
  if (dist) {
    // Replicas start equal (fresh: rank 0's initialisation; resumed: the same file, made sure).
    broadcastState(dist, Object.values(state.stateDict()));
    dist.barrier(); // nobody rewrites the checkpoint before every rank has read it
  }
  req.onEvent?.({ type: 'start', epochs: c.epochs, stepsPerEpoch, resumedFrom });

  // The teacher's validation predictions, once, for the agreement metric.
  const teacherValPred = req.teacherModel && req.val
    ? torch.keep(torch.tidy(() => computeLogits(req.teacherModel!, req.val!.x, 512).argmax(1)))
    : null;
  kd?.features?.teacher.clear();
  if (c.viewEpochs < 0 || !Number.isInteger(c.viewEpochs)) throw new torch.ConfigError(`viewEpochs must be a non-negative integer, got ${c.viewEpochs}`);
  if (c.viewEpochs > 0 && kd?.features) throw new torch.ConfigError('viewEpochs cannot be combined with feature losses: they need the teacher\'s intermediate outputs at every step');
  // (view epoch, batch) → the teacher's logits on that view; only a live teacher is worth memoising.
  const memo = c.viewEpochs > 0 && kd?.teacher.kind === 'live' ? new Map<string, Tensor | SparseLogits>() : null;
  const store = memo ? req.viewStore : undefined;
  const stored = new Set<number>(); // view epochs that are on disk already
  const teacherLogits = (viewEpoch: number, batchInEpoch: number, x: Tensor, index: Tensor): Tensor | SparseLogits => {
    if (!memo) return kd!.teacher.logits({ x, index });
    const key = `${viewEpoch}/${batchInEpoch}`;
    if (store && batchInEpoch === 0 && !memo.has(key)) {
      const batches = store.load(viewEpoch);
      if (batches) {
        batches.forEach((t, b) => memo.set(`${viewEpoch}/${b}`, t));
        stored.add(viewEpoch);
      }
    }
    let t = memo.get(key);
    if (!t) {
      t = kd!.teacher.logits({ x, index });
      for (const v of t instanceof torch.Tensor ? [t] : Object.values(t)) torch.keep(v);
      memo.set(key, t);
    }
    return t;
  };

  try {
    for (let epoch = startEpoch; epoch < c.epochs && !stoppedEarly; epoch++) {
      const t0 = performance.now();
      const viewEpoch = c.viewEpochs > 0 ? epoch % c.viewEpochs : epoch;
      req.train.setEpoch(viewEpoch);
      // Ranks seeded alike would draw the same dropout masks; a key of (seed, epoch, rank) decorrelates them and keeps resume exact.
      if (dist && dist.worldSize > 1) torch.manualSeed(hashSeed(c.seed, epoch, dist.rank));
      model.train();
      const sums: Record<string, number> = {};
      let sampleCount = 0;
      let groupSamples = 0;
      let micro = 0;
      let step = epoch * stepsPerEpoch;
      let stepInEpoch = 0;
      let T: number | null = null;
      let alpha: number | null = null;
      let stepT0 = performance.now();
      let stepSamples = 0;

      const finishStep = () => {
        // Gradients hold Σ_micro (b_i · ∇mean_i); divide by Σ b_i for the group's true mean
        // (with dist, both sums run over every rank's micro-batches too).
        if (dist) groupSamples = allreduceGradients(dist, params, groupSamples);
        torch.noGrad(() => {
          for (const p of params) {
            const g = p.grad;
            if (g) {
              g.mul_(1 / groupSamples);
              g.dispose();
            }
          }
        });
        if (c.clipGradNorm > 0) clipGradNorm(params, c.clipGradNorm);
        opt.step();
        ema?.update();
        sched?.step();
        opt.zeroGrad();
        step++;
        stepInEpoch++;
        groupSamples = 0;
        micro = 0;
      };

      let batchInEpoch = -1;
      for (const batch of req.train) {
        batchInEpoch++;
        const progress = (step + micro / c.gradAccumulation) / Math.max(1, totalSteps);
        T = kd ? kd.T(progress) : null;
        alpha = kd ? kd.alpha(progress) : null;
        const { loss, parts } = torch.tidy(() => {
          let x = batch.x;
          let mixed: { perm: Tensor; lambda: number } | undefined;
          if (c.mixup > 0) {
            // Drawn from (seed, epoch, batch): a resumed run mixes exactly the same pairs.
            const m = mixup(x, { alpha: c.mixup, seed: hashSeed(c.seed, viewEpoch, batchInEpoch) });
            x = m.x;
            mixed = { perm: m.perm, lambda: m.lambda };
          }
          const student = model.call(x);
          let out: { total: Tensor; parts: Record<string, Tensor> };
          if (kd) {
            const teacher = teacherLogits(viewEpoch, batchInEpoch, x, batch.index);
            const f = kd.features;
            out = kd.loss({ student, teacher, labels: batch.y, mixed, features: f && { student: f.student.features(), teacher: f.teacher.features() } }, { T: T!, alpha: alpha! });
          } else {
            out = { total: hardCE(student, batch.y, { labelSmoothing: c.labelSmoothing, mixed }), parts: {} };
          }
          const b = batch.y.shape[0];
          out.total.mul(b).backward();
          // Captured features serve only this step's backward.
          kd?.features?.student.clear();
          kd?.features?.teacher.clear();
          const loss = out.total.item();
          const parts: Record<string, number> = {};
          for (const [k, v] of Object.entries(out.parts)) parts[k] = v.item();
          return { loss, parts };
        });
        if (!Number.isFinite(loss)) {
          throw new NonFiniteLossError(
            `loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (${Object.entries(parts).map(([k, v]) => `${k}=${v}`).join(', ') || 'no parts'}); ` +
              `lower the learning rate (now ${opt.paramGroups[0].lr}) or the temperature; the last checkpoint in ${req.runDir} is intact`,
          );
        }
        const b = batch.y.shape[0];
        sampleCount += b;
        groupSamples += b;
        stepSamples += b;
        sums.loss = (sums.loss ?? 0) + loss * b;
        for (const [k, v] of Object.entries(parts)) sums[k] = (sums[k] ?? 0) + v * b;
        micro++;
        if (micro === c.gradAccumulation) {
          finishStep();
          if (stepInEpoch % c.logEvery === 0 || stepInEpoch === stepsPerEpoch) {
            const now = performance.now();
            // Every rank runs batches of the same sizes, so the global rate is worldSize × this rank's.
            const ev = { type: 'step' as const, epoch, step, stepInEpoch, stepsPerEpoch, loss, parts, lr: opt.paramGroups[0].lr, samplesPerSec: (stepSamples * 1000 * (dist?.worldSize ?? 1)) / (now - stepT0) };
            log({ ...ev, T, alpha });
            req.onEvent?.(ev);
            stepT0 = now;
            stepSamples = 0;
          }
        }
      }
      if (micro > 0) finishStep(); // an uneven last group
      if (store && !stored.has(viewEpoch)) {
        // The whole epoch is labelled now (a live teacher returns dense logits). With a process
        // group each rank labels its own shard, so the store's key names the rank.
        store.save(viewEpoch, Array.from({ length: batchInEpoch + 1 }, (_, b) => memo!.get(`${viewEpoch}/${b}`) as Tensor));
        stored.add(viewEpoch);
      }

      let valAccuracy: number | null = null;
      let teacherAgreement: number | null = null;
      ema?.swap(); // validated, and kept as the best, with the averaged weights
      if (req.val) {
        const pred = torch.tidy(() => computeLogits(model, req.val!.x, 512).argmax(1));
        kd?.features?.student.clear(); // the validation forward ran the capture hooks too
        valAccuracy = argmaxAgreement(pred, req.val.y);
        if (teacherValPred) teacherAgreement = argmaxAgreement(pred, teacherValPred);
        pred.dispose();
      }
      if (dist) {
        // The epoch's loss is the mean over every rank's samples, as one process would log it.
        const all = allreduceSums(dist, { ...sums, [COUNT]: sampleCount });
        sampleCount = all[COUNT];
        delete all[COUNT];
        Object.assign(sums, all);
      }
      const avg: Record<string, number> = {};
      for (const [k, v] of Object.entries(sums)) avg[k] = v / Math.max(1, sampleCount);
      const { loss: epochLoss, ...epochParts } = avg;
      const record: EpochRecord = { epoch, loss: epochLoss, parts: epochParts, valAccuracy, teacherAgreement, lr: opt.paramGroups[0].lr, T, alpha, seconds: (performance.now() - t0) / 1000 };
      history.push(record);
      log({ type: 'epoch', ...record });
      req.onEvent?.({ type: 'epoch', record });

      if (valAccuracy !== null && c.patience > 0) {
        if (best === null || valAccuracy > best) {
          best = valAccuracy;
          badEpochs = 0;
          if (lead) saveSafetensors(bestPath, model.stateDict(), { epoch: String(epoch), valAccuracy: String(valAccuracy) });
        } else if (++badEpochs >= c.patience) {
          stoppedEarly = true;
          req.onEvent?.({ type: 'early-stop', epoch, best });
        }
      } else if (valAccuracy !== null && (best === null || valAccuracy > best)) {
        best = valAccuracy;
      }
      ema?.swap();
      if (lead && ((epoch + 1) % c.checkpointEvery === 0 || epoch === c.epochs - 1 || stoppedEarly))
        saveCheckpoint(ckptPath, { model: state, optimizer: opt, scheduler: sched ?? undefined, step, extra: { epoch, best, badEpochs, history, stoppedEarly } });
    }
    ema?.swap(); // the run's model is the average
  } finally {
    ema?.dispose();
    if (memo) for (const t of memo.values()) for (const v of t instanceof torch.Tensor ? [t] : Object.values(t)) v.dispose();
    teacherValPred?.dispose();
    opt.dispose();
  }
  // With early stopping the model ends at its best validation epoch, not its last one.
  if (c.patience > 0 && lead && existsSync(bestPath)) {
    const { tensors } = loadSafetensors(bestPath);
    model.loadStateDict(tensors);
    for (const t of Object.values(tensors)) t.dispose();
  }
  if (c.patience > 0 && dist) broadcastState(dist, Object.values(model.stateDict())); // rank 0 read the file
  return { history, bestValAccuracy: best, stoppedEarly, resumedFrom };
}

const EXTRA = '__extra.';
const EMA = '__ema.';
const COUNT = '\u0000samples'; // a key no loss part can have

/** Writes the final weights next to the run's metrics (atomically). */
export function saveWeights(runDir: string, model: Module, name = 'model.safetensors', metadata: Record<string, string> = {}): string {
  const path = join(runDir, name);
  saveSafetensors(path, model.stateDict(), metadata);
  return path;
}

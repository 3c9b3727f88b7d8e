// Training classifiers: teachers, baseline students and distilled students, on the one
// training loop (train/trainer.ts), which owns gradient accumulation, checkpoint/resume, the
// weights' EMA, data parallel and early stopping. What is KD's own lives here: the loss hook
// (teacher logits, mixup, captured features), the metrics file and the events.
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
// Losses that own parameters (a FitNets regressor) or read intermediate features (hint,
// attention) declare them (KDLoss.parameters(), KDLoss.features): train() optimizes and
// checkpoints the parameters and captures the features itself, so a library user cannot
// train against a regressor that never updates.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { LossResult, Module } from '../nn/index.js';
import { Adam, AdamW, SGD, CosineAnnealingLR, warmupCosine, type Optimizer, type LRScheduler } from '../optim/index.js';
import { saveSafetensors } from '../io/index.js';
import { mixup, hashSeed, type Batch } from '../data/index.js';
import { Trainer, MetricsFile, EarlyStopping, NonFiniteLossError, type TrainerCallback, type EpochData } from '../train/index.js';
import { hardCE } from './hinton.js';
import { computeLogits, type Teacher } from './teacher.js';
import type { SparseTeacher } from './sparse.js';
import type { ViewLogitsStore } from './view_store.js';
import { captureFeatures, type FeatureCapture } from './capture.js';
import type { KDLoss, LossInputs, LossContext } from './registry.js';
import { trainConfig, type TrainConfig, type TrainConfigInput } from './config.js';

export { NonFiniteLossError };

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

export interface KDSetup {
  teacher: Teacher;
  /**
   * The loss: one that createLoss built (its parameters are trained and its features captured
   * by train()), or any function of the same inputs.
   */
  loss: KDLoss | ((inputs: LossInputs, ctx: LossContext) => LossResult);
  /** T and α as functions of training progress in [0, 1]. */
  T: (progress: number) => number;
  alpha: (progress: number) => number;
  /**
   * Intermediate outputs captured by module name, for feature losses. Optional: for a KDLoss
   * that reads features, train() captures them on the model and `teacherModel` itself.
   */
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
  /** Any subset of the keys (kd/config.ts); the rest take their defaults. Checked before anything runs. */
  config?: TrainConfigInput;
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
  /** With `dist`: 1 = ZeRO stage 1, each rank keeps the optimizer state of its shard only (optim/zero.ts). */
  zero?: 0 | 1;
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

function makeOptimizer(params: Tensor[], c: TrainConfig): Optimizer<{ lr: number }> {
  if (c.optimizer === 'sgd') return new SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
  if (c.optimizer === 'adamw') return new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay });
  return new Adam(params, { lr: c.lr, weightDecay: c.weightDecay });
}

function makeLrSchedule(opt: Optimizer<{ lr: number }>, c: TrainConfig, totalSteps: number): LRScheduler | null {
  if (c.schedule === 'cosine') return new CosineAnnealingLR(opt, { tMax: totalSteps });
  if (c.schedule === 'warmup-cosine') return warmupCosine(opt, { warmupSteps: Math.max(1, c.warmupSteps), totalSteps });
  return null;
}

const argmaxAgreement = (a: Tensor, b: Tensor) => torch.tidy(() => a.eq(b).toDtype('float32').mean().item());

/** A BatchSource as the trainer's EpochData: epoch e's batches come from setEpoch(e). */
function epochData(src: BatchSource, viewOf: (epoch: number) => number): EpochData<Batch> {
  return {
    batchesPerEpoch: src.numBatches,
    *batches(epoch: number, start: number) {
      src.setEpoch(viewOf(epoch));
      let i = 0;
      for (const b of src) if (i++ >= start) yield b;
    },
  };
}

/** Trains `model` on hard labels, or distils it from `kd`'s teacher. */
export function train(req: TrainRequest): TrainResult {
  const { model, kd, dist } = req;
  const c = trainConfig(req.config);
  const lead = !dist || dist.rank === 0; // the one rank that writes files
  const owned = kd && 'parameters' in kd.loss ? (kd.loss as KDLoss) : null;
  // Features a KDLoss declares are captured here unless the caller captures them.
  let features = kd?.features;
  let ownCapture = false;
  if (kd && !features && owned && owned.features.student.length) {
    if (!req.teacherModel) throw new torch.ConfigError(`the loss reads intermediate features (student ${owned.features.student.join(', ')}; teacher ${owned.features.teacher.join(', ')}): pass teacherModel, the teacher as a module, so train() can capture them`);
    features = { student: captureFeatures(model, owned.features.student), teacher: captureFeatures(req.teacherModel, owned.features.teacher) };
    ownCapture = true;
  }
  if (c.viewEpochs > 0 && features) throw new torch.ConfigError('viewEpochs cannot be combined with feature losses: they need the teacher\'s intermediate outputs at every step');
  // The loss's own parameters (a hint regressor) train with the model; extraParams may list them too.
  const extraParams = [...new Set([...(req.extraParams ?? []), ...(owned?.parameters() ?? [])])];
  const params = [...model.parameters(), ...extraParams];
  const opt = makeOptimizer(params, c);
  const stepsPerEpoch = Math.ceil(req.train.numBatches / c.gradAccumulation);
  const totalSteps = stepsPerEpoch * c.epochs;
  const sched = makeLrSchedule(opt, c, totalSteps);
  const viewOf = (epoch: number) => (c.viewEpochs > 0 ? epoch % c.viewEpochs : epoch);

  // The teacher's validation predictions, once, for the agreement metric.
  const teacherValPred = req.teacherModel && req.val
    ? torch.keep(torch.tidy(() => computeLogits(req.teacherModel!, req.val!.x, 512).argmax(1)))
    : null;
  features?.teacher.clear();
  // (view epoch, batch) → the teacher's logits on that view; only a live teacher is worth memoising.
  const memo = c.viewEpochs > 0 && kd?.teacher.kind === 'live' ? new Map<string, Tensor | SparseTeacher>() : null;
  const store = memo ? req.viewStore : undefined;
  const stored = new Set<number>(); // view epochs that are on disk already
  const teacherLogits = (viewEpoch: number, batchInEpoch: number, x: Tensor, index: Tensor): Tensor | SparseTeacher => {
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

  // T and α of the last micro-batch, for the metrics; the batch count of the epoch, for the view store.
  let T: number | null = null;
  let alpha: number | null = null;
  let lastBatch = -1;
  const computeLoss = (batch: Batch, ctx: { epoch: number; batchInEpoch: number; progress: number }) => {
    const viewEpoch = viewOf(ctx.epoch);
    lastBatch = ctx.batchInEpoch;
    T = kd ? kd.T(ctx.progress) : null;
    alpha = kd ? kd.alpha(ctx.progress) : null;
    let x = batch.x;
    let mixed: { perm: Tensor; lambda: number } | undefined;
    if (c.mixup > 0) {
      // Drawn from (seed, epoch, batch): a resumed run mixes exactly the same pairs.
      const m = mixup(x, { alpha: c.mixup, seed: hashSeed(c.seed, viewEpoch, ctx.batchInEpoch) });
      x = m.x;
      mixed = { perm: m.perm, lambda: m.lambda };
    }
    const student = model.call(x);
    let out: LossResult;
    if (kd) {
      const teacher = teacherLogits(viewEpoch, ctx.batchInEpoch, x, batch.index);
      const f = features;
      out = kd.loss({ student, teacher, labels: batch.y, mixed, features: f && { student: f.student.features(), teacher: f.teacher.features() } }, { T: T!, alpha: alpha! });
    } else {
      out = { loss: hardCE(student, batch.y, { labelSmoothing: c.labelSmoothing, mixed }), parts: {} };
    }
    return {
      loss: out.loss, parts: out.parts, weight: batch.y.shape[0],
      // Captured features serve only this step's backward.
      release: () => {
        features?.student.clear();
        features?.teacher.clear();
      },
    };
  };

  mkdirSync(req.runDir, { recursive: true });
  const metricsFile = new MetricsFile(join(req.runDir, 'metrics.jsonl'), lead);
  let history: EpochRecord[] = [];
  let resumedFrom: number | null = null;
  let stepT0 = performance.now();
  let stepSamples = 0;
  // KD's own view of the run: step and epoch lines in metrics.jsonl, the events, the history.
  const kdCallback: TrainerCallback = {
    name: 'kd',
    onStart: (info) => {
      metricsFile.onStart(info);
      resumedFrom = info.resumed ? info.startEpoch - 1 : null;
      req.onEvent?.({ type: 'start', epochs: c.epochs, stepsPerEpoch, resumedFrom });
      stepT0 = performance.now();
    },
    onStep: (s) => {
      stepSamples += s.weight / (dist?.worldSize ?? 1);
      if (s.stepInEpoch % c.logEvery !== 0 && s.stepInEpoch !== s.stepsPerEpoch) return;
      const now = performance.now();
      // Every rank runs batches of the same sizes, so the global rate is worldSize × this rank's.
      const ev = { type: 'step' as const, epoch: s.epoch, step: s.step, stepInEpoch: s.stepInEpoch, stepsPerEpoch: s.stepsPerEpoch, loss: s.loss, parts: s.parts, lr: opt.paramGroups[0].lr, samplesPerSec: (stepSamples * 1000 * (dist?.worldSize ?? 1)) / (now - stepT0) };
      metricsFile.append({ ...ev, T, alpha });
      req.onEvent?.(ev);
      stepT0 = now;
      stepSamples = 0;
    },
    onEpochEnd: (e) => {
      const viewEpoch = viewOf(e.epoch);
      if (store && !stored.has(viewEpoch)) {
        // The whole epoch is labelled now (a live teacher returns dense logits). With a process
        // group each rank labels its own shard, so the store's key names the rank.
        store.save(viewEpoch, Array.from({ length: lastBatch + 1 }, (_, b) => memo!.get(`${viewEpoch}/${b}`) as Tensor));
        stored.add(viewEpoch);
      }
      const record: EpochRecord = {
        epoch: e.epoch, loss: e.loss, parts: e.parts, valAccuracy: e.metrics.valAccuracy ?? null, teacherAgreement: e.metrics.teacherAgreement ?? null,
        lr: e.lr, T, alpha, seconds: e.seconds,
      };
      history.push(record);
      metricsFile.append({ type: 'epoch', ...record });
      req.onEvent?.({ type: 'epoch', record });
    },
    state: () => ({ history }),
    loadState: (s) => {
      history = (s as { history: EpochRecord[] }).history;
    },
  };
  const early = new EarlyStopping({
    metric: 'valAccuracy', patience: c.patience, model, bestPath: join(req.runDir, 'best.safetensors'), lead, dist,
    onStop: (epoch, best) => req.onEvent?.({ type: 'early-stop', epoch, best }),
  });
  const evaluate = req.val ? () => {
    const pred = torch.tidy(() => computeLogits(model, req.val!.x, 512).argmax(1));
    features?.student.clear(); // the validation forward ran the capture hooks too
    try {
      return { valAccuracy: argmaxAgreement(pred, req.val!.y), teacherAgreement: teacherValPred ? argmaxAgreement(pred, teacherValPred) : null };
    } finally {
      pred.dispose();
    }
  } : undefined;

  try {
    const r = new Trainer<Batch>({
      model, extraParams, optimizer: opt, scheduler: sched, data: epochData(req.train, viewOf), computeLoss, epochs: c.epochs,
      gradAccumulation: c.gradAccumulation, clipGradNorm: c.clipGradNorm, ema: c.ema, evaluate,
      checkpoint: { path: join(req.runDir, 'checkpoint.safetensors'), everyEpochs: c.checkpointEvery }, resume: req.resume,
      dist, zero: req.zero, seed: c.seed, callbacks: [kdCallback, early], where: req.runDir,
    }).fit();
    return { history, bestValAccuracy: early.best, stoppedEarly: r.stopped, resumedFrom };
  } finally {
    if (memo) for (const t of memo.values()) for (const v of t instanceof torch.Tensor ? [t] : Object.values(t)) v.dispose();
    teacherValPred?.dispose();
    opt.dispose();
    if (ownCapture) {
      features!.student.remove();
      features!.teacher.remove();
    }
  }
}

/** Writes the final weights next to the run's metrics (atomically). */
export function saveWeights(runDir: string, model: Module, name = 'model.safetensors', metadata: Record<string, string> = {}): string {
  const path = join(runDir, name);
  saveSafetensors(path, model.stateDict(), metadata);
  return path;
}

// Running a model over a dataset: logits, predicted classes and accuracy, in batches, in
// eval mode (Dropout off, BatchNorm on its running statistics) and without autograd.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { inEvalMode, checkCount, type EvalModel } from './model.js';
import { accuracyOf } from './labels.js';

export interface PredictOptions {
  /** Samples per forward (default 256); bounds the activation memory, not the result. */
  batchSize?: number;
}

/** Calls `each(outputOfBatch)` for consecutive batches of x along dim 0; every temporary is freed. */
function forEachBatch(model: EvalModel, x: Tensor, batchSize: number, each: (out: Tensor) => void): void {
  checkCount('batchSize', batchSize, 1);
  if (x.ndim < 1 || x.shape[0] === 0) throw new torch.ConfigError(`predict: x must hold at least one sample, got shape [${x.shape.join(', ')}]`);
  const n = x.shape[0];
  inEvalMode(model, () => {
    for (let start = 0; start < n; start += batchSize)
      // narrow is a view: no copy of the input; the tidy frees it and every activation.
      torch.tidy(() => each(model.call(torch.narrow(x, 0, start, Math.min(batchSize, n - start)))));
  });
}

/**
 * The model's outputs for every sample of x: logits (N, C), one tensor the caller owns.
 * The model's train/eval flags are restored afterwards.
 */
export function predict(model: EvalModel, x: Tensor, opts: PredictOptions = {}): Tensor {
  return torch.tidy(() => {
    const parts: Tensor[] = [];
    forEachBatch(model, x, opts.batchSize ?? 256, (out) => parts.push(torch.keep(out)));
    // Always a new tensor made in this scope (cat copies even one part), so it moves to the
    // caller's scope like any op's result; the kept parts are freed here.
    try {
      return torch.cat(parts, 0); // (N, C)
    } finally {
      for (const p of parts) p.dispose();
    }
  });
}

/**
 * The predicted class (argmax of the logits) of every sample of x. Only the labels leave
 * each batch, so memory stays at one batch's activations however large x is.
 */
export function predictLabels(model: EvalModel, x: Tensor, opts: PredictOptions = {}): Int32Array {
  const out = new Int32Array(x.ndim >= 1 ? x.shape[0] : 0);
  let at = 0;
  forEachBatch(model, x, opts.batchSize ?? 256, (logits) => {
    const idx = torch.argmax(logits, -1).dataSync() as BigInt64Array; // (B)
    for (const v of idx) out[at++] = Number(v);
  });
  return out;
}

/** Top-1 accuracy of the model on (x, y): the fraction of samples whose argmax equals the label. */
export function accuracy(model: EvalModel, x: Tensor, y: Tensor, opts: PredictOptions = {}): number {
  if (x.ndim < 1 || y.ndim !== 1 || x.shape[0] !== y.shape[0])
    throw new torch.ShapeError('ERR_SHAPE', 'accuracy', `x (N, …) and y (N) must have the same N, got x [${x.shape.join(', ')}] and y [${y.shape.join(', ')}]`, '');
  return accuracyOf(predictLabels(model, x, opts), y);
}

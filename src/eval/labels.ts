// Classification metrics over predictions already made: agreement between two models,
// accuracy against labels, the confusion matrix and per-class accuracy. They work on
// plain label arrays, so a whole comparison keeps one Int32Array per model instead of
// every model's (N, C) logits.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/**
 * Predictions: logits or probabilities as a Tensor (…, C), reduced by argmax over the last
 * dimension; or class indices, as a 1-D Tensor or a JS array.
 */
export type Predictions = Tensor | ArrayLike<number>;

/** Class indices from predictions or labels, as an Int32Array (one copy). */
export function classesOf(p: Predictions, what = 'predictions'): Int32Array {
  if (p instanceof torch.Tensor) {
    if (p.ndim >= 2) {
      // argmax picks the first maximum on ties, as PyTorch's does.
      const idx = torch.argmax(p, -1);
      try {
        return classesOf(idx, what);
      } finally {
        idx.dispose();
      }
    }
    if (p.ndim !== 1) throw new torch.ShapeError('ERR_SHAPE', what, `expected logits (N, C) or labels (N), got shape [${p.shape.join(', ')}]`, '');
    const data = p.dataSync();
    return checkIntegers(data instanceof BigInt64Array ? Array.from(data, Number) : data, what);
  }
  return checkIntegers(p, what);
}

function checkIntegers(a: ArrayLike<number>, what: string): Int32Array {
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (!Number.isInteger(v)) throw new torch.ConfigError(`${what}: entry ${i} is ${String(v)}, not a class index`);
    out[i] = v;
  }
  return out;
}

/** Both sides as labels, checked to be equally long and non-empty; `op` names the caller in errors. */
function pair(a: Predictions, b: Predictions, op: string, nameA: string, nameB: string): [Int32Array, Int32Array] {
  const la = classesOf(a, `${op}: ${nameA}`);
  const lb = classesOf(b, `${op}: ${nameB}`);
  if (la.length !== lb.length) throw new torch.ShapeError('ERR_SHAPE', op, `${nameA} has ${la.length} entries but ${nameB} has ${lb.length}`, '');
  if (la.length === 0) throw new torch.ConfigError(`${op}: no samples to measure`);
  return [la, lb];
}

const fractionEqual = (a: Int32Array, b: Int32Array) => {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

/**
 * The fraction of samples on which two models predict the same class (argmax of each).
 * A distilled student should agree with its teacher more than a plain student does: that
 * is the behaviour distillation transfers, beyond raw accuracy.
 */
export function agreement(predsA: Predictions, predsB: Predictions): number {
  return fractionEqual(...pair(predsA, predsB, 'agreement', 'predsA', 'predsB'));
}

/** The fraction of predictions equal to the labels `y`. */
export function accuracyOf(preds: Predictions, y: Predictions): number {
  return fractionEqual(...pair(preds, y, 'accuracy', 'predictions', 'labels'));
}

/**
 * m[t][p] = how many samples of true class t were predicted as p (rows are the truth,
 * as scikit-learn's confusion_matrix). Any index outside [0, numClasses) is an error
 * rather than a silently dropped sample.
 */
export function confusionMatrix(pred: Predictions, y: Predictions, numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new torch.ConfigError(`confusionMatrix: numClasses must be a positive integer, got ${String(numClasses)}`);
  const [p, t] = pair(pred, y, 'confusionMatrix', 'predictions', 'labels');
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < p.length; i++) {
    for (const [v, what] of [[p[i], 'prediction'], [t[i], 'label']] as const)
      if (v < 0 || v >= numClasses) throw new torch.ConfigError(`confusionMatrix: ${what} ${v} at entry ${i} is outside [0, ${numClasses})`);
    m[t[i]][p[i]]++;
  }
  return m;
}

/**
 * Per class c: the fraction of samples of true class c predicted as c (the class's
 * recall), or null for a class with no samples, where the fraction is undefined.
 */
export function perClassAccuracy(pred: Predictions, y: Predictions, numClasses: number): (number | null)[] {
  return confusionMatrix(pred, y, numClasses).map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n === 0 ? null : row[c] / n;
  });
}

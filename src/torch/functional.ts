// Hand-written functional ops: overloads the table cannot express (max/min), losses
// with PyTorch's keyword options, and composites (scaled dot-product attention).
import { Tensor } from './tensor.js';
import * as G from './ops_generated.js';
import type { Reduction } from './ops_generated.js';
import { ShapeError } from './errors.js';

export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

/** `max(t)` → the largest element; `max(t, dim, keepdim)` → { values, indices } along dim. */
export function max(t: Tensor): Tensor;
export function max(t: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function max(t: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  if (dim === undefined) return G.maxAll(t);
  const [values, indices] = G.maxDim(t, dim, keepdim);
  return { values, indices };
}

export function min(t: Tensor): Tensor;
export function min(t: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function min(t: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  if (dim === undefined) return G.minAll(t);
  const [values, indices] = G.minDim(t, dim, keepdim);
  return { values, indices };
}

export function topk(t: Tensor, k: number, dim = -1, largest = true, sorted = true): ValuesIndices {
  const [values, indices] = G.topk(t, k, dim, largest, sorted);
  return { values, indices };
}

export function sort(t: Tensor, dim = -1, descending = false): ValuesIndices {
  const [values, indices] = G.sort(t, dim, descending);
  return { values, indices };
}

/** torch.linalg.eigh: eigenvalues in ascending order and the eigenvectors as columns, of a symmetric matrix. */
export function linalgEigh(t: Tensor, uplo: 'L' | 'U' = 'L'): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [eigenvalues, eigenvectors] = G.linalgEigh(t, uplo);
  return { eigenvalues, eigenvectors };
}

/** Variance with Bessel's correction by default (PyTorch's `var(unbiased=True)`). */
export function variance(t: Tensor, dim: number | number[] | null = null, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
  return G.variance(t, dim, opts.correction ?? 1, opts.keepdim ?? false);
}

export interface CrossEntropyOptions {
  weight?: Tensor | null;
  reduction?: Reduction;
  ignoreIndex?: number;
  labelSmoothing?: number;
}
/** CE over logits (B, C) or (B, C, d…) with class indices, as F.cross_entropy. */
export function crossEntropy(input: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  return G.crossEntropyRaw(input, target, o.weight ?? null, o.reduction ?? 'mean', o.ignoreIndex ?? -100, o.labelSmoothing ?? 0);
}

export function nllLoss(input: Tensor, target: Tensor, o: Omit<CrossEntropyOptions, 'labelSmoothing'> = {}): Tensor {
  return G.nllLossRaw(input, target, o.weight ?? null, o.reduction ?? 'mean', o.ignoreIndex ?? -100);
}

export type KLReduction = Reduction | 'batchmean';
/**
 * KL(target ‖ exp(input)) with `input` as log-probabilities, as F.kl_div.
 * 'batchmean' divides the sum by the batch size, the mathematically correct KL mean;
 * 'mean' divides by the element count (PyTorch's default, kept for parity).
 */
export function klDiv(input: Tensor, target: Tensor, o: { reduction?: KLReduction; logTarget?: boolean } = {}): Tensor {
  const reduction = o.reduction ?? 'mean';
  const logTarget = o.logTarget ?? false;
  if (reduction !== 'batchmean') return G.klDivRaw(input, target, reduction, logTarget);
  if (input.ndim === 0) throw new ShapeError('ERR_SHAPE', 'klDiv', "reduction 'batchmean' needs a batch dimension", `input=[]`);
  const sum = G.klDivRaw(input, target, 'sum', logTarget);
  const out = G.div(sum, input.shape[0]);
  sum.dispose();
  return out;
}

export function mseLoss(input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor {
  return G.mseLossRaw(input, target, o.reduction ?? 'mean');
}

export interface AttentionOptions {
  /** Boolean mask (true = attend) or an additive float mask, broadcastable to (…, L, S). */
  attnMask?: Tensor | null;
  isCausal?: boolean;
  dropoutP?: number;
  training?: boolean;
  /** Defaults to 1/√d. */
  scale?: number;
}
/**
 * softmax(Q·Kᵀ·scale + mask)·V over (…, L, d) queries and (…, S, d) keys/values,
 * as F.scaled_dot_product_attention (Vaswani et al. 2017).
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions = {}): Tensor {
  const d = q.shape[q.ndim - 1];
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const kt = G.transpose(k, -2, -1);
  const raw = G.matmul(q, kt);
  let scores = G.mul(raw, scale); // (…, L, S)
  kt.dispose();
  raw.dispose();
  const replace = (next: Tensor) => {
    scores.dispose();
    scores = next;
  };
  if (o.isCausal) {
    const L = q.shape[q.ndim - 2];
    const S = k.shape[k.ndim - 2];
    const ones = G.ones([L, S], 'bool');
    const keepMask = G.tril(ones);
    const drop = G.logicalNot(keepMask);
    replace(G.maskedFill(scores, drop, -Infinity));
    ones.dispose();
    keepMask.dispose();
    drop.dispose();
  }
  if (o.attnMask) {
    if (o.attnMask.dtype === 'bool') {
      const drop = G.logicalNot(o.attnMask);
      replace(G.maskedFill(scores, drop, -Infinity));
      drop.dispose();
    } else {
      replace(G.add(scores, o.attnMask));
    }
  }
  replace(G.softmax(scores, -1));
  if (o.dropoutP && (o.training ?? true)) replace(G.dropout(scores, o.dropoutP, true));
  const out = G.matmul(scores, v);
  scores.dispose();
  return out;
}

declare module './tensor.js' {
  interface Tensor {
    max(): Tensor;
    max(dim: number, keepdim?: boolean): ValuesIndices;
    min(): Tensor;
    min(dim: number, keepdim?: boolean): ValuesIndices;
    var(dim?: number | number[] | null, opts?: { correction?: number; keepdim?: boolean }): Tensor;
  }
}
Tensor.prototype.max = function (this: Tensor, dim?: number, keepdim?: boolean) {
  return dim === undefined ? max(this) : max(this, dim, keepdim);
} as Tensor['max'];
Tensor.prototype.min = function (this: Tensor, dim?: number, keepdim?: boolean) {
  return dim === undefined ? min(this) : min(this, dim, keepdim);
} as Tensor['min'];
Tensor.prototype.var = function (this: Tensor, dim?: number | number[] | null, opts?: { correction?: number; keepdim?: boolean }) {
  return variance(this, dim ?? null, opts);
};

/**
 * Hinton et al. 2015 on rows (N, C), fused (native/fused.cc): [total, hard, soft] with
 * hard = CE(labels, softmax(s)) (0 without labels), soft = T²·KL(softmax(t/T) ‖ softmax(s/T))
 * batchmean, total = alpha·hard + (1 − alpha)·soft. Gradients reach `student` only.
 */
export function hintonKd(student: Tensor, teacher: Tensor, labels: Tensor | null, T: number, alpha: number): [Tensor, Tensor, Tensor] {
  const [total, hard, soft] = G.hintonKdRaw(student, teacher, labels, T, alpha);
  return [total, hard, soft];
}

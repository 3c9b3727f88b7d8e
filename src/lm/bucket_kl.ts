// Forward KL against a top-k teacher over k + 1 buckets: the k kept classes and one "tail"
// bucket holding the other C − k. One implementation for kd/sparse.ts's sparseKL (rows of
// logits with their logZ, averaged) and lm/chunked_loss.ts's top-k share (log-probabilities,
// summed per chunk); it lives in lm because lm sits below kd.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface BucketKlOptions {
  /**
   * (m, 1) log-partition of the teacher's FULL logits at T = 1, when `z` are raw logits;
   * omitted when `z` are already log-probabilities (logZ = 0).
   */
  logZ?: Tensor;
  /** 'sum' over rows (the chunked loss divides by a global count itself) or 'batchmean'. */
  reduction: 'sum' | 'batchmean';
}

/**
 * T² · KL(p_buckets ‖ q_buckets) for student logits s (m, C), the teacher's kept ids (m, k)
 * int64 and their logits z (m, k) (log-probabilities when `logZ` is omitted).
 *
 *   student buckets (exact at every T): q_i = softmax(s/T)_i for i ∈ K,
 *     q_tail = Σ_{j∉K} softmax(s/T)_j (a masked logsumexp)
 *   teacher buckets:
 *     T = 1: p_i = exp(z_i − logZ), p_tail = max(0, 1 − Σ_{i∈K} p_i)   — exact.
 *     T ≠ 1: the tail's own logits are unknown, so its mass is spread UNIFORMLY over its
 *            C − k classes, each with logit z̄ = logZ + log p_tail − log(C − k) (which gives
 *            p_tail back at T = 1); then p_i ∝ exp(z_i/T), p_tail ∝ (C − k)·exp(z̄/T).
 *            An approximation: by Jensen the largest tail any tail of that T = 1 mass
 *            could have at T > 1 (see kd/sparse.ts's sparseKL).
 * With k = C there is no tail and p = softmax(z/T) exactly. Gradients reach s only.
 */
export function bucketKL(s: Tensor, ids: Tensor, z: Tensor, T: number, o: BucketKlOptions): Tensor {
  const [m, C] = s.shape;
  const k = ids.shape[1];
  const lq = (T === 1 ? s : s.div(T)).logSoftmax(-1); // (m, C)
  const lqK = lq.gather(1, ids); // (m, k)
  let kl: Tensor;
  if (k === C) {
    const lp = torch.noGrad(() => (T === 1 ? z : z.div(T)).logSoftmax(-1));
    kl = torch.klDiv(lqK, lp, { reduction: o.reduction, logTarget: true });
  } else {
    const kept = onDevice(torch.zeros([m, C], 'bool'), s.device).scatterValue(1, ids, true); // (m, C)
    const lqTail = lq.maskedFill(kept, -Infinity).logsumexp(1, true); // (m, 1): log Σ_{j∉K} q_j
    // The teacher's buckets are constants of size (m, k+1), so they are computed in
    // float64: 1 − Σ p_i cancels badly when the top k hold nearly all the mass, and
    // at T > 1 the tail's error is blown up (its mass goes like p_tail^(1/T)).
    const p = torch.noGrad(() => {
      let z64 = z.toDtype('float64');
      const logZ = o.logZ?.toDtype('float64');
      const lp64 = logZ ? z64.sub(logZ) : z64; // (m, k): log p_i at T = 1
      const tail = lp64.exp().sum(1, true).neg().add(1).clamp(0); // (m, 1): p_tail at T = 1
      // log of the tail bucket's unnormalised weight at T; −∞ (weight 0) when p_tail = 0.
      // At T = 1 the log(C − k) terms cancel exactly, so the T = 1 buckets are exact.
      const tailLog = logZ ? logZ.add(tail.log()) : tail.log();
      const tailLogit = tailLog.div(T).add((1 - 1 / T) * Math.log(C - k)); // (m, 1)
      if (T !== 1) z64 = z64.div(T);
      return torch.cat([z64, tailLogit], 1).softmax(1).toDtype(lq.dtype); // (m, k+1)
    });
    // Probability (not log) targets: kl_div uses xlogy, so an empty tail bucket adds 0.
    kl = torch.klDiv(torch.cat([lqK, lqTail], 1), p, { reduction: o.reduction });
  }
  return kl.mul(T * T);
}

/** A tensor made on the CPU, moved to `device` when that is elsewhere. */
function onDevice(t: Tensor, device: string): Tensor {
  return device === 'cpu' ? t : t.to(device);
}

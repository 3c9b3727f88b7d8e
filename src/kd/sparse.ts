// KD from a sparse top-k teacher: what an LLM API or a cached teacher run gives, the k
// largest logits per position plus the log-partition of the full distribution, instead
// of all C logits.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { bucketKL } from '../lm/index.js';
import { checkT, checkTensor, fmt, rows } from './util.js';

/**
 * A teacher's top-k view of its distribution over C classes, for N = B·… positions:
 *   indices (…, k) int64   the kept classes (distinct within a row, as topk gives them);
 *   logits  (…, k) float   their logits z_i at T = 1;
 *   logZ    (…)    float   logsumexp of the FULL teacher logits at T = 1,
 * so p_i = exp(z_i − logZ) is exact at T = 1 and the mass outside the top k (the "tail")
 * is 1 − Σ_{i∈K} p_i.
 */
export interface SparseTeacher {
  indices: Tensor;
  logits: Tensor;
  logZ: Tensor;
}

export function isSparseTeacher(v: unknown): v is SparseTeacher {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof torch.Tensor) return false;
  const o = v as Record<string, unknown>;
  return o.indices instanceof torch.Tensor && o.logits instanceof torch.Tensor && o.logZ instanceof torch.Tensor;
}

/**
 * The top-k view of full teacher logits (…, C): { indices, logits, logZ } as above. This
 * is what a teacher cache stores; computed without autograd (the teacher is data here).
 */
export function sparseTeacherFromLogits(logits: Tensor, k: number): SparseTeacher {
  checkTensor('sparseTeacherFromLogits', 'logits', logits);
  const C = logits.shape[logits.ndim - 1];
  if (!Number.isInteger(k) || k < 1 || k > C) throw new torch.ConfigError(`sparseTeacherFromLogits: k must be an integer in [1, ${C}], got ${String(k)}`);
  return torch.noGrad(() => {
    const { values, indices } = torch.topk(logits, k, -1);
    return { indices, logits: values, logZ: logits.logsumexp(-1) };
  });
}

function validate(student: Tensor, teacher: SparseTeacher): { N: number; C: number; k: number } {
  const op = 'sparseKL';
  checkTensor(op, 'student', student);
  if (!isSparseTeacher(teacher)) throw new torch.ConfigError(`${op}: teacher must be { indices, logits, logZ } tensors`);
  const { indices, logits, logZ } = teacher;
  const shapes = `student=${fmt(student)}, indices=${fmt(indices)}, logits=${fmt(logits)}, logZ=${fmt(logZ)}`;
  if (indices.dtype !== 'int64') throw new torch.DTypeError('ERR_DTYPE', op, `teacher indices must be int64, got ${indices.dtype}`, shapes);
  const lead = student.shape.slice(0, -1);
  const C = student.shape[student.ndim - 1];
  const k = indices.shape[indices.ndim - 1];
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((s, i) => s === b[i]);
  if (student.ndim < 2 || !same(indices.shape, [...lead, k]) || !same(logits.shape, indices.shape) || !same(logZ.shape, lead))
    throw new torch.ShapeError('ERR_SHAPE', op, 'expected student (…, C), teacher indices and logits (…, k), logZ (…) with the same leading dimensions', shapes);
  if (k < 1 || k > C) throw new torch.ShapeError('ERR_SHAPE', op, `teacher keeps k = ${k} classes but the student has C = ${C}`, shapes);
  return { N: lead.reduce((a, b) => a * b, 1), C, k };
}

/**
 * Forward KL against a sparse top-k teacher, over k + 1 buckets: the k kept classes and
 * one "tail" bucket holding all the other C − k classes. Hinton et al. 2015's soft term
 * (× T², batchmean over rows) on this coarser partition.
 *
 *   student buckets (exact at every T, from the full student logits s):
 *     q_i = softmax(s/T)_i for i ∈ K,   q_tail = Σ_{j∉K} softmax(s/T)_j (a masked logsumexp)
 *   teacher buckets:
 *     T = 1: p_i = exp(z_i − logZ),   p_tail = max(0, 1 − Σ_{i∈K} p_i)         — exact.
 *     T ≠ 1: the tail's individual logits are unknown, so we assume the tail mass is
 *            spread UNIFORMLY over its C − k classes: each carries the logit
 *            z̄ = logZ + log p_tail − log(C − k), which reproduces p_tail exactly at T = 1.
 *            Then p_i ∝ exp(z_i/T) and p_tail ∝ (C − k)·exp(z̄/T), renormalised over the
 *            k + 1 buckets. This is an APPROXIMATION for T ≠ 1: by Jensen it is the
 *            largest tail mass at T > 1 (smallest at T < 1) that any tail with the given
 *            T = 1 mass could have, so with k ≪ C and a high T it over-weights the tail.
 *   L = T² · (1/N) Σ_n [ Σ_{i∈K} p_i log(p_i/q_i) + p_tail log(p_tail/q_tail) ]
 *
 * With k = C there is no tail and the teacher's logits are all known, so the loss equals
 * the full forward KL at every T (up to rounding in the given logZ). For k < C the
 * bucketed KL is at most the full KL (data-processing inequality), with equality when the
 * student's distribution inside the tail is proportional to the teacher's.
 * Gradients reach the student only; the teacher's buckets are computed as constants.
 * The buckets are computed by lm/bucket_kl.ts, which the chunked LM loss shares.
 */
export function sparseKL(student: Tensor, teacher: SparseTeacher, T = 1): Tensor {
  checkT('sparseKL', T);
  const { N, k } = validate(student, teacher);
  return torch.tidy(() => {
    const s = rows('sparseKL', 'student', student); // (N, C)
    const idx = teacher.indices.reshape([N, k]); // (N, k)
    const z = teacher.logits.reshape([N, k]); // (N, k)
    return bucketKL(s, idx, z, T, { logZ: teacher.logZ.reshape([N, 1]), reduction: 'batchmean' });
  });
}

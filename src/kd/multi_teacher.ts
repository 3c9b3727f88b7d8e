// Several teachers: their soft targets are averaged (weights normalised to sum to 1),
// then the student is distilled from the mixture, as in the multi-teacher ensembles of
// Hinton et al. 2015 (the ensemble as teacher) and You et al. 2017 ("Learning from
// Multiple Teacher Networks").
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkT, checkTensor, logSoftAt, rows, sameShape } from './util.js';

/** The weights, checked (finite, ≥ 0, not all 0) and normalised; equal when omitted. */
export function normaliseWeights(op: string, n: number, weights?: readonly number[]): number[] {
  if (weights === undefined) return Array.from({ length: n }, () => 1 / n);
  if (!Array.isArray(weights) || weights.length !== n)
    throw new torch.ConfigError(`${op}: weights must be an array of ${n} numbers (one per teacher), got ${JSON.stringify(weights)}`);
  if (weights.some((w) => typeof w !== 'number' || !Number.isFinite(w) || w < 0))
    throw new torch.ConfigError(`${op}: weights must be finite numbers ≥ 0, got ${JSON.stringify(weights)}`);
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new torch.ConfigError(`${op}: weights must not all be 0`);
  return weights.map((w) => w / total);
}

/**
 * The mixture of the teachers' soft targets: p̄ = Σ_j w_j · softmax(t_j / T) with
 * Σ_j w_j = 1, (…, C) each → (N, C).
 */
export function multiTeacherTargets(teachers: Tensor[], T = 1, weights?: readonly number[]): Tensor {
  const op = 'multiTeacherTargets';
  if (!Array.isArray(teachers) || teachers.length === 0) throw new torch.ConfigError(`${op}: teachers must be a non-empty array of logits`);
  teachers.forEach((t, j) => checkTensor(op, `teachers[${j}]`, t));
  checkT(op, T);
  const w = normaliseWeights(op, teachers.length, weights);
  teachers.forEach((t, j) => sameShape(op, teachers[0], t, `teachers[${j}]`));
  return torch.tidy(() => {
    let mix: Tensor | null = null;
    teachers.forEach((t, j) => {
      const pj = rows(op, `teachers[${j}]`, t).div(T).softmax(-1).mul(w[j]); // (N, C)
      mix = mix ? mix.add(pj) : pj;
    });
    return mix!;
  });
}

/**
 * Forward KL from the teachers' mixture (Hinton et al. 2015's soft term on p̄):
 *   L = T² · (1/N) Σ_n Σ_i p̄_i (log p̄_i − log q_i),   q = softmax(s/T).
 * With equal teachers this is the single-teacher forward KL.
 */
export function multiTeacherKL(student: Tensor, teachers: Tensor[], T = 1, weights?: readonly number[]): Tensor {
  checkTensor('multiTeacherKL', 'student', student);
  return torch.tidy(() => {
    const pbar = multiTeacherTargets(teachers, T, weights); // (N, C)
    sameShape('multiTeacherKL', student, teachers[0]);
    const logq = logSoftAt(rows('multiTeacherKL', 'student', student), T);
    return torch.klDiv(logq, pbar, { reduction: 'batchmean' }).mul(T * T);
  });
}

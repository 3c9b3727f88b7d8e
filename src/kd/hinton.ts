// The classic distillation loss of Hinton, Vinyals & Dean 2015 ("Distilling the Knowledge
// in a Neural Network"): a hard term on the labels plus a soft term on the teacher's
// temperature-softened distribution.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkT, checkTensor, checkUnit, describe, fmt, rows, sameShape } from './util.js';
import { forwardKL } from './divergences.js';
import { isSparseTeacher, sparseKL, type SparseTeacher } from './sparse.js';
import { multiTeacherKL } from './multi_teacher.js';
import type { LossResult } from '../nn/index.js';

/** Teacher logits (…, C), a sparse top-k teacher, or several teachers' logits. */
export type TeacherInput = Tensor | SparseTeacher | Tensor[];

/** A mixup batch (Zhang et al. 2018): inputs mixed as λ·x + (1−λ)·x[perm]. */
export interface Mixup {
  perm: Tensor;
  lambda: number;
}

export interface HardOptions {
  labelSmoothing?: number;
  /** With mixup the hard term is λ·CE(s, y) + (1−λ)·CE(s, y[perm]) (the teacher sees the mixed input). */
  mixed?: Mixup;
}

export interface HintonOptions extends HardOptions {
  T: number;
  /** Weight of the hard (label) term; the soft term gets 1 − alpha. */
  alpha: number;
  /** Teacher weights when `teacher` is an array (normalised; equal by default). */
  weights?: readonly number[];
  /** Logit standardisation (Sun et al. 2024) of both sides before the soft term; see standardizeLogits. */
  standardize?: boolean;
}

/**
 * Logit standardisation ("Logit Standardization in Knowledge Distillation", Sun et al.,
 * CVPR 2024): each row z becomes (z − mean(z)) / (std(z) + 1e-7), std with Bessel's
 * correction as in the paper's code. The soft term then matches the *shape* of the
 * teacher's logits, not their scale: a small student need not reproduce a large teacher's
 * logit range, only its ranking and relative gaps. Row-wise, so it keeps (…, C) shapes.
 */
export function standardizeLogits(z: Tensor): Tensor {
  return torch.tidy(() => z.sub(z.mean(-1, true)).div(z.std(-1, 1, true).add(1e-7)));
}

/**
 * The hard term: CE(y, softmax(s)) averaged over rows, with optional label smoothing and
 * mixup. `student` (…, C), `labels` (…) int64 with one index per row.
 */
export function hardCE(student: Tensor, labels: Tensor, opts: HardOptions = {}): Tensor {
  const op = 'hardCE';
  checkTensor(op, 'student', student);
  checkTensor(op, 'labels', labels);
  return torch.tidy(() => {
    const s = rows(op, 'student', student); // (N, C)
    if (labels.numel !== s.shape[0])
      throw new torch.ShapeError('ERR_SHAPE', op, 'labels must have one class index per row of student logits', `student=${fmt(student)}, labels=${fmt(labels)}`);
    const flat = (y: Tensor) => (y.ndim === 1 ? y : y.reshape([-1])); // (N)
    const ce = (y: Tensor) => torch.crossEntropy(s, flat(y), { labelSmoothing: opts.labelSmoothing ?? 0 });
    if (!opts.mixed) return ce(labels);
    const { perm, lambda } = opts.mixed;
    checkUnit(op, 'mixup lambda', lambda);
    return ce(labels).mul(lambda).add(ce(labels.indexSelect(0, perm)).mul(1 - lambda));
  });
}

/**
 * T²·KL(teacher_T ‖ student_T) for whichever form the teacher comes in: full logits
 * (forwardKL), a sparse top-k teacher (sparseKL) or several teachers (multiTeacherKL).
 */
export function softKL(student: Tensor, teacher: TeacherInput, T = 1, weights?: readonly number[]): Tensor {
  if (teacher instanceof torch.Tensor) return forwardKL(student, teacher, T);
  if (Array.isArray(teacher)) return multiTeacherKL(student, teacher, T, weights);
  if (isSparseTeacher(teacher)) return sparseKL(student, teacher, T);
  throw new torch.ConfigError(`softKL: teacher must be logits (a Tensor), a sparse teacher { indices, logits, logZ } or an array of logits; got ${describe(teacher)}`);
}

/**
 * Hinton et al. 2015:
 *   L = α · CE(y, softmax(s)) + (1 − α) · T² · KL(softmax(t/T) ‖ softmax(s/T))
 * with the KL averaged over rows ('batchmean') and CE over the same rows. The T² is part
 * of the loss, not an option: the soft term's gradient w.r.t. s is T·(q_T − p_T)/N, which
 * is ≈ (s − t − mean)/(N·C) for large T, so without T² it would vanish like 1/T² and the
 * balance α sets between the two terms would depend on T.
 *
 * `student` is (…, C) logits, `labels` (…) int64 class indices (may be null when α = 0).
 * `labelSmoothing` and `mixed` (mixup) change the hard term only; see hardCE.
 * Returns { loss: α·hard + (1 − α)·soft, parts: { hard, soft } }: hard = CE(y, softmax(s)),
 * the mean over rows (0 when alpha is 0 and no labels are given); soft = T²·KL(p_T ‖ q_T),
 * batchmean, with the T² already in.
 */
export function hintonLoss(student: Tensor, teacher: TeacherInput, labels: Tensor | null | undefined, opts: HintonOptions): LossResult {
  const op = 'hintonLoss';
  checkTensor(op, 'student', student);
  const T = checkT(op, opts?.T);
  const alpha = checkUnit(op, 'alpha', opts.alpha);
  if (labels != null) checkTensor(op, 'labels', labels);
  else if (alpha > 0) throw new torch.ConfigError(`${op}: labels are needed for the hard term when alpha > 0 (alpha = ${alpha})`);
  // The common case (one teacher given as logits that need no gradient, plain labels, float
  // logits) runs as one fused libtorch op with a hand-written backward (native/fused.cc):
  // the same formula in one addon call and one graph node instead of about a dozen of each.
  const fusable = teacher instanceof torch.Tensor && !teacher.requiresGrad && !opts.labelSmoothing && !opts.mixed && !opts.standardize && (student.dtype === 'float32' || student.dtype === 'float64');
  if (fusable) return fusedHinton(op, student, teacher, labels ?? null, T, alpha);
  if (opts.standardize && !(teacher instanceof torch.Tensor) && !Array.isArray(teacher))
    throw new torch.ConfigError(`${op}: standardize needs full teacher logits (or several teachers' logits), not a sparse top-k teacher`);
  return torch.tidy(() => {
    const soft = opts.standardize
      ? softKL(standardizeLogits(student), Array.isArray(teacher) ? teacher.map(standardizeLogits) : standardizeLogits(teacher as Tensor), T, opts.weights)
      : softKL(student, teacher, T, opts.weights);
    const hard = labels != null ? hardCE(student, labels, opts) : torch.zeros([]);
    return { loss: hard.mul(alpha).add(soft.mul(1 - alpha)), parts: { hard, soft } };
  });
}

function fusedHinton(op: string, student: Tensor, teacher: Tensor, labels: Tensor | null, T: number, alpha: number): LossResult {
  sameShape(op, student, teacher);
  return torch.tidy(() => {
    const s = rows(op, 'student', student);
    if (labels && labels.numel !== s.shape[0])
      throw new torch.ShapeError('ERR_SHAPE', op, 'labels must have one class index per row of student logits', `student=${fmt(student)}, labels=${fmt(labels)}`);
    const [loss, hard, soft] = torch.hintonKd(s, rows(op, 'teacher', teacher), labels, T, alpha);
    return { loss, parts: { hard, soft } };
  });
}

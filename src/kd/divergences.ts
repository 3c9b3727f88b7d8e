// Soft-only distillation losses between student logits s and teacher logits t, both
// (…, C), at temperature T. With p = softmax(t/T) (teacher) and q = softmax(s/T)
// (student), each divergence is averaged over the rows (PyTorch's 'batchmean': the sum
// over classes, then the mean over the N = B·… rows) and multiplied by T², as in Hinton
// et al. 2015: the gradient of a T-softened divergence shrinks like 1/T², so the T²
// factor keeps gradient magnitudes comparable across temperatures and with a hard loss.
//
// The teacher is NOT detached: run the teacher under `torch.noGrad` (the usual case), or
// let gradients reach it on purpose (online or mutual distillation).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkT, checkTensor, logSoftAt, rows, sameShape } from './util.js';

function prepare(op: string, student: Tensor, teacher: Tensor, T: number): [Tensor, Tensor] {
  checkTensor(op, 'student', student);
  checkTensor(op, 'teacher', teacher);
  checkT(op, T);
  sameShape(op, student, teacher);
  return [rows(op, 'student', student), rows(op, 'teacher', teacher)];
}

/**
 * Forward KL, the soft term of Hinton, Vinyals & Dean 2015 ("Distilling the Knowledge in
 * a Neural Network"):
 *   L = T² · (1/N) Σ_n Σ_i p_i (log p_i − log q_i),   p = softmax(t/T), q = softmax(s/T).
 * Mass-covering: the student is pushed to put probability wherever the teacher does.
 */
export function forwardKL(student: Tensor, teacher: Tensor, T = 1): Tensor {
  return torch.tidy(() => {
    const [s, t] = prepare('forwardKL', student, teacher, T);
    const kl = torch.klDiv(logSoftAt(s, T), logSoftAt(t, T), { reduction: 'batchmean', logTarget: true });
    return kl.mul(T * T);
  });
}

/**
 * Reverse KL, KL(q_s ‖ p_t) (used by MiniLLM, Gu et al. 2024, and GKD, Agarwal et al. 2024):
 *   L = T² · (1/N) Σ_n Σ_i q_i (log q_i − log p_i).
 * Mode-seeking: the student may ignore teacher modes it cannot represent.
 */
export function reverseKL(student: Tensor, teacher: Tensor, T = 1): Tensor {
  return torch.tidy(() => {
    const [s, t] = prepare('reverseKL', student, teacher, T);
    // kl_div(input = log p, target = log q, log_target) = Σ q (log q − log p)
    const kl = torch.klDiv(logSoftAt(t, T), logSoftAt(s, T), { reduction: 'batchmean', logTarget: true });
    return kl.mul(T * T);
  });
}

/**
 * Generalised Jensen–Shannon divergence JSD(β) of the GKD paper (Agarwal et al. 2024,
 * "On-Policy Distillation of Language Models: Learning from Self-Generated Mistakes"):
 *   m = β·p + (1−β)·q,   JSD(β) = β·KL(p ‖ m) + (1−β)·KL(q ‖ m),   L = T² · JSD(β) (batchmean).
 * β = 0.5 is the symmetric JSD, bounded by log 2. β must lie strictly inside (0, 1): at
 * either end m equals one of the two and the formula is identically 0 (use 'kl' or
 * 'reverse_kl' there). log m is formed in log space, logsumexp(log p + log β,
 * log q + log(1−β)), so it never takes the log of an underflowed probability.
 * Gradients reach both the student and (if it requires grad) the teacher.
 */
export function jsd(student: Tensor, teacher: Tensor, T = 1, beta = 0.5): Tensor {
  if (typeof beta !== 'number' || !(beta > 0 && beta < 1))
    throw new torch.ConfigError(`jsd: beta must be a number strictly between 0 and 1, got ${String(beta)}`);
  return torch.tidy(() => {
    const [s, t] = prepare('jsd', student, teacher, T);
    const logp = logSoftAt(t, T); // (N, C)
    const logq = logSoftAt(s, T);
    const logm = torch.stack([logp.add(Math.log(beta)), logq.add(Math.log(1 - beta))], 0).logsumexp(0); // (N, C)
    const klP = torch.klDiv(logm, logp, { reduction: 'batchmean', logTarget: true });
    const klQ = torch.klDiv(logm, logq, { reduction: 'batchmean', logTarget: true });
    return klP.mul(beta).add(klQ.mul(1 - beta)).mul(T * T);
  });
}

/**
 * Total variation distance, TV(p, q) = ½ Σ_i |p_i − q_i| ∈ [0, 1] (a GKD-style bounded
 * divergence, Agarwal et al. 2024; Wen et al. 2023 "f-Divergence Minimization for
 * Sequence-Level KD"): L = T² · (1/N) Σ_n ½ Σ_i |p_i − q_i|.
 * Scaled by T² like the others, for one convention across the family. Caveat: TV is
 * first-order in (p − q) = O(1/T), not second-order like the KLs and JSD, so its
 * gradient shrinks like 1/T and T²·TV's gradient GROWS like T (measured: ×2 per doubling
 * of T at T ≥ 10). Divide the weight by T if TV must stay comparable across temperatures.
 */
export function totalVariation(student: Tensor, teacher: Tensor, T = 1): Tensor {
  return torch.tidy(() => {
    const [s, t] = prepare('totalVariation', student, teacher, T);
    const p = (T === 1 ? t : t.div(T)).softmax(-1);
    const q = (T === 1 ? s : s.div(T)).softmax(-1);
    const perRow = q.sub(p).abs().sum(-1).mul(0.5); // (N)
    return perRow.mean().mul(T * T);
  });
}

/**
 * Logit matching (Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?"): the student
 * regresses the teacher's logits with an L2 loss, L = mean over all N·C elements of
 * (s − t)². Written as T²·MSE(s/T, t/T) like the other soft losses, the T's cancel: the
 * loss is the same at every temperature. (It is also the high-T limit of Hinton's loss:
 * for zero-mean logits, T²·KL → (1/2C)·Σ_i (s_i − t_i)² per row, which is this loss × ½.)
 */
export function mseLogits(student: Tensor, teacher: Tensor, T = 1): Tensor {
  return torch.tidy(() => {
    const [s, t] = prepare('mseLogits', student, teacher, T);
    return torch.mseLoss(s, t);
  });
}

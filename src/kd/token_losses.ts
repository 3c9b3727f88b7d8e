// Token-level divergences between a student and a teacher LM, by name: the losses of on-policy
// and off-policy LM distillation (GKD, MiniLLM, DistiLLM, AKL). Each row of (N, V) is one
// position's next-token distribution; the loss is the mean over the rows kept by `mask`
// (the completion tokens), like TRL's generalized_jsd_loss with labels ≠ −100.
//
// Notation: p = softmax(t/T) the teacher, q = softmax(s/T) the student, KL(a ‖ b) = Σ_i a_i log(a_i/b_i).
// Every loss is multiplied by T², the kd layer's convention (divergences.ts, token_kd.ts), so
// gradient magnitudes stay comparable across temperatures; at T = 1 (GKD's) it is the plain
// divergence. Gradients flow into the student, and into the teacher where it requires grad
// (it does not, in distillation: run it under noGrad), except through AKL's weights.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TopkTeacher } from '../lm/index.js';
import { sparseKL } from './sparse.js';
import { checkT, checkTensor, checkUnit, fmt, logSoftAt, rows, sameShape } from './util.js';

export type TokenLossName = 'forward_kl' | 'reverse_kl' | 'jsd' | 'skew_kl' | 'skew_reverse_kl' | 'tvd' | 'akl';
export const TOKEN_LOSS_NAMES: readonly TokenLossName[] = ['forward_kl', 'reverse_kl', 'jsd', 'skew_kl', 'skew_reverse_kl', 'tvd', 'akl'];

export type { TopkTeacher };

export interface TokenDivergenceOptions {
  /** jsd: the mixture weight of the teacher, β ∈ [0, 1] (default 0.5); 0 = forward KL, 1 = reverse KL. */
  beta?: number;
  /** Temperature dividing both sides' logits (default 1); the loss is × T². */
  T?: number;
  /** skew_kl / skew_reverse_kl: the skew α ∈ [0, 1) (default 0.1, DistiLLM's). */
  alpha?: number;
  /** akl: the teacher's head mass μ ∈ (0, 1) (default 0.5, Wu et al.'s). */
  mu?: number;
  /** (N) bool: the rows in the loss (completion tokens); default all. The mean is over the kept rows; none kept = 0. */
  mask?: Tensor;
}

/** KL(a ‖ b) per row from log-probabilities (N, V) → (N). */
function klRows(la: Tensor, lb: Tensor): Tensor {
  return la.exp().mul(la.sub(lb)).sum(-1);
}

/** log(w·a + (1 − w)·b) from log-probabilities, in log space (no log of an underflowed sum). */
function logMix(la: Tensor, lb: Tensor, w: number): Tensor {
  return torch.stack([la.add(Math.log(w)), lb.add(Math.log1p(-w))], 0).logsumexp(0);
}

/**
 * Per-row divergences from the student's and the teacher's log-probabilities at T (both (N, V)).
 * Formulas (p teacher, q student):
 *   forward_kl       KL(p ‖ q)                                  (Hinton et al. 2015; mass-covering)
 *   reverse_kl       KL(q ‖ p)                                  (MiniLLM, Gu et al. 2024; mode-seeking)
 *   jsd              m = β·p + (1−β)·q,  β·KL(p ‖ m) + (1−β)·KL(q ‖ m)   (GKD, Agarwal et al. 2024, Eq. 1)
 *                    with TRL's endpoints: β = 0 is KL(p ‖ q), β = 1 is KL(q ‖ p) (the formula itself
 *                    is ≡ 0 there; near them it is ≈ β·KL(p ‖ q), resp. (1−β)·KL(q ‖ p))
 *   skew_kl          KL(p ‖ α·p + (1−α)·q)                      (DistiLLM, Ko et al. 2024; α = 0: forward KL)
 *   skew_reverse_kl  KL(q ‖ α·q + (1−α)·p)                      (DistiLLM; α = 0: reverse KL)
 *   tvd              ½ Σ_i |p_i − q_i|                          (total variation, GKD's other bounded one)
 *   akl              g_head·KL(p ‖ q) + g_tail·KL(q ‖ p)        (Adaptive KL, Wu et al. 2024): sort p
 *                    descending; the head H is the first token and those whose cumulative p is ≤ μ;
 *                    e_H = Σ_{i∈H} |p_i − q_i|, e_T = Σ_{i∉H} |p_i − q_i|; g_head = e_H/(e_H + e_T),
 *                    g_tail = e_T/(e_H + e_T), computed without gradient (as in the authors' code).
 */
export function tokenDivergenceRows(name: TokenLossName, lq: Tensor, lp: Tensor, o: { beta: number; alpha: number; mu: number }): Tensor {
  switch (name) {
    case 'forward_kl':
      return klRows(lp, lq);
    case 'reverse_kl':
      return klRows(lq, lp);
    case 'jsd': {
      const b = o.beta;
      if (b === 0) return klRows(lp, lq);
      if (b === 1) return klRows(lq, lp);
      const lm = logMix(lp, lq, b); // (N, V)
      return klRows(lp, lm).mul(b).add(klRows(lq, lm).mul(1 - b));
    }
    case 'skew_kl':
      return klRows(lp, o.alpha === 0 ? lq : logMix(lp, lq, o.alpha));
    case 'skew_reverse_kl':
      return klRows(lq, o.alpha === 0 ? lp : logMix(lq, lp, o.alpha));
    case 'tvd':
      return lp.exp().sub(lq.exp()).abs().sum(-1).mul(0.5);
    case 'akl': {
      const [gHead, gTail] = torch.noGrad(() => {
        const { values: ps, indices } = torch.sort(lp.exp(), -1, true); // (N, V) teacher probabilities, descending
        const err = ps.sub(lq.exp().gather(1, indices)).abs(); // (N, V) |p − q| in that order
        const notFirst = torch.arange(0, ps.shape[1]).gt(0); // (V)
        const tail = ps.cumsum(1).gt(o.mu).logicalAnd(notFirst); // (N, V)
        const eHead = err.maskedFill(tail, 0).sum(-1);
        const eTail = err.maskedFill(tail.logicalNot(), 0).sum(-1);
        const total = eHead.add(eTail).clamp(1e-12); // p = q: both KLs are 0, any weights do
        return [eHead.div(total), eTail.div(total)];
      });
      return klRows(lp, lq).mul(gHead).add(klRows(lq, lp).mul(gTail));
    }
    default:
      throw new torch.ConfigError(`tokenDivergence: unknown loss '${String(name)}'; choose one of ${TOKEN_LOSS_NAMES.join(', ')}`);
  }
}

/** Smallest teacher tail mass: a server's rounded top-k can sum to 1 or past it, and a tail of 0 would make reverse KL infinite. */
const TAIL_FLOOR = 1e-8;

/**
 * A top-k teacher's view, and the student's, as k + 1 buckets (T = 1): the k tokens the teacher
 * names, and one tail bucket for every other token (sparse.ts' partition). Student: log q_i for
 * i ∈ K, log Σ_{j∉K} q_j; teacher: its log p_i, log max(1 − Σ_{i∈K} p_i, 1e-8). With k = V
 * there is no tail. Returns log-probabilities (N, k+1) (or (N, V)), student first.
 */
function topkBuckets(s: Tensor, ids: Tensor, lps: Tensor): [Tensor, Tensor] {
  const [N, V] = s.shape;
  const k = ids.shape[1];
  const lq = s.logSoftmax(-1); // (N, V)
  const lqK = lq.gather(1, ids); // (N, k)
  if (k === V) return [lqK, lps];
  const kept = torch.zeros([N, V], 'bool').scatterValue(1, ids, true); // (N, V)
  const lqTail = lq.maskedFill(kept, -Infinity).logsumexp(1, true); // (N, 1)
  // 1 − Σ p_i in float64: it cancels badly when the top k hold nearly all the mass.
  const lpTail = torch.noGrad(() => lps.toDtype('float64').exp().sum(1, true).neg().add(1).clamp(TAIL_FLOOR).log().toDtype(lps.dtype)); // (N, 1)
  return [torch.cat([lqK, lqTail], 1), torch.cat([lps, lpTail], 1)];
}

function isTopk(v: unknown): v is TopkTeacher {
  return v !== null && typeof v === 'object' && !(v instanceof torch.Tensor) && (v as TopkTeacher).ids instanceof torch.Tensor && (v as TopkTeacher).logprobs instanceof torch.Tensor;
}

/** The indices of the rows `mask` keeps, or null for all (N rows). */
function keptRows(mask: Tensor | undefined, N: number): Tensor | null {
  if (mask === undefined) return null;
  checkTensor('tokenDivergence', 'mask', mask);
  if (mask.ndim !== 1 || mask.shape[0] !== N) throw new torch.ShapeError('ERR_SHAPE', 'tokenDivergence', `mask must be (N) = (${N}), one flag per row`, `mask=${fmt(mask)}`);
  const flags = mask.toDtype('bool').dataSync() as Uint8Array;
  const keep: bigint[] = [];
  flags.forEach((f, i) => f && keep.push(BigInt(i)));
  return torch.tensor(BigInt64Array.from(keep));
}

/**
 * The named divergence between student logits (…, V) and the teacher: its logits (…, V) (a local
 * teacher), or its top-k ids and log-probabilities (N, k) at T = 1 (a server's grades). A top-k
 * teacher is compared over k + 1 buckets (its k tokens and one tail; see topkBuckets): forward_kl
 * at any T through sparse.ts' sparseKL, every other loss at T = 1. Mean over the rows `o.mask`
 * keeps, × T². See tokenDivergenceRows for the formulas.
 */
export function tokenDivergence(name: TokenLossName, student: Tensor, teacher: Tensor | TopkTeacher, o: TokenDivergenceOptions = {}): Tensor {
  const op = 'tokenDivergence';
  if (!TOKEN_LOSS_NAMES.includes(name)) throw new torch.ConfigError(`${op}: unknown loss '${String(name)}'; choose one of ${TOKEN_LOSS_NAMES.join(', ')}`);
  const T = checkT(op, o.T ?? 1);
  const beta = checkUnit(op, 'beta', o.beta ?? 0.5);
  const alpha = checkUnit(op, 'alpha (the skew)', o.alpha ?? 0.1);
  if (alpha === 1) throw new torch.ConfigError(`${op}: alpha (the skew) must be below 1 (at 1 the mixture is the distribution itself and the loss is 0)`);
  const mu = o.mu ?? 0.5;
  if (typeof mu !== 'number' || !(mu > 0 && mu < 1)) throw new torch.ConfigError(`${op}: mu (AKL's head mass) must be a number in (0, 1), got ${String(mu)}`);
  checkTensor(op, 'student', student);
  return torch.tidy(() => {
    let s = rows(op, 'student', student); // (N, V)
    const keep = keptRows(o.mask, s.shape[0]);
    if (keep && keep.shape[0] === 0) return s.sum().mul(0); // nothing to distill: 0, still on the graph
    if (keep) s = s.indexSelect(0, keep);
    if (isTopk(teacher)) {
      let ids = teacher.ids, lps = teacher.logprobs;
      if (ids.dtype !== 'int64') throw new torch.DTypeError('ERR_DTYPE', op, `teacher ids must be int64, got ${ids.dtype}`, `ids=${fmt(ids)}`);
      if (ids.ndim !== 2 || ids.shape[0] !== student.shape.slice(0, -1).reduce((a, b) => a * b, 1) || lps.shape.join() !== ids.shape.join())
        throw new torch.ShapeError('ERR_SHAPE', op, 'a top-k teacher needs ids and logprobs (N, k), one row per student row', `student=${fmt(student)}, ids=${fmt(ids)}, logprobs=${fmt(lps)}`);
      if (keep) [ids, lps] = [ids.indexSelect(0, keep), lps.indexSelect(0, keep)];
      // Forward KL at any T: sparse.ts (log-probabilities are normalised: logZ = 0).
      if (name === 'forward_kl') return sparseKL(s, { indices: ids, logits: lps, logZ: torch.zeros([ids.shape[0]]) }, T);
      if (T !== 1) throw new torch.ConfigError(`${op}: '${name}' from a top-k teacher is defined at T = 1 only (the tail's shape at other temperatures is unknown); use T = 1, or forward_kl`);
      const [lq, lp] = topkBuckets(s, ids, lps);
      return tokenDivergenceRows(name, lq, lp, { beta, alpha, mu }).mean();
    }
    checkTensor(op, 'teacher', teacher);
    sameShape(op, student, teacher);
    let t = rows(op, 'teacher', teacher); // (N, V)
    if (keep) t = t.indexSelect(0, keep);
    const perRow = tokenDivergenceRows(name, logSoftAt(s, T), logSoftAt(t, T), { beta, alpha, mu }); // (N)
    return perRow.mean().mul(T * T);
  });
}

// Temperature-softened distributions (Hinton, Vinyals & Dean 2015, "Distilling the
// Knowledge in a Neural Network"): p_i = exp(z_i/T) / Σ_j exp(z_j/T). T = 1 is the plain
// softmax; a higher T flattens the distribution and exposes the "dark knowledge" in the
// small probabilities of the wrong classes. Entropies are for reports and plots.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkT, checkTensor } from './util.js';

/** softmax(z / T) over the last dimension: (…, C) → (…, C). */
export function softTargets(logits: Tensor, T = 1): Tensor {
  checkTensor('softTargets', 'logits', logits);
  checkT('softTargets', T);
  return torch.tidy(() => (T === 1 ? logits : logits.div(T)).softmax(-1));
}

/** log softmax(z / T) over the last dimension, computed stably (no log of a softmax). */
export function logSoftTargets(logits: Tensor, T = 1): Tensor {
  checkTensor('logSoftTargets', 'logits', logits);
  checkT('logSoftTargets', T);
  return torch.tidy(() => (T === 1 ? logits : logits.div(T)).logSoftmax(-1));
}

// Probabilities below this count as 0 in p·log p (0·log 0 = 0); float32 has no smaller normal.
const TINY = 1.1754943508222875e-38;

/** Shannon entropy in nats of each row of probabilities: H(p) = −Σ_i p_i log p_i, (…, C) → (…). */
export function entropy(probs: Tensor): Tensor {
  checkTensor('entropy', 'probs', probs);
  return torch.tidy(() => probs.mul(probs.clamp(TINY).log()).sum(-1).neg());
}

/**
 * Entropy in nats of softmax(z / T) per row, from the logits directly:
 * H = −Σ_i p_i · log p_i with log p = logSoftmax(z / T), exact even where p underflows.
 * It grows from the teacher's confidence at T = 1 towards log C as T → ∞.
 */
export function entropyAtT(logits: Tensor, T = 1): Tensor {
  checkTensor('entropyAtT', 'logits', logits);
  checkT('entropyAtT', T);
  return torch.tidy(() => {
    const logp = (T === 1 ? logits : logits.div(T)).logSoftmax(-1);
    return logp.exp().mul(logp).sum(-1).neg();
  });
}

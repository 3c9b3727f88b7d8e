// Token-level KD for language models: the Hinton loss applied at every completion
// position, with the teacher given as its top-k log-probabilities (what an LLM server
// returns) or as full logits (a local teacher).
//
//   L = α · CE(next tokens, student) + (1 − α) · T² · KL(p_teacher^T ‖ p_student^T)
//
// CE is the mean over completion tokens (the SFT loss); KL is the mean over positions
// that have a teacher distribution. The sparse form is `sparseKL` with logits = the
// teacher's log-probabilities and logZ = 0 (log-probabilities are already normalised).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TopkTeacherRows } from '../lm/index.js';
import { sparseKL } from './sparse.js';
import { checkT } from './util.js';
import type { LossResult } from '../nn/index.js';

/**
 * logits (B, T, V); target (B, T) with −100 where there is nothing to predict;
 * teacher: flattened row indices (N), top-k ids (N, k) and log-probabilities (N, k).
 * Returns { loss, parts: { hard, soft } } as hintonLoss: hard = the CE (a tensor distinct
 * from loss), soft = T²·KL, only when the KL was computed (a teacher and α < 1).
 */
export function tokenKdLoss(
  logits: Tensor,
  target: Tensor,
  teacher: TopkTeacherRows | null,
  o: { alpha: number; T: number },
): LossResult {
  checkT('tokenKdLoss', o.T);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new torch.ConfigError(`tokenKdLoss: alpha must be in [0, 1], got ${o.alpha}`);
  const V = logits.shape[2];
  const flat = logits.reshape([-1, V]); // (B·T, V)
  const ce = torch.crossEntropy(flat, target.reshape([-1]), { ignoreIndex: -100 });
  if (!teacher || o.alpha === 1) return { loss: ce.clone(), parts: { hard: ce } };
  if (teacher.ids.shape[1] > V) throw new torch.ConfigError(`tokenKdLoss: the teacher gives ${teacher.ids.shape[1]} alternatives per token but the student's vocabulary has ${V}`);
  const rows = flat.indexSelect(0, teacher.rows); // (N, V)
  const N = teacher.rows.shape[0];
  const soft = sparseKL(rows, { indices: teacher.ids, logits: teacher.logprobs, logZ: torch.zeros([N]) }, o.T); // T²·KL
  return { loss: ce.mul(o.alpha).add(soft.mul(1 - o.alpha)), parts: { hard: ce, soft } };
}

// The one result shape of a KD loss that reports more than its value: hintonLoss,
// tokenKdLoss and createLoss's callable all return it with tensors; chunkedLmLoss, which
// runs its own reverse pass, returns it with numbers (LossResult<number>). `loss` and
// `parts` mirror the Trainer's LossOutput (src/train/trainer.ts), so a computeLoss hook
// passes them through.
import type { Tensor } from '../torch/index.js';

export interface LossResult<V = Tensor> {
  /** The scalar to backpropagate: the weighted sum of the parts (e.g. α·hard + (1 − α)·soft). */
  loss: V;
  /**
   * Its components, unweighted, by name (logged, not backpropagated):
   *   hintonLoss, tokenKdLoss, chunkedLmLoss: `hard` = CE against the labels / next tokens (mean over rows),
   *                            `soft` = T²·KL(p_teacher^T ‖ q_student^T) (absent when not computed);
   *   createLoss: one per spec key (`hinton`, `kl`, `kl#2`, …) plus sub-parts (`hinton.hard`, `hinton.soft`).
   * Distinct tensors from `loss`: disposing one never frees the other.
   */
  parts: Record<string, V>;
}

/** A result's values as numbers (one `.item()` each), e.g. to log a tensor result like chunkedLmLoss's. */
export function lossValues(r: LossResult): LossResult<number> {
  return { loss: r.loss.item(), parts: Object.fromEntries(Object.entries(r.parts).map(([k, t]) => [k, t.item()])) };
}

// The one result shape of a KD loss that reports more than its value: hintonLoss,
// tokenKdLoss and createLoss's callable all return it. `loss` and `parts` mirror the
// Trainer's LossOutput (src/train/trainer.ts), so a computeLoss hook passes them through.
import type { Tensor } from '../torch/index.js';

export interface LossResult {
  /** The scalar to backpropagate: the weighted sum of the parts (e.g. α·hard + (1 − α)·soft). */
  loss: Tensor;
  /**
   * Its components, unweighted, by name (logged, not backpropagated):
   *   hintonLoss, tokenKdLoss: `hard` = CE against the labels / next tokens (mean over rows),
   *                            `soft` = T²·KL(p_teacher^T ‖ q_student^T) (absent when not computed);
   *   createLoss: one per spec key (`hinton`, `kl`, `kl#2`, …) plus sub-parts (`hinton.hard`, `hinton.soft`).
   * Distinct tensors from `loss`: disposing one never frees the other.
   */
  parts: Record<string, Tensor>;
}

// Gradient clipping by global norm (Pascanu et al. 2013, "On the difficulty of training
// recurrent neural networks"), as torch.nn.utils.clip_grad_norm_ of PyTorch 1.13:
//
//   N = ‖(‖g₁‖ₚ, …, ‖gₖ‖ₚ)‖ₚ              the p-norm of all grads as one vector
//   c = min(maxNorm / (N + 1e-6), 1)
//   gᵢ ← c·gᵢ                              in place
//
// Scaling every gradient by the same c keeps the update's direction and only bounds its
// length, so one exploding batch cannot throw the weights far. The 1e-6 avoids a division
// by zero; the multiply happens even when c = 1 (as PyTorch does, to avoid a branch).
import { ConfigError, noGrad, norm, stack, tidy, type Tensor } from '../torch/index.js';

export interface ClipGradOptions {
  /** Throw when the total norm is NaN or ±∞ instead of scaling by it (PyTorch's error_if_nonfinite). */
  errorIfNonfinite?: boolean;
}

/**
 * Clips the gradients of `params` in place so their joint p-norm is at most `maxNorm`;
 * returns the total norm before clipping. `normType` may be Infinity (max |g|).
 * Parameters without a gradient are skipped; with none at all the norm is 0.
 */
export function clipGradNorm(params: Tensor | Tensor[], maxNorm: number, normType = 2, opts: ClipGradOptions = {}): number {
  const list = Array.isArray(params) ? params : [params];
  return noGrad(() =>
    tidy(() => {
      const grads = list.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      let total: Tensor;
      if (normType === Infinity) {
        const norms = grads.map((g) => g.abs().max());
        total = norms.length === 1 ? norms[0] : stack(norms).max();
      } else {
        total = norm(stack(grads.map((g) => norm(g, normType))), normType);
      }
      const value = total.item();
      if (opts.errorIfNonfinite && !Number.isFinite(value))
        throw new ConfigError(`the total norm of order ${normType} of the gradients is ${value}, so it cannot be clipped`);
      // maxNorm / (N + 1e-6) as PyTorch evaluates it: float / Tensor is reciprocal(N + 1e-6) · maxNorm.
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
      for (const g of grads) g.mul_(coef);
      return value;
    }),
  );
}

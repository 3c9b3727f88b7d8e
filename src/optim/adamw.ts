// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), as
// torch/optim/adamw.py `_single_tensor_adamw` of PyTorch 1.13:
//
//   θ ← θ·(1 − lr·λ)          decoupled decay, applied before the Adam step
//   then Adam's update with g = ∇θ (no λ·θ term in g)
//
// Why decoupled: with Adam's L2 form the decay term λ·θ is divided by √v̂ like the
// gradient, so weights with large gradients are barely regularised; shrinking θ directly
// decays every weight at the same rate lr·λ, which is what weight decay was meant to be.
// PyTorch's default λ is 1e-2 (Adam's is 0).
import { Adam, adamDefaults, type AdamOptions } from './adam.js';
import type { ParamsInput } from './optimizer.js';

export type AdamWOptions = AdamOptions;

export class AdamW extends Adam {
  protected override readonly kind: string = 'AdamW';
  protected override readonly decoupled: boolean = true;

  constructor(params: ParamsInput<AdamWOptions>, opts: Partial<AdamWOptions> = {}) {
    super(params, { ...adamDefaults(opts, 1e-2) });
  }
}

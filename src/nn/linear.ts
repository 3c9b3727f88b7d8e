// Linear and Identity, as torch.nn.Linear and torch.nn.Identity.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import * as init from './init.js';
import { checkInt, py } from './util.js';

/** Returns its input unchanged (the same tensor object, as PyTorch). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export interface LinearOptions {
  bias?: boolean;
}

/** y = x·Wᵀ + b over the last dimension: (…, in) → (…, out). */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** (out, in) */
  readonly weight: Tensor;
  /** (out) or null */
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    this.inFeatures = checkInt('Linear', 'inFeatures', inFeatures, 0);
    this.outFeatures = checkInt('Linear', 'outFeatures', outFeatures, 0);
    // Created (uninitialised) weight first, then bias, then filled: PyTorch's order,
    // which is what makes the RNG draws line up.
    this.weight = this.registerParameter('weight', torch.empty([outFeatures, inFeatures]));
    this.bias = opts.bias ?? true ? this.registerParameter('bias', torch.empty([outFeatures])) : null;
    this.resetParameters();
  }

  /**
   * PyTorch's default: kaiming_uniform_(a=√5), which is U(−1/√fanIn, 1/√fanIn)
   * (pytorch/pytorch#57109), and the bias from the same range.
   */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return torch.linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${py(this.bias !== null)}`;
  }
}

// Flatten, as torch.nn.Flatten: merges dimensions startDim..endDim into one.
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

/** (B, C, H, W) → (B, C·H·W) with the defaults startDim = 1, endDim = −1. */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

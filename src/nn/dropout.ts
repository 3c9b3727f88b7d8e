// Dropout, as torch.nn.Dropout (Srivastava et al. 2014).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { checkProbability } from './util.js';

/**
 * In training, zeroes each element with probability p and scales the rest by 1/(1 − p),
 * so the expected value is unchanged; in eval it is the identity.
 */
export class Dropout extends Module {
  readonly p: number;
  constructor(p = 0.5) {
    super();
    this.p = checkProbability('Dropout', 'dropout probability', p);
  }
  forward(x: Tensor): Tensor {
    return torch.dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

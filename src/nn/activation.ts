// Element-wise activations, as torch.nn's: each forward is one libtorch op.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

/** max(0, x) */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return torch.relu(x);
  }
}

/** x for x ≥ 0, negativeSlope · x otherwise. */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return torch.leakyRelu(x, this.negativeSlope);
  }
  override extraRepr(): string {
    return `negative_slope=${this.negativeSlope}`;
  }
}

export interface GELUOptions {
  /** 'none': x·Φ(x) exactly; 'tanh': 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  approximate?: 'none' | 'tanh';
}

/** x · Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel 2016). */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  constructor(opts: GELUOptions = {}) {
    super();
    this.approximate = opts.approximate ?? 'none';
    if (this.approximate !== 'none' && this.approximate !== 'tanh')
      throw new torch.ConfigError(`GELU: approximate must be 'none' or 'tanh', got '${String(this.approximate)}'`);
  }
  forward(x: Tensor): Tensor {
    return torch.gelu(x, this.approximate);
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** x · σ(x), also called swish. */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return torch.silu(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return torch.tanh(x);
  }
}

/** 1 / (1 + e^(−x)) */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return torch.sigmoid(x);
  }
}

// Cosine annealing (Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with
// Warm Restarts", without the restarts), as PyTorch 1.13's CosineAnnealingLR:
//
//   lr_t = η_min + (lr₀ − η_min) · (1 + cos(π·t / T_max)) / 2
//
// step() uses PyTorch's recursive form, lr_t = (1 + cos(πt/T))/(1 + cos(π(t−1)/T)) ·
// (lr_{t−1} − η_min) + η_min, so it composes with other schedulers and matches PyTorch
// to the last bit of its arithmetic. Past T_max the curve rises again (period 2·T_max), as PyTorch's does.
import { ConfigError } from '../torch/index.js';
import type { GroupOptions, Optimizer } from './optimizer.js';
import { LRScheduler, pyMod } from './scheduler.js';

export interface CosineAnnealingLROptions {
  /** Steps from the base lr down to etaMin. */
  tMax: number;
  /** The lowest lr (default 0). */
  etaMin?: number;
  lastEpoch?: number;
}

export class CosineAnnealingLR extends LRScheduler<{ tMax: number; etaMin: number }> {
  protected readonly kind = 'CosineAnnealingLR';
  protected cfg: { tMax: number; etaMin: number };

  constructor(optimizer: Optimizer<GroupOptions>, opts: CosineAnnealingLROptions) {
    super(optimizer, opts.lastEpoch ?? -1);
    if (!(opts.tMax > 0)) throw new ConfigError(`CosineAnnealingLR: tMax must be positive, got ${opts.tMax}`);
    this.cfg = { tMax: opts.tMax, etaMin: opts.etaMin ?? 0 };
    this.initialStep();
  }

  protected getLr(): number[] {
    const { tMax: T, etaMin } = this.cfg;
    const e = this.lastEpoch;
    if (e === 0) return this.groups.map((g) => g.lr);
    if (this.stepCount === 1 && e > 0)
      return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    if (pyMod(e - 1 - T, 2 * T) === 0)
      return this.groups.map((g, i) => g.lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    return this.groups.map(
      (g) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (g.lr - etaMin) + etaMin,
    );
  }

  protected override closedFormLr(): number[] {
    const { tMax: T, etaMin } = this.cfg;
    return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / T))) / 2);
  }
}

// Step decay: multiply the lr by γ at fixed points, as PyTorch 1.13's StepLR and MultiStepLR.
//   StepLR:      lr_t = lr₀ · γ^⌊t / stepSize⌋
//   MultiStepLR: lr_t = lr₀ · γ^(number of milestones ≤ t)
// (step() applies these recursively from the current lr, as PyTorch does, so they chain.)
import { ConfigError } from '../torch/index.js';
import type { GroupOptions, Optimizer } from './optimizer.js';
import { bisectRight, LRScheduler } from './scheduler.js';

export interface StepLROptions {
  stepSize: number;
  /** Factor applied every stepSize steps (default 0.1). */
  gamma?: number;
  lastEpoch?: number;
}

export class StepLR extends LRScheduler<{ stepSize: number; gamma: number }> {
  protected readonly kind = 'StepLR';
  protected cfg: { stepSize: number; gamma: number };

  constructor(optimizer: Optimizer<GroupOptions>, opts: StepLROptions) {
    super(optimizer, opts.lastEpoch ?? -1);
    if (!Number.isInteger(opts.stepSize) || opts.stepSize < 1) throw new ConfigError(`StepLR: stepSize must be a positive integer, got ${opts.stepSize}`);
    this.cfg = { stepSize: opts.stepSize, gamma: opts.gamma ?? 0.1 };
    this.initialStep();
  }

  protected getLr(): number[] {
    const { stepSize, gamma } = this.cfg;
    if (this.lastEpoch === 0 || this.lastEpoch % stepSize !== 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * gamma);
  }

  protected override closedFormLr(): number[] {
    const { stepSize, gamma } = this.cfg;
    return this.baseLrs.map((b) => b * gamma ** Math.floor(this.lastEpoch / stepSize));
  }
}

export interface MultiStepLROptions {
  /** Steps at which lr is multiplied by gamma (a repeated milestone applies gamma once per repeat). */
  milestones: number[];
  gamma?: number;
  lastEpoch?: number;
}

export class MultiStepLR extends LRScheduler<{ milestones: number[]; gamma: number }> {
  protected readonly kind = 'MultiStepLR';
  protected cfg: { milestones: number[]; gamma: number };

  constructor(optimizer: Optimizer<GroupOptions>, opts: MultiStepLROptions) {
    super(optimizer, opts.lastEpoch ?? -1);
    if (!Array.isArray(opts.milestones) || !opts.milestones.every(Number.isInteger))
      throw new ConfigError('MultiStepLR: milestones must be a list of integers');
    this.cfg = { milestones: [...opts.milestones].sort((a, b) => a - b), gamma: opts.gamma ?? 0.1 };
    this.initialStep();
  }

  protected getLr(): number[] {
    const count = this.cfg.milestones.filter((m) => m === this.lastEpoch).length;
    if (count === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.cfg.gamma ** count);
  }

  protected override closedFormLr(): number[] {
    const n = bisectRight(this.cfg.milestones, this.lastEpoch);
    return this.baseLrs.map((b) => b * this.cfg.gamma ** n);
  }
}

// Linear warm-up, as PyTorch 1.13's LinearLR: the lr factor goes linearly from
// startFactor to endFactor over totalIters steps, then stays:
//
//   lr_t = lr₀ · (s + (e − s) · min(t, N) / N)
//
// Why warm up: early on, Adam's second-moment estimate rests on few samples and the
// weights are far from a good region, so full-size steps can diverge (Goyal et al. 2017,
// "Accurate, Large Minibatch SGD"). step() applies PyTorch's recursive form
// lr_t = lr_{t−1} · (1 + (e − s) / (N·s + (t − 1)·(e − s))) so values match PyTorch's.
import { ConfigError } from '../torch/index.js';
import type { GroupOptions, Optimizer } from './optimizer.js';
import { LRScheduler } from './scheduler.js';

export interface LinearLROptions {
  /** Factor of the base lr at step 0, in (0, 1] (default 1/3). */
  startFactor?: number;
  /** Factor reached at totalIters, in [0, 1] (default 1). */
  endFactor?: number;
  /** Steps over which the factor moves (default 5). */
  totalIters?: number;
  lastEpoch?: number;
}

type Cfg = { startFactor: number; endFactor: number; totalIters: number };

export class LinearLR extends LRScheduler<Cfg> {
  protected readonly kind = 'LinearLR';
  protected cfg: Cfg;

  constructor(optimizer: Optimizer<GroupOptions>, opts: LinearLROptions = {}) {
    super(optimizer, opts.lastEpoch ?? -1);
    const cfg = { startFactor: opts.startFactor ?? 1 / 3, endFactor: opts.endFactor ?? 1, totalIters: opts.totalIters ?? 5 };
    // PyTorch allows startFactor 0, but its recursive form then divides by zero at step 1.
    if (!(cfg.startFactor > 0 && cfg.startFactor <= 1)) throw new ConfigError(`LinearLR: startFactor must be in (0, 1], got ${cfg.startFactor}`);
    if (!(cfg.endFactor >= 0 && cfg.endFactor <= 1)) throw new ConfigError(`LinearLR: endFactor must be in [0, 1], got ${cfg.endFactor}`);
    if (!Number.isInteger(cfg.totalIters) || cfg.totalIters < 1) throw new ConfigError(`LinearLR: totalIters must be a positive integer, got ${cfg.totalIters}`);
    this.cfg = cfg;
    this.initialStep();
  }

  protected getLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this.cfg;
    const t = this.lastEpoch;
    if (t === 0) return this.groups.map((g) => g.lr * s);
    if (t > n) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * (1 + (e - s) / (n * s + (t - 1) * (e - s))));
  }

  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this.cfg;
    return this.baseLrs.map((b) => b * (s + ((e - s) * Math.min(n, this.lastEpoch)) / n));
  }
}

/** The name this project's configs use for a linear warm-up; it is PyTorch's LinearLR. */
export const LinearWarmup = LinearLR;
export type LinearWarmup = LinearLR;

// Schedules one after another, as PyTorch 1.13's SequentialLR: scheduler i runs from
// milestone i−1 to milestone i. At a milestone the next scheduler restarts from its
// closed form at step 0 (its base lr), so a warm-up hands over to, e.g., a cosine decay.
// warmupCosine() builds the usual chain: linear warm-up, then cosine annealing.
import { ConfigError } from '../torch/index.js';
import type { GroupOptions, Optimizer } from './optimizer.js';
import { bisectRight, LRScheduler, type SchedulerState } from './scheduler.js';
import { LinearLR } from './linear_lr.js';
import { CosineAnnealingLR } from './cosine_lr.js';

export interface SequentialLROptions {
  /** Schedulers over the same optimizer, made in order (each constructor takes its own first step). */
  schedulers: LRScheduler<object>[];
  /** Steps at which control passes to the next scheduler; one fewer than schedulers. */
  milestones: number[];
  lastEpoch?: number;
}

export class SequentialLR extends LRScheduler<{ milestones: number[] }> {
  protected readonly kind = 'SequentialLR';
  protected cfg: { milestones: number[] };
  readonly schedulers: LRScheduler<object>[];

  constructor(optimizer: Optimizer<GroupOptions>, opts: SequentialLROptions) {
    super(optimizer, -1);
    const { schedulers, milestones } = opts;
    if (!Array.isArray(schedulers) || schedulers.length === 0) throw new ConfigError('SequentialLR needs at least one scheduler');
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) throw new ConfigError(`SequentialLR: scheduler ${i} belongs to another optimizer`);
    });
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1)
      throw new ConfigError(`SequentialLR: expected ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${milestones?.length}`);
    for (let i = 1; i < milestones.length; i++)
      if (!(milestones[i] > milestones[i - 1])) throw new ConfigError('SequentialLR: milestones must increase');
    this.schedulers = [...schedulers];
    this.cfg = { milestones: [...milestones] };
    this.lastEpoch = (opts.lastEpoch ?? -1) + 1;
    // Reset the lr and undo the first step each child's constructor took, then let only the first step.
    for (const g of this.groups) g.lr = g.initialLr as number;
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0].initialStep();
    this.lastLr = this.schedulers[0].getLastLr();
  }

  protected getLr(): number[] {
    return this.groups.map((g) => g.lr);
  }

  override step(): void {
    this.lastEpoch += 1;
    const { milestones } = this.cfg;
    const idx = bisectRight(milestones, this.lastEpoch);
    const s = this.schedulers[idx];
    if (idx > 0 && milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }

  override stateDict(): SchedulerState {
    return { ...super.stateDict(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  protected override loadExtra(state: SchedulerState, bad: (why: string) => never): void {
    const children = state.schedulers;
    if (!Array.isArray(children) || children.length !== this.schedulers.length)
      bad(`it has ${Array.isArray(children) ? children.length : 'no'} child schedulers, this one has ${this.schedulers.length}`);
    // Children load one by one; roll all back if one refuses, so a failed load changes nothing.
    const before = this.schedulers.map((s) => s.stateDict());
    try {
      this.schedulers.forEach((s, i) => s.loadStateDict((children as unknown[])[i]));
    } catch (e) {
      this.schedulers.forEach((s, i) => s.loadStateDict(before[i]));
      throw e;
    }
  }
}

export interface WarmupCosineOptions {
  /** Steps of linear warm-up. */
  warmupSteps: number;
  /** All steps, warm-up included; the cosine runs over totalSteps − warmupSteps. */
  totalSteps: number;
  /** Factor of the base lr at step 0 (default 1/3, LinearLR's). */
  startFactor?: number;
  /** The lr at the end of the cosine (default 0). */
  etaMin?: number;
}

/** Linear warm-up to the base lr, then cosine annealing to etaMin: SequentialLR([LinearLR, CosineAnnealingLR], [warmupSteps]). */
export function warmupCosine(optimizer: Optimizer<GroupOptions>, o: WarmupCosineOptions): SequentialLR {
  if (!(Number.isInteger(o.warmupSteps) && o.warmupSteps >= 1 && o.totalSteps > o.warmupSteps))
    throw new ConfigError(`warmupCosine: need 1 ≤ warmupSteps < totalSteps, got warmupSteps ${o.warmupSteps}, totalSteps ${o.totalSteps}`);
  const warm = new LinearLR(optimizer, { startFactor: o.startFactor ?? 1 / 3, endFactor: 1, totalIters: o.warmupSteps });
  const cos = new CosineAnnealingLR(optimizer, { tMax: o.totalSteps - o.warmupSteps, etaMin: o.etaMin ?? 0 });
  return new SequentialLR(optimizer, { schedulers: [warm, cos], milestones: [o.warmupSteps] });
}

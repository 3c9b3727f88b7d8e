// The learning-rate scheduler base, as torch.optim.lr_scheduler._LRScheduler of PyTorch 1.13.
//
// A scheduler writes `lr` into the optimizer's parameter groups. Like PyTorch's, the
// schedules are "chainable": step() derives the next lr from the group's current lr (the
// recursive form), so two schedulers can act on one optimizer, and the closed form is used
// only when an explicit epoch is given (step(epoch), as SequentialLR does at a milestone).
// Usage, as in PyTorch: optimizer.step() first, then scheduler.step(), once per step/epoch.
import { ConfigError } from '../torch/index.js';
import type { GroupOptions, Optimizer, ParamGroup } from './optimizer.js';

/** JSON state of a scheduler, as stateDict() returns it. */
export interface SchedulerState {
  type: string;
  lastEpoch: number;
  stepCount: number;
  baseLrs: number[];
  lastLr: number[];
  config: Record<string, unknown>;
  [extra: string]: unknown;
}

export abstract class LRScheduler<C extends object = Record<string, unknown>> {
  readonly optimizer: Optimizer<GroupOptions>;
  /** Each group's `initialLr` when the scheduler was made: where schedules start. */
  baseLrs: number[];
  /** Index of the last step taken (−1 before the first); PyTorch's `last_epoch`. */
  lastEpoch: number;
  /** Calls of step(), including the initial one the constructor makes. */
  protected stepCount = 0;
  protected lastLr: number[] = [];
  protected abstract readonly kind: string;
  /** Hyper-parameters (JSON); saved and restored with the state. */
  protected abstract cfg: C;

  constructor(optimizer: Optimizer<GroupOptions>, lastEpoch = -1) {
    this.optimizer = optimizer;
    const groups = optimizer.paramGroups;
    if (lastEpoch === -1) {
      for (const g of groups) g.initialLr ??= g.lr;
    } else {
      groups.forEach((g, i) => {
        if (g.initialLr === undefined)
          throw new ConfigError(`parameter group ${i} has no initialLr: resuming a schedule at lastEpoch ${lastEpoch} needs the optimizer's state loaded first`);
      });
    }
    this.baseLrs = groups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
  }

  protected get groups(): ParamGroup<GroupOptions>[] {
    return this.optimizer.paramGroups;
  }

  /** The chainable rule: next lr per group from the groups' current lr and lastEpoch. */
  protected abstract getLr(): number[];
  /** The closed form at lastEpoch, used when step() is given an epoch. */
  protected closedFormLr?(): number[];

  /** Resets the step count and takes the first step; each subclass constructor ends with it (PyTorch's `_initial_step`). */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** Advances one step (or jumps to `epoch`, closed form) and writes each group's lr. */
  step(epoch?: number): void {
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr ? this.closedFormLr() : this.getLr();
    }
    this.groups.forEach((g, i) => (g.lr = values[i]));
    this.lastLr = this.groups.map((g) => g.lr);
  }

  /** The lr of each group as last set by this scheduler. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** JSON state: counters, base and last lrs, hyper-parameters. */
  stateDict(): SchedulerState {
    return {
      type: this.kind,
      lastEpoch: this.lastEpoch,
      stepCount: this.stepCount,
      baseLrs: [...this.baseLrs],
      lastLr: [...this.lastLr],
      config: structuredClone(this.cfg) as Record<string, unknown>,
    };
  }

  /** Restores a stateDict() (validated first; on a mismatch it throws ConfigError and changes nothing). */
  loadStateDict(state: unknown): void {
    const s = state as Partial<SchedulerState> | null;
    const bad = (why: string): never => {
      throw new ConfigError(`cannot load ${this.kind} state: ${why}`);
    };
    if (!s || typeof s !== 'object') bad('it is not an object');
    if (s!.type !== this.kind) bad(`it was saved by ${String(s!.type)}`);
    if (!Number.isInteger(s!.lastEpoch) || !Number.isInteger(s!.stepCount)) bad('lastEpoch and stepCount must be integers');
    const n = this.groups.length;
    const isLrs = (v: unknown) => Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number');
    if (!isLrs(s!.baseLrs)) bad(`baseLrs must be ${n} numbers (one per parameter group)`);
    if (!isLrs(s!.lastLr) && !(Array.isArray(s!.lastLr) && s!.lastLr.length === 0)) bad(`lastLr must be ${n} numbers`);
    const cfg = s!.config;
    if (!cfg || typeof cfg !== 'object') bad('config is missing');
    const live = this.cfg as Record<string, unknown>;
    for (const [k, v] of Object.entries(live)) {
      const saved = (cfg as Record<string, unknown>)[k];
      if (typeof saved !== typeof v || Array.isArray(saved) !== Array.isArray(v)) bad(`config.${k} is ${JSON.stringify(saved)}, expected a ${Array.isArray(v) ? 'array' : typeof v}`);
    }
    this.loadExtra(s as SchedulerState, bad);
    this.lastEpoch = s!.lastEpoch!;
    this.stepCount = s!.stepCount!;
    this.baseLrs = [...s!.baseLrs!];
    this.lastLr = [...s!.lastLr!];
    // Only the keys this scheduler has (checked above), copied.
    this.cfg = structuredClone(Object.fromEntries(Object.keys(live).map((k) => [k, (cfg as Record<string, unknown>)[k]]))) as C;
  }

  /** Hook for schedulers with more state (SequentialLR's children); must validate before changing anything. */
  protected loadExtra(_state: SchedulerState, _bad: (why: string) => never): void {}
}

/** Python's `%`: the result has the divisor's sign (JS's has the dividend's). */
export const pyMod = (a: number, n: number) => ((a % n) + n) % n;

/** Index of the first element of sorted `xs` greater than `x` (Python's bisect_right). */
export function bisectRight(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < xs[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

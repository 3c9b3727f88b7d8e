// Speed, measured not estimated: per-call latency percentiles at a small batch (what one
// request waits) and sustained throughput at a large batch (what a batch job gets).
//
// Every number is wall-clock time of real forwards on this machine (process.hrtime.bigint,
// nanoseconds, monotonic). The engine runs on the CPU and each libtorch call returns only
// when its result is computed, so the clock brackets the whole computation. Per docs/architecture.md
// ("Proof and performance method"), a speed figure means something only as a ratio against another
// model measured in the same run, which is what compareModels produces.
import * as torch from '../torch/index.js';
import { inEvalMode, makeBatch, checkCount, type EvalModel, type InputOptions } from './model.js';

export interface LatencyOptions extends InputOptions {
  /** Samples per call (default 1: one request). */
  batch?: number;
  /** Untimed calls first (default 20): they fill caches, fault in pages and let OpenBLAS start its threads. */
  warmup?: number;
  /** Timed calls (default 200). */
  iters?: number;
}

export interface LatencyResult {
  /** Median per-call time, ms: the typical wait, robust to the odd GC pause. */
  p50Ms: number;
  /** 95th percentile, ms: the slow tail a user notices. */
  p95Ms: number;
  meanMs: number;
  minMs: number;
  /** Timed calls and samples per call, so the figure can be reproduced. */
  iters: number;
  batch: number;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of sorted values, interpolating linearly between the two
 * nearest ranks (numpy's default), so p50 of an even count is the mean of the middle two.
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new torch.ConfigError('quantile: no values');
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const nowNs = () => process.hrtime.bigint();

/**
 * Per-call latency of `model` on seeded random inputs of shape (batch, ...inputShape), in
 * eval mode without autograd. Only `model.call` is timed; freeing its output happens
 * outside the clock. The model's train/eval flags and the caller's RNG are restored.
 */
export function latency(model: EvalModel, inputShape: readonly number[], opts: LatencyOptions = {}): LatencyResult {
  const batch = checkCount('latency: batch', opts.batch ?? 1, 1);
  const warmup = checkCount('latency: warmup', opts.warmup ?? 20, 0);
  const iters = checkCount('latency: iters', opts.iters ?? 200, 1);
  const x = makeBatch(inputShape, batch, opts);
  const times = new Float64Array(iters);
  try {
    inEvalMode(model, () => {
      for (let i = 0; i < warmup; i++) torch.tidy(() => void model.call(x));
      for (let i = 0; i < iters; i++)
        torch.tidy(() => {
          const t0 = nowNs();
          model.call(x);
          times[i] = Number(nowNs() - t0) / 1e6;
        });
    });
  } finally {
    x.dispose();
  }
  const sorted = times.slice().sort();
  return {
    p50Ms: quantile(sorted, 0.5),
    p95Ms: quantile(sorted, 0.95),
    meanMs: times.reduce((a, b) => a + b, 0) / iters,
    minMs: sorted[0],
    iters,
    batch,
  };
}

export interface ThroughputOptions extends InputOptions {
  /** Samples per call (default 256). */
  batch?: number;
  /** Run for about this many seconds (default 1 when iters is not given). */
  seconds?: number;
  /** Run exactly this many timed calls instead of a time budget. */
  iters?: number;
  /** Untimed calls first (default 2). */
  warmup?: number;
}

/** With a time budget, at least this many timed calls, so one slow call cannot be the whole figure. */
const MIN_ITERS = 3;

/**
 * Sustained samples per second at a large batch: batch × calls ÷ wall time of the loop.
 * Unlike latency, the clock also covers freeing each output, because a real batch job
 * pays for that too.
 */
export function throughput(model: EvalModel, inputShape: readonly number[], opts: ThroughputOptions = {}): number {
  const batch = checkCount('throughput: batch', opts.batch ?? 256, 1);
  const warmup = checkCount('throughput: warmup', opts.warmup ?? 2, 0);
  const iters = opts.iters === undefined ? undefined : checkCount('throughput: iters', opts.iters, 1);
  const seconds = opts.seconds ?? 1;
  if (!(seconds > 0)) throw new torch.ConfigError(`throughput: seconds must be positive, got ${String(opts.seconds)}`);
  const budgetNs = BigInt(Math.round(seconds * 1e9));
  const x = makeBatch(inputShape, batch, opts);
  try {
    return inEvalMode(model, () => {
      for (let i = 0; i < warmup; i++) torch.tidy(() => void model.call(x));
      let calls = 0;
      const t0 = nowNs();
      let elapsed = 0n;
      while (iters !== undefined ? calls < iters : calls < MIN_ITERS || elapsed < budgetNs) {
        torch.tidy(() => void model.call(x));
        calls++;
        elapsed = nowNs() - t0;
      }
      return (batch * calls) / (Number(elapsed) / 1e9);
    });
  } finally {
    x.dispose();
  }
}

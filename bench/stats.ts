// Shared by the benchmark scripts.
import { readFileSync } from 'node:fs';

/** A field of /proc/self/status in kB: VmRSS (resident now), VmHWM (its peak so far). */
export function procStatusKb(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Mean and sample standard deviation (n − 1); std 0 for a single value. */
export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics (numpy's default). */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q, lo = Math.floor(at), hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

/** One side-by-side figure: ours against the peer over alternating rounds. */
export interface PairSummary {
  ours_ms: number;
  torch_ms: number;
  /** Median over rounds of (our round median / the peer's round median). */
  ratio: number;
  /** The spread of those per-round ratios: [25th, 75th] percentile. */
  ratio_iqr: [number, number];
  rounds: number;
}

const r3 = (x: number) => +x.toFixed(3);

/**
 * Summarises alternating rounds. Each round's figure is the median of its steps; the ratio
 * is the median of the per-round ratios, not the ratio of the medians, so load that comes
 * and goes on a shared machine hits the two sides of a round alike and cancels out.
 */
export function summarizeRounds(ours: number[][], peer: number[][]): PairSummary {
  const o = ours.map(median), p = peer.map(median);
  const ratios = o.map((x, i) => x / p[i]);
  return { ours_ms: r3(median(o)), torch_ms: r3(median(p)), ratio: r3(median(ratios)), ratio_iqr: [r3(quantile(ratios, 0.25)), r3(quantile(ratios, 0.75))], rounds: ratios.length };
}

// The oracle for graded tokens: our LM's logits for ONE prompt (no batching, no padding), then
// log_softmax and the ranking done here in float64 — independent of the scorer's grouping,
// torch's logSoftmax/gather/topk and any wire format.
import * as torch from '../../src/torch/index.js';
import type { CausalLM } from '../../src/lm/model.js';

export interface OracleRow {
  /** log p(v | ids[≤t]) for every v, as float64 (V). */
  lp: Float64Array;
}

/** One row per position t = 0 … T−2 (the one predicting ids[t+1]). */
export function oracleRows(model: CausalLM, ids: readonly number[]): OracleRow[] {
  const V = model.cfg.vocabSize;
  const T = ids.length;
  const z = torch.tidy(() => torch.noGrad(() => model.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, T] })).contiguous().dataSync() as Float32Array));
  const rows: OracleRow[] = [];
  for (let t = 0; t + 1 < T; t++) {
    const row = z.subarray(t * V, (t + 1) * V);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    const lse = m + Math.log(s);
    rows.push({ lp: Float64Array.from(row, (v) => v - lse) });
  }
  return rows;
}

/** The ids sorted by log-probability, most likely first. */
export const ranked = (lp: Float64Array): number[] => Array.from(lp.keys()).sort((a, b) => lp[b] - lp[a]);

/** 1 + the tokens strictly more likely than `id` (vLLM's rank). */
export const rankOf = (lp: Float64Array, id: number): number => 1 + lp.reduce((n, v) => n + (v > lp[id] ? 1 : 0), 0);

/**
 * Checks a claimed top-k against the oracle, tolerant of near-ties in float32: every claimed id
 * has the oracle's log-probability (to `tol`), the list is in descending order, and nothing left
 * out beats the k-th claimed one by more than `tol`.
 */
export function topkMatches(lp: Float64Array, ids: readonly number[], logprobs: readonly number[], k: number, tol = 1e-4): string | null {
  if (ids.length !== k || logprobs.length !== k) return `got ${ids.length} ids, ${logprobs.length} logprobs, wanted ${k}`;
  if (new Set(ids).size !== k) return 'duplicate ids';
  for (let j = 0; j < k; j++) {
    if (Math.abs(lp[ids[j]] - logprobs[j]) > tol) return `id ${ids[j]}: ${logprobs[j]} vs oracle ${lp[ids[j]]}`;
    if (j && logprobs[j] > logprobs[j - 1] + tol) return `not descending at ${j}`;
  }
  const kth = logprobs[k - 1];
  const chosen = new Set(ids);
  const better = ranked(lp).find((v) => !chosen.has(v) && lp[v] > kth + tol);
  return better === undefined ? null : `left out ${better} (${lp[better]}) beats the k-th (${kth})`;
}

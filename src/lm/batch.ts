// Chat examples → padded training batches for next-token prediction. Only the
// completion's tokens are targets (SFT trains on what the assistant says, not on the
// prompt), and each may carry the teacher's top-k distribution for token-level KD.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** The teacher's view of one completion token: its top-k token ids and log-probabilities. */
export interface TokenDistribution {
  ids: number[];
  logprobs: number[];
}

export interface LmExample {
  prompt: number[];
  /** The assistant's tokens, ending with the end-of-sequence id. */
  completion: number[];
  /** One entry per completion token (same length as completion), or absent. */
  teacher?: (TokenDistribution | null)[];
}

export interface LmBatch {
  /** (B, T) int64: the sequence without its last token. */
  input: Tensor;
  /** (B, T) int64: the next token at each position; −100 on prompt and padding. */
  target: Tensor;
  /** Completion tokens in the batch: the normaliser of the SFT loss. */
  tokens: number;
  /** Token-level KD targets at the flattened positions `rows` of (B·T): (N) int64, (N, k) int64, (N, k) float. */
  teacher: { rows: Tensor; ids: Tensor; logprobs: Tensor } | null;
  /** Packed rows (pack.ts): (B, T) int64 position of each token within its document, restarting at 0. */
  positions?: Tensor;
  /** Packed rows: (B, T) int64 document of each token within its row (−1 on padding); attention stays inside it. */
  segments?: Tensor;
}

export const IGNORE = -100;

/**
 * Right-pads to the longest example (cut at maxLen + 1 tokens). With k teacher entries
 * per position, rows missing a teacher distribution are left out of the KD term only.
 */
export function makeBatch(examples: readonly LmExample[], maxLen: number, padId: number): LmBatch {
  if (examples.length === 0) throw new torch.ConfigError('makeBatch: no examples');
  const seqs = examples.map((e) => [...e.prompt, ...e.completion].slice(0, maxLen + 1));
  const T = Math.max(...seqs.map((s) => s.length)) - 1;
  if (T < 1) throw new torch.ConfigError('makeBatch: every example needs at least two tokens');
  const B = examples.length;
  const input = new BigInt64Array(B * T).fill(BigInt(padId));
  const target = new BigInt64Array(B * T).fill(BigInt(IGNORE));
  let tokens = 0;
  const rows: number[] = [];
  const tIds: number[][] = [];
  const tLps: number[][] = [];
  examples.forEach((e, b) => {
    const s = seqs[b];
    for (let t = 0; t < s.length - 1; t++) {
      input[b * T + t] = BigInt(s[t]);
      const c = t + 1 - e.prompt.length; // index of the predicted token within the completion
      if (c < 0) continue;
      target[b * T + t] = BigInt(s[t + 1]);
      tokens++;
      const d = e.teacher?.[c];
      if (d) {
        rows.push(b * T + t);
        tIds.push(d.ids);
        tLps.push(d.logprobs);
      }
    }
  });
  return {
    input: torch.tensor(input, { shape: [B, T] }),
    target: torch.tensor(target, { shape: [B, T] }),
    tokens,
    teacher: teacherTensors('makeBatch', rows, tIds, tLps),
  };
}

/**
 * The batch's KD targets from per-position teacher entries: flattened row indices (N),
 * and the first k ids / log-probabilities of each (N, k), k the smallest entry's length.
 */
export function teacherTensors(who: string, rows: number[], tIds: number[][], tLps: number[][]): LmBatch['teacher'] {
  if (!rows.length) return null;
  const k = Math.min(...tIds.map((x) => x.length));
  if (k < 1) throw new torch.ConfigError(`${who}: a teacher distribution has no entries`);
  return {
    rows: torch.tensor(BigInt64Array.from(rows, BigInt)),
    ids: torch.tensor(BigInt64Array.from(tIds.flatMap((x) => x.slice(0, k)), BigInt), { shape: [rows.length, k] }),
    logprobs: torch.tensor(Float32Array.from(tLps.flatMap((x) => x.slice(0, k))), { shape: [rows.length, k] }),
  };
}

export function disposeLmBatch(b: LmBatch): void {
  b.input.dispose();
  b.target.dispose();
  b.teacher?.rows.dispose();
  b.teacher?.ids.dispose();
  b.teacher?.logprobs.dispose();
  b.positions?.dispose();
  b.segments?.dispose();
}

// Sequence packing: several chat examples share one row of the batch instead of each
// being padded to the longest, so short traces stop paying for long ones' padding. Each
// token carries its document (`segments`) and its position within that document
// (`positions`, restarting at 0); the model's attention then never crosses documents
// (CausalLM's ForwardOptions.segments), so every document computes exactly what it would
// in a row of its own (the Hugging Face "padding-free" collator with position_ids).
//
// Layout: an example of n tokens s₀…sₙ₋₁ occupies n − 1 positions of a row, as in
// makeBatch: the inputs s₀…sₙ₋₂, each with the next token as its target (−100 on the
// prompt). Its last token is only a target, so no input of one document ever predicts the
// next document's first token: targets stay within their document by construction.
import * as torch from '../torch/index.js';
import { IGNORE, teacherTensors, type LmBatch, type LmExample } from './batch.js';

/** Padding's document id: never equal to a real document's (0, 1, …). */
export const PAD_SEGMENT = -1;

/**
 * Greedy first-fit: each example, in order, goes to the first row that still has room for
 * its n − 1 positions, or opens a new row. Returns the example indices of each row.
 * Examples with fewer than two tokens (nothing to predict) are left out.
 */
export function packRows(lengths: readonly number[], maxSeqLen: number): number[][] {
  if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) throw new torch.ConfigError(`packExamples: maxSeqLen must be an integer ≥ 1, got ${maxSeqLen}`);
  const rows: number[][] = [];
  const used: number[] = [];
  lengths.forEach((n, i) => {
    const need = n - 1;
    if (need < 1) return;
    if (need > maxSeqLen)
      throw new torch.ConfigError(`packExamples: example ${i} has ${n} tokens (${need} positions), longer than the maximum sequence length ${maxSeqLen}; raise --max-seq-len or drop the example`);
    const r = used.findIndex((u) => u + need <= maxSeqLen);
    if (r >= 0) {
      rows[r].push(i);
      used[r] += need;
    } else {
      rows.push([i]);
      used.push(need);
    }
  });
  return rows;
}

/**
 * Packs examples into rows of at most maxSeqLen positions, right-padded to the longest row
 * with padId (target −100, segment −1, position 0). `tokens` counts completion targets, so
 * a mean over them equals the unpacked batch's (makeBatch) for the same examples.
 * Teacher rows index the flattened (B·T) positions, as in makeBatch.
 */
export function packExamples(examples: readonly LmExample[], maxSeqLen: number, padId: number): LmBatch {
  if (examples.length === 0) throw new torch.ConfigError('packExamples: no examples');
  const seqs = examples.map((e) => [...e.prompt, ...e.completion]);
  const rowsOf = packRows(seqs.map((s) => s.length), maxSeqLen);
  if (rowsOf.length === 0) throw new torch.ConfigError('packExamples: every example needs at least two tokens');
  const B = rowsOf.length;
  const T = Math.max(...rowsOf.map((r) => r.reduce((a, i) => a + seqs[i].length - 1, 0)));
  const input = new BigInt64Array(B * T).fill(BigInt(padId));
  const target = new BigInt64Array(B * T).fill(BigInt(IGNORE));
  const positions = new BigInt64Array(B * T); // padding at position 0
  const segments = new BigInt64Array(B * T).fill(BigInt(PAD_SEGMENT));
  let tokens = 0;
  const tRows: number[] = [];
  const tIds: number[][] = [];
  const tLps: number[][] = [];
  rowsOf.forEach((row, b) => {
    let at = b * T; // flat index of the next free position of row b
    row.forEach((i, doc) => {
      const e = examples[i];
      const s = seqs[i];
      for (let t = 0; t < s.length - 1; t++, at++) {
        input[at] = BigInt(s[t]);
        positions[at] = BigInt(t);
        segments[at] = BigInt(doc);
        const c = t + 1 - e.prompt.length; // index of the predicted token within the completion
        if (c < 0) continue;
        target[at] = BigInt(s[t + 1]);
        tokens++;
        const d = e.teacher?.[c];
        if (d) {
          tRows.push(at);
          tIds.push(d.ids);
          tLps.push(d.logprobs);
        }
      }
    });
  });
  const shape = [B, T];
  return {
    input: torch.tensor(input, { shape }),
    target: torch.tensor(target, { shape }),
    tokens,
    teacher: teacherTensors('packExamples', tRows, tIds, tLps),
    positions: torch.tensor(positions, { shape }),
    segments: torch.tensor(segments, { shape }),
  };
}

// On-policy distillation from a teacher whose tokenizer differs from the student's (the
// cross-tokenizer path of gkd.ts). Per batch row:
//
// 1. The student's completion, cut at its first special token (end-of-sequence: no text) and to
//    the longest prefix whose bytes are valid UTF-8 (a byte-level sample may stop inside a
//    character), is decoded to its text from the tokens' own bytes, with each token's byte span.
// 2. The teacher tokenizes that text (encodeWithOffsets: byte spans) after ITS OWN chat prompt
//    for the example, and a TokenScorer grades those tokens: their log-probabilities and top-k.
// 3. kd/cross_tokenizer.ts' crossTokenizerLoss (span KL or ULD) aligns both tokenizations by
//    the text and compares them against the student's logits on its own tokens.
//
// The step's KD term is the mean over the rows that have text. The grades (step 2) are logged
// with the step's samples (gkd_log.ts), so a resumed run neither samples nor grades again.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { encodeWithOffsets } from '../lm/tokenizer.js';
import { crossTokenizerLoss, teacherFromTopk, type VocabMap } from '../kd/index.js';
import type { SyncScorer } from './gkd_scorer.js';

export type XtokMethod = 'uld' | 'span_kl';
export const XTOK_METHODS: readonly XtokMethod[] = ['span_kl', 'uld'];

export interface CrossTokenizerGkd {
  student: Tokenizer;
  teacher: Tokenizer;
  /** The teacher's prompt ids of each training example (its own chat template), index for index with GkdOptions.examples. */
  teacherPrompts: readonly (readonly number[])[];
  /** Grades teacher token ids (a local model's scoreWithModel, or a server's scoreTokens through blockingScorer). */
  scorer: SyncScorer;
  /** Alternatives per teacher position. */
  k: number;
  method: XtokMethod;
  /** Teacher → student ids by bytes (kd.vocabMap(teacher, student)); span_kl needs it. */
  vocab?: VocabMap;
}

/** The teacher's grades of one row's completion text, as logged; null: the completion has no text. */
export type XtokGrade = {
  /** Student tokens of the completion the text covers (a prefix). */
  n: number;
  /** The teacher's tokens of the text, their byte spans, their log-probabilities and top-k. */
  ids: number[];
  offsets: [number, number][];
  tokenLogprobs: number[];
  top: { ids: number[]; logprobs: number[] }[];
} | null;

/**
 * The text the first `n` tokens of a completion spell: up to the first token without bytes (a
 * special token), then cut back to valid UTF-8. Offsets are the tokens' byte spans.
 */
export function completionText(tok: Tokenizer, completion: readonly number[]): { n: number; text: string; offsets: [number, number][] } {
  const bytes: number[] = [], offsets: [number, number][] = [];
  for (const id of completion) {
    const b = tok.tokenBytes(id);
    if (b === null) break;
    offsets.push([bytes.length, bytes.length + b.length]);
    bytes.push(...b);
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  for (let n = offsets.length; n > 0; n--) {
    try {
      const text = utf8.decode(Uint8Array.from(bytes.slice(0, offsets[n - 1][1])));
      return { n, text, offsets: offsets.slice(0, n) };
    } catch {
      // this prefix ends inside a character: one token fewer
    }
  }
  return { n: 0, text: '', offsets: [] };
}

/** Grades the rows (their example index and the completion tokens the batch holds) with the teacher. */
export function xtokGrades(x: CrossTokenizerGkd, rows: readonly { example: number; completion: readonly number[] }[]): XtokGrade[] {
  const texts = rows.map((r) => completionText(x.student, r.completion));
  const enc = texts.map((t) => (t.n > 0 ? encodeWithOffsets(x.teacher, t.text) : null));
  const asked = rows.flatMap((r, i) => (enc[i] && enc[i]!.ids.length > 0 ? [i] : []));
  const scores = asked.length ? x.scorer.scoreTokens(asked.map((i) => [...x.teacherPrompts[rows[i].example], ...enc[i]!.ids]), x.k) : [];
  if (scores.length !== asked.length) throw new torch.DistillError('ERR_TEACHER', `scoring teacher: asked for ${asked.length} sequences, got ${scores.length}`);
  const out: XtokGrade[] = rows.map(() => null);
  asked.forEach((i, j) => {
    const P = x.teacherPrompts[rows[i].example].length, e = enc[i]!, s = scores[j];
    // Entry P − 1 + t of a score is about teacher token t of the text (entry i: position i + 1).
    const top = s.top.slice(P - 1, P - 1 + e.ids.length);
    if (top.length !== e.ids.length || top.some((t) => !t || t.ids.length < x.k))
      throw new torch.DistillError('ERR_TEACHER', `scoring teacher: the completion of row ${i} came back with fewer than ${e.ids.length} graded positions of ${x.k} alternatives`);
    out[i] = { n: texts[i].n, ids: e.ids, offsets: e.offsets, tokenLogprobs: s.logprobs.slice(P - 1, P - 1 + e.ids.length), top: top.map((t) => ({ ids: t.ids.slice(0, x.k), logprobs: t.logprobs.slice(0, x.k) })) };
  });
  return out;
}

/**
 * The step's cross-tokenizer KD term: `logits` (N, V_s) are the student's at the batch's
 * completion positions, `counts[b]` of them for row b in order (row b's first completion token
 * first). Mean of crossTokenizerLoss over the rows with a grade; also the alignment's one-to-one
 * spans and the student tokens aligned (their ratio: the share matched one-to-one).
 */
export function xtokLoss(x: CrossTokenizerGkd, logits: Tensor, rows: readonly { completion: readonly number[] }[], counts: readonly number[], grades: readonly XtokGrade[]): { loss: Tensor; oneToOne: number; tokens: number } {
  const losses: Tensor[] = [];
  let at = 0, oneToOne = 0, tokens = 0;
  rows.forEach((r, b) => {
    const g = grades[b];
    if (g) {
      const { text, offsets } = completionText(x.student, r.completion.slice(0, counts[b]));
      const student = { logits: logits.narrow(0, at, g.n), ids: r.completion.slice(0, g.n), offsets }; // (n, V_s)
      const { loss, alignment } = crossTokenizerLoss(text, student, teacherFromTopk(g.top, g.tokenLogprobs, g.offsets), { method: x.method, vocab: x.vocab });
      losses.push(loss);
      oneToOne += alignment.oneToOne;
      tokens += g.n;
    }
    at += counts[b];
  });
  const loss = losses.length ? losses.reduce((s, l) => s.add(l)).div(losses.length) : logits.sum().mul(0);
  return { loss, oneToOne, tokens };
}

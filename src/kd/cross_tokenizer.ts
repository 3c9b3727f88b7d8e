// Cross-tokenizer KD: a teacher whose tokenizer differs from the student's (DeepSeek-V3
// teaching a Qwen3 student). Positions are matched through the text, not the ids:
//
// 1. Alignment (alignTokens). Each token has its [start, end) span in the text in UTF-8
//    BYTE offsets (lm/token_offsets.ts). Both tokenizations are cut at their common
//    boundaries — the byte offsets where a token ends on both sides — into spans of ≥ 1
//    teacher and ≥ 1 student token covering the same bytes (TRL GOLD's
//    _align_by_byte_offsets walk). A span with one token on each side is a position
//    matched one-to-one; both tokens then spell the same bytes.
//
// 2. Losses per span, both sides conditioned on the same text (the span starts at a common
//    boundary, so each side's first-token distribution sees the same prefix):
//    - ULD (Boizard et al. 2024) with GOLD's merge: each side's merged vector is its
//      first token's distribution times the product of the conditionals of the span's
//      other tokens, m(y) = p(y | start) · Π_{j>1} p(t_j | …) (unnormalised, as in GOLD);
//      the loss is the L1 distance between the k largest entries of each, sorted and
//      zero-padded to equal length, summed over the k and averaged over spans (uldLoss).
//    - span KL: each side's distribution over disjoint events at the span start,
//        E      the next bytes are the span's text: log P(E) = Σ log p(t_j | …) along the
//               span (the span's tokenization only: a lower bound of the text's probability);
//        y      the next token is the alternative y, for each of the teacher's top-k ids
//               that the student's vocabulary has with the same bytes and that is
//               INCOMPATIBLE with the span (its bytes neither a prefix of the span's text
//               nor starting with it, so that y and E are disjoint): P(y) = p(y | start);
//        rest   everything else: 1 − P(E) − Σ_y P(y)  (≥ 0 since the events are disjoint);
//      and the loss is KL(teacher ‖ student) over these k + 2 buckets, averaged over spans
//      (spanKl). GOLD instead scales every alternative by the span's product (their own
//      "known bias for counterfactual tokens") and compares unnormalised vectors; for a KL
//      both sides must be distributions over the same events, hence the buckets. For a
//      one-to-one span with the same token on both sides, E is that token and the loss is
//      the top-k bucketed KL of the next-token distributions.
//
// crossTokenizerLoss is the training hook: student logits for the text's student tokens,
// the teacher's top-k per teacher token, both with their offsets, give either loss.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TokenSpans } from '../lm/token_offsets.js';
import type { Tokenizer } from '../lm/tokenizer.js';

/** Token index ranges [from, to) on side a and side b, covering the text bytes [start, end). */
export interface AlignedSpan {
  a: readonly [number, number];
  b: readonly [number, number];
  start: number;
  end: number;
}

export interface Alignment {
  /** In text order; every span covers the same bytes on both sides. */
  spans: AlignedSpan[];
  /** The text's length in UTF-8 bytes. */
  textBytes: number;
  /** Share of the text's bytes inside a span (1 for an empty text). */
  coverage: number;
  /** Spans with exactly one token on each side. */
  oneToOne: number;
  /** Share of a's / b's tokens that are in a one-to-one span. */
  oneToOneA: number;
  oneToOneB: number;
}

function checkSpans(side: string, spans: TokenSpans, n: number): void {
  let prev = 0;
  spans.forEach(([s, e], i) => {
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < prev || e < s || e > n)
      throw new torch.ConfigError(`alignTokens: ${side} token ${i} has span [${s}, ${e}); spans must be in order, not overlap, and lie in the text's ${n} bytes`);
    prev = e;
  });
}

/**
 * Cuts two tokenizations of `text` (their UTF-8 byte spans) at their common boundaries.
 * Zero-width tokens join the span they sit in; tokens past the last common boundary are
 * left out (coverage < 1 then).
 */
export function alignTokens(text: string, a: TokenSpans, b: TokenSpans): Alignment {
  const n = Buffer.byteLength(text, 'utf8');
  checkSpans('a', a, n);
  checkSpans('b', b, n);
  const spans: AlignedSpan[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const i0 = i, j0 = j;
    let ea = a[i++][1], eb = b[j++][1];
    // Advance the side whose token ends first until both end on the same byte.
    while (ea !== eb) {
      if (ea < eb ? i >= a.length : j >= b.length) break;
      if (ea < eb) ea = a[i++][1];
      else eb = b[j++][1];
    }
    if (ea !== eb) break;
    if (a[i0][0] === b[j0][0]) spans.push({ a: [i0, i], b: [j0, j], start: a[i0][0], end: ea });
  }
  // Zero-width tokens at the very end (on one side only) belong to the last span.
  const last = spans[spans.length - 1];
  const zeroTail = (s: TokenSpans, k: number) => s.slice(k).every(([x, y]) => x === y && x === last?.end);
  if (last && (i < a.length || j < b.length) && zeroTail(a, i) && zeroTail(b, j)) {
    spans[spans.length - 1] = { ...last, a: [last.a[0], a.length], b: [last.b[0], b.length] };
  }
  const covered = spans.reduce((s, x) => s + x.end - x.start, 0);
  const oneToOne = spans.filter((s) => s.a[1] - s.a[0] === 1 && s.b[1] - s.b[0] === 1).length;
  return {
    spans, textBytes: n, coverage: n === 0 ? 1 : covered / n, oneToOne,
    oneToOneA: a.length ? oneToOne / a.length : 1, oneToOneB: b.length ? oneToOne / b.length : 1,
  };
}

/** Teacher ids → student ids with the same bytes (−1: none, or a special token), and the teacher tokens' bytes. */
export interface VocabMap {
  readonly toStudent: Int32Array;
  readonly teacherBytes: readonly (Uint8Array | null)[];
  /** Teacher ids that have a student id. */
  readonly shared: number;
  /** Every teacher token with bytes has the same id in the student (same vocabulary: no cross-tokenizer loss needed). */
  readonly identity: boolean;
}

/** The map between two vocabularies by token bytes; build it once per tokenizer pair. */
export function vocabMap(teacher: Pick<Tokenizer, 'vocabSize' | 'tokenBytes'>, student: Pick<Tokenizer, 'vocabSize' | 'tokenBytes'>): VocabMap {
  const byBytes = new Map<string, number>();
  for (let id = 0; id < student.vocabSize; id++) {
    const b = student.tokenBytes(id);
    if (b === null) continue;
    const key = Buffer.from(b).toString('latin1');
    if (!byBytes.has(key)) byBytes.set(key, id);
  }
  const toStudent = new Int32Array(teacher.vocabSize).fill(-1);
  const teacherBytes: (Uint8Array | null)[] = [];
  let shared = 0, identity = teacher.vocabSize === student.vocabSize;
  for (let id = 0; id < teacher.vocabSize; id++) {
    const b = teacher.tokenBytes(id);
    teacherBytes.push(b === null ? null : Uint8Array.from(b));
    const s = b === null ? undefined : byBytes.get(Buffer.from(b).toString('latin1'));
    if (s !== undefined) {
      toStudent[id] = s;
      shared++;
    }
    if (b !== null && s !== id) identity = false;
  }
  return { toStudent, teacherBytes, shared, identity };
}

/**
 * ULD: rows of log-probabilities (S, K) on each side (full rows, or any subset holding the
 * k largest, such as a top-k), each row's probabilities scaled by exp(logScale) (GOLD's
 * merge product; default 1). With P, Q the k largest scaled probabilities of the student
 * and the teacher, sorted in descending order, the shorter zero-padded:
 *   L = (1/S) Σ_s Σ_r |P_{s,r} − Q_{s,r}|
 * k defaults to the teacher's width K_t.
 */
export function uldLoss(studentLogprobs: Tensor, teacherLogprobs: Tensor, o: { k?: number; studentLogScale?: Tensor; teacherLogScale?: Tensor } = {}): Tensor {
  const [S, Ks] = studentLogprobs.shape, Kt = teacherLogprobs.shape[1];
  if (studentLogprobs.ndim !== 2 || teacherLogprobs.ndim !== 2 || teacherLogprobs.shape[0] !== S)
    throw new torch.ShapeError('ERR_SHAPE', 'uldLoss', 'expected student (S, K_s) and teacher (S, K_t) log-probabilities', `student=[${studentLogprobs.shape}], teacher=[${teacherLogprobs.shape}]`);
  const k = o.k ?? Kt;
  if (!Number.isInteger(k) || k < 1) throw new torch.ConfigError(`uldLoss: k must be an integer ≥ 1, got ${String(k)}`);
  const sorted = (lp: Tensor, scale: Tensor | undefined, K: number) => {
    const top = torch.topk(lp, Math.min(k, K), -1).values; // (S, ≤k), descending
    const p = (scale ? top.add(scale.unsqueeze(1)) : top).exp();
    return p.shape[1] < k ? torch.cat([p, torch.zeros([S, k - p.shape[1]], p.dtype)], 1) : p; // (S, k)
  };
  const P = sorted(studentLogprobs, o.studentLogScale, Ks);
  const Q = torch.noGrad(() => sorted(teacherLogprobs, o.teacherLogScale, Kt).toDtype(P.dtype));
  return P.sub(Q).abs().sum(1).mean();
}

/**
 * Span KL over the buckets [E, y_1 … y_k, rest] of each span (see the top of this file):
 *   spanLogprob (S): log P(E);  altLogprobs (S, k): log p(y_r | span start);
 *   mask (S, k) bool: which alternatives count (mapped, incompatible with the span, distinct);
 *   P_rest = 1 − P(E) − Σ_r mask·P(y_r), clamped at 0 (teacher; student at 1e-30); 1 − P(E) as −expm1(log P(E)).
 *   L = (1/S) Σ_s [ P_T(E) log(P_T(E)/P_S(E)) + Σ_r mask·P_T(y_r) log(P_T(y_r)/P_S(y_r))
 *                   + P_T(rest) log(P_T(rest)/P_S(rest)) ]
 * In float64; the result has the student's dtype. Gradients flow into the student's tensors.
 */
export function spanKl(student: { spanLogprob: Tensor; altLogprobs: Tensor }, teacher: { spanLogprob: Tensor; altLogprobs: Tensor }, mask: Tensor): Tensor {
  const S = student.spanLogprob.shape[0];
  const shapes = [student.spanLogprob, student.altLogprobs, teacher.spanLogprob, teacher.altLogprobs, mask].map((t) => `[${t.shape}]`).join(', ');
  const k = mask.shape[1];
  const ok = (t: Tensor, s: number[]) => t.ndim === s.length && t.shape.every((d, i) => d === s[i]);
  if (!ok(student.spanLogprob, [S]) || !ok(teacher.spanLogprob, [S]) || !ok(student.altLogprobs, [S, k]) || !ok(teacher.altLogprobs, [S, k]) || !ok(mask, [S, k]))
    throw new torch.ShapeError('ERR_SHAPE', 'spanKl', 'expected spanLogprob (S) and altLogprobs (S, k) on both sides and mask (S, k)', shapes);
  const f64 = (t: Tensor) => t.toDtype('float64');
  const m = mask.toDtype('bool');
  // Teacher buckets (data: no gradient). Masked-out alternatives get probability 0.
  const T = torch.noGrad(() => {
    const lE = f64(teacher.spanLogprob); // (S)
    const lY = torch.where(m, f64(teacher.altLogprobs), 0); // (S, k)
    const pE = lE.exp(), pY = torch.where(m, lY.exp(), 0);
    const rest = notE(lE).sub(pY.sum(1)).clamp(0); // (S)
    // Σ p log p over the buckets, with 0 log 0 = 0.
    const negH = pE.mul(lE).add(pY.mul(lY).sum(1)).add(torch.where(rest.gt(0), rest.mul(rest.clamp(1e-300).log()), 0));
    return { pE, pY, rest, negH };
  });
  const lE = f64(student.spanLogprob);
  const lY = torch.where(m, f64(student.altLogprobs), 0);
  const restS = notE(lE).sub(torch.where(m, lY.exp(), 0).sum(1)).clamp(1e-30);
  // KL = Σ p_T log p_T − Σ p_T log p_S
  const cross = T.pE.mul(lE).add(T.pY.mul(lY).sum(1)).add(T.rest.mul(restS.log())); // (S)
  return T.negH.sub(cross).mean().toDtype(student.altLogprobs.dtype);
}

/**
 * 1 − exp(x) for x ≤ 0 without cancellation when exp(x) ≈ 1: −expm1(x) = −2t/(1 − t), t = tanh(x/2)
 * (tanh is accurate near 0; there is no expm1 op).
 */
function notE(x: Tensor): Tensor {
  const t = x.div(2).tanh();
  return t.mul(-2).div(t.neg().add(1));
}

/** Whether one byte string is a prefix of the other (the token could start the span's text, or the span could start the token). */
function compatible(token: Uint8Array, span: Uint8Array): boolean {
  const n = Math.min(token.length, span.length);
  for (let i = 0; i < n; i++) if (token[i] !== span[i]) return false;
  return true;
}

export interface CrossTokenizerStudent {
  /** (N_s, V_s): row j is the student's logits for predicting token j (already shifted: from the position before it). */
  logits: Tensor;
  /** (N_s) the student's tokens of the text. */
  ids: readonly number[];
  /** (N_s) their byte spans in the text (encodeWithOffsets). */
  offsets: TokenSpans;
}

export interface CrossTokenizerTeacher {
  /** (N_t, k) int64 / float: the teacher's top-k ids and log-probabilities for predicting teacher token i. */
  ids: Tensor;
  logprobs: Tensor;
  /** (N_t): log p_T(token i | text before it), the teacher's own tokens (TokenScore.logprobs). */
  tokenLogprobs: Tensor | readonly number[];
  /** (N_t) the teacher tokens' byte spans in the same text. */
  offsets: TokenSpans;
}

/**
 * A CrossTokenizerTeacher from per-token top-k lists as a scorer returns them (TokenScore's
 * `top` and `logprobs` for the text's teacher tokens, sliced past the prompt). Rows with
 * fewer than k entries are padded with id −1 and log-probability −∞ (no mass, no student id).
 */
export function teacherFromTopk(top: readonly { ids: readonly number[]; logprobs: readonly number[] }[], tokenLogprobs: readonly number[], offsets: TokenSpans): CrossTokenizerTeacher {
  if (top.length !== offsets.length || tokenLogprobs.length !== offsets.length)
    throw new torch.ConfigError(`teacherFromTopk: ${top.length} top-k rows and ${tokenLogprobs.length} token log-probabilities for ${offsets.length} teacher tokens`);
  const k = Math.max(1, ...top.map((r) => r.ids.length));
  const ids = new BigInt64Array(top.length * k).fill(-1n), lp = new Float32Array(top.length * k).fill(-Infinity);
  top.forEach((r, i) => {
    if (r.logprobs.length !== r.ids.length) throw new torch.ConfigError(`teacherFromTopk: row ${i} has ${r.ids.length} ids and ${r.logprobs.length} log-probabilities`);
    r.ids.forEach((id, j) => { ids[i * k + j] = BigInt(id); lp[i * k + j] = r.logprobs[j]; });
  });
  return { ids: torch.tensor(ids, { shape: [top.length, k] }), logprobs: torch.tensor(lp, { shape: [top.length, k] }), tokenLogprobs: [...tokenLogprobs], offsets };
}

export interface CrossTokenizerOptions {
  method: 'uld' | 'span_kl';
  /** Teacher → student ids by bytes (vocabMap); needed by span_kl. */
  vocab?: VocabMap;
  /** ULD's k (default: the teacher's top-k width). */
  k?: number;
}

/**
 * The cross-tokenizer loss of one text: align the two tokenizations, then ULD or span KL
 * over the spans (mean over spans). The alignment must cover the whole text. Besides the
 * logits, the student side holds about three (N_s, V_s) temporaries until backward
 * (shifted logits, their exp, the exp without the own tokens); the values are float64 from
 * the per-token log-probabilities on, and the loss comes back in the logits' dtype.
 */
export function crossTokenizerLoss(text: string, student: CrossTokenizerStudent, teacher: CrossTokenizerTeacher, o: CrossTokenizerOptions): { loss: Tensor; alignment: Alignment } {
  const op = 'crossTokenizerLoss';
  const { logits } = student;
  const [Ns, Vs] = logits.shape;
  const Nt = teacher.offsets.length;
  const K = teacher.ids.shape[1];
  if (logits.ndim !== 2 || Ns !== student.ids.length || Ns !== student.offsets.length)
    throw new torch.ShapeError('ERR_SHAPE', op, `student logits must be (N_s, V) with N_s = ${student.ids.length} ids and ${student.offsets.length} offsets`, `logits=[${logits.shape}]`);
  const tokLpT = teacher.tokenLogprobs instanceof torch.Tensor ? Array.from(teacher.tokenLogprobs.toDtype('float64').dataSync() as Float64Array) : [...teacher.tokenLogprobs];
  if (teacher.ids.ndim !== 2 || teacher.ids.shape[0] !== Nt || teacher.logprobs.shape.join() !== teacher.ids.shape.join() || tokLpT.length !== Nt)
    throw new torch.ShapeError('ERR_SHAPE', op, `teacher ids and logprobs must be (N_t, k) and tokenLogprobs (N_t) with N_t = ${Nt} offsets`, `ids=[${teacher.ids.shape}], logprobs=[${teacher.logprobs.shape}], tokenLogprobs=${tokLpT.length}`);
  for (const id of student.ids) if (!Number.isInteger(id) || id < 0 || id >= Vs) throw new torch.ConfigError(`${op}: student id ${id} is outside the logits' ${Vs} columns`);
  if (o.method === 'span_kl' && !o.vocab) throw new torch.ConfigError(`${op}: span_kl needs the teacher → student vocabulary map (vocabMap)`);
  if (o.method !== 'uld' && o.method !== 'span_kl') throw new torch.ConfigError(`${op}: method must be 'uld' or 'span_kl', got ${String(o.method)}`);

  const alignment = alignTokens(text, teacher.offsets, student.offsets); // a = teacher, b = student
  if (alignment.coverage < 1) throw new torch.ConfigError(`${op}: the two tokenizations share boundaries over only ${(alignment.coverage * 100).toFixed(2)}% of the text; both must tokenize the same text`);
  const spans = alignment.spans;
  const S = spans.length;
  if (S === 0) return { loss: logits.sum().mul(0), alignment };
  const idx = (xs: number[]) => torch.tensor(xs, { dtype: 'int64' });

  // Student log-probabilities, accurate near 0 (a confident student's own tokens): with x the logits and m the row
  // max, log p(t) = (x_t − m) − log(e_t + Σ_{v≠t} e_v), e_v = exp(x_v − m), where e_t is taken in float64 and the
  // others are summed apart from it, so 1 − p(t) keeps its relative accuracy (a float32 logsumexp would leave it
  // ~1e-6 in absolute terms, which the span KL's rest bucket, 1 − P(E) − …, divides by).
  const own = idx([...student.ids]).unsqueeze(1); // (N_s, 1)
  const shifted = logits.sub(logits.amax(-1, true).detach()); // (N_s, V_s)
  const xOwn = shifted.gather(1, own).squeeze(1).toDtype('float64'); // (N_s)
  const others = shifted.exp().scatterValue(1, own, 0).sum(-1).toDtype('float64'); // (N_s) Σ_{v≠t} e_v
  const lse = xOwn.exp().add(others).log(); // (N_s) float64 log Σ_v e_v
  const tokLp = xOwn.sub(lse); // (N_s) log p_S(t_j | …)
  const cum = torch.cat([torch.zeros([1], 'float64'), tokLp.cumsum(0)]); // (N_s + 1)
  const spanLpS = cum.indexSelect(0, idx(spans.map((s) => s.b[1]))).sub(cum.indexSelect(0, idx(spans.map((s) => s.b[0])))); // (S)
  const first = spans.map((s) => s.b[0]);
  const firstS = idx(first);
  const lseS = lse.indexSelect(0, firstS); // (S) float64

  // Teacher: its spans' log-probabilities and its first tokens' top-k, as plain numbers.
  const tIds = teacher.ids.dataSync() as BigInt64Array;
  const tLp = teacher.logprobs.toDtype('float64').dataSync() as Float64Array;
  const spanLpT = spans.map((s) => tokLpT.slice(s.a[0], s.a[1]).reduce((x, y) => x + y, 0));
  const firstLpT = spans.flatMap((s) => Array.from(tLp.subarray(s.a[0] * K, s.a[0] * K + K)));

  if (o.method === 'uld') {
    // GOLD's merge scale: log Π_{j>1} p(t_j | …) over each span's tokens after the first.
    const mergeS = spanLpS.sub(tokLp.indexSelect(0, firstS)); // (S)
    const mergeT = spans.map((s, i) => spanLpT[i] - tokLpT[s.a[0]]);
    const rowsS = S === Ns ? shifted : shifted.indexSelect(0, firstS); // (S, V_s) the first tokens' shifted logits
    const lpS = torch.topk(rowsS, Math.min(o.k ?? K, Vs), -1).values.toDtype('float64').sub(lseS.unsqueeze(1)); // (S, k)
    const loss = uldLoss(lpS, torch.tensor(Float64Array.from(firstLpT), { shape: [S, K] }), {
      k: o.k, studentLogScale: mergeS, teacherLogScale: torch.tensor(Float64Array.from(mergeT)),
    });
    return { loss: loss.toDtype(logits.dtype), alignment };
  }

  // span KL: the teacher's alternatives that the student has, are incompatible with the span, and are distinct.
  const vocab = o.vocab!;
  const textBytes = Buffer.from(text, 'utf8');
  const gather: number[] = [], mask: boolean[] = [];
  spans.forEach((s) => {
    const span = textBytes.subarray(s.start, s.end);
    const seen = new Set<number>();
    for (let r = 0; r < K; r++) {
      const y = Number(tIds[s.a[0] * K + r]);
      const sid = y >= 0 && y < vocab.toStudent.length ? vocab.toStudent[y] : -1;
      const keep = sid >= 0 && sid < Vs && !seen.has(sid) && !compatible(vocab.teacherBytes[y]!, span);
      if (keep) seen.add(sid);
      gather.push(keep ? sid : 0);
      mask.push(keep);
    }
  });
  // log p_S(y_r | span start), gathered from the flat logits at row·V + column (no copy of the first rows).
  const flat = gather.map((col, i) => first[Math.floor(i / K)] * Vs + col);
  const altS = shifted.reshape([-1]).indexSelect(0, idx(flat)).reshape([S, K]).toDtype('float64').sub(lseS.unsqueeze(1)); // (S, k)
  const loss = spanKl(
    { spanLogprob: spanLpS, altLogprobs: altS },
    { spanLogprob: torch.tensor(Float64Array.from(spanLpT)), altLogprobs: torch.tensor(Float64Array.from(firstLpT), { shape: [S, K] }) },
    torch.tensor(mask.map(Number), { dtype: 'int64' }).reshape([S, K]).toDtype('bool'),
  );
  return { loss: loss.toDtype(logits.dtype), alignment };
}

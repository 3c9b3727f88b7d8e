// The bit-level coding of a teacher's per-token top-k (src/io/topk_store.ts holds the files).
//
// One token's top-k, k ids with log-probabilities lp, is stored as
//   lpMax  float32   the largest log-probability (the top-1)
//   tail   float32   1 − Σ_j exp(lp_j), the mass outside the top-k (computed in float64 by the writer)
//   n      ⌈log2(k+1)⌉ bits   how many alternatives this token has (≤ k)
//   b      5 bits    the Rice parameter of this token's id gaps
//   ids    sorted ascending, each gap g = id − previous − 1 Rice-coded: ⌊g/2^b⌋ in unary, then the
//          low b bits. b is the one minimising the token's bits (for 64 ids spread over a 152k
//          vocabulary, gaps ≈ 2,400: about 13–14 bits per id instead of 18)
//   d      `bits` bits each, in the same (id) order: round((lpMax − lp_j) / step), clamped to
//          2^bits − 1. The distribution is rebuilt as lp̂_j = lpMax − step·d_j.
// Why relative to the top-1 on a uniform grid: a uniform error ε in log-probability costs
// KL ≈ ½·Var_p(ε) ≈ step²/24 nats (rounding error uniform on ±step/2), the same at every
// probability; the default step 1/16 gives ≈ 1.6e-4 nats. The grid spans (2^bits − 1)·step
// (8 bits: 15.9 nats below the top-1); alternatives further down carry < e^-15.9 ≈ 1.2e-7 of
// the top-1's mass each and are clamped to the grid's end.
// Decoded tokens come back most likely first, as teachers return them.

export interface TopkQuant {
  /** Bits per quantized log-probability (1–16). */
  bits: number;
  /** Grid step in nats. */
  step: number;
}

export const DEFAULT_QUANT: TopkQuant = { bits: 8, step: 1 / 16 };

/** One position: alternatives most likely first (what a teacher returns), and the mass outside them. */
export interface TopkEntry {
  ids: number[];
  logprobs: number[];
  /** 1 − Σ exp(logprobs): the probability of every token not listed. */
  tail: number;
}

export const bitsFor = (n: number): number => Math.max(1, Math.ceil(Math.log2(n + 1)));

class BitWriter {
  bytes: number[] = [];
  #acc = 0;
  #n = 0;
  write(v: number, bits: number): void {
    for (let left = bits; left > 0; ) {
      const take = Math.min(left, 24 - this.#n);
      const part = Math.floor(v / 2 ** (left - take)) & ((1 << take) - 1);
      this.#acc = (this.#acc << take) | part;
      this.#n += take;
      left -= take;
      while (this.#n >= 8) {
        this.#n -= 8;
        this.bytes.push((this.#acc >>> this.#n) & 0xff);
      }
      this.#acc &= (1 << this.#n) - 1;
    }
  }
  /** q ones then a zero. */
  unary(q: number): void {
    for (; q >= 16; q -= 16) this.write(0xffff, 16);
    this.write(((1 << q) - 1) << 1, q + 1);
  }
  finish(): Uint8Array {
    if (this.#n > 0) this.write(0, 8 - this.#n);
    return Uint8Array.from(this.bytes);
  }
}

class BitReader {
  #pos = 0; // bit position
  constructor(readonly buf: Uint8Array) {}
  bit(): number {
    const p = this.#pos++;
    if (p >> 3 >= this.buf.length) throw new RangeError('top-k record ends inside its bit stream');
    return (this.buf[p >> 3] >> (7 - (p & 7))) & 1;
  }
  read(bits: number): number {
    let v = 0;
    while (bits > 0) {
      const at = this.#pos >> 3;
      if (at >= this.buf.length) throw new RangeError('top-k record ends inside its bit stream');
      const off = this.#pos & 7;
      const take = Math.min(bits, 8 - off);
      v = v * (1 << take) + ((this.buf[at] >> (8 - off - take)) & ((1 << take) - 1));
      this.#pos += take;
      bits -= take;
    }
    return v;
  }
  unary(): number {
    let q = 0;
    while (this.bit()) q++;
    return q;
  }
}

/** Bits to Rice-code `gaps` with parameter b. */
function riceCost(gaps: readonly number[], b: number): number {
  let n = gaps.length * (b + 1);
  for (const g of gaps) n += Math.floor(g / 2 ** b);
  return n;
}

/** Floats (lpMax, tail) per token, then the bit stream: see the file comment. */
export function encodeTopk(tokens: readonly { ids: readonly number[]; logprobs: readonly number[] }[], k: number, q: TopkQuant): { floats: Float32Array; bits: Uint8Array } {
  const floats = new Float32Array(tokens.length * 2);
  const w = new BitWriter();
  const nBits = bitsFor(k);
  const dMax = 2 ** q.bits - 1;
  tokens.forEach((t, i) => {
    const n = t.ids.length;
    if (n > k || t.logprobs.length !== n) throw new RangeError(`token ${i}: ${n} ids and ${t.logprobs.length} logprobs for k = ${k}`);
    let lpMax = -Infinity;
    let mass = 0;
    for (const lp of t.logprobs) {
      lpMax = Math.max(lpMax, lp);
      mass += Math.exp(lp);
    }
    floats[2 * i] = n ? lpMax : 0;
    floats[2 * i + 1] = Math.max(0, 1 - mass);
    w.write(n, nBits);
    if (!n) return;
    // Sort (id, position) pairs as one number each: a native numeric sort, no comparator calls.
    const keys = new Float64Array(n);
    for (let j = 0; j < n; j++) keys[j] = t.ids[j] * 65536 + j;
    keys.sort();
    const order = Array.from(keys, (x) => x % 65536);
    const gaps = order.map((j, r) => t.ids[j] - (r ? t.ids[order[r - 1]] : -1) - 1);
    if (gaps.some((g) => !(g >= 0 && Number.isInteger(g)))) throw new RangeError(`token ${i}: ids must be distinct integers ≥ 0`);
    // The best b lies near log2 of the mean gap (geometric gaps); try the neighbours.
    const mean = gaps.reduce((a, g) => a + g, 0) / n;
    const guess = mean >= 1 ? Math.floor(Math.log2(mean)) : 0;
    let b = guess;
    for (const c of [guess - 2, guess - 1, guess + 1]) if (c >= 0 && c < 32 && riceCost(gaps, c) < riceCost(gaps, b)) b = c;
    w.write(b, 5);
    for (const g of gaps) {
      w.unary(Math.floor(g / 2 ** b));
      w.write(g % 2 ** b, b);
    }
    const top = floats[2 * i]; // the float32 that is stored: the rebuilt values start from it
    for (const j of order) w.write(Math.min(dMax, Math.max(0, Math.round((top - t.logprobs[j]) / q.step))), q.bits);
  });
  return { floats, bits: w.finish() };
}

export function decodeTopk(floats: Float32Array, bits: Uint8Array, nTokens: number, k: number, q: TopkQuant): TopkEntry[] {
  const r = new BitReader(bits);
  const nBits = bitsFor(k);
  const out: TopkEntry[] = new Array(nTokens);
  for (let i = 0; i < nTokens; i++) {
    const n = r.read(nBits);
    const tail = floats[2 * i + 1];
    if (!n) {
      out[i] = { ids: [], logprobs: [], tail };
      continue;
    }
    const b = r.read(5);
    const ids = new Array<number>(n);
    let prev = -1;
    for (let j = 0; j < n; j++) prev = ids[j] = prev + 1 + r.unary() * 2 ** b + r.read(b);
    const top = floats[2 * i];
    const d = new Uint32Array(n);
    for (let j = 0; j < n; j++) d[j] = r.read(q.bits);
    // Most likely first = smallest d first; ties stay in id order. (d, id) packed into one number for a native sort.
    const keys = new Float64Array(n);
    for (let j = 0; j < n; j++) keys[j] = d[j] * 2 ** 32 + ids[j];
    keys.sort();
    const outIds = new Array<number>(n);
    const lps = new Array<number>(n);
    for (let j = 0; j < n; j++) {
      outIds[j] = keys[j] % 2 ** 32;
      lps[j] = top - q.step * Math.floor(keys[j] / 2 ** 32);
    }
    out[i] = { ids: outIds, logprobs: lps, tail };
  }
  return out;
}

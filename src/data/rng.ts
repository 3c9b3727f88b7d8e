// A small seeded PRNG for the data layer, independent of libtorch's global generator.
//
// Why not torch.randperm / torch.rand: those draw from the one process-wide generator, so
// the shuffle order would depend on how many random numbers the model's initialisation,
// dropout, … consumed before it. A resumed run would then see a different order. Here every
// random decision is a pure function of explicit integers (seed, epoch, batch, …): the
// shuffle of epoch e is the same whether the run started at epoch 0 or resumed at e, and
// nothing needs saving in a checkpoint.
//
// Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state,
// passes PractRand), seeded through splitmix32-style hashing of the key parts.
import { ConfigError } from '../torch/index.js';

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Checks that a seed-like value is a safe integer; the data layer's seeds must be exact. */
export function checkSeed(seed: number, what = 'seed'): number {
  if (!Number.isSafeInteger(seed)) throw new ConfigError(`${what} must be an integer, got ${String(seed)}`);
  return seed;
}

/**
 * Hashes integer parts (seed, epoch, batch, salt, …) into one 32-bit seed. Order matters,
 * so (seed=1, epoch=2) and (seed=2, epoch=1) give unrelated streams.
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9 ^ parts.length;
  for (const p of parts) {
    checkSeed(p, 'random key part');
    // Both halves of a 53-bit integer take part, so seeds above 2^32 stay distinct.
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    h = fmix32((h ^ lo) + 0x9e3779b9);
    h = fmix32((h ^ hi) + 0x7f4a7c15);
  }
  return h;
}

/** A seeded stream of random numbers (sfc32). */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spareNormal: number | null = null;

  /** `new Rng(seed, epoch, …)`: the stream for that key. */
  constructor(...key: number[]) {
    const h = hashSeed(...key);
    this.#a = fmix32(h ^ 0x243f6a88);
    this.#b = fmix32(h ^ 0x85a308d3);
    this.#c = fmix32(h ^ 0x13198a2e);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32(); // warm-up, as sfc32's author recommends
  }

  nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /**
   * Standard normal by Marsaglia's polar method (no trig; the second value of each pair is
   * kept for the next call). 32-bit uniforms are plenty here and make it about twice as fast
   * as 53-bit Box–Muller, which matters for per-pixel noise (47M draws per Fashion-MNIST epoch).
   */
  normal(): number {
    if (this.#spareNormal !== null) {
      const s = this.#spareNormal;
      this.#spareNormal = null;
      return s;
    }
    let u: number, v: number, s: number;
    do {
      u = this.nextUint32() * 4.656612873077393e-10 - 1; // 2/2^32: uniform in [-1, 1)
      v = this.nextUint32() * 4.656612873077393e-10 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.#spareNormal = v * f;
    return u * f;
  }

  /**
   * data[i] += std · N(0, 1) for every i: the same polar method as normal(), with the
   * generator state held in locals for the loop (3× faster than calling normal() per value,
   * which per-pixel noise on a whole epoch needs). Consumes the stream like its own calls.
   */
  addNormal(data: Float32Array, std: number): void {
    let a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const n = data.length;
    let i = 0;
    if (this.#spareNormal !== null && n > 0) {
      data[i++] += std * this.#spareNormal;
      this.#spareNormal = null;
    }
    while (i < n) {
      let u: number, v: number, s: number;
      do {
        let t = (((a + b) | 0) + d) | 0;
        d = (d + 1) | 0; a = b ^ (b >>> 9); b = (c + (c << 3)) | 0; c = (c << 21) | (c >>> 11); c = (c + t) | 0;
        u = (t >>> 0) * 4.656612873077393e-10 - 1;
        t = (((a + b) | 0) + d) | 0;
        d = (d + 1) | 0; a = b ^ (b >>> 9); b = (c + (c << 3)) | 0; c = (c << 21) | (c >>> 11); c = (c + t) | 0;
        v = (t >>> 0) * 4.656612873077393e-10 - 1;
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const f = std * Math.sqrt((-2 * Math.log(s)) / s);
      data[i++] += u * f;
      if (i < n) data[i++] += v * f;
      else this.#spareNormal = v * f / std;
    }
    this.#a = a; this.#b = b; this.#c = c; this.#d = d;
  }

  /**
   * Gamma(shape, 1) by Marsaglia & Tsang (2000), "A simple method for generating gamma
   * variables"; for shape < 1 the boost Gamma(a) = Gamma(a+1)·U^(1/a).
   */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new ConfigError(`gamma shape must be > 0, got ${shape}`);
    if (shape < 1) {
      let u = 0;
      while (u === 0) u = this.uniform();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    // Both can underflow to 0 for tiny shapes; then the mass sits at the ends, pick one fairly.
    if (x + y === 0) return this.uniform() < a / (a + b) ? 1 : 0;
    return x / (x + y);
  }

  /** Shuffles `arr` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }
}

/** A random permutation of 0..n-1 for the given key. */
export function permutation(n: number, ...key: number[]): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return new Rng(...key).shuffle(p);
}

// The Q4_K, Q5_K and Q6_K reference quantizers, ported line by line from ggml-quants.c
// (quantize_row_q{4,5}_K_ref with make_qkx2_quants, quantize_row_q6_K_ref with
// make_qx_quants; the llama.cpp bundled with node-llama-cpp 3.21.1): what
// ggml_quantize_chunk and llama-quantize write for these types without an importance
// matrix. Every float32 operation is Math.fround of the double result, in C's order (see
// gguf_quants.ts on why that is exact), so the bytes are ggml's;
// test/io/gguf_quants.test.ts compares them. About 5× slower than ggml's C (2-5 M values/s).
//
// Q4_K (Q5_K), per 256: each of the 8 sub-blocks of 32 gets a scale and a min from a
// weighted least-squares search (make_qkx2_quants: x ≈ scale·q − min, q ∈ 0..15 (0..31),
// weights w = rms(x) + |x|, 21 (16) candidate grids), then the 8 scales and mins are
// themselves quantized to 6 bits against super-block factors d = max scale / 63 and
// dmin = max min / 63 (stored as halves), and the quants are recomputed with the rounded
// scales.
// Q6_K, per 256: 16 sub-blocks of 16, each with a symmetric scale from a search over 19
// grids (make_qx_quants, weights x², q ∈ −32..31), the scales quantized to int8 against
// d = max |scale| / 128 (a half), the quants recomputed with them.
import { f, floatBits, floatBitsToHalf, halves } from './gguf_half.js';

/**
 * nearest_int: ggml adds 1.5·2^23 in float32 and reads the integer from the mantissa bits;
 * for |fval| < 2^22 the float32 sum lies in [2^23, 2^24), where the spacing is 1, so it is
 * fval rounded half to even, and subtracting 1.5·2^23 again gives that integer exactly.
 */
const nearestInt = (fval: number) => f(fval + 12582912) - 12582912;

const clamp = (l: number, hi: number) => (l < 0 ? 0 : l > hi ? hi : l); // MAX(0, MIN(hi, l))

/**
 * make_qkx2_quants(n = 32, nmax, x, weights, L, &the_min, Laux, rmin, rdelta = 0.1, nstep,
 * use_mad = false) on x[xo, xo + 32): fills L[lo, lo + 32), returns [scale, the_min].
 * Q4_K calls it with nmax 15, rmin −1, nstep 20; Q5_K with nmax 31, rmin −0.5, nstep 15.
 */
function makeQkx2(x: Float32Array, xo: number, w: Float32Array, L: Uint8Array, lo: number, Laux: Uint8Array, nmax: number, rmin: number, nstep: number): [number, number] {
  const n = 32, rdelta = f(0.1);
  let min = x[xo], max = x[xo];
  let sumW = w[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = f(sumW + w[i]);
    sumX = f(sumX + f(w[i] * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(f(iscale * f(x[xo + i] - min))), nmax);
    L[lo + i] = l;
    const diff = f(f(f(scale * l) + min) - x[xo + i]);
    bestError = f(bestError + f(w[i] * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(f(iscale * f(x[xo + i] - min))), nmax);
      Laux[i] = l;
      const wl = f(w[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = f(curError + f(w[i] * f(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/**
 * quantize_row_q4_K_ref (five = false: 144 bytes per 256 values) or quantize_row_q5_K_ref
 * (five = true: 176 bytes, the 5th bit of each quant in qh) of x, a multiple of 256 values.
 */
export function quantizeQ45_K(x: Float32Array, y: Uint8Array, five: boolean): void {
  const H = halves().values;
  const nmax = five ? 31 : 15, size = five ? 176 : 144;
  const L = new Uint8Array(256), Laux = new Uint8Array(32), weights = new Float32Array(32);
  const mins = new Float32Array(8), scales = new Float32Array(8);
  for (let i = 0; i < x.length / 256; i++) {
    const xo = i * 256, o = i * size;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
      [scales[j], mins[j]] = five
        ? makeQkx2(x, xo + 32 * j, weights, L, 32 * j, Laux, 31, -0.5, 15)
        : makeQkx2(x, xo + 32 * j, weights, L, 32 * j, Laux, 15, -1, 20);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const sc = y.subarray(o + 4, o + 16);
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
      const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
      if (j < 4) {
        sc[j] = ls;
        sc[j + 4] = lm;
      } else {
        sc[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        sc[j - 4] |= (ls >> 4) << 6;
        sc[j] |= (lm >> 4) << 6;
      }
    }
    const dh = floatBitsToHalf(floatBits(f(maxScale / 63))), mh = floatBitsToHalf(floatBits(f(maxMin / 63)));
    y[o] = dh & 0xff; y[o + 1] = dh >> 8; y[o + 2] = mh & 0xff; y[o + 3] = mh >> 8;
    for (let j = 0; j < 8; j++) {
      // get_scale_min_k4
      const s = j < 4 ? sc[j] & 63 : (sc[j + 4] & 0xf) | ((sc[j - 4] >> 6) << 4);
      const m = j < 4 ? sc[j + 4] & 63 : (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
      const d = f(H[dh] * s);
      if (!d) continue;
      const dm = f(H[mh] * m);
      for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = clamp(nearestInt(f(f(x[xo + 32 * j + ii] + dm) / d)), nmax);
    }
    if (!five) {
      for (let j = 0, q = o + 16; j < 256; j += 64, q += 32)
        for (let l = 0; l < 32; l++) y[q + l] = L[j + l] | (L[j + l + 32] << 4);
      continue;
    }
    // Q5_K: qh[32] at o + 16, the low 4 bits in qs[128] at o + 48; per 64 values, bit k of
    // qh[l] (k = 0, 2, 4, 6) holds the 5th bit of value l of the first 32, bit k + 1 of the second.
    let m1 = 1, m2 = 2;
    for (let n = 0, ql = o + 48; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) { l1 -= 16; y[o + 16 + j] |= m1; }
        if (l2 > 15) { l2 -= 16; y[o + 16 + j] |= m2; }
        y[ql + j] = l1 | (l2 << 4);
      }
  }
}

const GROUP_MAX_EPS = f(1e-15);

/**
 * make_qx_quants(n = 16, nmax = 32, x, L, rmse_type = 1, qw = NULL) on x[xo, xo + 16):
 * fills L[lo, lo + 16) with q + 32, returns the scale.
 */
function makeQx(x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const n = 16, nmax = 32;
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) { amax = ax; max = x[xo + i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const clampQ = (l: number) => (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l); // MAX(-nmax, MIN(nmax-1, l))
  // Σ w·x·l and Σ w·l² for one grid, w = x² (rmse_type 1).
  const sums = (iscale: number): [number, number] => {
    let sumlx = 0, suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clampQ(nearestInt(f(iscale * xi)));
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let iscale = f(-nmax / max);
  for (let i = 0; i < n; i++) L[lo + i] = clampQ(nearestInt(f(iscale * x[xo + i]))) + nmax;
  let [sumlx, suml2] = sums(iscale);
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = clampQ(nearestInt(f(iscale * x[xo + i]))) + nmax;
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** quantize_row_q6_K_ref of x (a multiple of 256 values) into y (210 bytes per 256: ql[128] qh[64] scales[16] d). */
export function quantizeQ6_K(x: Float32Array, y: Uint8Array): void {
  const H = halves().values;
  const L = new Uint8Array(256), scales = new Float32Array(16);
  for (let i = 0; i < x.length / 256; i++) {
    const xo = i * 256, o = i * 210;
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQx(x, xo + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) { maxAbsScale = Math.abs(scale); maxScale = scale; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // the block stays all zero bytes, d = +0
    const iscale = f(-128 / maxScale);
    const dh = floatBitsToHalf(floatBits(f(1 / iscale)));
    y[o + 208] = dh & 0xff;
    y[o + 209] = dh >> 8;
    for (let ib = 0; ib < 16; ib++) y[o + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
    for (let j = 0; j < 16; j++) {
      const d = f(H[dh] * ((y[o + 192 + j] << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(x[xo + 16 * j + ii] / d));
        L[16 * j + ii] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
      }
    }
    for (let j = 0, ql = o, qh = o + 128; j < 256; j += 128, ql += 64, qh += 32)
      for (let l = 0; l < 32; l++) {
        y[ql + l] = (L[j + l] & 0xf) | ((L[j + l + 64] & 0xf) << 4);
        y[ql + l + 32] = (L[j + l + 32] & 0xf) | ((L[j + l + 96] & 0xf) << 4);
        y[qh + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
      }
  }
}

// ggml's block formats: dequantization to float32 and the reference quantizers of the
// types we write, ported line by line from ggml/src/ggml-quants.c and ggml-impl.h (the
// llama.cpp that node-llama-cpp 3.21.1 bundles) so that the results are bit-identical to
// ggml's own: test/io/gguf_quants.test.ts runs ggml's dequantize_row_* and quantizers on
// the same bytes and asserts max |Δ| = 0 (and identical bytes for the quantizers).
//
// Exactness: ggml computes in float32 (x86-64, no FMA in libggml-base). Each float32
// operation is reproduced as Math.fround of the double result, which is the correctly
// rounded float32 result for one +, −, × or ÷ of float32 operands (53 ≥ 2·24 + 2, so
// double rounding cannot happen); products of a float32 and a small integer are exact in
// double before that one rounding. Chains are rounded after every step, in C's order.
//
// Block layouts (ggml-common.h; "half" is an IEEE binary16, all little-endian):
//   Q4_0  32 el, 18 B: half d | u8 qs[16]                 x = d·(q − 8), q the 4-bit nibble
//   Q4_1  32 el, 20 B: half d | half m | u8 qs[16]        x = d·q + m
//   Q5_0  32 el, 22 B: half d | u8 qh[4] | u8 qs[16]      x = d·(q − 16), 5th bit from qh
//   Q5_1  32 el, 24 B: half d | half m | u8 qh[4] | qs[16] x = d·q + m
//   Q8_0  32 el, 34 B: half d | i8 qs[32]                 x = d·q
//   Q4_K 256 el, 144 B: half d | half dmin | u8 scales[12] | u8 qs[128]
//        8 sub-blocks of 32, each with a 6-bit scale sc and min m:  x = (d·sc)·q − (dmin·m)
//   Q5_K 256 el, 176 B: as Q4_K plus u8 qh[32] (the 5th bit) before qs
//   Q6_K 256 el, 210 B: u8 ql[128] | u8 qh[64] | i8 scales[16] | half d
//        16 sub-blocks of 16:  x = (d·sc)·(q − 32), q 6 bits = 4 from ql + 2 from qh
// In Q4_0/Q4_1/Q5_0/Q5_1 byte j of qs holds element j (low nibble) and j + 16 (high).
import { FormatError } from '../torch/errors.js';
import { GGML_TYPE, GGML_TYPES, describeGgmlType, ggmlBytes, ggmlTypeId, type GgmlTypeName } from './gguf_types.js';
import { f, floatBitsToBf16, floatBitsToHalf, floatBits, halves } from './gguf_half.js';
import { quantizeQ45_K, quantizeQ6_K } from './gguf_quants_k.js';

// ---- dequantization ------------------------------------------------------------------

/** The types `dequantize` reads, by name. */
export const DEQUANTIZABLE: readonly GgmlTypeName[] = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];
const DEQUANT_IDS = new Set<number>(DEQUANTIZABLE.map((n) => GGML_TYPE[n]));

/** Whether `dequantize` reads this type id. */
export function canDequantize(type: number): boolean {
  return DEQUANT_IDS.has(type);
}

/** Little-endian u16 at byte o. */
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);

/**
 * Dequantizes `numel` elements of ggml type `type` from `src` (its first ggmlBytes(type,
 * numel) bytes) into `out` at `outOffset` (a new Float32Array when omitted). numel must
 * be a whole number of blocks. An unsupported type is a FormatError naming it.
 */
export function dequantize(src: Uint8Array, type: number, numel: number, out?: Float32Array, outOffset = 0): Float32Array {
  const info = GGML_TYPES.get(type);
  if (!info || !DEQUANT_IDS.has(type))
    throw new FormatError(`GGUF: cannot dequantize tensors of ${describeGgmlType(type)}; supported types: ${DEQUANTIZABLE.join(', ')}`);
  if (numel % info.blockSize !== 0) throw new FormatError(`GGUF: ${numel} elements are not a whole number of ${info.name} blocks of ${info.blockSize}`);
  const nbytes = ggmlBytes(info, numel);
  if (src.byteLength < nbytes) throw new FormatError(`GGUF: ${numel} ${info.name} elements need ${nbytes} bytes, got ${src.byteLength}`);
  const y = out ?? new Float32Array(numel);
  if (y.length < outOffset + numel) throw new RangeError(`dequantize: output holds ${y.length} elements, needs ${outOffset + numel}`);
  const nb = numel / info.blockSize;
  switch (type) {
    case GGML_TYPE.F32: new Uint8Array(y.buffer, y.byteOffset + outOffset * 4, nbytes).set(src.subarray(0, nbytes)); break;
    case GGML_TYPE.F16: {
      const bits = halves().bits, yb = new Uint32Array(y.buffer, y.byteOffset, y.length);
      for (let i = 0; i < numel; i++) yb[outOffset + i] = bits[u16(src, 2 * i)];
      break;
    }
    case GGML_TYPE.BF16: {
      const yb = new Uint32Array(y.buffer, y.byteOffset, y.length);
      for (let i = 0; i < numel; i++) yb[outOffset + i] = (u16(src, 2 * i) << 16) >>> 0;
      break;
    }
    case GGML_TYPE.Q4_0: q4_0(src, y, outOffset, nb); break;
    case GGML_TYPE.Q4_1: q4_1(src, y, outOffset, nb); break;
    case GGML_TYPE.Q5_0: q5_0(src, y, outOffset, nb); break;
    case GGML_TYPE.Q5_1: q5_1(src, y, outOffset, nb); break;
    case GGML_TYPE.Q8_0: q8_0(src, y, outOffset, nb); break;
    case GGML_TYPE.Q4_K: q4_K(src, y, outOffset, nb); break;
    case GGML_TYPE.Q5_K: q5_K(src, y, outOffset, nb); break;
    case GGML_TYPE.Q6_K: q6_K(src, y, outOffset, nb); break;
  }
  return y;
}

// dequantize_row_q4_0: y[j] = (lo − 8)·d, y[j + 16] = (hi − 8)·d.
function q4_0(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 18, d = H[u16(x, o)], out = yo + i * 32;
    for (let j = 0; j < 16; j++) {
      const q = x[o + 2 + j];
      y[out + j] = f(((q & 0x0f) - 8) * d);
      y[out + j + 16] = f(((q >> 4) - 8) * d);
    }
  }
}

// dequantize_row_q4_1: y = q·d + m.
function q4_1(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 20, d = H[u16(x, o)], m = H[u16(x, o + 2)], out = yo + i * 32;
    for (let j = 0; j < 16; j++) {
      const q = x[o + 4 + j];
      y[out + j] = f(f((q & 0x0f) * d) + m);
      y[out + j + 16] = f(f((q >> 4) * d) + m);
    }
  }
}

/** The 32 high bits of a Q5 block, element j's in bit j. */
const qh32 = (x: Uint8Array, o: number) => (x[o] | (x[o + 1] << 8) | (x[o + 2] << 16) | (x[o + 3] << 24)) >>> 0;

// dequantize_row_q5_0: the 5th bit of element j is bit j of qh (j + 16: bit j + 16).
function q5_0(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 22, d = H[u16(x, o)], qh = qh32(x, o + 2), out = yo + i * 32;
    for (let j = 0; j < 16; j++) {
      const q = x[o + 6 + j];
      const x0 = ((q & 0x0f) | (((qh >>> j) << 4) & 0x10)) - 16;
      const x1 = ((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
      y[out + j] = f(x0 * d);
      y[out + j + 16] = f(x1 * d);
    }
  }
}

// dequantize_row_q5_1: as q5_0 without the −16, plus m.
function q5_1(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 24, d = H[u16(x, o)], m = H[u16(x, o + 2)], qh = qh32(x, o + 4), out = yo + i * 32;
    for (let j = 0; j < 16; j++) {
      const q = x[o + 8 + j];
      const x0 = (q & 0x0f) | (((qh >>> j) << 4) & 0x10);
      const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
      y[out + j] = f(f(x0 * d) + m);
      y[out + j + 16] = f(f(x1 * d) + m);
    }
  }
}

// dequantize_row_q8_0: y = q·d.
function q8_0(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 34, d = H[u16(x, o)], out = yo + i * 32;
    for (let j = 0; j < 32; j++) y[out + j] = f(((x[o + 2 + j] << 24) >> 24) * d);
  }
}

/**
 * get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes q
 * (at qo). j < 4: low 6 bits of q[j] and q[j+4]; j ≥ 4: 4 bits from q[j+4] and the top 2
 * bits of q[j−4] (scale) or q[j] (min).
 */
function scaleMinK4(j: number, q: Uint8Array, qo: number): [number, number] {
  if (j < 4) return [q[qo + j] & 63, q[qo + j + 4] & 63];
  return [(q[qo + j + 4] & 0xf) | ((q[qo + j - 4] >> 6) << 4), (q[qo + j + 4] >> 4) | ((q[qo + j] >> 6) << 4)];
}

// dequantize_row_q4_K: per 64 elements, two sub-blocks share 32 bytes of qs (low, high nibble).
function q4_K(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 144, d = H[u16(x, o)], dmin = H[u16(x, o + 2)];
    let q = o + 16, out = yo + i * 256;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1i] = scaleMinK4(is, x, o + 4), [sc2, m2i] = scaleMinK4(is + 1, x, o + 4);
      const d1 = f(d * sc1), m1 = f(dmin * m1i), d2 = f(d * sc2), m2 = f(dmin * m2i);
      for (let l = 0; l < 32; l++) y[out++] = f(f(d1 * (x[q + l] & 0xf)) - m1);
      for (let l = 0; l < 32; l++) y[out++] = f(f(d2 * (x[q + l] >> 4)) - m2);
      q += 32;
    }
  }
}

// dequantize_row_q5_K: as q4_K, the 5th bit of element l of the k-th 32 from bit k of qh[l].
function q5_K(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 176, d = H[u16(x, o)], dmin = H[u16(x, o + 2)], qh = o + 16;
    let ql = o + 48, out = yo + i * 256, u1 = 1, u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1i] = scaleMinK4(is, x, o + 4), [sc2, m2i] = scaleMinK4(is + 1, x, o + 4);
      const d1 = f(d * sc1), m1 = f(dmin * m1i), d2 = f(d * sc2), m2 = f(dmin * m2i);
      for (let l = 0; l < 32; l++) y[out++] = f(f(d1 * ((x[ql + l] & 0xf) + (x[qh + l] & u1 ? 16 : 0))) - m1);
      for (let l = 0; l < 32; l++) y[out++] = f(f(d2 * ((x[ql + l] >> 4) + (x[qh + l] & u2 ? 16 : 0))) - m2);
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

// dequantize_row_q6_K: per 128 elements, 64 bytes of ql, 32 of qh and 8 scales.
function q6_K(x: Uint8Array, y: Float32Array, yo: number, nb: number): void {
  const H = halves().values;
  for (let i = 0; i < nb; i++) {
    const o = i * 210, d = H[u16(x, o + 208)];
    let ql = o, qh = o + 128, sc = o + 192, out = yo + i * 256;
    for (let n = 0; n < 256; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = sc + (l >> 4), h = x[qh + l];
        const q1 = ((x[ql + l] & 0xf) | (((h >> 0) & 3) << 4)) - 32;
        const q2 = ((x[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((x[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((x[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        // d · sc[is + k] with the int8 scale sign-extended.
        y[out + l] = f(f(d * ((x[is] << 24) >> 24)) * q1);
        y[out + l + 32] = f(f(d * ((x[is + 2] << 24) >> 24)) * q2);
        y[out + l + 64] = f(f(d * ((x[is + 4] << 24) >> 24)) * q3);
        y[out + l + 96] = f(f(d * ((x[is + 6] << 24) >> 24)) * q4);
      }
      out += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// ---- quantization (what the GGUF writer needs) -----------------------------------------

/** The types `quantizeTensor` writes, by name. */
export const QUANTIZABLE: readonly GgmlTypeName[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];

/** roundf: nearest integer, halves away from zero. */
const roundf = (v: number) => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

/**
 * Encodes float32 values as ggml type `type` (a name or an id), byte-identical to what
 * ggml_quantize_chunk and llama-quantize write without an importance matrix: F32 (the
 * bytes as they are), F16 (ggml_fp32_to_fp16_row), BF16 (ggml_fp32_to_bf16_row_ref),
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (quantize_row_*_ref), Q4_K, Q5_K, Q6_K
 * (quantize_row_q{4,5,6}_K_ref, gguf_quants_k.ts). Q5_0, Q5_1 and Q8_0 are also what
 * llama-quantize puts where a row is not a whole number of 256-blocks (gguf_quant_mix.ts).
 * The data is a whole tensor in row-major order; its row length (ne[0]) must be a multiple
 * of the block size (32, or 256 for the k-quants), which the caller checks against the
 * shape: here only the total is checked.
 */
export function quantizeTensor(data: Float32Array, type: GgmlTypeName | number): Uint8Array {
  const id = ggmlTypeId(type);
  const info = GGML_TYPES.get(id)!;
  if (!QUANTIZABLE.some((n) => GGML_TYPE[n] === id))
    throw new FormatError(`GGUF: cannot quantize to ${describeGgmlType(id)}; supported types: ${QUANTIZABLE.join(', ')}`);
  if (data.length % info.blockSize !== 0) throw new FormatError(`GGUF: ${data.length} elements are not a whole number of ${info.name} blocks of ${info.blockSize}`);
  const out = new Uint8Array(ggmlBytes(info, data.length));
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  switch (id) {
    case GGML_TYPE.F32: out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); break;
    case GGML_TYPE.F16: case GGML_TYPE.BF16: {
      const conv = id === GGML_TYPE.F16 ? floatBitsToHalf : floatBitsToBf16;
      for (let i = 0; i < data.length; i++) {
        const h = conv(bits[i]);
        out[2 * i] = h & 0xff;
        out[2 * i + 1] = h >> 8;
      }
      break;
    }
    case GGML_TYPE.Q8_0: quantizeQ8_0(data, out); break;
    case GGML_TYPE.Q4_0: case GGML_TYPE.Q5_0: case GGML_TYPE.Q4_1: case GGML_TYPE.Q5_1: quantizeLegacy(data, out, id); break;
    case GGML_TYPE.Q4_K: quantizeQ45_K(data, out, false); break;
    case GGML_TYPE.Q5_K: quantizeQ45_K(data, out, true); break;
    case GGML_TYPE.Q6_K: quantizeQ6_K(data, out); break;
  }
  return out;
}

// quantize_row_q8_0_ref: d = amax / 127, q = roundf(x · (1/d)), d stored as half.
function quantizeQ8_0(x: Float32Array, y: Uint8Array): void {
  for (let i = 0; i < x.length / 32; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[i * 32 + j]);
      amax = amax > a ? amax : a; // ggml's MAX(a, b), not Math.max: a NaN does not stick
    }
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    const h = floatBitsToHalf(floatBits(d));
    const o = i * 34;
    y[o] = h & 0xff;
    y[o + 1] = h >> 8;
    for (let j = 0; j < 32; j++) y[o + 2 + j] = roundf(f(x[i * 32 + j] * id)) & 0xff;
  }
}

/**
 * quantize_row_q4_0_ref / q5_0_ref (symmetric: d = max / −8 or −16, max the value of
 * largest magnitude, q = (int8)(x/d + 8.5 or 16.5) capped at 15 or 31) and q4_1_ref /
 * q5_1_ref (d = (max − min) / 15 or 31, m = min, q = (int8)((x − min)/d + 0.5)). 5-bit
 * types put bit 4 of element j's q in bit j of qh.
 */
function quantizeLegacy(x: Float32Array, y: Uint8Array, type: number): void {
  const bits = type === GGML_TYPE.Q5_0 || type === GGML_TYPE.Q5_1 ? 5 : 4;
  const sym = type === GGML_TYPE.Q4_0 || type === GGML_TYPE.Q5_0;
  const size = GGML_TYPES.get(type)!.typeSize, nmax = (1 << bits) - 1;
  for (let i = 0; i < x.length / 32; i++) {
    const xo = i * 32, o = i * size;
    let d: number, min = 0;
    if (sym) {
      let amax = 0, max = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[xo + j];
        if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
      }
      d = f(max / -(1 << (bits - 1)));
    } else {
      let max = -3.4028234663852886e38;
      min = 3.4028234663852886e38; // ±FLT_MAX
      for (let j = 0; j < 32; j++) {
        const v = x[xo + j];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      d = f(f(max - min) / nmax);
    }
    const id = d ? f(1 / d) : 0;
    const dh = floatBitsToHalf(floatBits(d));
    y[o] = dh & 0xff;
    y[o + 1] = dh >> 8;
    let q = o + 2;
    if (!sym) {
      const mh = floatBitsToHalf(floatBits(min));
      y[o + 2] = mh & 0xff;
      y[o + 3] = mh >> 8;
      q += 2;
    }
    const qhAt = q;
    if (bits === 5) q += 4;
    const offset = sym ? (nmax + 1) / 2 + 0.5 : 0.5; // 8.5, 16.5 or 0.5
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = sym ? f(x[xo + j] * id) : f(f(x[xo + j] - min) * id);
      const x1 = sym ? f(x[xo + 16 + j] * id) : f(f(x[xo + 16 + j] - min) * id);
      // (int8_t) / (uint8_t) of the float: truncation toward zero; q5_1 has no cap.
      let xi0 = Math.trunc(f(x0 + offset)), xi1 = Math.trunc(f(x1 + offset));
      if (type !== GGML_TYPE.Q5_1) { xi0 = Math.min(nmax, xi0); xi1 = Math.min(nmax, xi1); }
      y[q + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + 16);
    }
    if (bits === 5) {
      y[qhAt] = qh & 0xff; y[qhAt + 1] = (qh >>> 8) & 0xff; y[qhAt + 2] = (qh >>> 16) & 0xff; y[qhAt + 3] = qh >>> 24;
    }
  }
}

// IEEE half and bfloat16 conversions exactly as ggml makes them (ggml-impl.h), shared by
// the block formats' readers and writers (gguf_quants.ts, gguf_quants_k.ts).

/** float32 rounding of a double: one float32 operation when applied to its exact result. */
export const f = Math.fround;

/** binary16 bits → float32 bits, exact (subnormals, ±inf and NaN payloads kept). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 0) {
    if (m === 0) return sign >>> 0;
    // Subnormal m·2^-24: shift m up until its leading 1 reaches bit 10.
    let exp = 113;
    while (!(m & 0x400)) { m <<= 1; exp--; }
    return (sign | (exp << 23) | ((m & 0x3ff) << 13)) >>> 0;
  }
  if (e === 31) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
}

let halfTable: { bits: Uint32Array; values: Float32Array } | undefined;
/** All 65,536 halves as float32 (bits and values views of one buffer), built on first use. */
export function halves(): { bits: Uint32Array; values: Float32Array } {
  if (!halfTable) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = halfToFloatBits(h);
    halfTable = { bits, values: new Float32Array(bits.buffer) };
  }
  return halfTable;
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** The float32 bits of a number (rounded to float32 first). */
export function floatBits(v: number): number {
  scratchF[0] = v;
  return scratchU[0];
}

/**
 * float32 bits → binary16 bits, round to nearest even, NaN → quiet NaN 0x7E00 with the
 * sign: ggml_compute_fp32_to_fp16 (ggml-impl.h), which rounds by adding a power of two
 * whose exponent places the half's last mantissa bit at the float's last bit.
 */
export function floatBitsToHalf(w: number): number {
  scratchU[0] = w;
  let base = f(f(Math.abs(scratchF[0]) * 2 ** 112) * 2 ** -110);
  const shl1 = (w * 2) >>> 0;
  const sign = (w & 0x80000000) >>> 0;
  let bias = (shl1 & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  scratchU[0] = (bias >>> 1) + 0x07800000;
  base = f(scratchF[0] + base);
  scratchF[0] = base;
  const bits = scratchU[0];
  const nonsign = ((bits >>> 13) & 0x7c00) + (bits & 0xfff);
  return (sign >>> 16) | (shl1 > 0xff000000 ? 0x7e00 : nonsign);
}

/** float32 bits → bfloat16 bits: round to nearest even; NaN keeps its top bits, made quiet (ggml_compute_fp32_to_bf16). */
export function floatBitsToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
}


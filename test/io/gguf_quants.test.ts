// ggml's block formats against ggml itself (libggml-base of node-llama-cpp 3.21.1, through
// test/helpers/ggml_ref.py):
//   - our type table equals ggml_type_name / ggml_blck_size / ggml_type_size for every id;
//   - our dequantization of blocks that ggml_quantize_chunk made from random rows, in every
//     type we read, equals ggml's dequantize_row_* bit for bit (max |Δ| = 0);
//   - so does our dequantization of random bytes (every bit pattern of scales and quants,
//     NaN and inf scales included; NaNs compare equal whatever their payload);
//   - our encoders (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) write the very
//     bytes of ggml's reference quantizers (ggml_fp32_to_fp16_row, ggml_fp32_to_bf16_row_ref,
//     quantize_row_*_ref, and ggml_quantize_chunk), on random values and on the edge cases
//     of rounding;
//   - a type without a dequantizer or quantizer is one FormatError naming it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../src/torch/errors.js';
import { GGML_TYPE, GGML_TYPES, DEQUANTIZABLE, dequantize, quantizeTensor, ggmlBytes, type GgmlTypeName } from '../../src/io/index.js';
import { Scratch, bitDiff, rng, runGgml } from '../helpers/ggml_ref.js';

const scratch = new Scratch();
after(() => scratch.dispose());

/** Rows of 512 (two 256-blocks) with very different scales, a zero row, an outlier row, one-signed rows. */
function testRows(seed: number, rows = 12, n = 512): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) {
    const scale = 10 ** (r.uniform() * 8 - 5); // 1e-5 … 1e3
    for (let j = 0; j < n; j++) {
      let v = r.normal() * scale;
      if (i === 1) v = 0;
      if (i === 2 && j % 97 === 0) v *= 50;
      if (i === 3) v = Math.abs(v);
      if (i === 4) v = -Math.abs(v) - scale;
      x[i * n + j] = v;
    }
  }
  return x;
}

test('the type table equals ggml_type_name / ggml_blck_size / ggml_type_size for every type id', () => {
  const [theirs] = runGgml([{ op: 'types' }]) as [{ id: number; name: string; blockSize: number; typeSize: number }[]];
  assert.equal(theirs.length, 43);
  for (const t of theirs) {
    const ours = GGML_TYPES.get(t.id);
    if (t.typeSize === 0) {
      assert.equal(ours, undefined, `id ${t.id} is retired in ggml (${t.name})`);
      continue;
    }
    assert.deepEqual(ours, { id: t.id, name: t.name.toUpperCase(), blockSize: t.blockSize, typeSize: t.typeSize });
  }
  assert.equal(GGML_TYPES.size, theirs.filter((t) => t.typeSize > 0).length);
});

test('dequantization of ggml-quantized random rows equals ggml dequantize_row_* bit for bit, every type we read', (t) => {
  const x = testRows(7);
  const src = scratch.write('rows.f32', x);
  const types = DEQUANTIZABLE.filter((n) => n !== 'F32');
  const ops: object[] = [];
  for (const name of types) {
    const id = GGML_TYPE[name];
    ops.push({ op: 'quantize', type: id, src, dst: scratch.path(`${name}.bin`), n_per_row: 512 });
    ops.push({ op: 'dequantize', type: id, src: scratch.path(`${name}.bin`), dst: scratch.path(`${name}.deq`), n: x.length });
  }
  runGgml(ops);
  for (const name of types) {
    const bytes = scratch.bytes(`${name}.bin`);
    assert.equal(bytes.byteLength, ggmlBytes(GGML_TYPES.get(GGML_TYPE[name])!, x.length), name);
    const ours = dequantize(bytes, GGML_TYPE[name], x.length);
    const d = bitDiff(ours, scratch.floats(`${name}.deq`));
    t.diagnostic(`${name}: ${x.length} values, ${d.mismatches} differ, max |Δ| = ${d.maxAbs}`);
    assert.equal(d.mismatches, 0, `${name}: ${d.first}`);
    // And it is a quantization of x, not noise: the error stays well under the row's scale.
    let err = 0, ref = 0;
    for (let i = 0; i < x.length; i++) { err += (ours[i] - x[i]) ** 2; ref += x[i] ** 2; }
    assert.ok(Math.sqrt(err / ref) < 0.2, `${name}: relative RMS error ${Math.sqrt(err / ref)}`);
  }
});

test('dequantization of random bytes (any scale and quant bits, NaN and inf scales) equals ggml bit for bit', (t) => {
  const r = rng(11);
  const ops: object[] = [];
  const cases: { name: GgmlTypeName; bytes: Uint8Array; n: number }[] = [];
  for (const name of DEQUANTIZABLE) {
    const info = GGML_TYPES.get(GGML_TYPE[name])!;
    const n = info.blockSize * Math.max(64, 4096 / info.blockSize);
    const bytes = Uint8Array.from({ length: ggmlBytes(info, n) }, r.byte);
    cases.push({ name, bytes, n });
    ops.push({ op: 'dequantize', type: info.id, src: scratch.write(`${name}.rand`, bytes), dst: scratch.path(`${name}.rand.deq`), n });
  }
  runGgml(ops);
  for (const c of cases) {
    const ours = dequantize(c.bytes, GGML_TYPE[c.name], c.n);
    const d = bitDiff(ours, scratch.floats(`${c.name}.rand.deq`), true);
    t.diagnostic(`${c.name}: ${c.n} values from random bytes, ${d.mismatches} differ`);
    assert.equal(d.mismatches, 0, `${c.name}: ${d.first}`);
  }
});

/** Values that probe rounding: ties and near-ties of half and bfloat16, overflow, subnormals, signed zeros, inf, NaN. */
function edgeValues(): Float32Array {
  const v: number[] = [0, -0, Infinity, -Infinity, NaN, 1, -1, 65504, 65519.99, 65520, -65520, 1e6, 6.1e-5, 6.0975552e-5,
    5.96e-8, 2.98e-8, 2.99e-8, 1e-8, 1e-45, -1e-45, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 1 + 2 ** -11, 1 + 3 * 2 ** -11,
    1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 2049, 2051, 0.1, -0.1, 1 / 3];
  const f = new Float32Array(v);
  const extra: number[] = [];
  // Exact ties for half (low 13 bits 0x1000) and bfloat16 (low 16 bits 0x8000), both parities, and a signalling NaN.
  for (const b of [0x3f801000, 0x3f803000, 0x3f808000, 0x3f818000, 0x477fe000, 0x387fc000, 0x7f800001, 0xffc00001, 0x00001000])
    extra.push(b);
  const out = new Float32Array(f.length + extra.length + 4096);
  out.set(f);
  const ob = new Uint32Array(out.buffer);
  extra.forEach((b, i) => (ob[f.length + i] = b));
  // Random bit patterns over the whole float32 range.
  const r = rng(3);
  for (let i = f.length + extra.length; i < out.length; i++) ob[i] = (r.byte() << 24 | r.byte() << 16 | r.byte() << 8 | r.byte()) >>> 0;
  return out;
}

test('F16 and BF16 encoding writes the bytes of ggml_fp32_to_fp16_row and ggml_fp32_to_bf16_row_ref (ties, overflow, subnormals, NaN)', () => {
  const x = edgeValues();
  const src = scratch.write('edge.f32', x);
  runGgml([
    { op: 'ref', fn: 'ggml_fp32_to_fp16_row', type: GGML_TYPE.F16, src, dst: scratch.path('edge.f16'), n: x.length },
    { op: 'ref', fn: 'ggml_fp32_to_bf16_row_ref', type: GGML_TYPE.BF16, src, dst: scratch.path('edge.bf16'), n: x.length },
  ]);
  assert.deepEqual(quantizeTensor(x, 'F16'), scratch.bytes('edge.f16'));
  assert.deepEqual(quantizeTensor(x, 'BF16'), scratch.bytes('edge.bf16'));
  assert.deepEqual(quantizeTensor(x, GGML_TYPE.F32), new Uint8Array(x.buffer));
});

test('Q8_0 encoding writes the bytes of quantize_row_q8_0_ref and of ggml_quantize_chunk', () => {
  const x = testRows(5);
  // A block of exact .5 ties after scaling: amax 127 makes d = 1, so x·(1/d) = x.
  x.set(Float32Array.from({ length: 32 }, (_, j) => (j === 0 ? 127 : (j % 2 ? 1 : -1) * (j + 0.5))), 0);
  const src = scratch.write('q8.f32', x);
  runGgml([
    { op: 'ref', fn: 'quantize_row_q8_0_ref', type: GGML_TYPE.Q8_0, src, dst: scratch.path('q8.ref'), n: x.length },
    { op: 'quantize', type: GGML_TYPE.Q8_0, src, dst: scratch.path('q8.chunk'), n_per_row: 512 },
  ]);
  const ours = quantizeTensor(x, 'Q8_0');
  assert.deepEqual(ours, scratch.bytes('q8.ref'));
  assert.deepEqual(ours, scratch.bytes('q8.chunk'));
});

test('Q4_0, Q4_1, Q5_0 and Q5_1 encoding write the bytes of quantize_row_*_ref and of ggml_quantize_chunk', () => {
  const x = testRows(19, 40);
  x.fill(0.5, 512 * 5, 512 * 5 + 64); // constant blocks: d = 0 for the asymmetric types
  const src = scratch.write('legacy.f32', x);
  const types = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const;
  runGgml(types.flatMap((name) => [
    { op: 'ref', fn: `quantize_row_${name.toLowerCase()}_ref`, type: GGML_TYPE[name], src, dst: scratch.path(`${name}.ref`), n: x.length },
    { op: 'quantize', type: GGML_TYPE[name], src, dst: scratch.path(`${name}.chunk`), n_per_row: 512 },
  ]));
  for (const name of types) {
    const ours = quantizeTensor(x, name);
    assert.deepEqual(ours, scratch.bytes(`${name}.ref`), name);
    assert.deepEqual(ours, scratch.bytes(`${name}.chunk`), name);
  }
});

test('Q4_K, Q5_K and Q6_K encoding write the bytes of quantize_row_q{4,5,6}_K_ref and of ggml_quantize_chunk', (t) => {
  const x = testRows(13, 800); // 6,400 super-blocks: rounding subtleties show up only now and then
  // Sub-blocks that are constant (max = min), all positive (min clamped to 0), one huge outlier, tiny values.
  x.fill(0.25, 512 * 5, 512 * 5 + 64);
  x.fill(-3, 512 * 5 + 64, 512 * 5 + 96);
  for (let j = 0; j < 256; j++) x[512 * 6 + j] = 1 + j / 256;
  x[512 * 7 + 3] = 1e4;
  for (let j = 0; j < 512; j++) x[512 * 8 + j] = (j % 7 - 3) * 1e-7;
  const src = scratch.write('kq.f32', x);
  const types = [['Q4_K', 'quantize_row_q4_K_ref'], ['Q5_K', 'quantize_row_q5_K_ref'], ['Q6_K', 'quantize_row_q6_K_ref']] as const;
  runGgml(types.flatMap(([name, fn]) => [
    { op: 'ref', fn, type: GGML_TYPE[name], src, dst: scratch.path(`${name}.ref`), n: x.length },
    { op: 'quantize', type: GGML_TYPE[name], src, dst: scratch.path(`${name}.chunk`), n_per_row: 512 },
  ]));
  for (const [name] of types) {
    const t0 = performance.now();
    const ours = quantizeTensor(x, name);
    const ms = performance.now() - t0;
    const ref = scratch.bytes(`${name}.ref`);
    let differ = 0;
    for (let i = 0; i < ref.length; i++) if (ours[i] !== ref[i]) differ++;
    t.diagnostic(`${name}: ${x.length} values, ${differ} of ${ref.length} bytes differ (${(x.length / ms / 1e3).toFixed(1)} M values/s)`);
    assert.equal(differ, 0, `${name}: ${differ} of ${ref.length} bytes differ`);
    assert.deepEqual(ours, scratch.bytes(`${name}.chunk`));
  }
});

test('a type without a dequantizer or quantizer is one FormatError naming it', () => {
  const bytes = new Uint8Array(84);
  assert.throws(() => dequantize(bytes, 10, 256), (e: unknown) => e instanceof FormatError && /Q2_K \(10\)/.test(e.message) && /Q4_K/.test(e.message));
  assert.throws(() => dequantize(bytes, 99, 256), (e: unknown) => e instanceof FormatError && /unknown type 99/.test(e.message));
  assert.throws(() => dequantize(bytes, GGML_TYPE.Q8_0, 33), (e: unknown) => e instanceof FormatError && /whole number of Q8_0 blocks/.test(e.message));
  assert.throws(() => dequantize(bytes, GGML_TYPE.Q8_0, 96), (e: unknown) => e instanceof FormatError && /need 102 bytes, got 84/.test(e.message));
  assert.throws(() => quantizeTensor(new Float32Array(256), 2 + 8), (e: unknown) => e instanceof FormatError && /cannot quantize to Q2_K \(10\)/.test(e.message));
  assert.throws(() => quantizeTensor(new Float32Array(256), 'Q9_9' as GgmlTypeName), (e: unknown) => e instanceof FormatError && /Q9_9/.test(e.message));
  assert.throws(() => quantizeTensor(new Float32Array(40), 'Q8_0'), (e: unknown) => e instanceof FormatError && /40 elements/.test(e.message));
});

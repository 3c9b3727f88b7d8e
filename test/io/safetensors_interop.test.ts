// safetensors against PyTorch: files we write read back exactly in PyTorch, files PyTorch
// writes read back exactly here, and our bytes equal the reference writer's (the Hugging Face
// crate's own test vectors, and test/helpers/safetensors_ref.py for everything else).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../../src/io/index.js';
import { assertSameAsRef, refDescribe, refFixture, refRewrite } from '../helpers/safetensors_ref.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'distill-st-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const bits16 = (bits: number[], shape: number[], dtype: 'float16' | 'bfloat16') => torch.fromBytes(u8(Uint16Array.from(bits)), shape, dtype);

/** One tensor per dtype with its edge values as exact bit patterns, plus 0-d, empty and strided ones. */
function sample(): Record<string, torch.Tensor> {
  const base = torch.tensor(Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2), { shape: [3, 4] });
  const strided = base.transpose(0, 1); // non-contiguous: bytes must come out row-major
  base.dispose();
  return {
    f32: torch.tensor(Float32Array.from([0, -0, 1.5, -2.25, Infinity, -Infinity, NaN, 1e-45, 3.4028234663852886e38, 0.1]), { shape: [2, 5] }),
    f64: torch.tensor(Float64Array.from([Math.PI, -0, 5e-324, 1e300, -Infinity, NaN]), { shape: [3, 2] }),
    // +0, -0, 1, -2.5, +inf, -inf, NaN, smallest subnormal, max finite (65504), 0.333
    f16: bits16([0x0000, 0x8000, 0x3c00, 0xc100, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x7bff, 0x3555], [5, 2], 'float16'),
    // 1, -3.14, +inf, -inf, NaN, smallest subnormal, max finite, -0
    bf16: bits16([0x3f80, 0xc049, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x7f7f, 0x8000], [2, 2, 2], 'bfloat16'),
    i64: torch.tensor(BigInt64Array.from([0n, -1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n])),
    i32: torch.tensor(Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, -7]), { shape: [2, 2] }),
    i16: torch.tensor(Int16Array.from([-32768, 32767, 1])),
    i8: torch.tensor(Int8Array.from([-128, 127, 0])),
    u8: torch.tensor(Uint8Array.from({ length: 256 }, (_, i) => i), { shape: [16, 16] }),
    bool: torch.fromBytes(Uint8Array.from([1, 0, 1, 1, 0, 0]), [2, 3], 'bool'),
    'scalar.f32': torch.tensor(Float32Array.from([-1.75]), { shape: [] }),
    'scalar.bf16': bits16([0x4049], [], 'bfloat16'),
    'empty.f32': torch.tensor(new Float32Array(0), { shape: [0, 3] }),
    'empty.i64': torch.tensor(new BigInt64Array(0), { shape: [4, 0] }),
    strided,
    'param.requires_grad': torch.tensor(Float32Array.from([1, 2, 3])).requiresGrad_(),
    // names JS objects would reorder (integer-like) and non-ASCII ones
    '10': torch.ones([1]),
    '2': torch.zeros([1]),
    'ü.名前': torch.tensor(Float32Array.from([7])),
  };
}
const META = { framework: 'pt', note: 'ünïcödé "quoted"\n\ttab', empty: '' };

const disposeAll = (ts: Record<string, torch.Tensor>) => Object.values(ts).forEach((t) => t.dispose());

test('we write, PyTorch reads: every dtype, 0-d, empty and strided tensors, exact', () => {
  const ts = sample();
  const file = join(dir, 'ours.safetensors');
  saveSafetensors(file, ts, META);
  const ref = refDescribe(file);
  assert.deepEqual(ref.metadata, META);
  assert.deepEqual(Object.keys(ref.tensors).sort(), Object.keys(ts).sort());
  for (const [name, t] of Object.entries(ts)) assertSameAsRef(t, ref.tensors[name], name);
  // the tensors we saved are still ours and alive
  assert.equal(ts.f32.isDisposed, false);
  disposeAll(ts);
});

test('PyTorch writes, we read: every dtype, exact values and metadata', () => {
  const file = join(dir, 'theirs.safetensors');
  const ref = refFixture(file);
  const { tensors, metadata } = loadSafetensors(file);
  assert.deepEqual(metadata, ref.metadata);
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(ref.tensors).sort());
  const dtypes = new Set(Object.values(tensors).map((t) => t.dtype));
  for (const d of ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'uint8', 'bool'] as const) assert.ok(dtypes.has(d), `fixture covers ${d}`);
  for (const [name, t] of Object.entries(tensors)) assertSameAsRef(t, ref.tensors[name], name);
  // the in-memory decoder reads the same file the same way
  const mem = decodeSafetensors(readFileSync(file));
  for (const [name, t] of Object.entries(mem.tensors)) assertSameAsRef(t, ref.tensors[name], `decode ${name}`);
  disposeAll(tensors);
  disposeAll(mem.tensors);
});

test('our bytes equal the reference writer: PyTorch file re-encoded here is identical', () => {
  const file = join(dir, 'theirs2.safetensors');
  refFixture(file);
  const original = readFileSync(file);
  const { tensors, metadata } = loadSafetensors(file);
  assert.ok(Buffer.from(encodeSafetensors(tensors, metadata)).equals(original), 'encodeSafetensors reproduces the PyTorch-written file byte for byte');
  disposeAll(tensors);
});

test('our bytes equal the reference writer: our file rewritten by PyTorch is identical', () => {
  const ts = sample();
  const ours = join(dir, 'ours2.safetensors');
  const theirs = join(dir, 'ours2.rewritten.safetensors');
  saveSafetensors(ours, ts, META);
  refRewrite(ours, theirs);
  assert.ok(readFileSync(ours).equals(readFileSync(theirs)), 'same bytes after a PyTorch read + write');
  disposeAll(ts);
});

// Byte vectors from the Hugging Face crate's own tests (safetensors/src/tensor.rs:
// test_serialization, test_serialization_forced_alignement, test_empty).
test('byte-identical to the Hugging Face crate test vectors', () => {
  const f32 = (shape: number[]) => torch.tensor(Float32Array.from([0, 1, 2, 3, 4, 5]), { shape });
  const enc = (ts: Record<string, torch.Tensor>, meta?: Record<string, string>) => Array.from(encodeSafetensors(ts, meta));
  const data = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];
  const a = f32([1, 2, 3]);
  assert.deepEqual(enc({ 'attn.0': a }), [
    64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
    116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
    58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
    101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, ...data,
  ]);
  const b = f32([1, 1, 2, 3]);
  assert.deepEqual(enc({ attn0: b }), [
    72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
    121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
    91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
    115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
    32, 32, ...data,
  ]);
  assert.deepEqual(enc({}), [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual(enc({}, { framework: 'pt' }), [
    40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
    95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
    116, 34, 125, 125, 32, 32, 32, 32, 32,
  ]);
  a.dispose();
  b.dispose();
});

test('header layout: alignment-first order, 8-byte padding, every tensor aligned to its element size', () => {
  const ts = sample();
  const file = join(dir, 'layout.safetensors');
  saveSafetensors(file, ts);
  const h = readSafetensorsHeader(file);
  assert.equal(h.headerLength % 8, 0);
  const raw = readFileSync(file);
  const body = raw.subarray(8, 8 + h.headerLength);
  const close = body.lastIndexOf(0x7d); // '}'
  assert.ok(body.subarray(close + 1).every((b) => b === 0x20), 'padding is spaces');
  assert.ok(body.length - (close + 1) < 8, 'at most 7 bytes of padding');
  const json = body.toString('utf8');
  // header order = data order: F64/I64 (8-byte) first ... BOOL/U8/I8 last, by name within a dtype
  // (not via JSON.parse: JS objects would move the integer-like names first)
  const byOffset = h.entries.map((e) => e.name);
  const at = byOffset.map((name) => json.indexOf(`${JSON.stringify(name)}:{"dtype"`));
  assert.ok(at.every((p, i) => p > 0 && (i === 0 || p > at[i - 1])), 'header order is the data order');
  assert.deepEqual(byOffset.slice(0, 3), ['empty.i64', 'i64', 'f64']);
  assert.deepEqual(byOffset.slice(-3), ['i8', 'u8', 'bool']);
  assert.deepEqual(byOffset.filter((n) => ['10', '2'].includes(n)), ['10', '2'], 'integer-like names sort as strings');
  for (const e of h.entries) assert.equal((8 + h.headerLength + e.dataOffsets[0]) % torch.ITEM_SIZE[e.dtype], 0, `${e.name} aligned`);
  disposeAll(ts);
});

test('writer rejects what the format cannot hold, with ConfigError', () => {
  const t = torch.ones([2]);
  assert.throws(() => encodeSafetensors({ __metadata__: t }), { name: 'ConfigError', message: /reserved/ });
  assert.throws(() => encodeSafetensors({ a: t }, { n: 3 as unknown as string }), { name: 'ConfigError', message: /metadata 'n' must be a string/ });
  assert.throws(() => encodeSafetensors({ a: [1, 2] as unknown as torch.Tensor }), { name: 'ConfigError', message: /'a' is not a Tensor/ });
  assert.throws(() => encodeSafetensors({ ['bad\ud800']: t }), { name: 'ConfigError', message: /not valid Unicode/ });
  t.dispose();
});

test('a name that is "__proto__" survives a round trip as an ordinary key', () => {
  const ts: Record<string, torch.Tensor> = {};
  Object.defineProperty(ts, '__proto__', { value: torch.ones([1]), enumerable: true });
  const back = decodeSafetensors(encodeSafetensors(ts));
  assert.deepEqual(Object.keys(back.tensors), ['__proto__']);
  assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype);
  disposeAll(ts);
  disposeAll(back.tensors);
});

// The GGUF reader against independent implementations:
//   - a file written by ggml's own gguf writer (gguf_write_to_file, through ctypes) with
//     every metadata value type and tensors of 9 types: the metadata equals what was
//     written, the tensor infos and data offset equal ggml's gguf_init_from_file, tensor
//     values equal ggml's dequantization of the same bytes (bit for bit);
//   - a version-2 file with alignment 64 and nested arrays, built byte by byte from the
//     spec: equal to @huggingface/gguf's parse, and (without the nested arrays, which ggml
//     refuses) to ggml's;
//   - a truncated file is one FormatError saying so, at every cut point of the header and
//     inside every tensor; malformed headers each give one FormatError naming the problem;
//     a tensor type we cannot dequantize is named when read;
//   - unpermuteRope inverts src/export/gguf.ts's permuteRope; the name map inverts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { gguf } from '@huggingface/gguf';
import { FormatError } from '../../src/torch/errors.js';
import {
  GgufFile, readGgufHeader, GGML_TYPE, GGML_TYPES, quantizeTensor, unpermuteRope, hfTensorName, ggufTensorName,
  type GgufValue,
} from '../../src/io/index.js';
import { permuteRope } from '../../src/export/gguf.js';
import { Scratch, bitDiff, rng, runGgml } from '../helpers/ggml_ref.js';
import { ggufBytes, type RawTensor, type Typed } from '../helpers/ggml_gguf_bytes.js';

const scratch = new Scratch();
after(() => scratch.dispose());

const f = Math.fround;
const U64MAX = 18446744073709551615n, I64MIN = -9223372036854775808n;

// [key, ggml_ref.py type, value written, value expected back, type name expected]
const KVS: [string, string, unknown, GgufValue, string][] = [
  ['general.architecture', 'str', 'llama', 'llama', 'string'],
  ['t.u8', 'u8', 200, 200, 'uint8'], ['t.i8', 'i8', -100, -100, 'int8'],
  ['t.u16', 'u16', 60000, 60000, 'uint16'], ['t.i16', 'i16', -30000, -30000, 'int16'],
  ['t.u32', 'u32', 4000000000, 4000000000, 'uint32'], ['t.i32', 'i32', -2000000000, -2000000000, 'int32'],
  ['t.f32', 'f32', 0.1, f(0.1), 'float32'], ['t.f64', 'f64', Math.PI, Math.PI, 'float64'],
  ['t.u64', 'u64', String(U64MAX), U64MAX, 'uint64'], ['t.u64small', 'u64', 12345, 12345, 'uint64'],
  ['t.i64', 'i64', String(I64MIN), I64MIN, 'int64'], ['t.bool', 'bool', true, true, 'bool'],
  ['t.str', 'str', 'héllo 世界 🙂', 'héllo 世界 🙂', 'string'],
  ['a.u8', 'arr:u8', [0, 255], [0, 255], 'array<uint8>'], ['a.i8', 'arr:i8', [-128, 127], [-128, 127], 'array<int8>'],
  ['a.u16', 'arr:u16', [1, 65535], [1, 65535], 'array<uint16>'], ['a.i16', 'arr:i16', [-2, 3], [-2, 3], 'array<int16>'],
  ['a.u32', 'arr:u32', [4294967295], [4294967295], 'array<uint32>'], ['a.i32', 'arr:i32', [-5, 6, 7], [-5, 6, 7], 'array<int32>'],
  ['a.f32', 'arr:f32', [0.5, -1e-3], [0.5, f(-1e-3)], 'array<float32>'], ['a.f64', 'arr:f64', [1e300, -2.5], [1e300, -2.5], 'array<float64>'],
  ['a.u64', 'arr:u64', [String(U64MAX), 7], [U64MAX, 7], 'array<uint64>'], ['a.i64', 'arr:i64', [String(I64MIN), -7], [I64MIN, -7], 'array<int64>'],
  ['a.bool', 'arr:bool', [true, false, true], [true, false, true], 'array<bool>'],
  ['a.str', 'arr:str', ['a', '', 'ü 🙂'], ['a', '', 'ü 🙂'], 'array<string>'], ['a.empty', 'arr:i32', [], [], 'array<int32>'],
];

/** [name, type, ne] of the tensors in the ggml-written file; Q2_K has no dequantizer here. */
const TENSORS: [string, number, number[]][] = [
  ['f32', GGML_TYPE.F32, [512, 3]], ['vec', GGML_TYPE.F32, [7]], ['f16', GGML_TYPE.F16, [64, 2, 3]],
  ['bf16', GGML_TYPE.BF16, [96, 2]], ['q8_0', GGML_TYPE.Q8_0, [256, 4]], ['q4_0', GGML_TYPE.Q4_0, [64, 1, 2, 3]],
  ['q4_k', GGML_TYPE.Q4_K, [512, 2]], ['q5_k', GGML_TYPE.Q5_K, [256, 3]], ['q6_k', GGML_TYPE.Q6_K, [256, 3]],
  ['q2_k', 10, [256, 2]],
];

let ggmlFile: string | undefined;
/** The file ggml writes, made once. */
function ggmlWritten(): string {
  if (ggmlFile) return ggmlFile;
  const r = rng(21);
  const ops: object[] = [];
  const tensors = TENSORS.map(([name, type, ne]) => {
    const n = ne.reduce((a, b) => a * b, 1);
    const src = scratch.write(`${name}.src`, Float32Array.from({ length: n }, () => r.normal()));
    ops.push({ op: 'quantize', type, src, dst: scratch.path(`${name}.q`), n_per_row: ne[0] });
    return { name, type, ne, src: scratch.path(`${name}.q`) };
  });
  runGgml(ops);
  const path = scratch.path('ggml.gguf');
  const [w] = runGgml([{ op: 'gguf_write', path, kvs: KVS.map(([key, type, value]) => ({ key, type, value })), tensors }]);
  assert.equal(w.ok, true);
  return (ggmlFile = path);
}

test('a file from ggml\'s gguf writer: metadata as written, tensor infos as ggml reads them, values as ggml dequantizes them', (t) => {
  const path = ggmlWritten();
  const [dump] = runGgml([{ op: 'gguf_dump', path }]);
  using file = GgufFile.open(path);
  const h = file.header;
  assert.equal(h.version, dump.version);
  assert.equal(h.alignment, dump.alignment);
  assert.equal(h.dataOffset, dump.data_offset);
  assert.deepEqual(Object.keys(h.metadata), KVS.map((k) => k[0]));
  for (const [key, , , value, type] of KVS) {
    assert.deepEqual(h.metadata[key], value, key);
    assert.equal(h.metadataTypes[key], type, key);
  }
  assert.equal(h.tensors.length, TENSORS.length);
  const ops: object[] = [];
  h.tensors.forEach((ti, i) => {
    const g = dump.tensors[i];
    assert.deepEqual([ti.name, ti.type, [...ti.ne, 1, 1, 1].slice(0, 4), ti.offset, ti.nbytes], [g.name, g.type, g.ne, dump.data_offset + g.offset, g.size], ti.name);
    assert.deepEqual(ti.shape, [...TENSORS[i][2]].reverse());
    assert.deepEqual(file.readBytes(ti), scratch.bytes(`${ti.name}.q`), `${ti.name}: bytes`);
    if (ti.type !== 10) ops.push({ op: 'dequantize', type: ti.type, src: scratch.path(`${ti.name}.q`), dst: scratch.path(`${ti.name}.deq`), n: ti.numel });
  });
  runGgml(ops);
  for (const ti of h.tensors) {
    if (ti.type === 10) {
      assert.throws(() => file.read(ti), (e: unknown) => e instanceof FormatError && e.message.includes(path) && /tensor 'q2_k' has type Q2_K \(10\)/.test(e.message));
      continue;
    }
    const d = bitDiff(file.read(ti.name), scratch.floats(`${ti.name}.deq`));
    t.diagnostic(`${ti.name} (${ti.typeName}, ne ${ti.ne.join('×')}): ${d.mismatches} of ${ti.numel} differ from ggml`);
    assert.equal(d.mismatches, 0, `${ti.name}: ${d.first}`);
  }
  assert.throws(() => file.tensor('nope'), (e: unknown) => e instanceof FormatError && /no tensor named 'nope'/.test(e.message));
});

/** @huggingface/gguf's values with its bigints made numbers where they are safe integers (our convention). */
function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v;
  return Array.isArray(v) ? v.map(normalize) : v;
}

test('version 2, alignment 64, nested arrays: equal to @huggingface/gguf\'s parse, and offsets to ggml\'s', async () => {
  const nested: [string, Typed][] = [
    ['n.i32s', { t: 'arr', et: 'arr', v: [{ t: 'arr', et: 'i32', v: [1, -2] }, { t: 'arr', et: 'i32', v: [] }, { t: 'arr', et: 'i32', v: [3] }] }],
    ['n.strs', { t: 'arr', et: 'arr', v: [{ t: 'arr', et: 'str', v: ['x', 'yz'] }] }],
    ['n.deep', { t: 'arr', et: 'arr', v: [{ t: 'arr', et: 'arr', v: [{ t: 'arr', et: 'u8', v: [9, 8] }] }] }],
  ];
  const plain: [string, Typed][] = [
    ['general.architecture', { t: 'str', v: 'qwen2' }], ['general.alignment', { t: 'u32', v: 64 }],
    ['p.u64', { t: 'u64', v: 5n }], ['p.f32s', { t: 'arr', et: 'f32', v: [1.5, 2.25] }],
  ];
  const r = rng(4);
  const tensors: RawTensor[] = [
    { name: 'a', ne: [5], type: GGML_TYPE.F32, data: quantizeTensor(Float32Array.from({ length: 5 }, r.normal), 'F32') },
    { name: 'b', ne: [32, 3], type: GGML_TYPE.Q8_0, data: quantizeTensor(Float32Array.from({ length: 96 }, r.normal), 'Q8_0') },
    { name: 'c', ne: [3, 2], type: GGML_TYPE.F16, data: quantizeTensor(Float32Array.from({ length: 6 }, r.normal), 'F16') },
  ];
  const path = scratch.path('v2.gguf');
  writeFileSync(path, ggufBytes({ version: 2, kvs: [...plain, ...nested], tensors, alignment: 64 }));
  const ours = readGgufHeader(path);
  const theirs = await gguf(path, { allowLocalFile: true });
  assert.equal(ours.version, 2);
  assert.equal(ours.alignment, 64);
  assert.equal(ours.dataOffset, theirs.tensorDataOffset ? Number(theirs.tensorDataOffset) : NaN);
  assert.deepEqual(ours.metadataTypes['n.i32s'], 'array<array<int32>>');
  assert.deepEqual(ours.metadataTypes['n.deep'], 'array<array<array<uint8>>>');
  assert.deepEqual(ours.metadata['n.i32s'], [[1, -2], [], [3]]);
  const { version, tensor_count, kv_count, ...meta } = theirs.metadata as Record<string, unknown>;
  assert.deepEqual([version, Number(tensor_count), Number(kv_count)], [2, 3, 7]);
  assert.deepEqual(ours.metadata, Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, normalize(v)])));
  assert.deepEqual(ours.tensors.map((x) => [x.name, x.ne, x.type, x.offset - ours.dataOffset]),
    theirs.tensorInfos.map((x) => [x.name, x.shape.map(Number), x.dtype, Number(x.offset)]));
  using file = GgufFile.open(path);
  for (const t of tensors) assert.deepEqual(file.readBytes(t.name), t.data);
  assert.ok(ours.tensors.every((x) => x.offset % 64 === 0));
  // ggml reads the same file without the nested arrays (it refuses those) at the same offsets.
  const flat = scratch.path('v2flat.gguf');
  writeFileSync(flat, ggufBytes({ version: 2, kvs: plain, tensors, alignment: 64 }));
  const [dump] = runGgml([{ op: 'gguf_dump', path: flat }]);
  const h = readGgufHeader(flat);
  assert.deepEqual([h.version, h.alignment, h.dataOffset], [dump.version, dump.alignment, dump.data_offset]);
  assert.deepEqual(h.tensors.map((x) => x.offset), dump.tensors.map((x: { offset: number }) => x.offset + dump.data_offset));
});

function expectFormatError(bytes: Uint8Array, re: RegExp, what: string): void {
  const path = scratch.path('bad.gguf');
  writeFileSync(path, bytes);
  assert.throws(() => GgufFile.open(path), (e: unknown) => {
    assert.ok(e instanceof FormatError, `${what}: ${String(e)}`);
    assert.equal(e.code, 'ERR_FORMAT');
    assert.ok(e.message.startsWith(path), `${what}: ${e.message}`);
    assert.match(e.message, re, what);
    return true;
  });
}

test('a truncated file is one FormatError saying so, cut all through the header and inside every tensor', () => {
  const whole = new Uint8Array(readFileSync(ggmlWritten()));
  const h = readGgufHeader(ggmlWritten());
  const cuts = new Set<number>();
  // Every byte of the fixed header and first key, then every 3rd (each field is cut somewhere), and the data start.
  for (let i = 0; i <= h.dataOffset; i += i < 96 ? 1 : 3) cuts.add(i);
  cuts.add(h.dataOffset);
  for (const t of h.tensors) [t.offset + 1, t.offset + (t.nbytes >> 1), t.offset + t.nbytes - 1].forEach((c) => cuts.add(c));
  for (const cut of cuts) expectFormatError(whole.subarray(0, cut), /truncated GGUF file/, `cut at ${cut}`);
  const last = h.tensors[h.tensors.length - 1];
  expectFormatError(whole.subarray(0, last.offset + 100), /tensor 'q2_k' \(Q2_K, 256 × 2\) needs bytes \[\d+, \d+\) but the file has \d+ bytes/, 'named tensor');
});

test('malformed headers: one FormatError each, naming the problem', () => {
  const kv: [string, Typed][] = [['general.architecture', { t: 'str', v: 'llama' }]];
  const t8: RawTensor = { name: 'w', ne: [32, 2], type: GGML_TYPE.Q8_0, data: new Uint8Array(68) };
  const good = ggufBytes({ kvs: kv, tensors: [t8] });
  const patched = (at: number, bytes: number[]) => { const b = good.slice(); b.set(bytes, at); return b; };
  const cases: [string, Uint8Array, RegExp][] = [
    ['bad magic', patched(0, [0x47, 0x47, 0x4d, 0x4c]), /does not start with 'GGUF' \(got bytes 47 47 4d 4c\)/],
    ['version 1', patched(4, [1, 0, 0, 0]), /version 1 is not supported/],
    ['version 4', patched(4, [4, 0, 0, 0]), /version 4 is not supported/],
    ['big-endian', patched(4, [0, 0, 0, 3]), /big-endian GGUF \(version 3\)/],
    ['duplicate key', ggufBytes({ kvs: [...kv, ...kv] }), /duplicate metadata key 'general.architecture'/],
    ['duplicate tensor', ggufBytes({ kvs: kv, tensors: [t8, t8] }), /duplicate tensor name 'w'/],
    ['unknown tensor type', ggufBytes({ kvs: kv, tensors: [{ ...t8, type: 99 }] }), /tensor 'w' has unknown type 99/],
    ['retired tensor type', ggufBytes({ kvs: kv, tensors: [{ ...t8, type: 31 }] }), /tensor 'w' has unknown type 31/],
    ['alignment not u32', ggufBytes({ kvs: [...kv, ['general.alignment', { t: 'u64', v: 32n }]] }), /general.alignment must be a uint32, got uint64/],
    ['alignment not a power of 2', ggufBytes({ kvs: [...kv, ['general.alignment', { t: 'u32', v: 48 }]] }), /alignment 48 is not a power of 2/],
    ['5 dimensions', ggufBytes({ kvs: kv, tensors: [{ ...t8, ne: [32, 1, 1, 1, 2] }] }), /'w' has 5 dimensions/],
    ['row not whole blocks', ggufBytes({ kvs: kv, tensors: [{ ...t8, ne: [16, 4] }] }), /rows of 16 elements, not a multiple of its block size 32/],
    ['misaligned offset', ggufBytes({ kvs: kv, tensors: [{ ...t8, offset: 8 }] }), /offset 8, not a multiple of the alignment 32/],
    ['bool 2', ggufBytes({ kvs: [['b', { t: 'bool', v: 2 }]] }), /a bool must be 0 or 1, got 2/],
    ['unknown value type', (() => { const b = ggufBytes({ kvs: [['k', { t: 'u8', v: 1 }]] }); b.set([13, 0, 0, 0], 24 + 8 + 1); return b; })(), /'k' has unknown value type 13/],
    ['array count beyond the file', (() => { const b = ggufBytes({ kvs: [['k', { t: 'arr', et: 'i32', v: [1] }]] }); b.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0], 24 + 8 + 1 + 4 + 4); return b; })(), /truncated GGUF file: \d+ elements of metadata 'k'/],
    ['string length beyond the file', (() => { const b = ggufBytes({ kvs: [['k', { t: 'str', v: 'abc' }]] }); b.set([0, 0, 0, 0, 0, 1, 0, 0], 24 + 8 + 1 + 4); return b; })(), /truncated GGUF file: metadata 'k' needs bytes/],
    ['empty file', new Uint8Array(0), /truncated GGUF file: the magic needs bytes \[0, 4\) but the file has 0 bytes/],
  ];
  for (const [what, bytes, re] of cases) expectFormatError(bytes, re, what);
  // The good file itself opens, so each failure above is its own damage.
  const path = scratch.path('good.gguf');
  writeFileSync(path, good);
  assert.equal(readGgufHeader(path).tensors.length, 1);
});

test('unpermuteRope inverts permuteRope (MHA, GQA K, biases); the name map inverts', () => {
  const r = rng(9);
  for (const [heads, hd, cols] of [[4, 16, 24], [2, 16, 24], [3, 8, 1], [1, 4, 5]]) {
    const x = Float32Array.from({ length: heads * hd * cols }, r.normal);
    const p = permuteRope(x, heads, hd, cols);
    assert.notDeepEqual(p, x);
    assert.deepEqual(unpermuteRope(p, heads, hd, cols), x);
    assert.deepEqual(permuteRope(unpermuteRope(x, heads, hd, cols), heads, hd, cols), x);
  }
  assert.throws(() => unpermuteRope(new Float32Array(10), 2, 3, 1), FormatError);
  const ggufNames = ['token_embd.weight', 'output_norm.weight', 'output.weight', ...['attn_norm.weight', 'attn_q.weight', 'attn_q.bias',
    'attn_k.weight', 'attn_k.bias', 'attn_v.weight', 'attn_v.bias', 'attn_output.weight', 'attn_q_norm.weight', 'attn_k_norm.weight',
    'ffn_norm.weight', 'ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight'].map((n) => `blk.11.${n}`)];
  const hf = ggufNames.map(hfTensorName);
  assert.equal(new Set(hf).size, ggufNames.length);
  assert.deepEqual(hf.slice(0, 5), ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight', 'model.layers.11.input_layernorm.weight', 'model.layers.11.self_attn.q_proj.weight']);
  assert.deepEqual(hf.map((n) => ggufTensorName(n!)), ggufNames);
  assert.equal(hfTensorName('rope_freqs.weight'), undefined);
  assert.equal(GGML_TYPES.get(GGML_TYPE.Q6_K)!.typeSize, 210);
});

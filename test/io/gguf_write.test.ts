// The GGUF writer against ggml's own writer:
//   - read and written back, a file written by ggml (llama-quantize's output) or by the
//     project's export is byte-identical;
//   - built as llama-quantize builds it (the f32 file's metadata, then
//     general.quantization_version and general.file_type; tensors in its order, each of the
//     type llamaQuantType picks, encoded by quantizeTensor), a Q8_0, Q4_K_M, Q5_K_M or F16
//     file is byte-identical to llama_model_quantize's, whole file;
//   - llama.cpp (node-llama-cpp) runs the Q8_0 and Q4_K_M files we wrote: its next-token
//     distribution differs from our f32 model's by the quantization error (stated), and
//     less from our own forward on the weights we dequantize from the same file;
//   - nested arrays and every value type read back as written (and as @huggingface/gguf
//     reads them); bad input is one ConfigError naming the key or tensor, and no file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { gguf } from '@huggingface/gguf';
import * as torch from '../../src/torch/index.js';
import { ConfigError } from '../../src/torch/errors.js';
import { CausalLM } from '../../src/lm/model.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { exportGguf } from '../../src/export/gguf.js';
import {
  GgufFile, LLAMA_FTYPE, GGML_TYPE, GGML_TYPES, llamaQuantType, compareLlamaTensorNames, quantizeTensor, readGgufHeader, readGgufModel, writeGguf,
  type GgmlTypeName, type GgufValue,
} from '../../src/io/index.js';
import { LlamaCppRunner } from '../../src/export/lm_check.js';
import { Scratch, rng, runGgml } from '../helpers/ggml_ref.js';

const scratch = new Scratch();
after(() => scratch.dispose());

const CFG = { vocabSize: 260, dim: 256, nLayers: 8, nHeads: 4, nKvHeads: 2, hiddenDim: 512, maxSeqLen: 64, tieEmbeddings: true };
const FTYPES = { Q8_0: LLAMA_FTYPE.MOSTLY_Q8_0, Q4_K_M: LLAMA_FTYPE.MOSTLY_Q4_K_M, Q5_K_M: LLAMA_FTYPE.MOSTLY_Q5_K_M, F16: LLAMA_FTYPE.MOSTLY_F16 };

let made: { f32: string; model: CausalLM; quantized: Record<keyof typeof FTYPES, string> } | undefined;
function files() {
  if (made) return made;
  torch.manualSeed(8);
  const f32 = scratch.path('w.f32.gguf');
  const model = new CausalLM(CFG).eval();
  // Matrices ×4 so that next-token distributions are far from uniform and differences show.
  torch.noGrad(() => model.parameters().forEach((p) => void (p.ndim === 2 && p.mul_(4))));
  exportGguf(model, new ByteTokenizer(), f32);
  const quantized = Object.fromEntries(Object.keys(FTYPES).map((k) => [k, scratch.path(`w.${k}.gguf`)])) as Record<keyof typeof FTYPES, string>;
  const r = runGgml(Object.entries(FTYPES).map(([k, ftype]) => ({ op: 'model_quantize', src: f32, dst: quantized[k as keyof typeof FTYPES], ftype })));
  assert.deepEqual(r, Array(r.length).fill({ rc: 0 }));
  return (made = { f32, model, quantized });
}

/** Reads a file and writes it back through writeGguf. */
function rewrite(path: string, out: string): void {
  using f = GgufFile.open(path);
  writeGguf(out, { metadata: f.metadata, metadataTypes: f.header.metadataTypes, tensors: f.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: f.readBytes(t) })) });
}

test('read and written back: ggml\'s files and the project\'s export are byte-identical', () => {
  const { f32, quantized } = files();
  for (const path of [f32, ...Object.values(quantized)]) {
    const out = scratch.path('rewritten.gguf');
    rewrite(path, out);
    assert.deepEqual(readFileSync(out), readFileSync(path), path);
  }
});

/**
 * Writes `ftype` from the f32 file as llama-quantize does: its KVs in order, then
 * general.quantization_version (GGML_QNT_VERSION = 2) and general.file_type, each removed
 * and appended (gguf_set_val_u32); tensors in llama-model-loader's order (by layer, then
 * name), each of the type llamaQuantType picks. Returns the path and the type counts.
 */
function writeLikeLlamaQuantize(name: string, ftype: number): { path: string; bytes: number; types: Record<string, number> } {
  const { f32 } = files();
  using src = GgufFile.open(f32);
  const metadata: Record<string, GgufValue> = {}, metadataTypes: Record<string, string> = {};
  for (const [k, v] of Object.entries(src.metadata)) {
    if (k === 'general.file_type') continue;
    metadata[k] = v;
    metadataTypes[k] = src.header.metadataTypes[k];
  }
  Object.assign(metadata, { 'general.quantization_version': 2, 'general.file_type': ftype });
  Object.assign(metadataTypes, { 'general.quantization_version': 'uint32', 'general.file_type': 'uint32' });
  const types: Record<string, number> = {};
  const tensors = [...src.tensors].sort((a, b) => compareLlamaTensorNames(a.name, b.name)).map((s) => {
    const type = llamaQuantType(s.name, s.ne, s.type, ftype, { nLayers: CFG.nLayers, tiedEmbeddings: !src.has('output.weight') });
    const typeName = GGML_TYPES.get(type)!.name;
    types[typeName] = (types[typeName] ?? 0) + 1;
    return { name: s.name, ne: s.ne, type, data: quantizeTensor(src.read(s), typeName as GgmlTypeName) };
  });
  const path = scratch.path(`ours.${name}.gguf`);
  return { path, bytes: writeGguf(path, { metadata, metadataTypes, tensors }), types };
}

test('built as llama-quantize builds it, Q8_0, Q4_K_M, Q5_K_M and F16 files are byte-identical to llama_model_quantize\'s', (t) => {
  const { quantized } = files();
  for (const [name, ftype] of Object.entries(FTYPES)) {
    const ours = writeLikeLlamaQuantize(name, ftype);
    const theirs = readFileSync(quantized[name as keyof typeof FTYPES]);
    t.diagnostic(`${name}: ${ours.bytes} bytes, ${JSON.stringify(ours.types)}`);
    assert.equal(ours.bytes, theirs.length, name);
    assert.ok(Buffer.compare(readFileSync(ours.path), theirs) === 0, `${name}: the files differ`);
  }
});

/** Next-token probabilities of our model after every position of each sequence: (T, V) rows. */
function ourProbabilities(m: CausalLM, seqs: number[][]): Float32Array[][] {
  return seqs.map((ids) => torch.tidy(() => torch.noGrad(() => {
    const p = torch.softmax(m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })), -1).dataSync() as Float32Array;
    return ids.map((_, t) => p.slice(t * CFG.vocabSize, (t + 1) * CFG.vocabSize));
  })));
}

/** A CausalLM of CFG with the weights readGgufModel dequantizes from `path` (HF names less 'model.'). */
function dequantizedModel(path: string): CausalLM {
  const g = readGgufModel(path);
  const copy = new CausalLM(CFG).eval();
  torch.noGrad(() => {
    for (const [name, p] of copy.namedParameters()) {
      const t = g.tensors.get(name === 'lm_head.weight' ? name : `model.${name}`) ?? (name === 'lm_head.weight' ? g.tensors.get('model.embed_tokens.weight') : undefined);
      assert.ok(t, name);
      torch.tidy(() => void p.copy_(torch.tensor(t.data, { shape: t.shape })));
    }
  });
  return copy;
}

test('llama.cpp runs the Q8_0 and Q4_K_M files we wrote; its next-token distribution is within the quantization error of ours', async (t) => {
  const { f32, model } = files();
  const ours = { Q8_0: writeLikeLlamaQuantize('Q8_0', FTYPES.Q8_0).path, Q4_K_M: writeLikeLlamaQuantize('Q4_K_M', FTYPES.Q4_K_M).path };
  const r = rng(3);
  const seqs = Array.from({ length: 4 }, () => Array.from({ length: 24 }, () => Math.floor(r.uniform() * 256)));
  const exact = ourProbabilities(model, seqs);
  const diff = (a: ArrayLike<number>[][], b: ArrayLike<number>[][]) => {
    let maxLog = 0, kl = 0, n = 0;
    a.forEach((rows, s) => rows.forEach((p, i) => {
      const q = b[s][i];
      for (let v = 0; v < p.length; v++) {
        if (p[v] > 1e-6) kl += p[v] * Math.log(p[v] / Math.max(q[v], 1e-30));
        if (p[v] > 1e-4) maxLog = Math.max(maxLog, Math.abs(Math.log(p[v]) - Math.log(q[v])));
      }
      n++;
    }));
    return { maxLog, kl: kl / n };
  };
  const results: Record<string, { maxLog: number; kl: number }> = {};
  for (const [name, path] of [['f32', f32], ['Q8_0', ours.Q8_0], ['Q4_K_M', ours.Q4_K_M]] as const) {
    const runner = await LlamaCppRunner.open(path);
    try {
      const theirs: Float64Array[][] = [];
      for (const ids of seqs) theirs.push(await runner.nextProbabilities(ids, CFG.vocabSize));
      results[name] = diff(exact, theirs);
      if (name !== 'f32') {
        // Our forward on the weights we dequantize from the same file: what llama.cpp computes, up to its own rounding.
        const own = diff(ourProbabilities(dequantizedModel(path), seqs), theirs);
        results[`${name} vs ours dequantized`] = own;
      }
    } finally {
      await runner.dispose();
    }
  }
  for (const [k, v] of Object.entries(results)) t.diagnostic(`llama.cpp on ${k}: max |Δ log p| ${v.maxLog.toExponential(2)} (p > 1e-4), mean KL ${v.kl.toExponential(2)} nats`);
  // Bounds at about 3× what was measured (random 8-layer model with ×4 matrices: sharp,
  // error-amplifying). The remainder against our dequantized forward is llama.cpp's: its
  // CPU matmuls quantize the activations too (to Q8_0 / Q8_K blocks).
  assert.ok(results.f32.maxLog < 1e-3, JSON.stringify(results.f32));
  assert.ok(results.Q8_0.kl < 1e-2 && results.Q4_K_M.kl < 0.5, JSON.stringify(results));
  assert.ok(results['Q8_0 vs ours dequantized'].kl < 3e-3 && results['Q4_K_M vs ours dequantized'].kl < 1e-2, JSON.stringify(results));
  assert.ok(results.Q8_0.kl < results.Q4_K_M.kl);
  assert.ok(results['Q8_0 vs ours dequantized'].kl < results.Q8_0.kl && results['Q4_K_M vs ours dequantized'].kl < results.Q4_K_M.kl, JSON.stringify(results));
});

test('every value type and nested arrays read back as written, and as @huggingface/gguf reads them', async () => {
  const metadata: Record<string, GgufValue> = {
    'general.architecture': 'llama', u8: 255, i8: -128, u16: 65535, i16: -32768, u32: 4294967295, i32: -2147483648,
    f32: Math.fround(1.1), f64: 1.1, bool: false, str: 'ünï 🙂', u64: 2n ** 64n - 1n, i64: -(2n ** 63n), u64small: 42,
    strs: ['a', ''], nested: [[1, 2], [], [3]], deep: [[['x']]], empty: [],
  };
  const metadataTypes: Record<string, string> = {
    'general.architecture': 'string', u8: 'uint8', i8: 'int8', u16: 'uint16', i16: 'int16', u32: 'uint32', i32: 'int32',
    f32: 'float32', f64: 'float64', bool: 'bool', str: 'string', u64: 'uint64', i64: 'int64', u64small: 'uint64',
    strs: 'array<string>', nested: 'array<array<int32>>', deep: 'array<array<array<string>>>', empty: 'array<float32>',
  };
  const path = scratch.path('values.gguf');
  const data = quantizeTensor(Float32Array.from({ length: 64 }, (_, i) => i / 7), 'Q8_0');
  writeGguf(path, { metadata, metadataTypes, tensors: [{ name: 'w', ne: [32, 2], type: GGML_TYPE.Q8_0, data }] });
  const h = readGgufHeader(path);
  assert.deepEqual(h.metadata, metadata);
  assert.deepEqual(h.metadataTypes, metadataTypes);
  const theirs = (await gguf(path, { allowLocalFile: true })).metadata as Record<string, unknown>;
  for (const [k, v] of Object.entries(metadata)) assert.deepEqual(typeof v === 'number' && typeof theirs[k] === 'bigint' ? Number(theirs[k]) : theirs[k], v, k);
  using f = GgufFile.open(path);
  assert.deepEqual(f.readBytes('w'), data);
});

test('bad input: one ConfigError naming the key or tensor, and no file', () => {
  const ok = { metadata: { a: 1 } as Record<string, GgufValue>, metadataTypes: { a: 'uint8' } as Record<string, string>, tensors: [] };
  const w = { name: 'w', ne: [32, 2], type: GGML_TYPE.Q8_0, data: new Uint8Array(68) };
  const cases: [string, Parameters<typeof writeGguf>[1], RegExp][] = [
    ['no type', { ...ok, metadataTypes: {} }, /'a' has no type/],
    ['out of range', { ...ok, metadata: { a: 256 } }, /'a' \(uint8\): 256 is not an integer in \[0, 255\]/],
    ['wrong kind', { ...ok, metadataTypes: { a: 'string' } }, /'a' \(string\): expected a string/],
    ['unknown type', { ...ok, metadataTypes: { a: 'uint7' } }, /'a' has unknown type 'uint7'/],
    ['array element', { metadata: { a: [1, 'x'] }, metadataTypes: { a: 'array<int32>' }, tensors: [] }, /'a' \(int32\): x is not an integer/],
    ['u64 range', { metadata: { a: -1n }, metadataTypes: { a: 'uint64' }, tensors: [] }, /-1 is out of range/],
    ['alignment', { metadata: { 'general.alignment': 24 }, metadataTypes: { 'general.alignment': 'uint32' }, tensors: [] }, /power of 2, got 24/],
    ['byte length', { ...ok, tensors: [{ ...w, data: new Uint8Array(67) }] }, /tensor 'w' \(Q8_0, 32 × 2\) needs 68 bytes, got 67/],
    ['row blocks', { ...ok, tensors: [{ ...w, ne: [16, 4] }] }, /tensor 'w' \(Q8_0\) has rows of 16/],
    ['type', { ...ok, tensors: [{ ...w, type: 31 }] }, /tensor 'w' has unknown type 31/],
    ['duplicate', { ...ok, tensors: [w, w] }, /duplicate tensor name 'w'/],
  ];
  for (const [what, input, re] of cases) {
    const path = scratch.path(`bad-${what.replace(/ /g, '_')}.gguf`);
    assert.throws(() => writeGguf(path, input), (e: unknown) => e instanceof ConfigError && re.test(e.message), what);
    assert.ok(!existsSync(path), `${what}: a file was left`);
  }
});

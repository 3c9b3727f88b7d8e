// Whole files: a small Llama-style LM exported by the project (src/export/gguf.ts, f32),
// quantized by llama.cpp's own llama_model_quantize (libllama of node-llama-cpp 3.21.1)
// to Q8_0 and Q4_K_M, and read back:
//   - every tensor's info equals ggml's gguf reader's and every tensor's values equal
//     ggml's dequantization of the same bytes, bit for bit (Q4_K_M mixes Q4_K, Q6_K and F32);
//   - the metadata round-trips: the quantized file holds the f32 file's keys and values
//     (general.file_type aside), and the f32 file's metadata equals @huggingface/gguf's parse;
//   - our quantizers write the very bytes llama-quantize wrote for every tensor (F32, F16,
//     BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), and llamaQuantType picks its type for
//     each, so a writer can make llama.cpp's Q8_0, Q4_K_M, ... files, fallbacks included;
//   - readGgufModel of the f32 file gives back the model's parameters exactly, under
//     Hugging Face names with Q/K rows unpermuted; of the quantized files, the same
//     parameters within the quantization error, which the test states and bounds.
// dim 256 and hidden 512 make every row a whole number of 256-blocks, so Q4_K_M uses the
// k-quants rather than its fallbacks (Q5_0/Q5_1/Q8_0 for rows that are not).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gguf } from '@huggingface/gguf';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { exportGguf } from '../../src/export/gguf.js';
import { lmWeights } from '../../src/export/lm_weights.js';
import {
  GgufFile, LLAMA_FTYPE, QUANTIZABLE, readGgufModel, quantizeTensor, llamaQuantType, type GgmlTypeName, type GgufModel,
} from '../../src/io/index.js';
import { Scratch, bitDiff, runGgml } from '../helpers/ggml_ref.js';

const scratch = new Scratch();
after(() => scratch.dispose());

const CFG = { vocabSize: 260, dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 512, maxSeqLen: 64 };
const FTYPE = { Q4_0: LLAMA_FTYPE.MOSTLY_Q4_0, Q8_0: LLAMA_FTYPE.MOSTLY_Q8_0, Q4_K_M: LLAMA_FTYPE.MOSTLY_Q4_K_M, Q5_K_M: LLAMA_FTYPE.MOSTLY_Q5_K_M };
// Rows of 96 and 160 are not whole 256-blocks: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0
// (llama-quant.cpp tensor_type_fallback), as it does for Qwen2.5-0.5B's 896.
const ODD = { vocabSize: 260, dim: 96, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 160, maxSeqLen: 64 };

let made: { f32: string; odd: string; q8: string; q4: string; others: string[]; weights: ReturnType<typeof lmWeights> } | undefined;
function files() {
  if (made) return made;
  torch.manualSeed(3);
  const m = new CausalLM(CFG).eval();
  const weights = lmWeights(m, 'test');
  const f32 = scratch.path('model.f32.gguf'), q8 = scratch.path('model.q8_0.gguf'), q4 = scratch.path('model.q4_k_m.gguf');
  exportGguf(m, new ByteTokenizer(), f32, { name: 'gguf-read-test' });
  const odd = scratch.path('odd.f32.gguf');
  exportGguf(new CausalLM(ODD).eval(), new ByteTokenizer(), odd);
  const others = [scratch.path('model.q4_0.gguf'), scratch.path('model.q5_k_m.gguf'), scratch.path('odd.q4_k_m.gguf'), scratch.path('odd.q5_k_m.gguf')];
  const r = runGgml([
    { op: 'model_quantize', src: f32, dst: q8, ftype: FTYPE.Q8_0 },
    { op: 'model_quantize', src: f32, dst: q4, ftype: FTYPE.Q4_K_M },
    { op: 'model_quantize', src: f32, dst: others[0], ftype: FTYPE.Q4_0 },
    { op: 'model_quantize', src: f32, dst: others[1], ftype: FTYPE.Q5_K_M },
    { op: 'model_quantize', src: odd, dst: others[2], ftype: FTYPE.Q4_K_M },
    { op: 'model_quantize', src: odd, dst: others[3], ftype: FTYPE.Q5_K_M },
  ]);
  assert.deepEqual(r, Array(6).fill({ rc: 0 }));
  return (made = { f32, odd, q8, q4, others, weights });
}

/** Checks a file's infos and every tensor's values against ggml; returns the count of tensors per type. */
function checkAgainstGgml(path: string): Record<string, number> {
  const [dump] = runGgml([{ op: 'gguf_dump', path }]);
  using file = GgufFile.open(path);
  assert.equal(file.header.dataOffset, dump.data_offset);
  assert.equal(file.tensors.length, dump.tensors.length);
  const ops: object[] = [];
  file.tensors.forEach((t, i) => {
    const g = dump.tensors[i];
    assert.deepEqual([t.name, t.type, [...t.ne, 1, 1, 1].slice(0, 4), t.offset, t.nbytes], [g.name, g.type, g.ne, dump.data_offset + g.offset, g.size]);
    ops.push({ op: 'dequantize', type: t.type, src: scratch.write(`t${i}.bin`, file.readBytes(t)), dst: scratch.path(`t${i}.deq`), n: t.numel });
  });
  runGgml(ops);
  const types: Record<string, number> = {};
  file.tensors.forEach((t, i) => {
    const d = bitDiff(file.read(t), scratch.floats(`t${i}.deq`));
    assert.equal(d.mismatches, 0, `${path} ${t.name} (${t.typeName}): ${d.first}`);
    types[t.typeName] = (types[t.typeName] ?? 0) + 1;
  });
  // The dump's metadata equals ours, value for value (ggml writes big integers as strings; none here).
  for (const kv of dump.kvs) {
    const ours = file.metadata[kv.key];
    if (kv.type === 'f32') assert.equal(ours, Math.fround(kv.value), kv.key);
    else if (kv.arr_type === 'f32') assert.deepEqual(ours, kv.value.map(Math.fround), kv.key);
    else assert.deepEqual(ours, kv.value, kv.key);
  }
  assert.deepEqual(Object.keys(file.metadata), dump.kvs.map((kv: { key: string }) => kv.key));
  return types;
}

test('llama-quantize files (Q8_0, Q4_K_M, Q4_0, Q5_K_M; Q4_K_M and Q5_K_M with fallbacks): every tensor equals ggml\'s dequantization bit for bit, infos and metadata equal ggml\'s', (t) => {
  const { f32, q8, q4, others } = files();
  const seen = new Set<string>();
  for (const [name, path] of [['f32', f32], ['Q8_0', q8], ['Q4_K_M', q4], ['Q4_0', others[0]], ['Q5_K_M', others[1]], ['Q4_K_M, rows of 96 and 160', others[2]], ['Q5_K_M, rows of 96 and 160', others[3]]]) {
    const types = checkAgainstGgml(path);
    Object.keys(types).forEach((k) => seen.add(k));
    t.diagnostic(`${name}: tensor types ${JSON.stringify(types)}`);
    if (name === 'Q8_0') assert.deepEqual(Object.keys(types).sort(), ['F32', 'Q8_0']);
    if (name === 'Q4_K_M') assert.ok(types.Q4_K > 0 && types.Q6_K > 0, JSON.stringify(types));
  }
  // Every block type we read except F16/BF16 (checked on ggml's gguf writer's file) came out of llama-quantize.
  assert.deepEqual([...seen].sort(), ['F32', 'Q4_0', 'Q4_K', 'Q5_0', 'Q5_1', 'Q5_K', 'Q6_K', 'Q8_0']);
});

test('metadata round-trips through llama-quantize; the f32 file\'s metadata equals @huggingface/gguf\'s parse', async () => {
  const { f32, q8, q4 } = files();
  using a = GgufFile.open(f32);
  const theirs = (await gguf(f32, { allowLocalFile: true })).metadata as Record<string, unknown>;
  for (const [k, v] of Object.entries(a.metadata)) assert.deepEqual(v, typeof theirs[k] === 'bigint' ? Number(theirs[k]) : theirs[k], k);
  assert.equal(a.metadata['tokenizer.ggml.tokens'] instanceof Array && (a.metadata['tokenizer.ggml.tokens'] as string[]).length, 260);
  for (const [path, ftype] of [[q8, FTYPE.Q8_0], [q4, FTYPE.Q4_K_M]] as const) {
    using b = GgufFile.open(path);
    assert.equal(b.metadata['general.file_type'], ftype);
    for (const [k, v] of Object.entries(a.metadata)) {
      if (k === 'general.file_type') continue;
      assert.deepEqual(b.metadata[k], v, `${path}: ${k}`);
      assert.equal(b.header.metadataTypes[k], a.header.metadataTypes[k], `${path}: type of ${k}`);
    }
  }
});

test('our quantizers write the bytes llama-quantize wrote, for every tensor of every type we encode', (t) => {
  const { f32, odd, q8, q4, others } = files();
  using a = GgufFile.open(f32);
  using b = GgufFile.open(odd);
  const count: Record<string, number> = {};
  for (const [src, path] of [[a, q8], [a, q4], [a, others[0]], [a, others[1]], [b, others[2]], [b, others[3]]] as const) {
    using q = GgufFile.open(path);
    for (const t of q.tensors) {
      if (!(QUANTIZABLE as readonly string[]).includes(t.typeName)) continue;
      assert.deepEqual(quantizeTensor(src.read(t.name), t.typeName as GgmlTypeName), q.readBytes(t), `${path}: ${t.typeName} ${t.name}`);
      count[t.typeName] = (count[t.typeName] ?? 0) + 1;
    }
  }
  t.diagnostic(`tensors compared byte for byte: ${JSON.stringify(count)}`);
  assert.deepEqual(Object.keys(count).sort(), ['F32', 'Q4_0', 'Q4_K', 'Q5_0', 'Q5_1', 'Q5_K', 'Q6_K', 'Q8_0']);
});

// 12 tied layers, so that use_more_bits picks some layers and not others, and the tied
// token_embd.weight is treated as the output.
const DEEP = { vocabSize: 260, dim: 256, nLayers: 12, nHeads: 4, nKvHeads: 2, hiddenDim: 256, maxSeqLen: 64, tieEmbeddings: true };

test('llamaQuantType chooses llama-quantize\'s type for every tensor, in 8 file types, tied or not, fallbacks included', (t) => {
  const { f32, odd, q8, q4, others } = files();
  const deep = scratch.path('deep.f32.gguf');
  torch.manualSeed(5);
  exportGguf(new CausalLM(DEEP).eval(), new ByteTokenizer(), deep);
  const ftypes = ['MOSTLY_F16', 'MOSTLY_BF16', 'MOSTLY_Q8_0', 'MOSTLY_Q4_0', 'MOSTLY_Q4_K_S', 'MOSTLY_Q4_K_M', 'MOSTLY_Q5_K_M', 'MOSTLY_Q6_K'] as const;
  const deepFiles = ftypes.map((k) => [scratch.path(`deep.${k}.gguf`), LLAMA_FTYPE[k]] as const);
  assert.deepEqual(runGgml(deepFiles.map(([dst, ftype]) => ({ op: 'model_quantize', src: deep, dst, ftype }))), Array(ftypes.length).fill({ rc: 0 }));
  const cases: [string, string, number, number, boolean][] = [
    ...deepFiles.map(([path, ftype]) => [deep, path, ftype, 12, true] as [string, string, number, number, boolean]),
    [f32, q8, FTYPE.Q8_0, 2, false], [f32, q4, FTYPE.Q4_K_M, 2, false], [f32, others[0], FTYPE.Q4_0, 2, false],
    [f32, others[1], FTYPE.Q5_K_M, 2, false], [odd, others[2], FTYPE.Q4_K_M, 2, false], [odd, others[3], FTYPE.Q5_K_M, 2, false],
  ];
  let bytesChecked = 0;
  for (const [srcPath, path, ftype, nLayers, tied] of cases) {
    using src = GgufFile.open(srcPath);
    using q = GgufFile.open(path);
    const types: Record<string, number> = {};
    for (const ti of q.tensors) {
      const s = src.tensor(ti.name);
      assert.equal(llamaQuantType(ti.name, s.ne, s.type, ftype, { nLayers, tiedEmbeddings: tied }), ti.type, `${path}: ${ti.name} is ${ti.typeName}`);
      types[ti.typeName] = (types[ti.typeName] ?? 0) + 1;
      if (srcPath === deep && (QUANTIZABLE as readonly string[]).includes(ti.typeName)) {
        assert.deepEqual(quantizeTensor(src.read(s), ti.typeName as GgmlTypeName), q.readBytes(ti), `${path}: ${ti.name}`);
        bytesChecked++;
      }
    }
    if (srcPath === deep) t.diagnostic(`12 tied layers, file type ${ftype}: ${JSON.stringify(types)}`);
  }
  t.diagnostic(`12-layer files: ${bytesChecked} tensors of types we encode byte-identical to llama-quantize's`);
  assert.throws(() => llamaQuantType('output.weight', [256, 10], 0, LLAMA_FTYPE.MOSTLY_Q4_1 + 100, { nLayers: 1, tiedEmbeddings: false }), /file type 103 is not covered/);
});

/** Relative quantization error of a file's matrices against the model: RMS over all and the worst tensor's max |Δ| / max |w|. */
function quantError(model: GgufModel, weights: ReturnType<typeof lmWeights>): { rms: number; max: number; worst: string } {
  let se = 0, sw = 0, max = 0, worst = '';
  for (const [name, w] of weights.tensors) {
    if (w.shape.length < 2) continue;
    const q = model.tensors.get(name === 'lm_head.weight' ? name : `model.${name}`)!.data;
    let mw = 0, md = 0;
    for (let i = 0; i < w.data.length; i++) {
      se += (q[i] - w.data[i]) ** 2;
      sw += w.data[i] ** 2;
      mw = Math.max(mw, Math.abs(w.data[i]));
      md = Math.max(md, Math.abs(q[i] - w.data[i]));
    }
    if (md / mw > max) [max, worst] = [md / mw, name];
  }
  return { rms: Math.sqrt(se / sw), max, worst };
}

test('readGgufModel: the f32 file gives the model\'s parameters exactly under HF names; Q8_0 and Q4_K_M within their error', (t) => {
  const { f32, q8, q4, weights } = files();
  const exact = readGgufModel(f32);
  assert.equal(exact.architecture, 'llama');
  const hfNames = [...weights.tensors.keys()].map((n) => (n === 'lm_head.weight' ? n : `model.${n}`));
  assert.deepEqual([...exact.tensors.keys()].sort(), hfNames.sort());
  for (const [name, w] of weights.tensors) {
    const got = exact.tensors.get(name === 'lm_head.weight' ? name : `model.${name}`)!;
    assert.deepEqual(got.shape, w.shape, name);
    assert.equal(got.dtype, 'F32');
    assert.equal(bitDiff(got.data, w.data).mismatches, 0, name); // q/k: unpermuteRope undid the export's permuteRope
  }
  const bounds = { Q8_0: { rms: 0.01, max: 0.02 }, Q4_K_M: { rms: 0.1, max: 0.3 } };
  for (const [name, path] of [['Q8_0', q8], ['Q4_K_M', q4]] as const) {
    const e = quantError(readGgufModel(path), weights);
    t.diagnostic(`${name} vs the f32 weights: relative RMS error ${e.rms.toExponential(3)}, worst tensor max |Δ|/max|w| ${e.max.toExponential(3)} (${e.worst})`);
    assert.ok(e.rms < bounds[name].rms && e.max < bounds[name].max, `${name}: ${JSON.stringify(e)}`);
    assert.ok(e.rms > 0);
  }
});

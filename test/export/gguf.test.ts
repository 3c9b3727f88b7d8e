// GGUF export, checked by llama.cpp itself (node-llama-cpp 3.21.1, its bundled CPU build)
// and by @huggingface/gguf's parser:
//   - f32: greedy generation in llama.cpp equals ours (generate, temperature 0) for 64 tokens
//     on 20 prompts, id for id, on a small model trained a few steps on a repetitive text (a
//     random tiny model has near-tied logits, where float rounding rather than the export
//     decides); on a random GQA model and a random tied-embedding model, llama.cpp's
//     teacher-forced next-token probabilities equal ours (|Δp| ≤ 1e-6, |Δ log p| ≤ 1e-4);
//     these checks run llama.cpp with an F32 KV cache and flash attention off (its
//     flash-attention path casts K and V to F16, a 3e-4 logit error that is not the export's);
//   - f16: loads, and greedy ids agree on at least 18 of 20 prompts, any divergence being a
//     near-tie in our own logits (gap < 0.05);
//   - the tokenizer: llama.cpp turns text into exactly our byte ids, specials into theirs;
//   - the metadata read back; the Q/K row permutation is the identity of attention scores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { ByteTokenizer, HfTokenizer } from '../../src/lm/tokenizer.js';
import { loadLm } from '../../src/lm/checkpoint.js';
import { type CausalLM } from '../../src/lm/model.js';
import { generate } from '../../src/lm/generate.js';
import { exportGguf, buildGguf, permuteRope } from '../../src/export/gguf.js';
import { byteTokenizerJson } from '../../src/lm/byte_vocab.js';
import { LlamaCppRunner, compareGreedyWithLlamaCpp } from '../../src/export/lm_check.js';
import { SMALL, prompts, randomLm, tok, trainedLm, trainedLmFolder } from './lm_fixtures.js';
import { prerequisite } from '../helpers/prerequisite.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gguf-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

let trained: CausalLM | undefined;
const getTrained = () => (trained ??= trainedLm(SMALL, 1, 120));

test('f32: llama.cpp greedy ids equal ours, 64 tokens × 20 prompts (trained fixture, GQA)', async (t) => {
  const m = getTrained();
  const path = join(work, 'trained.f32.gguf');
  const info = exportGguf(m, tok, path, { name: 'fixture' });
  assert.equal(info.bytes, statSync(path).size);
  const r = await LlamaCppRunner.open(path);
  try {
    const g = await compareGreedyWithLlamaCpp(m, r, prompts(20), 64);
    t.diagnostic(`f32: ${g.identicalPrompts}/20 prompts identical, ${g.matchedTokens}/${g.totalTokens} tokens`);
    assert.equal(g.totalTokens, 20 * 64);
    assert.deepEqual(g.divergences, [], JSON.stringify(g.divergences));
    assert.equal(g.identicalPrompts, 20);
  } finally {
    await r.dispose();
  }
});

test('f16: loads, greedy agrees on ≥ 18/20 prompts, any divergence a near-tie (< 0.05) in our logits', async (t) => {
  const m = getTrained();
  const path = join(work, 'trained.f16.gguf');
  const f16 = exportGguf(m, tok, path, { dtype: 'f16' });
  const f32 = buildGguf(m, tok).info;
  assert.ok(f16.bytes < 0.6 * f32.bytes, `${f16.bytes} vs ${f32.bytes}`);
  const r = await LlamaCppRunner.open(path);
  try {
    const g = await compareGreedyWithLlamaCpp(m, r, prompts(20), 64);
    t.diagnostic(`f16: ${g.identicalPrompts}/20 prompts identical, ${g.matchedTokens}/${g.totalTokens} tokens, worst gap ${g.worstGap}`);
    assert.ok(g.identicalPrompts >= 18, JSON.stringify(g));
    assert.ok(g.worstGap < 0.05, JSON.stringify(g.divergences));
  } finally {
    await r.dispose();
  }
});

/** max |p_llama − p_ours| and max |log p_llama − log p_ours| (p_ours > 1e-6) of next-token probabilities at every position. */
async function probabilityDiff(m: CausalLM, path: string, seqs: number[][]): Promise<{ p: number; logp: number; positions: number }> {
  const r = await LlamaCppRunner.open(path);
  const V = m.cfg.vocabSize;
  const d = { p: 0, logp: 0, positions: 0 };
  try {
    for (const ids of seqs) {
      const theirs = await r.nextProbabilities(ids, V);
      const ours = torch.tidy(() => torch.noGrad(() => torch.softmax(m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })), -1).dataSync() as Float32Array));
      theirs.forEach((row, t) =>
        row.forEach((p, v) => {
          const q = ours[t * V + v];
          d.p = Math.max(d.p, Math.abs(p - q));
          if (q > 1e-6) d.logp = Math.max(d.logp, Math.abs(Math.log(p) - Math.log(q)));
        }));
      d.positions += ids.length;
    }
  } finally {
    await r.dispose();
  }
  return d;
}

test('random models (GQA; MHA with tied embeddings, other rope theta): llama.cpp next-token probabilities equal ours (|Δp| ≤ 1e-6, |Δ log p| ≤ 1e-4)', async (t) => {
  const cases = [
    { name: 'gqa', cfg: SMALL },
    { name: 'tied', cfg: { ...SMALL, nKvHeads: 4, nLayers: 3, dim: 48, hiddenDim: 96, tieEmbeddings: true, ropeTheta: 500, normEps: 1e-6 } },
  ];
  for (const c of cases) {
    // Weights scaled ×4 so the distributions are far from uniform and the check has teeth.
    const m = randomLm(c.cfg, 5);
    torch.noGrad(() => m.parameters().forEach((p) => void (p.ndim === 2 && p.mul_(4))));
    const path = join(work, `${c.name}.gguf`);
    const info = exportGguf(m, tok, path);
    assert.equal(info.tiedEmbeddings, c.name === 'tied');
    const seqs = prompts(6).map((p, i) => [...p, ...generate(m, p, { maxNewTokens: 20 + i, temperature: 1, seed: i }).ids]);
    const d = await probabilityDiff(m, path, seqs);
    t.diagnostic(`${c.name}: max |Δp| = ${d.p.toExponential(2)}, max |Δ log p| = ${d.logp.toExponential(2)} over ${d.positions} positions × ${m.cfg.vocabSize}`);
    assert.ok(d.p <= 1e-6 && d.logp <= 1e-4, `${c.name}: ${JSON.stringify(d)}`);
  }
});

const trainedLmPrereq = prerequisite('a trained LM folder (assets/reasoning-teacher, or $DISTILL_LM_DIR)', trainedLmFolder() !== undefined,
  'git checkout assets/reasoning-teacher (it ships with the repository), or point DISTILL_LM_DIR at an LM folder');
test('a trained LM (the shipped reasoning teacher, or $DISTILL_LM_DIR): f32 greedy agrees with llama.cpp, divergences only at near-ties', { skip: trainedLmPrereq.skip }, async (t) => {
  trainedLmPrereq.check();
  const dir = trainedLmFolder()!;
  const { model, tokenizer } = loadLm(dir);
  if (!(tokenizer instanceof ByteTokenizer)) return t.skip(`${dir}: tokenizer ${tokenizer.kind} has no GGUF form yet`);
  const path = join(work, 'lead.gguf');
  exportGguf(model, tokenizer, path);
  const questions = ['A farmer keeps chickens and rabbits. Together they have 10 heads and 28 legs. How many chickens and how many rabbits are there?', '今有鸡兔同笼，上有35头，下有94足。问鸡兔各几何？', 'What is 12 + 7?', '计算 3 × 4。', 'Hello!'];
  const ps = Array.from({ length: 20 }, (_, i) => tokenizer.chatPrompt([{ role: 'user', content: `${questions[i % 5]}${' '.repeat(i >> 2)}` }]));
  const r = await LlamaCppRunner.open(path);
  try {
    const g = await compareGreedyWithLlamaCpp(model, r, ps, 64);
    t.diagnostic(`${dir}: ${g.identicalPrompts}/20 prompts identical, ${g.matchedTokens}/${g.totalTokens} tokens, worst gap ${g.worstGap}`);
    assert.ok(g.worstGap < 1e-3, `${dir}: ${JSON.stringify(g)}`);
  } finally {
    await r.dispose();
  }
});

test('tokenizer: llama.cpp maps text to our byte ids and specials to ours, and back', async () => {
  const path = join(work, 'tok.gguf');
  exportGguf(randomLm(SMALL, 2), tok, path);
  const r = await LlamaCppRunner.open(path);
  try {
    const texts = ['Hello, world!', '  two  spaces\tand\ttabs\r\n', '小狗 跑得快。', 'emoji 🦊 and ü', "it's <|eos|> not special", '\u0000\u0001\u007f', '1234567890'];
    for (const t of texts) {
      assert.deepEqual(r.tokenize(t), tok.encode(t), JSON.stringify(t));
      assert.equal(r.detokenize(tok.encode(t)), t);
    }
    assert.deepEqual(r.tokenize('<|bos|><|user|>hi<|assistant|>ok<|eos|>', true), [256, 258, 104, 105, 259, 111, 107, 257]);
  } finally {
    await r.dispose();
  }
});

test('@huggingface/gguf reads the metadata back: architecture, counts, tokenizer, tensor types', async () => {
  const m = randomLm(SMALL, 3);
  const c = m.cfg;
  for (const dtype of ['f32', 'f16'] as const) {
    const path = join(work, `meta.${dtype}.gguf`);
    exportGguf(m, tok, path, { dtype, name: 'meta-check' });
    const { metadata: md, tensorInfos, tensorDataOffset } = await gguf(path, { allowLocalFile: true });
    const get = (k: string) => (md as Record<string, unknown>)[k];
    assert.equal(md.version, 3);
    assert.equal(get('general.architecture'), 'llama');
    assert.equal(get('general.name'), 'meta-check');
    assert.equal(get('general.alignment'), 32);
    assert.equal(get('general.file_type'), dtype === 'f32' ? 0 : 1);
    const want: Record<string, number> = {
      'llama.context_length': c.maxSeqLen, 'llama.embedding_length': c.dim, 'llama.block_count': c.nLayers,
      'llama.feed_forward_length': c.hiddenDim, 'llama.attention.head_count': c.nHeads, 'llama.attention.head_count_kv': c.nKvHeads,
      'llama.rope.dimension_count': c.dim / c.nHeads, 'llama.vocab_size': 260,
    };
    for (const [k, v] of Object.entries(want)) assert.equal(get(k), v, k);
    assert.equal(get('llama.rope.freq_base'), c.ropeTheta);
    assert.ok(Math.abs((get('llama.attention.layer_norm_rms_epsilon') as number) - c.normEps) < 1e-12);
    assert.equal(get('tokenizer.ggml.model'), 'gpt2');
    const tokens = get('tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, 260);
    assert.deepEqual([tokens[32], tokens[10], tokens[65], tokens[256], tokens[257]], ['Ġ', 'Ċ', 'A', '<|bos|>', '<|eos|>']);
    assert.deepEqual(get('tokenizer.ggml.merges'), []);
    const types = get('tokenizer.ggml.token_type') as number[];
    assert.ok(types.slice(0, 256).every((t) => t === 1) && types.slice(256).every((t) => t === 3));
    assert.deepEqual([get('tokenizer.ggml.bos_token_id'), get('tokenizer.ggml.eos_token_id'), get('tokenizer.ggml.add_bos_token')], [256, 257, false]);
    assert.match(get('tokenizer.chat_template') as string, /<\|assistant\|>/);
    assert.equal(tensorInfos.length, 2 + 9 * c.nLayers + 1);
    const byName = new Map(tensorInfos.map((t) => [t.name, t]));
    assert.deepEqual(byName.get('token_embd.weight')!.shape.map(Number), [c.dim, 260]);
    assert.deepEqual(byName.get('blk.1.attn_k.weight')!.shape.map(Number), [c.dim, c.nKvHeads * (c.dim / c.nHeads)]);
    assert.deepEqual(byName.get('blk.0.ffn_down.weight')!.shape.map(Number), [c.hiddenDim, c.dim]);
    for (const t of tensorInfos) {
      assert.equal(Number(t.offset) % 32, 0, t.name);
      assert.equal(t.dtype, t.n_dims === 1 || dtype === 'f32' ? 0 : 1, `${t.name} dtype`);
    }
    // The bytes: output_norm is norm.weight as f32, attn_v is v_proj unchanged, attn_q is q_proj permuted.
    const file = readFileSync(path);
    const at = (name: string, n: number) => {
      const o = Number(tensorDataOffset) + Number(byName.get(name)!.offset);
      return new Uint8Array(file.subarray(o, o + n));
    };
    const f32Of = (t: torch.Tensor) => t.dataSync() as Float32Array;
    assert.deepEqual(new Float32Array(at('output_norm.weight', 4 * c.dim).buffer), f32Of(m.norm.weight!));
    if (dtype === 'f32') {
      const q = m.layers.at(0).self_attn.q_proj.weight;
      assert.deepEqual(new Float32Array(at('blk.0.attn_q.weight', 4 * q.numel).buffer), permuteRope(f32Of(q), c.nHeads, c.dim / c.nHeads, c.dim));
      const v = m.layers.at(1).self_attn.v_proj.weight;
      assert.deepEqual(new Float32Array(at('blk.1.attn_v.weight', 4 * v.numel).buffer), f32Of(v));
    } else {
      const v = m.layers.at(1).self_attn.v_proj.weight;
      assert.deepEqual(at('blk.1.attn_v.weight', 2 * v.numel), torch.tidy(() => v.toDtype('float16').bytes()));
    }
  }
  const tied = await gguf(exportGguf(randomLm({ ...SMALL, tieEmbeddings: true }, 3), tok, join(work, 'tied-meta.gguf')).path!, { allowLocalFile: true });
  assert.ok(!tied.tensorInfos.some((t) => t.name === 'output.weight'), 'tied: no output.weight');
});

test('permuteRope: llama.cpp\'s adjacent-pair RoPE on permuted rows = our rotate-half RoPE, rows permuted', () => {
  const H = 3, hd = 8, cols = 5, half = hd / 2;
  const W = Float32Array.from({ length: H * hd * cols }, (_, i) => Math.sin(i * 1.7));
  const P = permuteRope(W, H, hd, cols);
  const x = Float32Array.from({ length: cols }, (_, i) => Math.cos(i));
  const mv = (M: Float32Array) => Float64Array.from({ length: H * hd }, (_, r) => x.reduce((a, xi, c) => a + M[r * cols + c] * xi, 0));
  const pos = 7;
  const ang = (i: number) => pos * Math.pow(10000, (-2 * i) / hd);
  const q = mv(W), qp = mv(P);
  for (let h = 0; h < H; h++)
    for (let i = 0; i < half; i++) {
      const [a, b] = [q[h * hd + i], q[h * hd + i + half]]; // rotate-half pair
      const [c, d] = [qp[h * hd + 2 * i], qp[h * hd + 2 * i + 1]]; // interleaved pair
      const cs = Math.cos(ang(i)), sn = Math.sin(ang(i));
      assert.ok(Math.abs(a * cs - b * sn - (c * cs - d * sn)) < 1e-9 && Math.abs(b * cs + a * sn - (d * cs + c * sn)) < 1e-9);
    }
});

test('unsupported: a non-LM model, a substituted or biased layer, a tokenizer llama.cpp cannot split as we do, a vocabulary mismatch; no file', () => {
  const path = join(work, 'bad.gguf');
  const expectErr = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_CONFIG');
      assert.match(e.message, re);
      return true;
    });
  expectErr(() => exportGguf(new nn.Sequential(new nn.Linear(4, 4)), tok, path), /GGUF export: the model \(Sequential\) is not supported; only the Llama-style CausalLM/);
  const biased = randomLm(SMALL, 4);
  biased.layers.at(1).self_attn.registerModule('q_proj', new nn.Linear(64, 64));
  expectErr(() => exportGguf(biased, tok, path), /layer 'layers\.1\.self_attn\.q_proj' \(Linear\) has a bias/);
  const swapped = randomLm(SMALL, 4);
  swapped.layers.at(0).registerModule('mlp', new nn.Sequential(new nn.Linear(64, 64, { bias: false }), new nn.GELU()));
  expectErr(() => exportGguf(swapped, tok, path), /layer 'layers\.0\.mlp' \(Sequential\) is not supported.*expected SwiGLU/);
  const hf = new HfTokenizer(byteTokenizerJson(), { eos_token: '<|eos|>' }, 'bytes');
  // A tokenizer.json without a llama.cpp pre-tokenizer (the byte tokenizer's: no split regex, no merges) is refused.
  expectErr(() => exportGguf(randomLm(SMALL, 4), hf, path), /llama\.cpp has no pre-tokenizer for this tokenizer/);
  expectErr(() => exportGguf(randomLm({ ...SMALL, vocabSize: 300 }, 4), tok, path), /vocabulary \(300\) does not match the byte tokenizer's \(260\)/);
  expectErr(() => exportGguf(randomLm(SMALL, 4), tok, path, { dtype: 'q8' as never }), /dtype 'q8' is not supported/);
  assert.throws(() => statSync(path), /ENOENT/);
});

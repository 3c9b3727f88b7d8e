// GGUF export of each family, checked by llama.cpp (node-llama-cpp 3.21.1, its bundled CPU
// build, F32 KV cache): on random f32 models of Llama with llama3 RoPE scaling (rope_freqs
// tensor), Qwen2 (q/k/v biases, tied head, no Q/K permutation) and Qwen3 (q/k norms,
// head_dim ≠ d/heads), llama.cpp's next-token log-probabilities equal ours at every position
// (max |Δ log p| ≤ 1e-3; llama.cpp reports probabilities, not logits, so log p — the logits
// less each position's log-normaliser — is what is compared). The metadata and tensor names
// are read back with @huggingface/gguf; greedy generation over 20 prompts × 64 tokens is identical,
// or diverges only where our own top-2 logits tie within 1e-3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import * as torch from '../../src/torch/index.js';
import { ropeInvFreq, type LmConfig } from '../../src/lm/model.js';
import { generate } from '../../src/lm/generate.js';
import { exportGguf, llama3RopeFreqs } from '../../src/export/gguf.js';
import { LlamaCppRunner, compareGreedyWithLlamaCpp } from '../../src/export/lm_check.js';
import { prompts, tok, randomWeightsLm as randomModel, logprobDiff } from './lm_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gguf-arch-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const BASE = { vocabSize: 260, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 256 };
const CASES: { name: string; cfg: Partial<LmConfig> & { vocabSize: number }; tensors: RegExp[] }[] = [
  {
    // Wavelengths of head size 16 at theta 10000 against 64/4 and 64/1: every branch of the scaling.
    name: 'llama-llama3-rope', cfg: { ...BASE, arch: 'llama', ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } },
    tensors: [/^rope_freqs\.weight$/, /^output\.weight$/],
  },
  { name: 'qwen2-bias-tied', cfg: { ...BASE, arch: 'qwen2', qkvBias: true, tieEmbeddings: true, ropeTheta: 1e6, normEps: 1e-6 }, tensors: [/^blk\.1\.attn_q\.bias$/, /^blk\.0\.attn_v\.bias$/] },
  { name: 'qwen3-qk-norm', cfg: { ...BASE, arch: 'qwen3', qkNorm: true, headDim: 32, ropeTheta: 1e6, normEps: 1e-6 }, tensors: [/^blk\.0\.attn_q_norm\.weight$/, /^blk\.1\.attn_k_norm\.weight$/] },
];

for (const c of CASES) {
  test(`${c.name}: llama.cpp's next-token log-probabilities equal ours (f32, |Δ log p| ≤ 1e-3)`, async (t) => {
    const m = randomModel(c.cfg, 3);
    const path = join(work, `${c.name}.gguf`);
    const info = exportGguf(m, tok, path);
    assert.equal(info.architecture, c.cfg.arch);
    const parsed = await gguf(path, { allowLocalFile: true });
    const meta = parsed.metadata as Record<string, unknown>;
    assert.equal(meta['general.architecture'], c.cfg.arch);
    assert.equal(meta[`${c.cfg.arch}.rope.dimension_count`], m.cfg.headDim);
    const names = parsed.tensorInfos.map((x) => x.name);
    for (const re of c.tensors) assert.ok(names.some((n) => re.test(n)), `${re} among ${names.length} tensors`);
    if (c.cfg.arch === 'qwen3') assert.equal(meta['qwen3.attention.key_length'], 32);
    const seqs = prompts(5).map((p, i) => [...p, ...generate(m, p, { maxNewTokens: 24 + i, temperature: 1, seed: i }).ids]);
    const d = await logprobDiff(m, path, seqs);
    t.diagnostic(`${c.name}: max |Δ log p| = ${d.logp.toExponential(2)} over ${d.positions} positions × ${m.cfg.vocabSize}`);
    assert.ok(d.logp <= 1e-3, JSON.stringify(d));
    // Greedy generation, 20 prompts × 64 new tokens: identical, or diverging only where our own top-2 logits tie within 1e-3.
    const runner = await LlamaCppRunner.open(path);
    try {
      const g = await compareGreedyWithLlamaCpp(m, runner, prompts(20), 64);
      t.diagnostic(`${c.name}: greedy ${g.identicalPrompts}/20 prompts identical over 64 tokens (${g.matchedTokens}/${g.totalTokens}); worst divergence at a logit gap of ${g.worstGap.toExponential(2)}`);
      assert.ok(g.worstGap <= 1e-3, JSON.stringify(g.divergences.slice(0, 3)));
    } finally {
      await runner.dispose();
    }
  });
}

test('rope_freqs: llama.cpp divisors equal the ratio of unscaled to Hugging Face scaled frequencies', () => {
  const rs = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  const base = ropeInvFreq(128, 500000), scaled = ropeInvFreq(128, 500000, rs);
  const f = llama3RopeFreqs(128, 500000, rs);
  assert.ok(f.includes(1) && f.includes(8) && f.some((x) => x > 1 && x < 8), 'short, long and smoothed frequencies');
  f.forEach((x, i) => assert.ok(Math.abs(base[i] / x - scaled[i]) <= 2e-6 * base[i], `${i}: ${base[i] / x} vs ${scaled[i]}`));
});

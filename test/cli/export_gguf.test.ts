// `distill export FILE.gguf`: a GGUF is an LM like the others (issue #18 §4). A Qwen2-layout
// model (q/k/v biases, tied head) with the real Llama 2 SentencePiece tokenizer is written as
// Q8_0, exported by the CLI to a Hugging Face folder and requantized to f16; the HF folder is
// read by the PyTorch reference (test/helpers/llama_ref.py, which knows nothing of GGUF) and its
// logits equal ours on the weights dequantized from the Q8_0 file; its tokenizer.json gives the
// GGUF's ids; the f16 file holds those weights to f16 rounding and llama.cpp checks it (in the
// CLI's report). A Llama-layout GGUF also exports to ONNX, checked by onnxruntime. A truncated
// or missing .gguf is one clear error and leaves no folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportGguf } from '../../src/export/gguf.js';
import { loadAnyLm } from '../../src/lm/load.js';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { randomWeightsLm } from '../export/lm_fixtures.js';
import { realTokenizer } from '../helpers/real_tokenizers.js';
import { maxDiff, ourLogits, referenceLogits } from '../helpers/hf_folder_ref.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const work = mkdtempSync(join(tmpdir(), 'distill-export-gguf-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const TEXTS = ['Hello, world! 12 + 7 = 19.', '你好，世界 🦊', 'def f(x):\n    return x'];
const SHAPE = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 128 };

/** The PyTorch reference's logits of `ids` on the HF folder `dir`, which must be a Qwen2 folder. */
const qwen2ReferenceLogits = (dir: string, ids: number[]) =>
  referenceLogits(dir, ids, 'assert cfg["model_type"] == "qwen2" and cfg["architectures"] == ["Qwen2ForCausalLM"], cfg');

test('export FILE.gguf (Q8_0, Qwen2 layout, SentencePiece tokenizer): the HF folder runs in PyTorch with the dequantized GGUF\'s logits; f16 requantized and checked by llama.cpp', (t) => {
  const tok = realTokenizer('llama2');
  const src = join(work, 'qwen2-spm.gguf');
  const m = randomWeightsLm({ ...SHAPE, arch: 'qwen2', qkvBias: true, tieEmbeddings: true, ropeTheta: 1e6, normEps: 1e-6, vocabSize: tok.vocabSize }, 11);
  try {
    exportGguf(m, tok, src, { dtype: 'q8_0' });
  } finally {
    m.dispose();
  }
  const r = cli('export', src, '--gguf-dtype', 'f16', '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const out = join(work, 'qwen2-spm-export'); // the default: beside the file
  assert.equal(rep.outDir, out);
  assert.equal(rep.ok, true);
  assert.match(rep.onnxSkipped, /bias/);
  assert.deepEqual([rep.gguf.dtype, rep.gguf.ok, rep.gguf.path], ['f16', true, join(out, 'model.f16.gguf')]);
  assert.ok(rep.safetensors.ok && rep.safetensors.reloadMaxAbsDiff === 0 && rep.safetensors.tokenizerRoundTrip, JSON.stringify(rep.safetensors));

  const g = loadAnyLm(src); // the Q8_0 file, dequantized to f32
  const f16 = loadAnyLm(join(out, 'model.f16.gguf'));
  try {
    const hfTok = HfTokenizer.fromDir(join(out, 'hf'));
    assert.equal(hfTok.addBos, true);
    for (const text of TEXTS) {
      const ids = g.tokenizer.encode(text);
      assert.deepEqual(hfTok.encode(text), ids, 'tokenizer.json in the HF folder gives the GGUF\'s ids');
      assert.deepEqual(ids, tok.encode(text), 'and Llama 2\'s own');
      const d = maxDiff(ourLogits(g.model, [1, ...ids]), qwen2ReferenceLogits(join(out, 'hf'), [1, ...ids]));
      t.diagnostic(`${JSON.stringify(text)}: max |dequantized Q8_0 GGUF (ours) − PyTorch on the exported HF folder| = ${d.toExponential(2)}`);
      assert.ok(d < 1e-4, `${JSON.stringify(text)}: max |dequantized GGUF − PyTorch on the HF folder| = ${d}`);
    }
    // f16 holds the dequantized Q8_0 weights to f16's rounding (2^-11 relative), not more.
    const wf = new Map(f16.model.namedParameters());
    let worst = 0;
    for (const [k, p] of g.model.namedParameters()) {
      const q = wf.get(k)!;
      worst = Math.max(worst, p.sub(q).abs().max().item() / Math.max(1e-12, p.abs().max().item()));
    }
    t.diagnostic(`f16 requantized: max |Δw| / max |w| = ${worst.toExponential(2)}; llama.cpp greedy on it: ${JSON.stringify(rep.gguf.greedy.matchedTokens)}/${rep.gguf.greedy.totalTokens} tokens`);
    assert.ok(worst > 0 && worst <= 2 ** -11, `max |Δw| / max |w| = ${worst}`);
  } finally {
    g.model.dispose();
    f16.model.dispose();
  }
});

test('export FILE.gguf --format onnx (Llama layout): onnxruntime agrees with the GGUF\'s model; a truncated or missing .gguf is one clear error, no folder', (t) => {
  const tok = realTokenizer('llama2');
  const src = join(work, 'llama.gguf');
  const m = randomWeightsLm({ ...SHAPE, arch: 'llama', vocabSize: tok.vocabSize }, 12);
  try {
    exportGguf(m, tok, src);
  } finally {
    m.dispose();
  }
  const out = join(work, 'llama-onnx');
  const r = cli('export', src, '--format', 'onnx', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(rep.ok && rep.onnx.ok && rep.onnx.check.maxAbsDiff <= 1e-4, JSON.stringify(rep.onnx));
  assert.ok(existsSync(join(out, 'model.onnx')));

  const bytes = readFileSync(src);
  const cut = join(work, 'cut.gguf');
  writeFileSync(cut, bytes.subarray(0, bytes.length - 1000));
  for (const [path, re] of [[cut, /truncated|past the end|ends before/i], [join(work, 'none.gguf'), /none\.gguf: no such file/]] as const) {
    const bad = cli('export', path, '--json');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, re);
    t.diagnostic(bad.stderr.trim());
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.ok(!existsSync(path.replace(/\.gguf$/, '-export')), 'no export folder');
  }
});

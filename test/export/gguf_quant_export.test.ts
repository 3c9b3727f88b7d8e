// GGUF export in bf16, Q8_0 and Q4_K_M (llama-quantize's per-tensor mixes), and GGUF in
// (lm/gguf_lm.ts): an f32 file comes back bit-exact; a quantized one comes back within the
// quantization's error of the weights; llama.cpp running the quantized file agrees with our
// forward on the weights dequantized from that file (what is left is llama.cpp rounding its
// activations), and both stay close to the float model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { type LmConfig } from '../../src/lm/model.js';
import { generate } from '../../src/lm/generate.js';
import { loadGgufLm } from '../../src/lm/gguf_lm.js';
import { readGgufModel } from '../../src/io/index.js';
import { exportGguf, type GgufDtype } from '../../src/export/gguf.js';
import { prompts, tok, randomWeightsLm, logprobDiff } from './lm_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gguf-quant-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// Rows of 256 so the K-quants apply (a row length that is not a multiple of 256 falls back to Q5_0/Q8_0).
const CFG: Partial<LmConfig> & { vocabSize: number } = {
  vocabSize: 260, dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 512, maxSeqLen: 128, arch: 'qwen2', qkvBias: true, ropeTheta: 1e6, normEps: 1e-6,
};

/** RMS of (b − a) over RMS of a, over every parameter. */
function relRms(a: torch.Tensor[], b: torch.Tensor[]): number {
  let num = 0, den = 0;
  a.forEach((x, i) => torch.tidy(() => {
    num += b[i].sub(x).pow(2).sum().item();
    den += x.pow(2).sum().item();
  }));
  return Math.sqrt(num / den);
}

test('an f32 GGUF reads back as the same model, bit for bit', () => {
  const m = randomWeightsLm({ ...CFG, arch: 'qwen3', qkvBias: false, qkNorm: true, headDim: 32 }, 5);
  const path = join(work, 'f32.gguf');
  exportGguf(m, tok, path, { dtype: 'f32' });
  const back = loadGgufLm(path);
  assert.deepEqual({ ...back.cfg }, { ...m.cfg });
  for (const [k, p] of m.namedParameters()) assert.equal(back.namedParameters().find(([n]) => n === k)![1].sub(p).abs().max().item(), 0, k);
  back.dispose();
  m.dispose();
});

// Limits on the weights' relative RMS error and on the mean next-token KL(llama.cpp ‖ our forward on
// the dequantized weights), which is what llama.cpp's rounding of activations leaves.
const LIMITS: Record<Exclude<GgufDtype, 'f32' | 'f16'>, { rms: number; kl: number; types: string[] }> = {
  bf16: { rms: 5e-3, kl: 1e-3, types: ['BF16'] },
  q8_0: { rms: 1e-2, kl: 2e-3, types: ['Q8_0'] },
  q4_k_m: { rms: 0.1, kl: 4e-3, types: ['Q4_K', 'Q6_K'] },
};

for (const [dtype, lim] of Object.entries(LIMITS) as [keyof typeof LIMITS, (typeof LIMITS)[keyof typeof LIMITS]][]) {
  test(`${dtype}: llama.cpp on the file equals our forward on its dequantized weights; both near the float model`, async (t) => {
    // Matrices N(0, (1.5/√d)²): activations of order 1, logits spread over a few nats.
    const m = randomWeightsLm(CFG, 7, 1.5 / Math.sqrt(CFG.dim!));
    const path = join(work, `${dtype}.gguf`);
    const info = exportGguf(m, tok, path, { dtype });
    const g = readGgufModel(path);
    const types = new Set([...g.tensors.values()].filter((x) => x.shape.length === 2).map((x) => x.dtype));
    assert.deepEqual([...types].sort(), lim.types, `matrix types of a ${dtype} file`);
    assert.equal(g.tensors.get('model.norm.weight')!.dtype, 'F32', 'norms stay f32');
    const back = loadGgufLm(path);
    const rms = relRms(m.parameters(), back.parameters());
    const seqs = prompts(4).map((p, i) => [...p, ...generate(m, p, { maxNewTokens: 20, temperature: 1, seed: i }).ids]);
    const vsOwn = await logprobDiff(back, path, seqs);
    const vsFloat = await logprobDiff(m, path, seqs);
    t.diagnostic(`${dtype}: ${(info.bytes / 1024).toFixed(0)} KiB; weights rel. RMS error ${rms.toExponential(2)}; llama.cpp vs our forward on the dequantized weights: mean KL ${vsOwn.meanKl.toExponential(2)}, max |Δ log p| ${vsOwn.logp.toExponential(2)}; vs the float model: mean KL ${vsFloat.meanKl.toExponential(2)}, max |Δ log p| ${vsFloat.logp.toExponential(2)}`);
    assert.ok(rms > 0 && rms < lim.rms, `relative RMS error ${rms}`);
    assert.ok(vsOwn.meanKl < lim.kl, `llama.cpp vs our dequantized forward: ${JSON.stringify(vsOwn)}`);
    assert.ok(vsOwn.meanKl < vsFloat.meanKl, 'the dequantized model is the closer reference');
    back.dispose();
    m.dispose();
  });
}

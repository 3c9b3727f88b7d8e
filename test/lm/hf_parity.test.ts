// Each supported family (Llama with llama3 RoPE scaling, Qwen2, Qwen3) written as a
// Hugging Face folder, loaded back by loadHfFolder, and checked against the PyTorch
// reference of test/helpers/llama_ref.py, which reads the same folder (config.json +
// safetensors) on its own: logits and the gradient of every parameter.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { CausalLM, ropeInvFreq, type LmConfig } from '../../src/lm/model.js';
import { loadHfFolder, saveHfFolder } from '../../src/lm/hf_folder.js';
import { hfName } from '../../src/lm/hf_weights.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';
import type { OracleValue } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-hf-parity-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** A random model whose every parameter matters: matrices N(0, 0.2²), biases N(0, 0.1²), norms 1 + N(0, 0.1²). */
export function randomFamilyLm(cfg: Partial<LmConfig> & { vocabSize: number }, seed: number): CausalLM {
  torch.manualSeed(seed);
  const m = new CausalLM(cfg);
  torch.noGrad(() => {
    for (const [name, p] of m.namedParameters()) {
      if (p.ndim > 1) p.copy_(torch.randn([...p.shape]).mul(0.2));
      else if (name.endsWith('.bias')) p.copy_(torch.randn([...p.shape]).mul(0.1));
      else p.copy_(torch.randn([...p.shape]).mul(0.1).add(1));
    }
  });
  return m;
}

const LLAMA3: Partial<LmConfig> & { vocabSize: number } = {
  arch: 'llama', vocabSize: 70, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 96, maxSeqLen: 64, ropeTheta: 10000,
  // head size 16: wavelengths 6.3, 19.9, 62.8, 199 … against 64/4 = 16 and 64/1 = 64, so the
  // unscaled (short), smoothed (medium) and divided (long) branches are all used.
  ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
};
const QWEN2: Partial<LmConfig> & { vocabSize: number } = {
  arch: 'qwen2', vocabSize: 72, dim: 48, nLayers: 2, nHeads: 6, nKvHeads: 2, hiddenDim: 80, maxSeqLen: 64, ropeTheta: 1e6, normEps: 1e-6,
  qkvBias: true, tieEmbeddings: true,
};
const QWEN3: Partial<LmConfig> & { vocabSize: number } = {
  arch: 'qwen3', vocabSize: 66, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, hiddenDim: 64, maxSeqLen: 64, ropeTheta: 1e6, normEps: 1e-6,
  qkNorm: true,
};

function parity(name: string, cfg: Partial<LmConfig> & { vocabSize: number }, seed: number, B: number, T: number): Check {
  const dir = join(work, name);
  const original = randomFamilyLm(cfg, seed);
  saveHfFolder(dir, original);
  const { model } = loadHfFolder(dir);
  model.train();
  torch.manualSeed(seed + 1);
  const x = torch.randint(0, cfg.vocabSize, [B, T]);
  const g = torch.randn([B, T, cfg.vocabSize]);
  const logits = model.call(x);
  logits.mul(g).sum().backward();
  const params = model.namedParameters();
  const names = params.map(([n]) => hfName(n));
  return {
    name: `${name}: from its Hugging Face folder, logits and every parameter gradient match the PyTorch reference`,
    oracle: {
      code: [
        `import sys; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
        'from llama_ref import hf_logits, load_hf_folder',
        `cfg, sd = load_hf_folder(${JSON.stringify(dir)})`,
        `names = ${JSON.stringify(names)}`,
        'for n in names: sd[n].requires_grad_(True)',
        'y = hf_logits(sd, cfg, x)',
        '(y * g).sum().backward()',
        'out = {"y": y, "grads": [sd[n].grad for n in names], "names": sorted(sd.keys())}',
      ].join('\n'),
      inputs: { x, g },
    },
    check: (r) => {
      // The folder holds exactly the tensors the reference reads (a tied head is left out).
      assert.deepEqual(r.names, [...names].sort());
      // float32 out and back in is exact.
      const loaded = new Map(params);
      for (const [n, p] of original.namedParameters()) assert.ok(Buffer.from(p.bytes()).equals(Buffer.from(loaded.get(n)!.bytes())), `${n} differs after the round trip`);
      assertClose(logits, r.y, { rtol: 1e-4, atol: 1e-5, label: 'logits' });
      const grads = r.grads as OracleValue[];
      params.forEach(([n, p], i) => assertClose(p.grad!, grads[i], { rtol: 1e-3, atol: 1e-5, label: `grad ${n}` }));
    },
  };
}

/** ropeInvFreq against the reference's _compute_llama3_parameters at Llama 3.1's real settings, bit for bit. */
function invFreqCheck(): Check {
  const scaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  const ours = ropeInvFreq(128, 500000, scaling);
  return {
    name: 'llama3 RoPE scaling: inverse frequencies equal transformers\' _compute_llama3_parameters bit for bit (Llama 3.1 settings)',
    oracle: {
      code: [
        `import sys; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
        'from llama_ref import inv_freq',
        'out = {"inv": inv_freq({"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}, 128)}',
      ].join('\n'),
      inputs: {},
    },
    check: (r) => {
      const want = (r.inv as { data: number[] }).data;
      assert.equal(want.length, 64);
      want.forEach((w, i) => assert.equal(ours[i], w, `inv_freq[${i}]`));
    },
  };
}

oracleChecks([
  parity('llama3-rope-scaling', LLAMA3, 11, 2, 9),
  parity('qwen2-bias-tied', QWEN2, 12, 2, 8),
  parity('qwen3-qk-norm-head-dim', QWEN3, 13, 2, 7),
  invFreqCheck(),
]);

// Structured pruning (src/lm/prune.ts). The oracle is the model itself: in a model whose
// removed units provably contribute nothing (zero residual channels, heads whose values are
// zero, MLP neurons whose up-projection is zero, a block that adds nothing), pruning must
// find exactly those units and the smaller model must compute the same logits. The Qwen
// layouts too: Qwen2's q/k/v biases (and an o_proj bias), Qwen3's q/k norms with a head_dim
// independent of dim / heads, with llama3 RoPE scaling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { CausalLM, countLmParameters, type LmConfig } from '../../src/lm/model.js';
import { measureImportance, pruneLm, topIndices } from '../../src/lm/prune.js';
import { assertClose } from '../helpers/assert.js';
import type { Encoded } from '../helpers/oracle.js';

const HD = 8; // head size of the Llama cases (dim / heads)

/** A tensor as the expected side of assertClose. */
const values = (t: torch.Tensor) => ({ dtype: 'float32', shape: [...t.shape], data: Array.from(t.dataSync(), Number) }) as Encoded;

/** Zeroes rows (dim 0) or columns (dim 1) of a weight in place. */
function zero(w: torch.Tensor, dim: 0 | 1, idx: number[]): void {
  torch.noGrad(() => {
    for (const i of idx) w.narrow(dim, i, 1).zero_();
  });
}
const rows = (units: number[], hd = HD) => units.flatMap((u) => Array.from({ length: hd }, (_, j) => u * hd + j));

/** A random model with dead channels, key/value heads, neurons and one identity block. */
function modelWithDeadUnits(cfg: Partial<LmConfig> & { vocabSize: number }, dead: { channels: number[]; kvHeads: number[]; neurons: number[]; layer: number }): CausalLM {
  torch.manualSeed(11);
  const m = new CausalLM(cfg).eval();
  const sd = m.stateDict();
  const hd = m.cfg.headDim;
  // Biases are zero at init: make them random so that pruning must carry them.
  torch.noGrad(() => {
    for (const [k, t] of Object.entries(sd)) if (k.endsWith('.bias') || k.endsWith('_norm.weight')) t.copy_(torch.randn([...t.shape]).mul(0.5).add(k.endsWith('_norm.weight') ? 1 : 0));
  });
  const oBias = (l: number) => sd[`layers.${l}.self_attn.o_proj.bias`];
  zero(sd['embed_tokens.weight'], 1, dead.channels);
  for (let l = 0; l < m.cfg.nLayers; l++) {
    const p = `layers.${l}.`;
    zero(sd[`${p}self_attn.o_proj.weight`], 0, dead.channels);
    if (oBias(l)) zero(oBias(l).view([-1, 1]), 0, dead.channels);
    zero(sd[`${p}mlp.down_proj.weight`], 0, dead.channels);
    zero(sd[`${p}self_attn.v_proj.weight`], 0, rows(dead.kvHeads, hd));
    if (m.cfg.qkvBias) zero(sd[`${p}self_attn.v_proj.bias`].view([-1, 1]), 0, rows(dead.kvHeads, hd));
    zero(sd[`${p}mlp.up_proj.weight`], 0, dead.neurons);
  }
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  zero(sd[`layers.${dead.layer}.self_attn.o_proj.weight`], 0, all(m.cfg.dim));
  if (oBias(dead.layer)) zero(oBias(dead.layer).view([-1, 1]), 0, all(m.cfg.dim));
  zero(sd[`layers.${dead.layer}.mlp.down_proj.weight`], 0, all(m.cfg.dim));
  return m;
}

function calibration(V: number): number[][] {
  torch.manualSeed(5);
  return Array.from({ length: 4 }, (_, i) => Array.from(torch.randint(0, V, [10 + i]).dataSync(), Number));
}

const cases = [
  {
    name: 'multi-head attention',
    cfg: { vocabSize: 40, dim: 32, nLayers: 3, nHeads: 4, nKvHeads: 4, hiddenDim: 48, maxSeqLen: 32, normEps: 1e-10 },
    dead: { channels: [1, 6, 7, 12, 19, 22, 27, 30], kvHeads: [2], neurons: [0, 5, 9, 10, 17, 23, 31, 33, 40, 41, 44, 47], layer: 1 },
    target: { dim: 24, nHeads: 3, hiddenDim: 36, nLayers: 2 },
  },
  {
    name: 'grouped-query attention (2 query heads per key/value head)',
    cfg: { vocabSize: 40, dim: 32, nLayers: 3, nHeads: 4, nKvHeads: 2, hiddenDim: 40, maxSeqLen: 32, normEps: 1e-10 },
    dead: { channels: [0, 3, 4, 8, 9, 13, 15, 16, 18, 20, 21, 24, 25, 26, 28, 31], kvHeads: [0], neurons: [2, 3, 11, 19, 38], layer: 2 },
    target: { dim: 16, nHeads: 2, nKvHeads: 1, hiddenDim: 35, nLayers: 2 },
  },
  {
    name: 'Qwen2 layout: q/k/v biases and an o_proj bias, grouped-query attention',
    cfg: { vocabSize: 40, dim: 32, nLayers: 3, nHeads: 4, nKvHeads: 2, hiddenDim: 40, maxSeqLen: 32, normEps: 1e-10, arch: 'qwen2' as const, qkvBias: true, oBias: true, ropeTheta: 1e6 },
    dead: { channels: [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 22, 23, 25, 27, 29, 31], kvHeads: [1], neurons: [1, 7, 8, 30], layer: 0 },
    target: { dim: 16, nHeads: 2, nKvHeads: 1, hiddenDim: 36, nLayers: 2 },
  },
  {
    name: 'Qwen3 layout: q/k norms, head_dim 12 ≠ dim / heads, llama3 RoPE scaling',
    cfg: {
      vocabSize: 40, dim: 32, nLayers: 3, nHeads: 4, nKvHeads: 2, headDim: 12, hiddenDim: 40, maxSeqLen: 32, normEps: 1e-10, arch: 'qwen3' as const, qkNorm: true,
      ropeScaling: { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8 },
    },
    dead: { channels: [0, 4, 8, 11, 12, 19, 20, 21, 26, 27, 30, 31], kvHeads: [0], neurons: [3, 4, 5, 36, 39], layer: 2 },
    // dim 20 / 2 heads: the head size stays 12 (Qwen3's head_dim is its own).
    target: { dim: 20, nHeads: 2, nKvHeads: 1, hiddenDim: 35, nLayers: 2 },
  },
];

for (const c of cases) for (const residual of ['pca', 'channels'] as const)
  test(`pruning removes exactly the units that contribute nothing, and the logits stay the same: ${c.name}, residual by ${residual}`, () => {
    const m = modelWithDeadUnits(c.cfg, c.dead);
    const imp = measureImportance(m, calibration(c.cfg.vocabSize));
    const keep = (scores: ArrayLike<number>, dead: number[]) => Array.from({ length: scores.length }, (_, i) => i).filter((i) => !dead.includes(i));
    assert.deepEqual(topIndices(imp.channels, c.target.dim), keep(imp.channels, c.dead.channels));
    assert.deepEqual(topIndices(imp.layers, c.target.nLayers), keep(imp.layers, [c.dead.layer]));
    assert.ok(imp.layers[c.dead.layer] < 1e-6, `the identity block's importance is ${imp.layers[c.dead.layer]}`);
    for (let l = 0; l < c.cfg.nLayers; l++) for (const n of c.dead.neurons) assert.equal(imp.neurons[l][n], 0);

    const small = pruneLm(m, imp, c.target, { residual });
    assert.equal(small.cfg.dim, c.target.dim);
    assert.deepEqual([small.cfg.arch, small.cfg.headDim, small.cfg.qkvBias, small.cfg.oBias, small.cfg.qkNorm, small.cfg.ropeScaling], [m.cfg.arch, m.cfg.headDim, m.cfg.qkvBias, m.cfg.oBias, m.cfg.qkNorm, m.cfg.ropeScaling]);
    assert.equal(countLmParameters(small.cfg), small.parameters().reduce((a, p) => a + p.numel, 0));
    torch.manualSeed(2);
    const ids = torch.randint(0, c.cfg.vocabSize, [2, 12]);
    const [big, pruned] = torch.noGrad(() => [m.call(ids), small.call(ids)]);
    // The kept norms are rescaled by √(d/d_kept) here (the dead channels hold no energy), so
    // only RMSNorm's ε could separate the two; it is set tiny, since with weights of N(0, 0.02²)
    // the default 1e-5 is a few percent of the mean square.
    assertClose(pruned, values(big), { rtol: 1e-4, atol: 1e-5, label: 'pruned logits' });
  });

test('pruning to the same sizes computes the same function (a rotation of the residual stream for pca; untied and tied heads)', () => {
  for (const [tieEmbeddings, residual] of [[false, 'pca'], [false, 'channels'], [true, 'channels']] as const) {
    torch.manualSeed(3);
    const cfg = { vocabSize: 30, dim: 16, nLayers: 2, nHeads: 2, nKvHeads: 2, hiddenDim: 24, maxSeqLen: 16, tieEmbeddings, normEps: 1e-10 };
    const m = new CausalLM(cfg).eval();
    const same = pruneLm(m, measureImportance(m, calibration(30)), cfg, { residual });
    const ids = torch.randint(0, 30, [1, 9]);
    assertClose(torch.noGrad(() => same.call(ids)), values(torch.noGrad(() => m.call(ids))), { rtol: 1e-4, atol: 1e-5, label: `logits (tied ${tieEmbeddings}, ${residual})` });
  }
});

test('a target pruning cannot reach is refused with the reason', () => {
  const m = new CausalLM({ vocabSize: 20, dim: 16, nLayers: 2, nHeads: 2, nKvHeads: 2, hiddenDim: 24, maxSeqLen: 16 });
  const imp = measureImportance(m, calibration(20));
  assert.throws(() => pruneLm(m, imp, { dim: 12, nHeads: 2, hiddenDim: 24 }), /head size must stay the teacher's 8/);
  assert.throws(() => pruneLm(m, imp, { dim: 16, nHeads: 2, hiddenDim: 32 }), /hiddenDim 32 is larger than the teacher's 24/);
  const gqa = new CausalLM({ vocabSize: 20, dim: 32, nLayers: 1, nHeads: 4, nKvHeads: 2, hiddenDim: 24, maxSeqLen: 16 });
  assert.throws(() => pruneLm(gqa, measureImportance(gqa, calibration(20)), { dim: 16, nHeads: 2, nKvHeads: 2, hiddenDim: 24 }), /must stay the teacher's 2 query heads per key\/value head, got 2 \/ 2/);
  assert.throws(() => measureImportance(m, []), /no calibration sequences/);
  const tied = new CausalLM({ vocabSize: 20, dim: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, hiddenDim: 24, maxSeqLen: 16, tieEmbeddings: true });
  assert.throws(() => pruneLm(tied, measureImportance(tied, calibration(20)), { dim: 8, nHeads: 1, hiddenDim: 24 }, { residual: 'pca' }), /tied embeddings cannot hold; use residual 'channels'/);
});

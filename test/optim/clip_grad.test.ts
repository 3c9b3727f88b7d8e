// clipGradNorm against torch.nn.utils.clip_grad_norm_ (PyTorch 1.13): the returned total
// norm and the clipped gradients, for p = 2, 1, ∞, with and without clipping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { clipGradNorm, type ClipGradOptions } from '../../src/optim/index.js';
import { runOracle, type OracleResult, type OracleValue, type Encoded } from '../helpers/oracle.js';
import { assertClose } from '../helpers/assert.js';

interface Case {
  name: string;
  maxNorm: number;
  normType: number;
  /** Index of a parameter left without a gradient (skipped by both sides). */
  noGrad?: number;
}
const cases: Case[] = [
  { name: 'L2, clipped', maxNorm: 1.0, normType: 2 },
  { name: 'L2, below the limit (coefficient clamps to 1)', maxNorm: 1e3, normType: 2 },
  { name: 'L1, clipped', maxNorm: 0.5, normType: 1 },
  { name: 'L∞, clipped', maxNorm: 0.1, normType: Infinity },
  { name: 'L3, one parameter without grad', maxNorm: 0.7, normType: 3, noGrad: 1 },
];

torch.manualSeed(7);
const shapes = [[5, 3], [3], [2, 4, 2]];
const grads = torch.keep(shapes.map((s, i) => torch.tidy(() => torch.randn(s).mul(i + 1))));
const pyNorm = (p: number) => (p === Infinity ? "float('inf')" : String(p));

let results: OracleResult[] | undefined;
const oracle = () =>
  (results ??= runOracle(
    cases.map((c) => ({
      code: `
gs = [g0, g1, g2]
ps = [torch.zeros(g.shape, requires_grad=True) for g in gs]
for i, (p, g) in enumerate(zip(ps, gs)):
    if i != ${c.noGrad ?? -1}:
        p.grad = g.clone()
total = torch.nn.utils.clip_grad_norm_(ps, ${c.maxNorm}, ${pyNorm(c.normType)})
out = {"total": total, "grads": [p.grad if p.grad is not None else torch.zeros(0) for p in ps]}`,
      inputs: { g0: grads[0], g1: grads[1], g2: grads[2] },
    })),
  ));

for (const [k, c] of cases.entries()) {
  test(`clipGradNorm ${c.name} matches PyTorch`, () => {
    const ps = shapes.map((s) => torch.zeros(s).requiresGrad_());
    ps.forEach((p, i) => {
      if (i !== c.noGrad) p.grad = grads[i].clone();
    });
    const total = clipGradNorm(ps, c.maxNorm, c.normType);
    const r = oracle()[k];
    assert.equal(r.error, undefined, r.error);
    const expectedTotal = (r.total as Encoded).data[0];
    assert.ok(Math.abs(total - expectedTotal) <= 1e-6 * expectedTotal, `total norm ${total}, PyTorch says ${expectedTotal}`);
    const eg = r.grads as OracleValue[];
    ps.forEach((p, i) => {
      const g = p.grad;
      if (i === c.noGrad) assert.equal(g, null);
      else assertClose(g!, eg[i], { rtol: 1e-6, atol: 1e-7, label: `grad ${i}` });
      g?.dispose();
      p.dispose();
    });
  });
}

test('clipGradNorm: no gradients gives 0 and changes nothing; errorIfNonfinite throws on NaN', () => {
  const p = torch.zeros([3]).requiresGrad_();
  assert.equal(clipGradNorm([p], 1), 0);
  p.grad = torch.tensor([1, NaN, 2]);
  const opts: ClipGradOptions = { errorIfNonfinite: true };
  assert.throws(() => clipGradNorm(p, 1, 2, opts), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG' && /NaN/.test(e.message));
  p.dispose();
});

test('clipGradNorm frees its temporaries', () => {
  const ps = shapes.map((s) => torch.zeros(s).requiresGrad_());
  ps.forEach((p, i) => (p.grad = grads[i].clone()));
  const before = torch.memory().liveTensors;
  for (let i = 0; i < 20; i++) clipGradNorm(ps, 0.5);
  assert.equal(torch.memory().liveTensors, before);
  ps.forEach((p) => p.dispose());
});

// What PyTorch's Python layer refuses, refused here too (issue #21): `x.grad = g` with g
// of another dtype, shape or the tensor itself, and requires_grad_(False) on a non-leaf.
// Each case also runs in PyTorch, which must raise the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { runOracle } from '../helpers/oracle.js';

const cases = [
  { name: 'grad of another dtype', py: 'x.grad = torch.zeros(2, dtype=torch.float64)', pyError: /^RuntimeError: assigned grad has data of a different type/,
    ours: (x: torch.Tensor) => { x.grad = torch.zeros([2], 'float64'); }, cls: torch.DTypeError, code: 'ERR_DTYPE', op: 'grad', message: /different type: float64 for a float32 tensor/ },
  { name: 'grad of another shape', py: 'x.grad = torch.zeros(3)', pyError: /^RuntimeError: assigned grad has data of a different size/,
    ours: (x: torch.Tensor) => { x.grad = torch.zeros([3]); }, cls: torch.ShapeError, code: 'ERR_SHAPE', op: 'grad', message: /different size: \[3\] for a tensor of size \[2\]/ },
  { name: 'grad of the same numel but another shape', py: 'x.grad = torch.zeros(1, 2)', pyError: /^RuntimeError: assigned grad has data of a different size/,
    ours: (x: torch.Tensor) => { x.grad = torch.zeros([1, 2]); }, cls: torch.ShapeError, code: 'ERR_SHAPE', op: 'grad', message: /different size/ },
  { name: 'grad that is the tensor itself', py: 'x.grad = x', pyError: /^RuntimeError: can't assign Variable as its own grad/,
    ours: (x: torch.Tensor) => { x.grad = x; }, cls: torch.ArgumentError, code: 'ERR_ARG', op: 'grad', message: /its own grad/ },
  { name: 'requiresGrad_(false) on a non-leaf', py: 'y = x * 2\ny.requires_grad_(False)', pyError: /^RuntimeError: you can only change requires_grad flags of leaf variables/,
    ours: (x: torch.Tensor) => { x.mul(2).requiresGrad_(false); }, cls: torch.AutogradError, code: 'ERR_AUTOGRAD', op: 'requiresGrad_', message: /only change requires_grad flags of leaf variables/ },
];

const allowed = [
  { name: 'grad of the right dtype and shape, then null', py: 'x.grad = torch.full((2,), 3.0)\ng = x.grad.clone()\nx.grad = None\nout = {"g": g, "none": x.grad is None}',
    ours: (x: torch.Tensor) => { x.grad = torch.full([2], 3); const g = x.grad!.toArray(); x.grad = null; return { g, none: x.grad === null }; } },
  { name: 'requiresGrad_(true) on a non-leaf that requires grad', py: 'y = x * 2\ny.requires_grad_(True)\nout = {"rg": y.requires_grad, "leaf": y.is_leaf}',
    ours: (x: torch.Tensor) => { const y = x.mul(2).requiresGrad_(true); return { rg: y.requiresGrad, leaf: y.isLeaf }; } },
  { name: 'requiresGrad_(false) on a leaf', py: 'x.requires_grad_(False)\nout = {"rg": x.requires_grad}',
    ours: (x: torch.Tensor) => { x.requiresGrad_(false); return { rg: x.requiresGrad }; } },
];

const py = runOracle([
  ...cases.map((c) => ({ code: `x = torch.zeros(2, requires_grad=True)\n${c.py}\nout = {}` })),
  ...allowed.map((c) => ({ code: `x = torch.zeros(2, requires_grad=True)\n${c.py}` })),
]);

cases.forEach((c, i) => {
  test(`refused as in PyTorch: ${c.name}`, () => {
    assert.match(String(py[i].error), c.pyError, 'PyTorch raises');
    const x = torch.zeros([2]).requiresGrad_();
    assert.throws(() => c.ours(x), (e: unknown) => {
      assert.ok(e instanceof c.cls, `expected ${c.cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      assert.equal(e.code, c.code);
      assert.equal(e.op, c.op);
      assert.match(e.message, c.message);
      return true;
    });
    assert.equal(x.grad, null, 'the gradient is left as it was');
  });
});

allowed.forEach((c, i) => {
  test(`accepted as in PyTorch: ${c.name}`, () => {
    const r = py[cases.length + i];
    assert.equal(r.error, undefined);
    const ours = c.ours(torch.zeros([2]).requiresGrad_()) as Record<string, unknown>;
    for (const [k, v] of Object.entries(r)) {
      const want = typeof v === 'object' && v !== null && 'data' in v ? (v as { data: number[] }).data : v;
      assert.deepEqual(ours[k], want, k);
    }
  });
});

test('a wrongly shaped grad is refused at assignment, not at the next backward', () => {
  const x = torch.zeros([2]).requiresGrad_();
  assert.throws(() => { x.grad = torch.zeros([3]); }, torch.ShapeError);
  // backward still accumulates into a fresh gradient of the right shape.
  x.mul(3).sum().backward();
  assert.deepEqual(x.grad!.toArray(), [3, 3]);
});

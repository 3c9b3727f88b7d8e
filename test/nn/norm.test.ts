// BatchNorm (running statistics over several train steps, then eval), LayerNorm and
// RMSNorm against PyTorch: outputs, input and parameter gradients, buffers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { moduleCase, runChecks, randn, setValue, type Check } from './harness.js';
import { runOracle, type OracleValue } from '../helpers/oracle.js';
import { assertClose } from '../helpers/assert.js';

torch.manualSeed(11);

/** Random affine parameters (and running stats, when asked), so every gradient is non-trivial. */
function randomise<M extends nn.Module>(m: M, stats = false): M {
  const { weight, bias } = m as unknown as { weight?: torch.Tensor | null; bias?: torch.Tensor | null };
  if (weight) setValue(weight, randn(...weight.shape));
  if (bias) setValue(bias, randn(...bias.shape));
  if (stats && (m instanceof nn.BatchNorm1d || m instanceof nn.BatchNorm2d)) {
    setValue(m.runningMean, randn(m.numFeatures));
    setValue(m.runningVar, torch.rand([m.numFeatures]).add(0.5));
  }
  return m;
}

// PyTorch 1.13 has neither nn.RMSNorm nor LayerNorm(bias=False): references by formula.
const setup = `
class RMSNormRef(nn.Module):
    def __init__(s, shape, eps=None, affine=True):
        super().__init__()
        s.shape, s.eps = tuple(shape), eps
        s.weight = nn.Parameter(torch.ones(shape)) if affine else None
    def forward(s, x):
        eps = s.eps if s.eps is not None else torch.finfo(x.dtype).eps
        dims = tuple(range(-len(s.shape), 0))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y * s.weight if s.weight is not None else y

class LayerNormNoBias(nn.Module):
    def __init__(s, n):
        super().__init__()
        s.n = n
        s.weight = nn.Parameter(torch.ones(n))
    def forward(s, x):
        return F.layer_norm(x, (s.n,), s.weight, None, 1e-5)
`;

const steps = (...shape: number[]) => [randn(...shape).mul(2).add(0.5), randn(...shape), randn(...shape).mul(0.5).sub(1)];

const checks: Check[] = [
  // ── BatchNorm: three train steps, running stats compared, then eval output ──
  moduleCase({ name: 'BatchNorm1d(4) on (8, 4): 3 train steps, running stats, eval', ours: () => randomise(new nn.BatchNorm1d(4)), py: 'nn.BatchNorm1d(4)', inputs: steps(8, 4), evalInput: randn(5, 4) }),
  moduleCase({
    name: 'BatchNorm1d(3, momentum=0.3) on (5, 3, 6)',
    ours: () => randomise(new nn.BatchNorm1d(3, { momentum: 0.3 })),
    py: 'nn.BatchNorm1d(3, momentum=0.3)',
    inputs: steps(5, 3, 6),
    evalInput: randn(2, 3, 6),
  }),
  moduleCase({
    name: 'BatchNorm2d(3, momentum=null) uses the cumulative average',
    ours: () => randomise(new nn.BatchNorm2d(3, { momentum: null })),
    py: 'nn.BatchNorm2d(3, momentum=None)',
    inputs: steps(4, 3, 5, 5),
    evalInput: randn(2, 3, 5, 5),
  }),
  moduleCase({ name: 'BatchNorm2d(3, affine=false, eps=1e-3)', ours: () => new nn.BatchNorm2d(3, { affine: false, eps: 1e-3 }), py: 'nn.BatchNorm2d(3, affine=False, eps=1e-3)', inputs: steps(2, 3, 4, 4), evalInput: randn(1, 3, 4, 4) }),
  moduleCase({
    name: 'BatchNorm1d(4, trackRunningStats=false) normalises with batch stats in eval too',
    ours: () => randomise(new nn.BatchNorm1d(4, { trackRunningStats: false })),
    py: 'nn.BatchNorm1d(4, track_running_stats=False)',
    inputs: steps(6, 4),
    evalInput: randn(5, 4),
  }),
  moduleCase({
    name: 'BatchNorm2d in eval from the start uses (loaded) running stats, with gradients',
    ours: () => randomise(new nn.BatchNorm2d(3), true),
    py: 'nn.BatchNorm2d(3)',
    eval: true,
    inputs: [randn(2, 3, 4, 4)],
  }),

  // ── LayerNorm ──
  moduleCase({ name: 'LayerNorm(6) on (3, 4, 6)', ours: () => randomise(new nn.LayerNorm(6)), py: 'nn.LayerNorm(6)', inputs: [randn(3, 4, 6)] }),
  moduleCase({ name: 'LayerNorm([4, 6], eps=1e-3) on (2, 4, 6)', ours: () => randomise(new nn.LayerNorm([4, 6], { eps: 1e-3 })), py: 'nn.LayerNorm([4, 6], eps=1e-3)', inputs: [randn(2, 4, 6)] }),
  moduleCase({ name: 'LayerNorm(5, elementwiseAffine=false)', ours: () => new nn.LayerNorm(5, { elementwiseAffine: false }), py: 'nn.LayerNorm(5, elementwise_affine=False)', inputs: [randn(3, 5)] }),
  moduleCase({ name: 'LayerNorm(5, bias=false)', ours: () => randomise(new nn.LayerNorm(5, { bias: false })), py: 'LayerNormNoBias(5)', setup, inputs: [randn(3, 5)] }),

  // ── RMSNorm ──
  moduleCase({ name: 'RMSNorm(8) (eps = finfo(float32).eps)', ours: () => randomise(new nn.RMSNorm(8)), py: 'RMSNormRef([8])', setup, inputs: [randn(2, 3, 8)] }),
  moduleCase({ name: 'RMSNorm(8, eps=1e-6)', ours: () => randomise(new nn.RMSNorm(8, { eps: 1e-6 })), py: 'RMSNormRef([8], eps=1e-6)', setup, inputs: [randn(4, 8).mul(0.01)] }),
  moduleCase({ name: 'RMSNorm([3, 8], no affine)', ours: () => new nn.RMSNorm([3, 8], { elementwiseAffine: false }), py: 'RMSNormRef([3, 8], affine=False)', setup, inputs: [randn(2, 3, 8)] }),
  moduleCase({ name: 'RMSNorm(5) on float64 input uses finfo(float64).eps', ours: () => new nn.RMSNorm(5, { elementwiseAffine: false }), py: 'RMSNormRef([5], affine=False)', setup, inputs: [randn(3, 5).mul(1e-7).toDtype('float64')] }),

  // ── pure TS checks ──
  {
    name: 'BatchNorm: num_batches_tracked is an int64 scalar counting train steps only',
    check: () => {
      const bn = new nn.BatchNorm1d(3);
      assert.equal(bn.numBatchesTracked!.dtype, 'int64');
      assert.deepEqual([...bn.numBatchesTracked!.shape], []);
      bn.call(randn(4, 3));
      bn.call(randn(4, 3));
      bn.eval().call(randn(4, 3));
      assert.equal(bn.numBatchesTracked!.item(), 2);
    },
  },
  {
    name: 'BatchNorm: wrong rank throws ShapeError, a single value per channel in training ArgumentError (PyTorch: ValueError)',
    check: () => {
      const isShape = (re: RegExp) => (e: Error) => e instanceof torch.ShapeError && re.test(e.message);
      assert.throws(() => new nn.BatchNorm1d(3).call(randn(2, 3, 4, 4)), isShape(/BatchNorm1d: expected 2D or 3D input \(got 4D input\)/));
      assert.throws(() => new nn.BatchNorm2d(3).call(randn(2, 3)), isShape(/BatchNorm2d: expected 4D input/));
      const bn = new nn.BatchNorm1d(3);
      assert.throws(() => bn.call(randn(1, 3)), (e: Error) => e instanceof torch.ArgumentError && /batchNorm: Expected more than 1 value per channel/.test(e.message));
      assert.equal(bn.numBatchesTracked!.item(), 1, 'PyTorch also counts the step before failing');
      assert.deepEqual([...bn.eval().call(randn(1, 3)).shape], [1, 3], 'eval accepts one sample');
    },
  },
  {
    name: 'RMSNorm rejects an input whose trailing shape differs',
    check: () => {
      assert.throws(() => new nn.RMSNorm(4).call(randn(2, 5)), (e: Error) => e instanceof torch.ShapeError && /ending in \[4\]/.test(e.message));
    },
  },
];

runChecks(checks);

// Issue #21: F.batch_norm in training refuses one value per channel (nothing to take a
// variance of), as PyTorch does with ValueError; in eval, or with more values, it runs.
test('batchNorm in training with one value per channel raises as PyTorch does', () => {
  const shapes = [[1, 3], [1, 3, 1, 1], [1, 3, 1]];
  const py = runOracle([
    ...shapes.map((s) => ({ code: `F.batch_norm(torch.ones(${s.join(', ')}), None, None, training=True)\nout = {}` })),
    { code: 'out = {"y": F.batch_norm(torch.ones(1, 3, 2), None, None, training=True), "e": F.batch_norm(torch.ones(1, 3), torch.zeros(3), torch.ones(3), training=False)}' },
  ]);
  shapes.forEach((s, i) => {
    assert.match(String(py[i].error), /^ValueError: Expected more than 1 value per channel when training/);
    assert.throws(() => torch.batchNorm(torch.ones(s), null, null, null, null, true), (e: unknown) => {
      assert.ok(e instanceof torch.ArgumentError, `got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      assert.equal(e.code, 'ERR_ARG');
      assert.equal(e.op, 'batchNorm');
      assert.match(e.message, new RegExp(`Expected more than 1 value per channel when training, got input size \\[${s.join(', ')}\\]`));
      return true;
    });
  });
  // The module in training mode goes through the same check.
  assert.throws(() => new nn.BatchNorm2d(3).call(torch.ones([1, 3, 1, 1])), torch.ArgumentError);
  const ok = py[shapes.length] as { y: OracleValue; e: OracleValue };
  assertClose(torch.batchNorm(torch.ones([1, 3, 2]), null, null, null, null, true), ok.y);
  assertClose(torch.batchNorm(torch.ones([1, 3]), torch.zeros([3]), torch.ones([3]), null, null, false), ok.e);
});

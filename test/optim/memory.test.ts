// 200 optimizer steps inside tidy leave exactly the optimizer's state tensors behind, and
// dispose() returns the live-tensor count to its baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { Adam, AdamW, SGD, clipGradNorm, warmupCosine, type GroupOptions, type Optimizer } from '../../src/optim/index.js';
import { makeData, makeParams, train } from './mlp_fixture.js';

const data = makeData(5);

const cases: [string, (ps: torch.Tensor[]) => Optimizer<GroupOptions>, number][] = [
  ['SGD momentum', (ps) => new SGD(ps, { lr: 0.01, momentum: 0.9 }), 1],
  ['Adam amsgrad', (ps) => new Adam(ps, { lr: 1e-3, amsgrad: true }), 3],
  ['AdamW', (ps) => new AdamW(ps, { lr: 1e-3 }), 2],
];

for (const [name, make, perParam] of cases) {
  test(`${name}: 200 steps in tidy leave baseline + state tensors`, () => {
    const ps = makeParams(data);
    const baseline = torch.memory().liveTensors;
    const opt = make(ps);
    const sched = warmupCosine(opt, { warmupSteps: 10, totalSteps: 200 });
    train(opt, ps, data, 0, 200, {
      after: () => {
        sched.step();
      },
    });
    // clipping inside the loop body is covered too
    for (let i = 0; i < 10; i++) torch.tidy(() => {
      opt.zeroGrad();
      torch.mseLoss(torch.linear(data.X, ps[0], ps[1]).sum([1]), data.Y.sum([1])).backward();
      clipGradNorm(ps, 0.1);
      opt.step();
    });
    assert.equal(opt.stateTensorCount, perParam * ps.length);
    assert.equal(torch.memory().liveTensors, baseline + opt.stateTensorCount, 'live tensors = baseline + optimizer state');
    opt.dispose();
    assert.equal(torch.memory().liveTensors, baseline, 'dispose() frees the state');
    ps.forEach((p) => p.dispose());
  });
}

test('state tensors survive an enclosing tidy (created with keep)', () => {
  const ps = makeParams(data);
  const opt = new Adam(ps, { lr: 1e-3 });
  torch.tidy(() => train(opt, ps, data, 0, 1));
  const st = opt.stateOf(ps[0])!;
  assert.equal(st.buffers.exp_avg.isDisposed, false);
  assert.equal(st.step, 1);
  opt.dispose();
  ps.forEach((p) => p.dispose());
});

test('step() frees its own temporaries even when the caller has no tidy open', () => {
  const ps = makeParams(data);
  const opt = new Adam(ps, { lr: 1e-3, weightDecay: 1e-2, amsgrad: true });
  const sgd = new SGD(ps, { lr: 1e-3, momentum: 0.9, nesterov: true, weightDecay: 1e-2 });
  torch.tidy(() => torch.mseLoss(torch.linear(data.X, ps[0], ps[1]).sum([1]), data.Y.sum([1])).backward());
  opt.step();
  sgd.step();
  const after1 = torch.memory().liveTensors;
  for (let i = 0; i < 50; i++) {
    opt.step();
    sgd.step();
    clipGradNorm(ps, 1);
  }
  assert.equal(torch.memory().liveTensors, after1, 'no tensor created by step() outlives it, except state');
  opt.dispose();
  sgd.dispose();
  ps.forEach((p) => p.dispose());
});

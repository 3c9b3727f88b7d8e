// FitNets hint loss: MSE(regressor(f_s), f_t) against PyTorch with our regressor's
// weights (values, and gradients w.r.t. the student features and the regressor's
// parameters), for a Linear regressor on (B, D) and a 1×1 Conv2d on (B, C, H, W).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { R } from '../helpers/inputs.js';
import { assertClose } from '../helpers/assert.js';
import type { OracleValue } from '../helpers/oracle.js';
import { oracleChecks, type Check } from './checks.js';

function hintCheck(name: string, reg: kd.HintRegressor, fs: torch.Tensor, ft: torch.Tensor, pyMap: string): Check {
  const W = reg.proj.weight, b = reg.proj.bias!;
  const x = fs.detach().requiresGrad_();
  const loss = kd.hintLoss(x, ft, reg);
  loss.backward();
  return {
    name,
    oracle: {
      code: `y = F.mse_loss(${pyMap}, ft)\ny.backward()\nout = {"y": y, "gx": fs.grad, "gW": W.grad, "gb": b.grad}`,
      inputs: { fs, ft, W: W.detach(), b: b.detach() },
      grad: ['fs', 'W', 'b'],
    },
    check: (r) => {
      assertClose(loss, r.y as OracleValue, { label: 'loss' });
      assertClose(x.grad!, r.gx as OracleValue, { atol: 1e-6, label: 'grad of the student features' });
      assert.ok(W.grad && b.grad, 'the gradient reaches the regressor');
      assert.ok(W.grad.abs().sum().item() > 0, 'a non-zero regressor gradient');
      assertClose(W.grad, r.gW as OracleValue, { atol: 1e-6, label: 'grad of the regressor weight' });
      assertClose(b.grad, r.gb as OracleValue, { atol: 1e-6, label: 'grad of the regressor bias' });
    },
  };
}

torch.manualSeed(3);
oracleChecks([
  hintCheck('hint with a Linear regressor on (B, D) features', new kd.HintRegressor(6, 9), R(5, 6), R(5, 9), 'F.linear(fs, W, b)'),
  hintCheck('hint with a Linear regressor on (B, L, D) hidden states', new kd.HintRegressor(4, 8), R(2, 3, 4), R(2, 3, 8), 'F.linear(fs, W, b)'),
  hintCheck('hint with a 1×1 Conv2d regressor on (B, C, H, W) maps', new kd.HintRegressor(3, 5, { spatial: true }), R(2, 3, 4, 4), R(2, 5, 4, 4), 'F.conv2d(fs, W, b)'),
]);

test('the regressor is a Module: its parameters are exposed, and a step of SGD on them lowers the loss', () => {
  const reg = new kd.HintRegressor(6, 4);
  assert.equal(reg.parameters().length, 2);
  assert.deepEqual(reg.namedParameters().map(([n]) => n), ['proj.weight', 'proj.bias']);
  assert.deepEqual([...reg.proj.weight.shape], [4, 6]);
  const fs = R(16, 6), ft = R(16, 4);
  const before = torch.tidy(() => kd.hintLoss(fs, ft, reg).item());
  torch.tidy(() => {
    kd.hintLoss(fs, ft, reg).backward();
    torch.noGrad(() => {
      for (const p of reg.parameters()) p.sub_(p.grad!.mul(0.5));
    });
  });
  const after = torch.tidy(() => kd.hintLoss(fs, ft, reg).item());
  assert.ok(after < before, `loss ${before} → ${after}`);
  reg.dispose();
});

test('hint errors: wrong student width, wrong rank for a spatial regressor, mismatched shapes without one', () => {
  const reg = new kd.HintRegressor(6, 4);
  assert.throws(() => kd.hintLoss(R(3, 5), R(3, 4), reg), (e: Error) => e instanceof torch.ShapeError && /\[3, 5\]/.test(e.message));
  assert.throws(() => kd.hintLoss(R(3, 6), R(3, 5), reg), torch.ShapeError);
  assert.throws(() => kd.hintLoss(R(3, 6), R(3, 4, 1, 1), new kd.HintRegressor(6, 4, { spatial: true })), torch.ShapeError);
  assert.throws(() => kd.hintLoss(R(3, 6), R(3, 4)), (e: Error) => e instanceof torch.ShapeError && /regressor/.test(e.message));
  assert.throws(() => new kd.HintRegressor(0, 4), torch.ConfigError);
  torch.tidy(() => assert.equal(kd.hintLoss(R(3, 4).mul(0), torch.zeros([3, 4])).item(), 0));
  reg.dispose();
});

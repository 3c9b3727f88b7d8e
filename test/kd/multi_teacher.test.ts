// Several teachers: the weighted mixture of soft targets, then the KL, against PyTorch
// (float64, rounded to float32) with gradients w.r.t. the student and every teacher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { parityTests, type ParityCase } from '../helpers/parity.js';
import { R } from '../helpers/inputs.js';
import { near, gradsOf } from './checks.js';

type In = Record<string, torch.Tensor>;

const s = R(8, 10).mul(2), t1 = R(8, 10).mul(3), t2 = R(8, 10), t3 = R(8, 10).mul(2);

const setup = `
def multi(s, ts, ws, T):
    ws = [w / sum(ws) for w in ws]
    pbar = sum(w * F.softmax(t.double() / T, -1) for w, t in zip(ws, ts))
    return (F.kl_div(F.log_softmax(s.double() / T, -1), pbar, reduction='batchmean') * T * T).float()
`;

const cases: ParityCase[] = [1, 4, 20].flatMap((T): ParityCase[] => [
  {
    name: `multiTeacherKL weights [1, 2, 3] T=${T}`, inputs: { s, t1, t2, t3 }, grad: ['s', 't1', 't2', 't3'], setup,
    py: `multi(s, [t1, t2, t3], [1, 2, 3], ${T})`,
    ours: ({ s, t1, t2, t3 }: In) => kd.multiTeacherKL(s, [t1, t2, t3], T, [1, 2, 3]),
  },
  {
    name: `multiTeacherKL equal weights T=${T}`, inputs: { s, t1, t2 }, grad: ['s', 't1', 't2'], setup,
    py: `multi(s, [t1, t2], [1, 1], ${T})`,
    ours: ({ s, t1, t2 }: In) => kd.multiTeacherKL(s, [t1, t2], T),
  },
]);
cases.push({
  name: 'multiTeacherTargets is the normalised mixture of soft targets', inputs: { t1, t2 }, grad: ['t1', 't2'],
  py: '0.25 * F.softmax(t1 / 4, -1) + 0.75 * F.softmax(t2 / 4, -1)',
  ours: ({ t1, t2 }: In) => kd.multiTeacherTargets([t1, t2], 4, [2, 6]),
});
parityTests(cases);

test('equal teachers give the single-teacher loss and gradient', () => {
  torch.tidy(() => {
    for (const T of [1, 4, 20]) {
      const multi = gradsOf([s], (a) => kd.multiTeacherKL(a, [t1, t1, t1], T, [0.2, 0.5, 0.3]));
      const single = gradsOf([s], (a) => kd.forwardKL(a, t1, T));
      near(multi.value, single.value, { rtol: 1e-5, label: `value T=${T}` });
      near(multi.grads[0], single.grads[0], { rtol: 1e-5, atol: 1e-7, label: `grad T=${T}` });
    }
    near(kd.softKL(s, [t1, t2], 4), kd.multiTeacherKL(s, [t1, t2], 4), { rtol: 0 });
  });
});

test('bad weights and teachers are ConfigErrors or ShapeErrors', () => {
  assert.throws(() => kd.multiTeacherKL(s, [t1, t2], 1, [1]), (e: Error) => e instanceof torch.ConfigError && /2 numbers/.test(e.message));
  assert.throws(() => kd.multiTeacherKL(s, [t1, t2], 1, [0, 0]), torch.ConfigError);
  assert.throws(() => kd.multiTeacherKL(s, [t1, t2], 1, [1, -1]), torch.ConfigError);
  assert.throws(() => kd.multiTeacherKL(s, [], 1), torch.ConfigError);
  assert.throws(() => kd.multiTeacherKL(s, [t1, R(8, 9)], 1), torch.ShapeError);
});

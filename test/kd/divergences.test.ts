// The soft-only losses against the same formulas written in PyTorch, at T ∈ {1, 4, 20}:
// values and the gradients w.r.t. both student and teacher logits (the losses do not
// detach the teacher, so its gradient is part of the contract).
//
// The oracle evaluates each formula in float64 on the same float32 inputs and rounds the
// result to float32 (gradients flow back through the casts). At T = 20 a T²-scaled
// divergence is a sum of O(1/T) differences between O(1) log-probabilities, so two
// float32 implementations of one formula can legitimately disagree by ~T²·eps ≈ 2e-5;
// against float64 we measure our own error instead of agreement in rounding.
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { parityTests, type ParityCase } from '../helpers/parity.js';
import { R } from '../helpers/inputs.js';

type In = Record<string, torch.Tensor>;

// Spread-out logits, so that at T = 1 the distributions are far from uniform.
const s = R(8, 10).mul(2), t = R(8, 10).mul(3);
const s3 = R(2, 3, 7).mul(2), t3 = R(2, 3, 7).mul(3); // (B, L, C): every token is a row

// Natural PyTorch formulas (probability space where that is how they are usually written).
const setup = `
def kl(s, t, T):
    return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction='batchmean') * T * T
def rkl(s, t, T):
    return (F.softmax(s / T, -1) * (F.log_softmax(s / T, -1) - F.log_softmax(t / T, -1))).sum(-1).mean() * T * T
def jsd(s, t, T, beta):
    p = F.softmax(t / T, -1); q = F.softmax(s / T, -1); m = beta * p + (1 - beta) * q
    return (beta * (p * (p.log() - m.log())).sum(-1).mean() + (1 - beta) * (q * (q.log() - m.log())).sum(-1).mean()) * T * T
def tv(s, t, T):
    return 0.5 * (F.softmax(t / T, -1) - F.softmax(s / T, -1)).abs().sum(-1).mean() * T * T
def mse(s, t, T):
    return F.mse_loss(s / T, t / T) * T * T
`;

/** The expression in float64 over S = s.double() and U = t.double(), rounded to float32. */
const f64 = (expr: string, s = 's', t = 't') => `(lambda S, U: (${expr}).float())(${s}.double(), ${t}.double())`;

const cases: ParityCase[] = [];
for (const T of [1, 4, 20]) {
  const common = { inputs: { s, t }, grad: ['s', 't'], setup };
  cases.push(
    { name: `forwardKL T=${T}`, ...common, py: f64(`kl(S, U, ${T})`), ours: ({ s, t }: In) => kd.forwardKL(s, t, T) },
    { name: `reverseKL T=${T}`, ...common, py: f64(`rkl(S, U, ${T})`), ours: ({ s, t }: In) => kd.reverseKL(s, t, T) },
    { name: `jsd beta=0.5 T=${T}`, ...common, py: f64(`jsd(S, U, ${T}, 0.5)`), ours: ({ s, t }: In) => kd.jsd(s, t, T, 0.5) },
    // β = 0.1 at T = 20: the mixture m is within O(1/T) of p, and float32 log-space
    // arithmetic loses ~1.2e-5 of relative precision here (PyTorch's own float32 formula
    // loses 2.6e-5), so this one case is compared at rtol 3e-5.
    { name: `jsd beta=0.1 T=${T}`, ...common, py: f64(`jsd(S, U, ${T}, 0.1)`), ours: ({ s, t }: In) => kd.jsd(s, t, T, 0.1), rtol: T === 20 ? 3e-5 : undefined },
    { name: `totalVariation T=${T}`, ...common, py: f64(`tv(S, U, ${T})`), ours: ({ s, t }: In) => kd.totalVariation(s, t, T) },
    { name: `mseLogits T=${T}`, ...common, py: f64(`mse(S, U, ${T})`), ours: ({ s, t }: In) => kd.mseLogits(s, t, T) },
  );
}
// Sequences: 'batchmean' averages over all B·L token rows.
cases.push(
  { name: 'forwardKL over (B, L, C) averages over tokens', inputs: { s3, t3 }, grad: ['s3', 't3'], setup, py: f64('kl(S.reshape(-1, 7), U.reshape(-1, 7), 4)', 's3', 't3'), ours: ({ s3, t3 }: In) => kd.forwardKL(s3, t3, 4) },
  { name: 'reverseKL over (B, L, C)', inputs: { s3, t3 }, grad: ['s3', 't3'], setup, py: f64('rkl(S.reshape(-1, 7), U.reshape(-1, 7), 4)', 's3', 't3'), ours: ({ s3, t3 }: In) => kd.reverseKL(s3, t3, 4) },
  { name: 'jsd over (B, L, C)', inputs: { s3, t3 }, grad: ['s3', 't3'], setup, py: f64('jsd(S.reshape(-1, 7), U.reshape(-1, 7), 4, 0.5)', 's3', 't3'), ours: ({ s3, t3 }: In) => kd.jsd(s3, t3, 4) },
);
parityTests(cases);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { near } from './checks.js';

test('divergences are 0 when student equals teacher, and JSD(0.5) stays under log 2', () => {
  torch.tidy(() => {
    for (const f of [kd.forwardKL, kd.reverseKL, kd.jsd, kd.totalVariation, kd.mseLogits]) near(f(t, t, 4), 0, { atol: 1e-6, label: f.name });
    const far = torch.tensor([[30, 0, 0], [0, 30, 0]]);
    const other = torch.tensor([[0, 0, 30], [0, 0, 30]]);
    assert.ok(kd.jsd(far, other, 1).item() <= Math.log(2) + 1e-6);
    near(kd.jsd(far, other, 1), Math.log(2), { rtol: 1e-5, label: 'disjoint supports give log 2' });
  });
});

test('bad arguments: beta outside (0, 1), T ≤ 0, student/teacher class counts differ', () => {
  assert.throws(() => kd.jsd(s, t, 1, 0), (e: Error) => e instanceof torch.ConfigError && /beta/.test(e.message));
  assert.throws(() => kd.jsd(s, t, 1, 1), torch.ConfigError);
  assert.throws(() => kd.forwardKL(s, t, 0), (e: Error) => e instanceof torch.ConfigError && /temperature/.test(e.message));
  assert.throws(() => kd.forwardKL(s, t, NaN), torch.ConfigError);
  const t9 = R(8, 9);
  assert.throws(() => kd.reverseKL(s, t9, 1), (e: Error) => e instanceof torch.ShapeError && /\[8, 10\]/.test(e.message) && /\[8, 9\]/.test(e.message));
  assert.throws(() => kd.forwardKL(R(10), R(10), 1), torch.ShapeError);
});

// Hinton et al. 2015 against the PyTorch formula for T ∈ {1, 4, 20} × α ∈ {0, 0.1, 0.7}:
// total, hard and soft parts, and the gradients of the total w.r.t. student and teacher
// logits. The oracle runs in float64 and rounds to float32 (see divergences.test.ts).
// Then the T² scaling is tested on its own: it is what keeps the soft gradient's size
// independent of T.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { parityTests, type ParityCase } from '../helpers/parity.js';
import { R, I } from '../helpers/inputs.js';
import { near, gradsOf } from './checks.js';

type In = Record<string, torch.Tensor>;

const s = R(8, 10).mul(2), t = R(8, 10).mul(3), y = I([0, 3, 9, 2, 2, 7, 5, 1]);
const s3 = R(2, 3, 7), t3 = R(2, 3, 7).mul(2), y3 = I([[0, 6, 2], [1, 1, 4]]);

const setup = `
def hinton(s, t, y, T, alpha):
    S, U = s.double(), t.double()
    hard = F.cross_entropy(S, y)
    soft = F.kl_div(F.log_softmax(S / T, -1), F.softmax(U / T, -1), reduction='batchmean') * T * T
    return ((alpha * hard + (1 - alpha) * soft).float(), hard.float(), soft.float())
`;

const cases: ParityCase[] = [];
// With the teacher needing a gradient hintonLoss runs the composite form; with the teacher
// as data (as in training) it runs the fused op. Both against the same oracle.
for (const [form, grad] of [['composite', ['s', 't']], ['fused (teacher as data)', ['s']]] as const)
  for (const T of [1, 4, 20])
    for (const alpha of [0, 0.1, 0.7])
      cases.push({
        name: `hinton ${form} T=${T} alpha=${alpha}: total, hard, soft and gradients`,
        inputs: { s, t, y }, grad: [...grad], setup,
        py: `hinton(s, t, y, ${T}, ${alpha})`,
        ours: ({ s, t, y }: In) => {
          const r = kd.hintonLoss(s, t, y, { T, alpha });
          return [r.loss, r.parts.hard, r.parts.soft];
        },
      });
cases.push({
  name: 'hinton over a sequence (B, L, C): every token is a row of both terms',
  inputs: { s3, t3, y3 }, grad: ['s3', 't3'], setup,
  py: 'hinton(s3.reshape(-1, 7), t3.reshape(-1, 7), y3.reshape(-1), 4, 0.3)',
  ours: ({ s3, t3, y3 }: In) => {
    const r = kd.hintonLoss(s3, t3, y3, { T: 4, alpha: 0.3 });
    return [r.loss, r.parts.hard, r.parts.soft];
  },
});
cases.push({
  name: 'hinton fused over a sequence (B, L, C), and a gradient through the hard and soft parts too',
  inputs: { s3, t3, y3 }, grad: ['s3'], setup,
  py: '(lambda r: (r[0] + 2 * r[1] - r[2], r[0], r[1], r[2]))(hinton(s3.reshape(-1, 7), t3.reshape(-1, 7), y3.reshape(-1), 4, 0.3))',
  ours: ({ s3, t3, y3 }: In) => {
    const r = kd.hintonLoss(s3, t3, y3, { T: 4, alpha: 0.3 });
    return [r.loss.add(r.parts.hard.mul(2)).sub(r.parts.soft), r.loss, r.parts.hard, r.parts.soft];
  },
});
const perm = I([3, 0, 1, 2, 7, 4, 6, 5]);
cases.push({
  name: 'hinton with label smoothing and mixup: the hard term is λ·CE(y) + (1−λ)·CE(y[perm])',
  inputs: { s, t, y, perm }, grad: ['s', 't'],
  py: `(lambda S, U: (lambda hard: ((0.4 * hard + 0.6 * F.kl_div(F.log_softmax(S / 4, -1), F.softmax(U / 4, -1), reduction='batchmean') * 16).float(), hard.float()))(
    0.3 * F.cross_entropy(S, y, label_smoothing=0.1) + 0.7 * F.cross_entropy(S, y[perm], label_smoothing=0.1)))(s.double(), t.double())`,
  ours: ({ s, t, y, perm }: In) => {
    const r = kd.hintonLoss(s, t, y, { T: 4, alpha: 0.4, labelSmoothing: 0.1, mixed: { perm, lambda: 0.3 } });
    return [r.loss, r.parts.hard];
  },
});
// Logit standardisation, as in the paper's code (Sun et al. 2024, logit_stand: (z − mean) /
// (1e-7 + std), torch's unbiased std): soft on both standardised sides, hard on the raw logits.
const standardize = `
def zs(z):
    return (z - z.mean(-1, keepdim=True)) / (1e-7 + z.std(-1, keepdim=True))
`;
for (const [form, grad] of [['teacher with gradient', ['s', 't']], ['teacher as data', ['s']]] as const)
  cases.push({
    name: `hinton standardize (${form}): soft = T²·KL(zs(t)/T ‖ zs(s)/T), hard on raw logits, and gradients`,
    inputs: { s, t, y }, grad: [...grad], setup: setup + standardize,
    py: '(lambda r, h: ((0.3 * h.double() + 0.7 * r[2].double()).float(), h, r[2]))(hinton(zs(s.double()), zs(t.double()), y, 2, 0.3), F.cross_entropy(s.double(), y).float())',
    ours: ({ s, t, y }: In) => {
      const r = kd.hintonLoss(s, t, y, { T: 2, alpha: 0.3, standardize: true });
      return [r.loss, r.parts.hard, r.parts.soft];
    },
  });
const t2 = R(8, 10).mul(0.5);
cases.push({
  name: 'hinton standardize with two teachers: each teacher standardised, then their soft targets mixed 1 : 3',
  inputs: { s, t, t2, y }, grad: ['s'], setup: standardize,
  py: `(lambda S, m: (F.kl_div(F.log_softmax(zs(S) / 2, -1), m, reduction='batchmean') * 4).float())(
    s.double(), 0.25 * F.softmax(zs(t.double()) / 2, -1) + 0.75 * F.softmax(zs(t2.double()) / 2, -1))`,
  ours: ({ s, t, t2, y }: In) => [kd.hintonLoss(s, [t, t2], y, { T: 2, alpha: 0, standardize: true, weights: [1, 3] }).loss],
});
cases.push({
  name: 'standardizeLogits over a sequence (B, L, C): each row has mean 0 and unbiased std 1',
  inputs: { t3 }, grad: ['t3'], setup: standardize,
  py: '(lambda z: (z, (z * torch.arange(7.0)).sum()))(zs(t3))',
  ours: ({ t3 }: In) => {
    const z = kd.standardizeLogits(t3);
    return [z, z.mul(torch.arange(0, 7, 1, 'float32')).sum()];
  },
});
parityTests(cases);

test('standardize with a sparse top-k teacher is a ConfigError naming the option', () => {
  const sparse = kd.sparseTeacherFromLogits(t, 3);
  assert.throws(() => kd.hintonLoss(s, sparse, y, { T: 2, alpha: 0.3, standardize: true }), (e: Error) => e instanceof torch.ConfigError && /standardize/.test(e.message));
});

// ── the T² factor ──

/** ‖∂ soft / ∂ s‖ for the soft term as returned (× T²) and with the T² taken out. */
function softGradNorms(T: number): { scaled: number; unscaled: number } {
  return torch.tidy(() => {
    const scaled = gradsOf([s], (a) => kd.hintonLoss(a, t, null, { T, alpha: 0 }).parts.soft).grads[0].norm().item();
    const unscaled = gradsOf([s], (a) => kd.hintonLoss(a, t, null, { T, alpha: 0 }).parts.soft.div(T * T)).grads[0].norm().item();
    return { scaled, unscaled };
  });
}

test('the soft term includes T²: soft = T²·KL(p_T ‖ q_T) exactly', () => {
  torch.tidy(() => {
    for (const T of [1, 4, 20]) {
      const { soft } = kd.hintonLoss(s, t, y, { T, alpha: 0.5 }).parts;
      const kl = torch.klDiv(s.div(T).logSoftmax(-1), t.div(T).softmax(-1), { reduction: 'batchmean' });
      near(soft, kl.item() * T * T, { rtol: 1e-5, label: `T=${T}` });
      if (T > 1) assert.ok(Math.abs(soft.item() - kl.item()) > 0.5 * soft.item(), `T=${T}: dropping T² would change the soft term`);
    }
  });
});

test('with T² the soft gradient norm is ~T-independent for large T; without it, it falls like 1/T²', () => {
  const g10 = softGradNorms(10), g20 = softGradNorms(20), g40 = softGradNorms(40);
  // The scaled gradient tends to (s − t − rowmean(s − t)) / (N·C): a T-free limit.
  assert.ok(Math.abs(g20.scaled / g10.scaled - 1) < 0.1, `scaled: T=10 ${g10.scaled}, T=20 ${g20.scaled}`);
  assert.ok(Math.abs(g40.scaled / g20.scaled - 1) < 0.05, `scaled: T=20 ${g20.scaled}, T=40 ${g40.scaled}`);
  const limit = torch.tidy(() => {
    const d = s.sub(t);
    return d.sub(d.mean(-1, true)).div(s.shape[0] * s.shape[1]).norm().item();
  });
  assert.ok(Math.abs(g40.scaled / limit - 1) < 0.05, `T=40 gradient norm ${g40.scaled} vs the high-T limit ${limit}`);
  // Without T² each doubling of T divides the gradient by about 4.
  assert.ok(Math.abs(g10.unscaled / g20.unscaled - 4) < 0.4, `unscaled ratio T=10/T=20: ${g10.unscaled / g20.unscaled}`);
  assert.ok(Math.abs(g20.unscaled / g40.unscaled - 4) < 0.2, `unscaled ratio T=20/T=40: ${g20.unscaled / g40.unscaled}`);
});

test('alpha = 0 needs no labels (hard is 0); alpha > 0 without labels is a ConfigError', () => {
  torch.tidy(() => {
    const r = kd.hintonLoss(s, t, null, { T: 4, alpha: 0 });
    assert.equal(r.parts.hard.item(), 0);
    near(r.loss, r.parts.soft.item(), { rtol: 1e-7 });
  });
  assert.throws(() => kd.hintonLoss(s, t, null, { T: 4, alpha: 0.5 }), (e: Error) => e instanceof torch.ConfigError && /labels/.test(e.message));
  assert.throws(() => kd.hintonLoss(s, t, y, { T: 4, alpha: 1.5 }), (e: Error) => e instanceof torch.ConfigError && /alpha/.test(e.message));
  assert.throws(() => kd.hintonLoss(s, t, I([0, 1]), { T: 4, alpha: 0.5 }), torch.ShapeError);
  assert.throws(() => kd.hintonLoss(s, R(8, 9), y, { T: 4, alpha: 0.5 }), torch.ShapeError);
});

test('hintonLoss frees its intermediates: only total, hard and soft remain', () => {
  const base = torch.memory().liveTensors;
  const r = kd.hintonLoss(s, t, y, { T: 4, alpha: 0.1 });
  assert.equal(torch.memory().liveTensors, base + 3);
  r.loss.dispose();
  r.parts.hard.dispose();
  r.parts.soft.dispose();
  assert.equal(torch.memory().liveTensors, base);
});

test('a teacher without gradient takes the fused op (one graph node); a teacher with gradient the composite', () => {
  torch.tidy(() => {
    const a = R(8, 10).requiresGrad_(true);
    assert.match(kd.hintonLoss(a, t, y, { T: 4, alpha: 0.1 }).loss.gradFn ?? '', /HintonKD/);
    assert.throws(() => kd.hintonLoss(a, t, I([0, 3, 9, 2, 2, 7, 5, 10]), { T: 4, alpha: 0.1 }), /label 10 is out of range for 10 classes/);
    const b = R(8, 10).requiresGrad_(true);
    assert.doesNotMatch(kd.hintonLoss(a, b, y, { T: 4, alpha: 0.1 }).loss.gradFn ?? '', /HintonKD/);
  });
});

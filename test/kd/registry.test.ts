// Losses by name: every built-in is reachable and equals its function; a weighted sum is
// the sum of its weighted parts; unknown names, options and bad values are ConfigErrors
// naming them; the loss's own parameters (hint regressors) are exposed and trained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as kd from '../../src/kd/index.js';
import { R, I } from '../helpers/inputs.js';
import { near } from './checks.js';

const s = R(8, 10), t = R(8, 10).mul(2), y = I([0, 1, 2, 3, 4, 5, 6, 7]);
const t2 = R(8, 10);
const fs = R(8, 6), ft = R(8, 12), ms = R(8, 3, 4, 4), mt = R(8, 5, 4, 4);
const inputs: kd.LossInputs = { student: s, teacher: t, labels: y, features: { student: { fc: fs, conv: ms }, teacher: { fc: ft, conv: mt } } };
const ctx = { T: 4, alpha: 0.3 };
const err = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);

test('every built-in name is registered and gives the value of its function', () => {
  assert.deepEqual(kd.lossNames(), ['hinton', 'kl', 'reverse_kl', 'jsd', 'tv', 'mse_logits', 'sparse_kl', 'multi_teacher', 'ce', 'hint', 'attention']);
  torch.tidy(() => {
    const one = (spec: kd.LossSpec, i: kd.LossInputs = inputs) => kd.createLoss(spec)(i, ctx).loss;
    near(one({ name: 'hinton' }), kd.hintonLoss(s, t, y, ctx).loss, { rtol: 0 });
    near(one({ name: 'kl' }), kd.forwardKL(s, t, 4), { rtol: 0 });
    near(one({ name: 'reverse_kl' }), kd.reverseKL(s, t, 4), { rtol: 0 });
    near(one({ name: 'jsd', beta: 0.3 }), kd.jsd(s, t, 4, 0.3), { rtol: 0 });
    near(one({ name: 'tv' }), kd.totalVariation(s, t, 4), { rtol: 0 });
    near(one({ name: 'mse_logits' }), kd.mseLogits(s, t, 4), { rtol: 0 });
    near(one({ name: 'ce', labelSmoothing: 0.1 }), torch.crossEntropy(s, y, { labelSmoothing: 0.1 }), { rtol: 0 });
    const mixed = { perm: I([1, 0, 3, 2, 5, 4, 7, 6]), lambda: 0.25 };
    near(one({ name: 'ce' }, { ...inputs, mixed }), kd.hardCE(s, y, { mixed }), { rtol: 0 });
    near(one({ name: 'hinton', labelSmoothing: 0.2 }, { ...inputs, mixed }), kd.hintonLoss(s, t, y, { ...ctx, labelSmoothing: 0.2, mixed }).loss, { rtol: 0 });
    near(one({ name: 'hinton', standardize: true }), kd.hintonLoss(s, t, y, { ...ctx, standardize: true }).loss, { rtol: 0 });
    near(one({ name: 'attention', pairs: [['conv', 'conv']] }), kd.attentionTransfer([[ms, mt]]), { rtol: 0 });
    const sparse = kd.sparseTeacherFromLogits(t, 3);
    near(one({ name: 'sparse_kl' }, { student: s, teacher: sparse }), kd.sparseKL(s, sparse, 4), { rtol: 0 });
    near(one({ name: 'kl' }, { student: s, teacher: sparse }), kd.sparseKL(s, sparse, 4), { rtol: 0 });
    near(one({ name: 'multi_teacher', weights: [1, 3] }, { student: s, teacher: [t, t2] }), kd.multiTeacherKL(s, [t, t2], 4, [1, 3]), { rtol: 0 });
    near(one({ name: 'kl', weights: [1, 3] }, { student: s, teacher: [t, t2] }), kd.multiTeacherKL(s, [t, t2], 4, [1, 3]), { rtol: 0 });
    near(one({ name: 'hint', student: 'fc', teacher: 'fc', regressor: false }, { student: s, features: { student: { fc: fs }, teacher: { fc: fs.mul(2) } } }), kd.hintLoss(fs, fs.mul(2)), { rtol: 0 });
  });
});

test('a weighted sum: total = Σ weight·part, parts unweighted, hinton sub-parts, duplicate names keyed apart', () => {
  const loss = kd.createLoss([
    { name: 'hinton' },
    { name: 'jsd', weight: 0.25, beta: 0.4 },
    { name: 'kl', weight: 2 },
    { name: 'kl', weight: 0.5 },
    { name: 'hint', weight: 0.1, student: 'fc', teacher: 'fc', studentDim: 6, teacherDim: 12 },
    { name: 'attention', weight: 3, pairs: [['conv', 'conv']] },
  ]);
  assert.deepEqual(loss.components.map((c) => [c.key, c.weight]), [['hinton', 1], ['jsd', 0.25], ['kl', 2], ['kl#2', 0.5], ['hint', 0.1], ['attention', 3]]);
  torch.tidy(() => {
    const { loss: total, parts } = loss(inputs, ctx);
    assert.deepEqual(Object.keys(parts).sort(), ['attention', 'hint', 'hinton', 'hinton.hard', 'hinton.soft', 'jsd', 'kl', 'kl#2'].sort());
    const sum = loss.components.reduce((acc, c) => acc + c.weight * parts[c.key].item(), 0);
    near(total, sum, { rtol: 1e-6, label: 'total vs Σ weight·part' });
    near(parts.jsd, kd.jsd(s, t, 4, 0.4), { rtol: 0 });
    near(parts.kl, parts['kl#2'], { rtol: 0 });
    near(parts.hinton, 0.3 * parts['hinton.hard'].item() + 0.7 * parts['hinton.soft'].item(), { rtol: 1e-6 });
    assert.notEqual(total, parts.hinton);
  });
  loss.dispose();
});

test("the loss's parameters are the hint regressors', and the total's gradient reaches them", () => {
  const loss = kd.createLoss([{ name: 'kl' }, { name: 'hint', student: 'conv', teacher: 'conv', studentDim: 3, teacherDim: 5, spatial: true }]);
  const params = loss.parameters();
  assert.deepEqual(params.map((p) => [...p.shape]), [[5, 3, 1, 1], [5]]);
  torch.tidy(() => {
    const student = s.detach().requiresGrad_();
    loss({ ...inputs, student }, ctx).loss.backward();
    for (const p of params) assert.ok(p.grad && p.grad.abs().sum().item() > 0);
    assert.ok(student.grad);
  });
  loss.dispose();
  assert.ok(params.every((p) => p.isDisposed));
});

test('a loss call frees everything but total and parts', () => {
  const loss = kd.createLoss([{ name: 'hinton' }, { name: 'jsd', weight: 0.5 }]);
  const base = torch.memory().liveTensors;
  const r = loss(inputs, ctx);
  assert.equal(torch.memory().liveTensors, base + 1 + Object.keys(r.parts).length);
  r.loss.dispose();
  for (const p of Object.values(r.parts)) p.dispose();
  assert.equal(torch.memory().liveTensors, base);
});

test('unknown names: a ConfigError naming it and listing the valid names', () => {
  assert.throws(() => kd.createLoss({ name: 'klx' } as unknown as kd.LossSpec), err(/unknown loss 'klx'.*valid names: 'hinton', 'kl', 'reverse_kl', 'jsd', 'tv', 'mse_logits'/));
  assert.throws(() => kd.createLoss([{ name: 'kl' }, { name: 'fitnets' } as unknown as kd.LossSpec]), err(/loss\[1\].*'fitnets'/));
  assert.throws(() => kd.createLoss({} as kd.LossSpec), err(/needs a 'name'.*valid names/));
  assert.throws(() => kd.createLoss([]), err(/empty/));
});

test('bad options: unknown keys, bad values, missing required ones, bad weights', () => {
  assert.throws(() => kd.createLoss({ name: 'jsd', betta: 0.5 } as unknown as kd.LossSpec), err(/'jsd': unknown option 'betta'; valid options: 'weight', 'beta'/));
  assert.throws(() => kd.createLoss({ name: 'jsd', beta: 1 }), err(/option 'beta' must be a number strictly between 0 and 1, got 1/));
  assert.throws(() => kd.createLoss({ name: 'hinton', standardize: 'yes' } as unknown as kd.LossSpec), err(/option 'standardize' must be true or false/));
  assert.throws(() => kd.createLoss({ name: 'tv', T: 2 } as unknown as kd.LossSpec), err(/unknown option 'T'/));
  assert.throws(() => kd.createLoss({ name: 'kl', weight: -1 }), err(/'weight'/));
  assert.throws(() => kd.createLoss({ name: 'kl', weights: [] }), err(/'weights'/));
  assert.throws(() => kd.createLoss({ name: 'hint', teacher: 'x' } as kd.LossSpec), err(/option 'student' is required/));
  assert.throws(() => kd.createLoss({ name: 'hint', student: 'a', teacher: 'b' }), err(/'studentDim', 'teacherDim'/));
  assert.throws(() => kd.createLoss({ name: 'hint', student: 'a', teacher: 'b', studentDim: 2.5, teacherDim: 3 }), err(/'studentDim' must be an integer/));
  assert.throws(() => kd.createLoss({ name: 'attention', pairs: [['a']] } as unknown as kd.LossSpec), err(/'pairs'/));
});

test('bad inputs at call time name the loss and what it needs', () => {
  torch.tidy(() => {
    const sparse = kd.sparseTeacherFromLogits(t, 3);
    assert.throws(() => kd.createLoss({ name: 'reverse_kl' })({ student: s, teacher: sparse }, ctx), err(/'reverse_kl' needs teacher logits.*sparse teacher works with/));
    assert.throws(() => kd.createLoss({ name: 'kl' })({ student: s }, ctx), err(/'kl' needs inputs.teacher/));
    assert.throws(() => kd.createLoss({ name: 'sparse_kl' })({ student: s, teacher: t }, ctx), err(/'sparse_kl' needs a sparse teacher/));
    assert.throws(() => kd.createLoss({ name: 'hinton' })({ student: s, teacher: t }, ctx), err(/'hinton' needs inputs.labels/));
    assert.throws(() => kd.createLoss({ name: 'attention', pairs: [['conv', 'nope']] })(inputs, ctx), err(/no teacher feature named 'nope'.*'fc', 'conv'/));
    assert.throws(() => kd.createLoss({ name: 'kl' })(inputs, { T: 0, alpha: 0.5 }), err(/temperature/));
    assert.throws(() => kd.createLoss({ name: 'kl' })(inputs, { T: 1, alpha: 2 }), err(/alpha/));
    near(kd.createLoss({ name: 'hinton' })({ student: s, teacher: t }, { T: 2, alpha: 0 }).loss, kd.forwardKL(s, t, 2), { rtol: 0 });
  });
});

test('registerLoss adds a custom loss that createLoss finds by name', () => {
  kd.registerLoss<{ scale?: number }>('l1_logits_test', {
    description: 'mean |s − t| (test only)',
    options: { scale: (v, fail) => (typeof v === 'number' ? v : fail('must be a number')) },
    build: (o) => ({ run: (i) => ({ loss: (i.student.sub(i.teacher as torch.Tensor).abs().mean()).mul(o.scale ?? 1) }) }),
  });
  torch.tidy(() => {
    const loss = kd.createLoss({ name: 'l1_logits_test', scale: 2 } as unknown as kd.LossSpec);
    near(loss(inputs, ctx).loss, s.sub(t).abs().mean().mul(2), { rtol: 0 });
  });
  assert.ok(kd.lossNames().includes('l1_logits_test'));
  assert.equal(typeof kd.describeLosses().hinton, 'string');
});

test('the capture → loss path: features captured from real models feed the hint loss', () => {
  torch.manualSeed(5);
  const student = new nn.Sequential(new nn.Linear(6, 4), new nn.ReLU(), new nn.Linear(4, 10));
  const teacher = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Linear(16, 10));
  const cs = kd.captureFeatures(student, ['1']), ct = kd.captureFeatures(teacher, ['1']);
  const loss = kd.createLoss([{ name: 'hinton' }, { name: 'hint', weight: 0.5, student: '1', teacher: '1', studentDim: 4, teacherDim: 16 }]);
  const base = torch.memory().liveTensors;
  torch.tidy(() => {
    const x = R(8, 6);
    const tl = torch.noGrad(() => teacher.call(x));
    const sl = student.call(x);
    const { loss: total } = loss({ student: sl, teacher: tl, labels: y, features: { student: cs.features(), teacher: ct.features() } }, ctx);
    total.backward();
  });
  cs.clear();
  ct.clear();
  assert.equal(torch.memory().liveTensors, base, 'nothing left once the captures are cleared (gradients live in the parameters, not in JS handles)');
  assert.ok(student.at(0).parameters()[0].grad, 'the student gets a gradient through the hint');
  assert.ok(loss.parameters()[0].grad, 'the regressor too');
  cs.remove();
  ct.remove();
  loss.dispose();
});

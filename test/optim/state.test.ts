// Checkpoint state: 50 steps, stateDict, a fresh optimizer (and scheduler) loading it,
// 50 more steps must give bitwise the same weights as 100 uninterrupted steps. Also the
// contract's details: references in `tensors`, JSON `meta`, copying on load, clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  Adam, AdamW, SGD, warmupCosine, stateKey, type GroupOptions, type Optimizer, type LRScheduler,
} from '../../src/optim/index.js';
import { makeData, makeParams, train } from './mlp_fixture.js';

const data = makeData(3);

interface Case {
  name: string;
  make: (ps: torch.Tensor[]) => Optimizer<GroupOptions>;
  sched?: (opt: Optimizer<GroupOptions>) => LRScheduler<object>;
}
const cases: Case[] = [
  { name: 'SGD nesterov + weight decay', make: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }) },
  { name: 'Adam amsgrad', make: (ps) => new Adam(ps, { lr: 1e-2, amsgrad: true }) },
  {
    name: 'AdamW, two groups, warm-up + cosine schedule',
    make: (ps) => new AdamW([{ params: [ps[0], ps[2]] }, { params: [ps[1], ps[3]], weightDecay: 0, lr: 5e-3 }], { lr: 2e-2, weightDecay: 0.05 }),
    sched: (opt) => warmupCosine(opt, { warmupSteps: 20, totalSteps: 100, startFactor: 0.1 }),
  },
];

const bytesOf = (ps: torch.Tensor[]) => ps.map((p) => Buffer.from(p.bytes()));

for (const c of cases) {
  test(`${c.name}: save at 50, load into a fresh optimizer, 50 more = 100 straight (bitwise)`, () => {
    // Reference: 100 uninterrupted steps.
    const ref = makeParams(data);
    const refOpt = c.make(ref);
    const refSched = c.sched?.(refOpt);
    train(refOpt, ref, data, 0, 100, { after: refSched && (() => refSched.step()) });

    // First half, then a checkpoint that goes through JSON and tensor copies, as a file would.
    const a = makeParams(data);
    const optA = c.make(a);
    const schedA = c.sched?.(optA);
    train(optA, a, data, 0, 50, { after: schedA && (() => schedA.step()) });
    const sd = optA.stateDict();
    const ckpt = {
      weights: a.map((p) => p.detach().clone()),
      tensors: Object.fromEntries(Object.entries(sd.tensors).map(([k, t]) => [k, t.clone()])),
      meta: JSON.parse(JSON.stringify(sd.meta)),
      sched: JSON.parse(JSON.stringify(schedA?.stateDict() ?? null)),
    };
    optA.dispose();
    a.forEach((p) => p.dispose());

    // Resume: fresh params from the checkpoint, fresh optimizer and scheduler (built with the
    // original settings, as a training script would), then load.
    const b = ckpt.weights.map((w) => w.clone().requiresGrad_());
    const optB = c.make(b);
    const schedB = c.sched?.(optB);
    optB.loadStateDict({ tensors: ckpt.tensors, meta: ckpt.meta });
    schedB?.loadStateDict(ckpt.sched);
    // Loading copied: freeing the checkpoint's tensors must not affect the optimizer.
    for (const t of [...Object.values(ckpt.tensors), ...ckpt.weights]) t.dispose();
    train(optB, b, data, 50, 50, { after: schedB && (() => schedB.step()) });

    assert.deepEqual(bytesOf(b), bytesOf(ref), 'resumed weights differ from the uninterrupted run');
    assert.deepEqual(optB.paramGroups.map((g) => g.lr), refOpt.paramGroups.map((g) => g.lr));
    // And a run that did NOT load the state would differ (the test can fail).
    const c2 = makeParams(data);
    const optC = c.make(c2);
    train(optC, c2, data, 0, 50);
    const fresh = c.make(c2);
    train(fresh, c2, data, 50, 50);
    assert.notDeepEqual(bytesOf(c2), bytesOf(ref));
    for (const o of [refOpt, optB, optC, fresh]) o.dispose();
    for (const p of [...ref, ...b, ...c2]) p.dispose();
  });
}

test('stateDict: tensors are live references under state.<index>.<name>; meta is JSON', () => {
  const ps = makeParams(data);
  const opt = new Adam([{ params: [ps[0], ps[1]] }, { params: [ps[2], ps[3]], lr: 3e-3 }], { lr: 1e-2, amsgrad: true });
  train(opt, ps, data, 0, 3);
  const { tensors, meta } = opt.stateDict();
  assert.deepEqual(Object.keys(tensors).sort(), [0, 1, 2, 3].flatMap((i) => ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'].map((n) => stateKey(i, n))).sort());
  assert.equal(tensors['state.2.exp_avg'], opt.stateOf(ps[2])!.buffers.exp_avg, 'a reference, not a copy');
  assert.deepEqual(JSON.parse(JSON.stringify(meta)), meta);
  assert.equal(meta.type, 'Adam');
  assert.deepEqual(meta.groups.map((g) => g.params), [[0, 1], [2, 3]]);
  assert.deepEqual(meta.groups.map((g) => g.lr), [1e-2, 3e-3]);
  assert.deepEqual(meta.shapes, ps.map((p) => [...p.shape]));
  assert.deepEqual(meta.state['3'], { step: 3, buffers: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] });
  opt.dispose();
  ps.forEach((p) => p.dispose());
});

test('loadStateDict refuses mismatches with ConfigError and leaves the optimizer unchanged', () => {
  const ps = makeParams(data);
  const opt = new Adam(ps, { lr: 1e-2 });
  train(opt, ps, data, 0, 2);
  const good = opt.stateDict();
  const isConfig = (re: RegExp) => (e: Error & { code?: string }) => e.code === 'ERR_CONFIG' && re.test(e.message);

  const other = new Adam(makeParams(data), { lr: 0.5 });
  const before = JSON.stringify(other.stateDict().meta);
  // wrong optimizer class
  assert.throws(() => new SGD(makeParams(data), { lr: 1 }).loadStateDict(good), isConfig(/saved by Adam, this optimizer is SGD/));
  // different parameter count
  assert.throws(() => new Adam(makeParams(data).slice(0, 3)).loadStateDict(good), isConfig(/3 parameters saved|has 4 parameters/));
  // different shape
  const shaped = makeParams(data);
  shaped[0] = torch.zeros([8, 16]).requiresGrad_();
  assert.throws(() => new Adam(shaped).loadStateDict(good), isConfig(/parameter 0 has shape \[8, 16\] here but \[16, 8\]/));
  // missing tensor
  const missing = { ...good.tensors };
  delete missing['state.1.exp_avg_sq'];
  assert.throws(() => other.loadStateDict({ tensors: missing, meta: good.meta }), isConfig(/'state.1.exp_avg_sq' is missing/));
  // state tensor of the wrong shape
  const wrong = { ...good.tensors, 'state.0.exp_avg': torch.zeros([2]) };
  assert.throws(() => other.loadStateDict({ tensors: wrong, meta: good.meta }), isConfig(/'state.0.exp_avg' has shape \[2\]/));
  // an extra tensor
  assert.throws(() => other.loadStateDict({ tensors: { ...good.tensors, 'state.9.x': torch.zeros([1]) }, meta: good.meta }), isConfig(/unexpected tensor 'state.9.x'/));
  // not our format
  assert.throws(() => other.loadStateDict({ tensors: {}, meta: { state: {} } }), isConfig(/format/));
  // bad hyper-parameter value
  const meta = JSON.parse(JSON.stringify(good.meta));
  meta.groups[0].betas = [1.5, 0.999];
  assert.throws(() => other.loadStateDict({ tensors: good.tensors, meta }), isConfig(/beta1/));

  assert.equal(JSON.stringify(other.stateDict().meta), before, 'failed loads changed nothing');
  assert.equal(other.paramGroups[0].lr, 0.5);
  other.loadStateDict(good);
  assert.equal(other.paramGroups[0].lr, 1e-2);
  opt.dispose();
  other.dispose();
});

test('constructor validation and zeroGrad', () => {
  const ps = makeParams(data);
  const isConfig = (re: RegExp) => (e: Error & { code?: string }) => e.code === 'ERR_CONFIG' && re.test(e.message);
  assert.throws(() => new SGD(ps), isConfig(/no learning rate/));
  assert.throws(() => new SGD(ps, { lr: 0.1, nesterov: true }), isConfig(/Nesterov/));
  assert.throws(() => new SGD([{ params: [ps[0]] }, { params: [ps[0]] }], { lr: 0.1 }), isConfig(/more than one parameter group/));
  assert.throws(() => new Adam(ps, { betas: [0.9, 1] }), isConfig(/beta2/));
  assert.throws(() => new Adam([]), isConfig(/empty parameter list/));
  torch.tidy(() => {
    const nonLeaf = ps[0].mul(2);
    assert.throws(() => new Adam([nonLeaf]), isConfig(/non-leaf/));
  });
  const opt = new SGD(ps, { lr: 0.1 });
  torch.tidy(() => torch.mseLoss(torch.linear(data.X, ps[0], ps[1]).sum([1]), data.Y.sum([1])).backward());
  const g = ps[0].grad;
  assert.notEqual(g, null);
  g?.dispose();
  opt.zeroGrad();
  assert.equal(ps[0].grad, null);
  opt.paramGroups[0].lr = 0.25; // schedules write lr per group
  assert.equal(opt.stateDict().meta.groups[0].lr, 0.25);
  ps.forEach((p) => p.dispose());
});

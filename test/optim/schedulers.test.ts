// Learning-rate schedules against torch.optim.lr_scheduler (PyTorch 1.13): the lr of every
// parameter group over 30 steps, and a JSON state round-trip that resumes the same sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  CosineAnnealingLR, LinearLR, LinearWarmup, MultiStepLR, SequentialLR, SGD, StepLR, warmupCosine,
  type LRScheduler, type Optimizer, type GroupOptions,
} from '../../src/optim/index.js';
import { runOracle, type OracleResult } from '../helpers/oracle.js';

const STEPS = 30;
const w = torch.keep(torch.zeros([2]).requiresGrad_());
const v = torch.keep(torch.zeros([3]).requiresGrad_());
/** Two groups with different lrs, so per-group handling is exercised. */
const makeOpt = () => new SGD([{ params: [w] }, { params: [v], lr: 0.05 }], { lr: 0.1 });
const PY_OPT = `
import warnings
warnings.filterwarnings("ignore")
w = torch.zeros(2, requires_grad=True)
v = torch.zeros(3, requires_grad=True)
opt = torch.optim.SGD([{"params": [w]}, {"params": [v], "lr": 0.05}], lr=0.1)
L = torch.optim.lr_scheduler
`;

interface Case {
  name: string;
  ours: (opt: Optimizer<GroupOptions>) => LRScheduler<object>;
  /** Python statements defining `sched` from `opt` and `L`. */
  py: string;
}
const cases: Case[] = [
  { name: 'StepLR', ours: (o) => new StepLR(o, { stepSize: 7, gamma: 0.5 }), py: 'sched = L.StepLR(opt, step_size=7, gamma=0.5)' },
  {
    name: 'MultiStepLR (repeated milestone)',
    ours: (o) => new MultiStepLR(o, { milestones: [20, 5, 12, 12], gamma: 0.3 }),
    py: 'sched = L.MultiStepLR(opt, milestones=[20, 5, 12, 12], gamma=0.3)',
  },
  {
    name: 'CosineAnnealingLR past T_max',
    ours: (o) => new CosineAnnealingLR(o, { tMax: 10, etaMin: 1e-3 }),
    py: 'sched = L.CosineAnnealingLR(opt, T_max=10, eta_min=1e-3)',
  },
  { name: 'LinearLR defaults', ours: (o) => new LinearLR(o), py: 'sched = L.LinearLR(opt)' },
  {
    name: 'LinearWarmup (LinearLR) from 0.1 over 8',
    ours: (o) => new LinearWarmup(o, { startFactor: 0.1, totalIters: 8 }),
    py: 'sched = L.LinearLR(opt, start_factor=0.1, total_iters=8)',
  },
  {
    name: 'LinearLR decaying to endFactor 0.2',
    ours: (o) => new LinearLR(o, { startFactor: 1, endFactor: 0.2, totalIters: 12 }),
    py: 'sched = L.LinearLR(opt, start_factor=1.0, end_factor=0.2, total_iters=12)',
  },
  {
    name: 'warmupCosine = SequentialLR(LinearLR, CosineAnnealingLR)',
    ours: (o) => warmupCosine(o, { warmupSteps: 5, totalSteps: STEPS, startFactor: 0.01, etaMin: 1e-4 }),
    py: `s1 = L.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=5)
s2 = L.CosineAnnealingLR(opt, T_max=${STEPS - 5}, eta_min=1e-4)
sched = L.SequentialLR(opt, [s1, s2], milestones=[5])`,
  },
  {
    name: 'SequentialLR of three (StepLR, LinearLR, CosineAnnealingLR)',
    ours: (o) =>
      new SequentialLR(o, {
        schedulers: [new StepLR(o, { stepSize: 2, gamma: 0.9 }), new LinearLR(o, { startFactor: 0.5, totalIters: 4 }), new CosineAnnealingLR(o, { tMax: 8 })],
        milestones: [6, 14],
      }),
    py: `sched = L.SequentialLR(opt, [L.StepLR(opt, step_size=2, gamma=0.9), L.LinearLR(opt, start_factor=0.5, total_iters=4), L.CosineAnnealingLR(opt, T_max=8)], milestones=[6, 14])`,
  },
];

/** lr per group after construction and after each of STEPS steps: (STEPS + 1) × groups. */
function ourLrs(c: Case): number[][] {
  const opt = makeOpt();
  const s = c.ours(opt);
  const out = [s.getLastLr()];
  for (let i = 0; i < STEPS; i++) {
    opt.step(); // no grads: a no-op, but the order PyTorch expects
    s.step();
    out.push(s.getLastLr());
    assert.deepEqual(opt.paramGroups.map((g) => g.lr), s.getLastLr(), 'the groups carry the scheduled lr');
  }
  return out;
}

let results: OracleResult[] | undefined;
const oracle = () =>
  (results ??= runOracle(
    cases.map((c) => ({
      code: `${PY_OPT}
${c.py}
lrs = [list(sched.get_last_lr())]
for _ in range(${STEPS}):
    opt.step()
    sched.step()
    lrs.append(list(sched.get_last_lr()))
out = {"lrs": lrs}`,
    })),
  ));

function assertLrsClose(ours: number[][], theirs: number[][], label: string): void {
  assert.equal(ours.length, theirs.length, `${label}: length`);
  ours.forEach((row, t) =>
    row.forEach((a, g) => {
      const b = theirs[t][g];
      // Same double arithmetic in the same order; only libm's cos/pow may differ in the last bit.
      assert.ok(Math.abs(a - b) <= 1e-12 * Math.abs(b) + 1e-18, `${label}: step ${t}, group ${g}: ${a}, PyTorch says ${b}`);
    }),
  );
}

for (const [k, c] of cases.entries()) {
  test(`${c.name}: ${STEPS} steps of lr match PyTorch`, () => {
    const r = oracle()[k];
    assert.equal(r.error, undefined, r.error);
    const theirs = r.lrs as unknown as number[][];
    const ours = ourLrs(c);
    assertLrsClose(ours, theirs, c.name);
    // The schedule actually changes the lr (so a constant-lr bug cannot pass).
    assert.ok(new Set(ours.map((row) => row[0])).size > 2, `${c.name}: lr barely changes`);
  });

  test(`${c.name}: JSON state round-trip resumes the same sequence`, () => {
    const full = ourLrs(c);
    const opt = makeOpt();
    const s = c.ours(opt);
    for (let i = 0; i < 12; i++) s.step();
    // A checkpoint: optimizer meta (lr, initialLr per group) and scheduler state, through JSON.
    const saved = JSON.parse(JSON.stringify({ opt: opt.stateDict().meta, sched: s.stateDict() }));
    const opt2 = makeOpt();
    const s2 = c.ours(opt2);
    opt2.loadStateDict({ tensors: {}, meta: saved.opt });
    s2.loadStateDict(saved.sched);
    const resumed = [s2.getLastLr()];
    for (let i = 12; i < STEPS; i++) {
      s2.step();
      resumed.push(s2.getLastLr());
    }
    assert.deepEqual(resumed, full.slice(12));
  });
}

test('scheduler state from another kind is refused with ConfigError', () => {
  const a = new StepLR(makeOpt(), { stepSize: 3 });
  const b = new CosineAnnealingLR(makeOpt(), { tMax: 5 });
  assert.throws(() => b.loadStateDict(a.stateDict()), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG' && /StepLR/.test(e.message));
  const bad = { ...b.stateDict(), baseLrs: [0.1] };
  assert.throws(() => b.loadStateDict(bad), /baseLrs must be 2 numbers/);
});

test('invalid schedule settings throw ConfigError', () => {
  assert.throws(() => new LinearLR(makeOpt(), { startFactor: 0 }), /startFactor/);
  assert.throws(() => new StepLR(makeOpt(), { stepSize: 0 }), /stepSize/);
  assert.throws(() => warmupCosine(makeOpt(), { warmupSteps: 10, totalSteps: 10 }), /warmupSteps/);
  const o = makeOpt();
  assert.throws(() => new SequentialLR(o, { schedulers: [new StepLR(o, { stepSize: 2 })], milestones: [3] }), /milestones/);
});

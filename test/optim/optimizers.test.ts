// SGD, Adam and AdamW against PyTorch 1.13: 100 steps on the same MLP, data and initial
// weights must give the same parameters (rtol 1e-5, atol 1e-6). PyTorch runs with
// foreach=False, the single-tensor code path these optimizers follow op for op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { Adam, AdamW, SGD, warmupCosine, type GroupOptions, type Optimizer } from '../../src/optim/index.js';
import { runOracle, type OracleResult, type OracleValue } from '../helpers/oracle.js';
import { assertClose } from '../helpers/assert.js';
import { makeData, makeParams, PARAM_NAMES, PY_PRELUDE, train } from './mlp_fixture.js';

const STEPS = 100;

interface Case {
  name: string;
  ours: (ps: torch.Tensor[]) => Optimizer<GroupOptions>;
  /** Python expression building the optimizer over `ps`. */
  py: string;
  negate?: boolean;
  /** Scheduler stepped after each optimizer step (TS factory and Python statements defining `sched`). */
  sched?: { ours: (opt: Optimizer<GroupOptions>) => { step(): void }; py: string };
}

const cases: Case[] = [
  { name: 'SGD plain', ours: (ps) => new SGD(ps, { lr: 0.1 }), py: 'torch.optim.SGD(ps, lr=0.1, foreach=False)' },
  {
    name: 'SGD momentum + dampening',
    ours: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1 }),
    py: 'torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, foreach=False)',
  },
  {
    name: 'SGD nesterov + weight decay',
    ours: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-2 }),
    py: 'torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2, foreach=False)',
  },
  {
    name: 'SGD momentum + weight decay, maximize of −loss',
    ours: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.8, weightDecay: 5e-3, maximize: true }),
    py: 'torch.optim.SGD(ps, lr=0.05, momentum=0.8, weight_decay=5e-3, maximize=True, foreach=False)',
    negate: true,
  },
  { name: 'Adam', ours: (ps) => new Adam(ps, { lr: 1e-2 }), py: 'torch.optim.Adam(ps, lr=1e-2, foreach=False)' },
  {
    name: 'Adam + weight decay, custom betas/eps',
    ours: (ps) => new Adam(ps, { lr: 5e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 1e-2 }),
    py: 'torch.optim.Adam(ps, lr=5e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2, foreach=False)',
  },
  {
    name: 'Adam amsgrad + weight decay',
    ours: (ps) => new Adam(ps, { lr: 1e-2, amsgrad: true, weightDecay: 1e-3 }),
    py: 'torch.optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=1e-3, foreach=False)',
  },
  { name: 'AdamW', ours: (ps) => new AdamW(ps, { lr: 1e-2, weightDecay: 0.1 }), py: 'torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, foreach=False)' },
  { name: 'AdamW default decay', ours: (ps) => new AdamW(ps, { lr: 1e-2 }), py: 'torch.optim.AdamW(ps, lr=1e-2, foreach=False)' },
  {
    name: 'AdamW amsgrad, maximize of −loss',
    ours: (ps) => new AdamW(ps, { lr: 1e-2, amsgrad: true, maximize: true }),
    py: 'torch.optim.AdamW(ps, lr=1e-2, amsgrad=True, maximize=True, foreach=False)',
    negate: true,
  },
  {
    name: 'AdamW with parameter groups (no decay on biases, own lr)',
    ours: (ps) =>
      new AdamW(
        [
          { params: [ps[0], ps[2]], weightDecay: 0.1 },
          { params: [ps[1], ps[3]], weightDecay: 0, lr: 3e-3 },
        ],
        { lr: 1e-2 },
      ),
    py: 'torch.optim.AdamW([{"params": [ps[0], ps[2]], "weight_decay": 0.1}, {"params": [ps[1], ps[3]], "weight_decay": 0.0, "lr": 3e-3}], lr=1e-2, foreach=False)',
  },
  {
    name: 'Adam under warm-up + cosine schedule',
    ours: (ps) => new Adam(ps, { lr: 2e-2 }),
    py: 'torch.optim.Adam(ps, lr=2e-2, foreach=False)',
    sched: {
      ours: (opt) => warmupCosine(opt, { warmupSteps: 10, totalSteps: STEPS, startFactor: 0.1, etaMin: 1e-4 }),
      py: `
s1 = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=10)
s2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=${STEPS - 10}, eta_min=1e-4)
sched = torch.optim.lr_scheduler.SequentialLR(opt, [s1, s2], milestones=[10])`,
    },
  },
];

const data = makeData();
let oracle: OracleResult[] | undefined;
const pyResults = () =>
  (oracle ??= runOracle(
    cases.map((c) => ({
      code: `${PY_PRELUDE}
opt = ${c.py}
${c.sched ? c.sched.py : 'sched = None'}
run(opt, ${STEPS}, negate=${c.negate ? 'True' : 'False'}, after=(sched.step if sched is not None else None))
out = {"params": ps}`,
      inputs: data,
    })),
  ));

for (const [k, c] of cases.entries()) {
  test(`${c.name}: ${STEPS} steps match PyTorch`, () => {
    const ps = makeParams(data);
    const opt = c.ours(ps);
    const sched = c.sched?.ours(opt);
    train(opt, ps, data, 0, STEPS, { negate: c.negate, after: sched ? () => sched.step() : undefined });
    const r = pyResults()[k];
    assert.equal(r.error, undefined, r.error);
    const expected = r.params as OracleValue[];
    ps.forEach((p, i) => assertClose(p, expected[i], { rtol: 1e-5, atol: 1e-6, label: `${c.name} ${PARAM_NAMES[i]}` }));
    // The run moved the weights (a test that trains nothing would pass trivially).
    const moved = torch.tidy(() => ps[0].sub(data.W1).abs().max().item());
    assert.ok(moved > 1e-3, `${c.name}: W1 moved only ${moved}`);
    opt.dispose();
    ps.forEach((p) => p.dispose());
  });
}

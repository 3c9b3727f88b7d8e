// Default initialisation and nn.init against PyTorch, BIT FOR BIT: the same seed and the
// same calls in the same order on the same generator must give identical tensors.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { runChecks, type Check } from './harness.js';
import { assertClose } from '../helpers/assert.js';
import type { OracleValue } from '../helpers/oracle.js';

const exact = { rtol: 0, atol: 0 };

/** Seeds both sides, builds the module, compares every state_dict entry exactly. */
function defaultInit(name: string, seed: number, ours: () => nn.Module, py: string): Check {
  torch.manualSeed(seed);
  const m = ours();
  const sd = m.stateDict();
  return {
    name: `default init of ${name} is bit-identical to PyTorch (seed ${seed})`,
    oracle: { code: `torch.manual_seed(${seed})\nm = ${py}\nsd = m.state_dict()\nout = {"keys": list(sd.keys()), "values": list(sd.values())}` },
    check: (r) => {
      assert.deepEqual(Object.keys(sd), r.keys, 'state_dict keys');
      Object.values(sd).forEach((t, i) => assertClose(t, (r.values as OracleValue[])[i], { ...exact, label: Object.keys(sd)[i] }));
    },
  };
}

/** Seeds both sides, fills a fresh tensor of `shape` with an initialiser, compares exactly. */
function initFn(name: string, seed: number, shape: number[], ours: (t: torch.Tensor) => void, py: string): Check {
  torch.manualSeed(seed);
  const t = torch.empty(shape).requiresGrad_(); // as a parameter: the initialisers must work under noGrad
  ours(t);
  return {
    name: `${name} on [${shape.join(', ')}] is bit-identical to PyTorch`,
    oracle: { code: `torch.manual_seed(${seed})\nw = torch.empty(${shape.join(', ')}).requires_grad_()\n${py}\nout = {"w": w}` },
    check: (r) => assertClose(t, r.w, { ...exact, label: name }),
  };
}

const fanShapes = [[4, 3], [6, 4, 3, 3], [5, 2, 7], [3, 0]];
const gains: [nn.init.Nonlinearity, number | undefined][] = [
  ['linear', undefined], ['conv2d', undefined], ['sigmoid', undefined], ['tanh', undefined], ['relu', undefined],
  ['leaky_relu', undefined], ['leaky_relu', 0.2], ['leaky_relu', Math.sqrt(5)], ['selu', undefined],
];

const checks: Check[] = [
  defaultInit('Linear(3, 4)', 0, () => new nn.Linear(3, 4), 'nn.Linear(3, 4)'),
  defaultInit('Linear(50, 30)', 1, () => new nn.Linear(50, 30), 'nn.Linear(50, 30)'),
  defaultInit('Linear(7, 5, bias=false)', 2, () => new nn.Linear(7, 5, { bias: false }), 'nn.Linear(7, 5, bias=False)'),
  defaultInit('Conv2d(3, 8, 3)', 3, () => new nn.Conv2d(3, 8, 3), 'nn.Conv2d(3, 8, 3)'),
  defaultInit('Conv2d(4, 6, (3, 2), groups=2)', 4, () => new nn.Conv2d(4, 6, [3, 2], { groups: 2 }), 'nn.Conv2d(4, 6, (3, 2), groups=2)'),
  defaultInit('Embedding(10, 4)', 5, () => new nn.Embedding(10, 4), 'nn.Embedding(10, 4)'),
  defaultInit('Embedding(3, 5) (under 16 values: the scalar normal path)', 6, () => new nn.Embedding(3, 5), 'nn.Embedding(3, 5)'),
  defaultInit('Embedding(20, 16, paddingIdx=3)', 7, () => new nn.Embedding(20, 16, { paddingIdx: 3 }), 'nn.Embedding(20, 16, padding_idx=3)'),
  defaultInit('BatchNorm1d(5)', 8, () => new nn.BatchNorm1d(5), 'nn.BatchNorm1d(5)'),
  defaultInit('LayerNorm(5)', 9, () => new nn.LayerNorm(5), 'nn.LayerNorm(5)'),
  defaultInit('an MLP: Sequential(Linear(4, 8), ReLU, Linear(8, 8), ReLU, Linear(8, 2))', 10,
    () => new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 8), new nn.ReLU(), new nn.Linear(8, 2)),
    'nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))'),
  defaultInit('a CNN with Embedding, Conv2d, BatchNorm2d and Linear', 11,
    () => new nn.Sequential(new nn.Conv2d(1, 4, 3), new nn.BatchNorm2d(4), new nn.Flatten(), new nn.Linear(36, 10)),
    'nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 10))'),

  initFn('kaimingUniform_()', 20, [6, 4], (t) => nn.init.kaimingUniform_(t), 'nn.init.kaiming_uniform_(w)'),
  initFn("kaimingUniform_(mode='fan_out', nonlinearity='relu')", 21, [5, 3, 2, 2],
    (t) => nn.init.kaimingUniform_(t, { mode: 'fan_out', nonlinearity: 'relu' }), "nn.init.kaiming_uniform_(w, mode='fan_out', nonlinearity='relu')"),
  initFn('kaimingNormal_(a=0.2)', 22, [40, 30], (t) => nn.init.kaimingNormal_(t, { a: 0.2 }), 'nn.init.kaiming_normal_(w, a=0.2)'),
  initFn("kaimingNormal_(mode='fan_out', nonlinearity='relu')", 23, [8, 4, 3, 3],
    (t) => nn.init.kaimingNormal_(t, { mode: 'fan_out', nonlinearity: 'relu' }), "nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')"),
  initFn("xavierUniform_(gain=calculateGain('tanh'))", 24, [8, 5],
    (t) => nn.init.xavierUniform_(t, nn.init.calculateGain('tanh')), "nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain('tanh'))"),
  initFn('xavierNormal_()', 25, [6, 4, 3, 3], (t) => nn.init.xavierNormal_(t), 'nn.init.xavier_normal_(w)'),
  initFn('uniform_(-2, 3)', 26, [7, 3], (t) => nn.init.uniform_(t, -2, 3), 'nn.init.uniform_(w, -2, 3)'),
  initFn('normal_(1, 0.5)', 27, [100], (t) => nn.init.normal_(t, 1, 0.5), 'nn.init.normal_(w, 1, 0.5)'),
  initFn('ones_', 28, [3, 2], (t) => nn.init.ones_(t), 'nn.init.ones_(w)'),
  initFn('zeros_', 29, [3, 2], (t) => nn.init.zeros_(t), 'nn.init.zeros_(w)'),
  initFn('constant_(0.3)', 30, [3, 2], (t) => nn.init.constant_(t, 0.3), 'nn.init.constant_(w, 0.3)'),

  {
    name: 'calculateFanInAndFanOut and calculateGain equal PyTorch exactly',
    oracle: {
      code: `out = {"fans": [list(nn.init._calculate_fan_in_and_fan_out(torch.empty(*s))) for s in ${JSON.stringify(fanShapes)}],
       "gains": [nn.init.calculate_gain(n, p) for n, p in ${JSON.stringify(gains).replace(/null/g, 'None')}]}`,
    },
    check: (r) => {
      assert.deepEqual(fanShapes.map((s) => nn.init.calculateFanInAndFanOut(torch.empty(s))), r.fans);
      assert.deepEqual(gains.map(([n, p]) => nn.init.calculateGain(n, p)), r.gains);
    },
  },
  {
    name: 'init errors: fewer than 2 dims, bad mode, bad nonlinearity; zero-element tensors are left alone',
    check: () => {
      assert.throws(() => nn.init.xavierUniform_(torch.empty([5])), (e: Error) => e instanceof torch.ShapeError && /fewer than 2 dimensions/.test(e.message));
      assert.throws(() => nn.init.kaimingUniform_(torch.empty([3, 3]), { mode: 'fan_avg' as 'fan_in' }), torch.ConfigError);
      assert.throws(() => nn.init.calculateGain('softplus' as 'relu'), /unsupported nonlinearity 'softplus'/);
      const z = torch.empty([0, 3]);
      assert.equal(nn.init.kaimingUniform_(z), z);
    },
  },
];

runChecks(checks);

// Forward values, input gradients and parameter gradients of the stateless and simple
// layers against PyTorch (weights copied from ours), plus Dropout's behaviour.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { moduleCase, runChecks, randn, type Check } from './harness.js';

torch.manualSeed(7);
const idx = (data: torch.NestedArray) => torch.tensor(data, { dtype: 'int64' });

const checks: Check[] = [
  // ── Linear ──
  moduleCase({ name: 'Linear(5, 3) on (4, 5)', ours: () => new nn.Linear(5, 3), py: 'nn.Linear(5, 3)', inputs: [randn(4, 5), randn(4, 5)] }),
  moduleCase({ name: 'Linear(5, 3) on (2, 3, 5)', ours: () => new nn.Linear(5, 3), py: 'nn.Linear(5, 3)', inputs: [randn(2, 3, 5)] }),
  moduleCase({ name: 'Linear(6, 2, bias=false)', ours: () => new nn.Linear(6, 2, { bias: false }), py: 'nn.Linear(6, 2, bias=False)', inputs: [randn(3, 6)] }),

  // ── Conv2d ──
  moduleCase({ name: 'Conv2d(3, 4, 3, padding=1)', ours: () => new nn.Conv2d(3, 4, 3, { padding: 1 }), py: 'nn.Conv2d(3, 4, 3, padding=1)', inputs: [randn(2, 3, 6, 6)] }),
  moduleCase({
    name: 'Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=(1, 2), groups=2, bias=false)',
    ours: () => new nn.Conv2d(4, 6, [3, 2], { stride: [2, 1], dilation: [1, 2], groups: 2, bias: false }),
    py: 'nn.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=(1, 2), groups=2, bias=False)',
    inputs: [randn(2, 4, 7, 8)],
  }),
  moduleCase({ name: "Conv2d(2, 3, 5, padding='same')", ours: () => new nn.Conv2d(2, 3, 5, { padding: 'same' }), py: "nn.Conv2d(2, 3, 5, padding='same')", inputs: [randn(1, 2, 6, 7)] }),
  moduleCase({ name: 'Conv2d(3, 3, 3, groups=3) depthwise, stride 2', ours: () => new nn.Conv2d(3, 3, 3, { groups: 3, stride: 2 }), py: 'nn.Conv2d(3, 3, 3, groups=3, stride=2)', inputs: [randn(2, 3, 9, 9)] }),

  // ── Embedding ──
  moduleCase({
    name: 'Embedding(10, 4, paddingIdx=0): padding row gets no gradient',
    ours: () => new nn.Embedding(10, 4, { paddingIdx: 0 }),
    py: 'nn.Embedding(10, 4, padding_idx=0)',
    inputs: [idx([[1, 0, 3, 3, 9], [0, 2, 2, 7, 1], [5, 5, 5, 0, 4]])],
  }),
  moduleCase({ name: 'Embedding(7, 3, paddingIdx=-1)', ours: () => new nn.Embedding(7, 3, { paddingIdx: -1 }), py: 'nn.Embedding(7, 3, padding_idx=-1)', inputs: [idx([6, 0, 6, 2])] }),

  // ── activations ──
  ...([
    ['ReLU', () => new nn.ReLU(), 'nn.ReLU()'],
    ['LeakyReLU(0.2)', () => new nn.LeakyReLU(0.2), 'nn.LeakyReLU(0.2)'],
    ['LeakyReLU()', () => new nn.LeakyReLU(), 'nn.LeakyReLU()'],
    ['GELU', () => new nn.GELU(), 'nn.GELU()'],
    ["GELU(approximate='tanh')", () => new nn.GELU({ approximate: 'tanh' }), "nn.GELU(approximate='tanh')"],
    ['SiLU', () => new nn.SiLU(), 'nn.SiLU()'],
    ['Tanh', () => new nn.Tanh(), 'nn.Tanh()'],
    ['Sigmoid', () => new nn.Sigmoid(), 'nn.Sigmoid()'],
  ] as const).map(([name, ours, py]) => moduleCase({ name, ours, py, inputs: [randn(4, 6).mul(3)] })),

  // ── pooling ──
  moduleCase({ name: 'MaxPool2d(2)', ours: () => new nn.MaxPool2d(2), py: 'nn.MaxPool2d(2)', inputs: [randn(2, 3, 6, 6)] }),
  moduleCase({
    name: 'MaxPool2d(3, stride=2, padding=1, ceilMode)',
    ours: () => new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
    py: 'nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)',
    inputs: [randn(2, 2, 8, 7)],
  }),
  moduleCase({ name: 'AvgPool2d(2)', ours: () => new nn.AvgPool2d(2), py: 'nn.AvgPool2d(2)', inputs: [randn(2, 3, 6, 6)] }),
  moduleCase({
    name: 'AvgPool2d(3, stride=2, padding=1, countIncludePad=false)',
    ours: () => new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }),
    py: 'nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)',
    inputs: [randn(2, 2, 7, 8)],
  }),
  moduleCase({ name: 'AdaptiveAvgPool2d(1)', ours: () => new nn.AdaptiveAvgPool2d(1), py: 'nn.AdaptiveAvgPool2d(1)', inputs: [randn(2, 3, 5, 5)] }),
  moduleCase({ name: 'AdaptiveAvgPool2d((3, null)) on non-divisible 7×5', ours: () => new nn.AdaptiveAvgPool2d([3, null]), py: 'nn.AdaptiveAvgPool2d((3, None))', inputs: [randn(2, 3, 7, 5)] }),

  // ── Flatten, Dropout in eval, Identity ──
  moduleCase({ name: 'Flatten()', ours: () => new nn.Flatten(), py: 'nn.Flatten()', inputs: [randn(2, 3, 4, 5)] }),
  moduleCase({ name: 'Flatten(0, 2)', ours: () => new nn.Flatten(0, 2), py: 'nn.Flatten(0, 2)', inputs: [randn(2, 3, 4, 5)] }),
  moduleCase({ name: 'Dropout(0.3) in eval is the identity', ours: () => new nn.Dropout(0.3), py: 'nn.Dropout(0.3)', eval: true, inputs: [randn(4, 5)] }),
  moduleCase({ name: 'Identity', ours: () => new nn.Identity(), py: 'nn.Identity()', inputs: [randn(3, 2)] }),

  // ── a small CNN, trained two steps, then run in eval ──
  moduleCase({
    name: 'Sequential CNN: Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, GELU, Dropout, Linear',
    ours: () => new nn.Sequential(
      new nn.Conv2d(2, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Flatten(), new nn.Linear(4 * 3 * 3, 8), new nn.GELU(), new nn.Dropout(0), new nn.Linear(8, 3)),
    py: `nn.Sequential(
      nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(4 * 3 * 3, 8), nn.GELU(), nn.Dropout(0), nn.Linear(8, 3))`,
    inputs: [randn(4, 2, 6, 6), randn(4, 2, 6, 6)],
    evalInput: randn(3, 2, 6, 6),
  }),

  // ── pure TS checks ──
  {
    name: 'Dropout(p) in training zeroes about p of the elements and scales the rest by 1/(1−p)',
    check: () => {
      const p = 0.25;
      const d = new nn.Dropout(p);
      const x = torch.rand([200, 100]).add(1).requiresGrad_();
      const y = d.call(x);
      y.sum().backward();
      const xs = x.dataSync() as Float32Array;
      const ys = y.dataSync() as Float32Array;
      const gs = x.grad!.dataSync() as Float32Array;
      let zeros = 0;
      for (let i = 0; i < ys.length; i++) {
        if (ys[i] === 0) {
          zeros++;
          assert.equal(gs[i], 0, 'a dropped element gets no gradient');
        } else {
          assert.ok(Math.abs(ys[i] - xs[i] / (1 - p)) <= 1e-6 * ys[i], `kept element ${i} scaled by 1/(1−p)`);
          assert.ok(Math.abs(gs[i] - 1 / (1 - p)) < 1e-6, `kept element ${i} has gradient 1/(1−p)`);
        }
      }
      const frac = zeros / ys.length;
      assert.ok(Math.abs(frac - p) < 0.02, `dropped fraction ${frac} ≈ ${p}`);
      d.eval();
      const z = d.call(x);
      assert.deepEqual(z.dataSync(), x.dataSync(), 'eval: identity');
    },
  },
  {
    name: 'bad constructor arguments throw ConfigError naming the argument',
    check: () => {
      const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: Error) => e instanceof torch.ConfigError && re.test(e.message));
      bad(() => new nn.Linear(0.5, 3), /Linear: inFeatures/);
      bad(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /divisible by groups/);
      bad(() => new nn.Conv2d(3, 4, 2, { padding: 'same' }), /asymmetric/);
      bad(() => new nn.Conv2d(3, 4, 3, { padding: 'same', stride: 2 }), /strided/);
      bad(() => new nn.Dropout(1.5), /between 0 and 1/);
      bad(() => new nn.Embedding(5, 2, { paddingIdx: 5 }), /paddingIdx/);
      bad(() => new nn.MaxPool2d([2, 2, 2] as unknown as [number, number]), /kernelSize/);
    },
  },
  {
    name: "Conv2d padding='same' keeps H and W; Linear on a wrong width names the op",
    check: () => {
      const c = new nn.Conv2d(2, 3, [3, 5], { padding: 'same', dilation: [2, 1] });
      assert.deepEqual([...c.call(randn(1, 2, 6, 7)).shape], [1, 3, 6, 7]);
      assert.throws(() => new nn.Linear(4, 2).call(randn(3, 5)), (e: Error) => e instanceof torch.TorchError && /linear/.test(e.message));
    },
  },
];

runChecks(checks);

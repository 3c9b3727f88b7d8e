// The one training loop on its own: weighted gradient accumulation, mid-epoch checkpoints that a
// killed run resumes from exactly, maxSteps, recipes, callbacks' state in the checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { SGD, Adam } from '../../src/optim/index.js';
import { Trainer, type EpochData, type TrainerCallback } from '../../src/train/index.js';

const X = torch.keep(torch.tensor(Array.from({ length: 40 }, (_, i) => [Math.sin(i), Math.cos(3 * i), (i % 7) / 7])));
const Y = torch.keep(torch.tensor(Array.from({ length: 40 }, (_, i) => [Math.sin(i) * 2 - (i % 7) / 7])));

/** Batches of uneven sizes (7, 7, 7, 7, 7, 5), in an order that depends on the epoch. */
function rows(epoch: number): number[][] {
  const order = Array.from({ length: 40 }, (_, i) => (i * 17 + epoch * 11) % 40);
  const out: number[][] = [];
  for (let i = 0; i < 40; i += 7) out.push(order.slice(i, i + 7));
  return out;
}
type B = { x: torch.Tensor; y: torch.Tensor };
const data: EpochData<B> = {
  batchesPerEpoch: 6,
  *batches(epoch, start) {
    for (const r of rows(epoch).slice(start)) {
      const idx = torch.tensor(r, { dtype: 'int64' });
      yield { x: X.indexSelect(0, idx), y: Y.indexSelect(0, idx) };
      idx.dispose();
    }
  },
  release: (b) => {
    b.x.dispose();
    b.y.dispose();
  },
};

function run(o: { path?: string; killAt?: number; acc?: number; maxSteps?: number; recipe?: Record<string, unknown>; epochs?: number } = {}) {
  torch.manualSeed(1);
  const model = new nn.Linear(3, 1);
  const opt = new Adam(model.parameters(), { lr: 0.05 });
  const seen: number[] = [];
  const counter: TrainerCallback & { n: number } = {
    name: 'counter', n: 0,
    onStep(s) {
      this.n++;
      seen.push(s.step);
      if (s.step === o.killAt) throw new Error('killed');
    },
    state() {
      return this.n;
    },
    loadState(s) {
      this.n = s as number;
    },
  };
  try {
    const r = new Trainer<B>({
      model, optimizer: opt, data, epochs: o.epochs ?? 3, gradAccumulation: o.acc ?? 2, maxSteps: o.maxSteps,
      computeLoss: (b) => ({ loss: torch.mseLoss(model.call(b.x), b.y), weight: b.x.shape[0] }),
      checkpoint: o.path ? { path: o.path, everySteps: 2, recipe: o.recipe ?? null } : undefined, resume: true, callbacks: [counter],
    }).fit();
    return { weights: [...model.weight.dataSync(), ...model.bias!.dataSync()], step: r.step, n: counter.n, seen };
  } finally {
    opt.dispose();
  }
}

test('accumulated uneven micro-batches give the step of one big batch', () => {
  // One epoch, accumulation over all 6 micro-batches = one SGD step on the mean over the 40 rows.
  torch.manualSeed(1);
  const a = new nn.Linear(3, 1);
  const optA = new SGD(a.parameters(), { lr: 0.1 });
  new Trainer<B>({ model: a, optimizer: optA, data, epochs: 1, gradAccumulation: 6, computeLoss: (b) => ({ loss: torch.mseLoss(a.call(b.x), b.y), weight: b.x.shape[0] }) }).fit();
  torch.manualSeed(1);
  const b = new nn.Linear(3, 1);
  const optB = new SGD(b.parameters(), { lr: 0.1 });
  torch.mseLoss(b.call(X), Y).backward();
  optB.step();
  const d = a.weight.sub(b.weight).abs().max().item();
  assert.ok(d < 1e-7, `weights differ by ${d}`);
  optA.dispose();
  optB.dispose();
});

test('a run killed mid-epoch resumes from its step checkpoint to the same weights, callbacks\' state included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trainer-'));
  try {
    const straight = run();
    assert.equal(straight.step, 9, '3 epochs of ceil(6 / 2) steps');
    // Killed at step 5, after the checkpoint of step 4 (mid-epoch 1: its 2nd of 3 steps).
    assert.throws(() => run({ path: join(dir, 'a.ckpt'), killAt: 5 }), /killed/);
    const resumed = run({ path: join(dir, 'a.ckpt') });
    assert.deepEqual(resumed.seen, [5, 6, 7, 8, 9], 'continues after step 4');
    assert.equal(resumed.n, 9, 'the callback\'s count came back from the checkpoint');
    assert.deepEqual(resumed.weights, straight.weights);
    // Another recipe is refused.
    assert.throws(() => run({ path: join(dir, 'a.ckpt'), recipe: { lr: 1 } }), (e: unknown) => e instanceof torch.ConfigError && /other options/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('maxSteps ends mid-epoch, and a resumed run with more epochs goes on from there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trainer-'));
  try {
    const short = run({ maxSteps: 4, path: join(dir, 'b.ckpt') });
    assert.equal(short.step, 4);
    const more = run({ path: join(dir, 'b.ckpt') });
    assert.deepEqual(more.seen, [5, 6, 7, 8, 9]);
    assert.deepEqual(more.weights, run().weights);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

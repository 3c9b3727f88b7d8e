// peakMemory: the activation peak follows the batch (exactly, where the forward holds one
// known tensor), weights are reported apart at 4 bytes per float32 element, and nothing leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { peakMemory, latency, countParameters } from '../../src/eval/index.js';
import { mlp, live } from './fixtures.js';

torch.manualSeed(2);

test('a single Linear’s activation peak is exactly its output, batch × out × 4 bytes', () => {
  const lin = new nn.Linear(784, 64); // the forward makes one tensor: the (B, 64) output
  const base = live();
  for (const batch of [1, 32, 256]) {
    const r = peakMemory(lin, [784], { batch });
    assert.equal(r.activationPeakBytes, batch * 64 * 4, `batch ${batch}`);
    assert.equal(r.inputBytes, batch * 784 * 4);
    assert.equal(r.weightsBytes, 4 * (784 * 64 + 64));
    assert.equal(r.totalBytes, r.weightsBytes + r.inputBytes + r.activationPeakBytes);
  }
  assert.equal(live(), base, 'no tensor leaks');
  lin.dispose();
});

test('peakMemory grows with the batch; weightsBytes = 4 × params for float32', () => {
  const m = mlp([784, 256, 128, 10]);
  const base = live();
  const sizes = [1, 16, 256];
  const rs = sizes.map((batch) => peakMemory(m, [784], { batch }));
  for (let i = 1; i < rs.length; i++) assert.ok(rs[i].activationPeakBytes > rs[i - 1].activationPeakBytes, JSON.stringify(rs));
  for (const r of rs) {
    assert.equal(r.weightsBytes, 4 * countParameters(m).parameters);
    // At least the output and the widest hidden layer; at most every intermediate at once.
    assert.ok(r.activationPeakBytes >= r.batch * (256 + 10) * 4, JSON.stringify(r));
    assert.ok(r.activationPeakBytes <= r.batch * (784 + 2 * 256 + 2 * 128 + 10) * 4, JSON.stringify(r));
  }
  assert.equal(live(), base, 'no tensor leaks');
  m.dispose();
});

test('peakMemory and latency run in eval mode and restore the flags', () => {
  // BatchNorm1d in train mode rejects a batch of one ("more than 1 value per channel");
  // in eval mode it uses its running statistics and accepts it.
  const m = new nn.Sequential(new nn.Linear(8, 16), new nn.BatchNorm1d(16));
  m.train();
  assert.throws(() => torch.tidy(() => torch.noGrad(() => m.call(torch.zeros([1, 8])))), /more than 1 value per channel/);
  const r = peakMemory(m, [8], { batch: 1 });
  assert.ok(r.activationPeakBytes >= 16 * 4);
  assert.ok(latency(m, [8], { warmup: 0, iters: 2 }).p50Ms > 0);
  assert.ok(m.modules().every((x) => x.training), 'train mode restored');
  m.dispose();
});

test('makeInput supplies the batch (e.g. token ids) and is freed afterwards', () => {
  const emb = new nn.Embedding(100, 8);
  const base = live();
  let asked = 0;
  const r = peakMemory(emb, [5], {
    batch: 4,
    makeInput: (b) => {
      asked = b;
      return torch.randint(0, 100, [b, 5]);
    },
  });
  assert.equal(asked, 4);
  assert.equal(r.inputBytes, 4 * 5 * 8, 'int64 ids');
  assert.equal(r.activationPeakBytes, 4 * 5 * 8 * 4, '(4, 5, 8) float32 embeddings');
  assert.equal(live(), base, 'no tensor leaks');
  emb.dispose();
});

// Latency and throughput: sane, ordered numbers; a much bigger model measures slower;
// the caller's RNG stream, train/eval flags and tensor count are left as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { latency, throughput, quantile } from '../../src/eval/index.js';
import { mlp, live } from './fixtures.js';

torch.manualSeed(1);
// ~4.3M multiply-adds per sample against ~25k: a gap no scheduling noise can close.
const big = mlp([784, 2048, 2048, 10]);
const small = mlp([784, 32, 10]);

test('quantile interpolates between the nearest ranks (numpy’s default)', () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.ok(Math.abs(quantile([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.95) - 95) < 1e-9);
  assert.equal(quantile([7], 0.95), 7);
});

test('latency returns positive, ordered figures', () => {
  const base = live();
  const r = latency(small, [784], { warmup: 5, iters: 50 });
  assert.ok(r.p50Ms > 0 && Number.isFinite(r.p95Ms), JSON.stringify(r));
  assert.ok(r.minMs <= r.p50Ms && r.p50Ms <= r.p95Ms, JSON.stringify(r));
  assert.ok(r.meanMs >= r.minMs, JSON.stringify(r));
  assert.equal(r.iters, 50);
  assert.equal(r.batch, 1);
  assert.equal(live(), base, 'no tensor leaks');
});

test('a model with ~170× the work is slower, in latency and in throughput', () => {
  const base = live();
  const lb = latency(big, [784], { warmup: 5, iters: 40 });
  const ls = latency(small, [784], { warmup: 5, iters: 40 });
  assert.ok(lb.p50Ms > 2 * ls.p50Ms, `big p50 ${lb.p50Ms} ms vs small ${ls.p50Ms} ms`);
  const tb = throughput(big, [784], { batch: 256, iters: 3, warmup: 1 });
  const ts = throughput(small, [784], { batch: 256, iters: 3, warmup: 1 });
  assert.ok(tb > 0 && ts > 2 * tb, `big ${tb}/s vs small ${ts}/s`);
  assert.equal(live(), base, 'no tensor leaks');
});

test('throughput with a time budget runs about that long', () => {
  const t0 = performance.now();
  const r = throughput(small, [784], { batch: 64, seconds: 0.2 });
  const took = (performance.now() - t0) / 1000;
  assert.ok(r > 0 && Number.isFinite(r));
  assert.ok(took >= 0.2 && took < 2, `took ${took} s`);
  assert.throws(() => throughput(small, [784], { seconds: 0 }), /seconds must be positive/);
});

test('measuring leaves the RNG stream, the train/eval flags and grad mode as they were', () => {
  small.train();
  torch.manualSeed(7);
  const expected = torch.randn([5]);
  torch.manualSeed(7);
  latency(small, [784], { warmup: 1, iters: 3 });
  throughput(small, [784], { iters: 1, warmup: 0 });
  const got = torch.randn([5]);
  assert.deepEqual(got.toArray(), expected.toArray(), 'the seeded input did not shift the caller’s stream');
  assert.ok(small.modules().every((m) => m.training), 'still in train mode');
  assert.equal(torch.isGradEnabled(), true);
  got.dispose();
  expected.dispose();
});

test('bad options are errors, not silent defaults', () => {
  assert.throws(() => latency(small, [784], { iters: 0 }), /iters must be an integer ≥ 1/);
  assert.throws(() => latency(small, [784], { batch: 1.5 }), /batch must be an integer/);
  assert.throws(() => latency(small, [0]), /inputShape entry/);
});

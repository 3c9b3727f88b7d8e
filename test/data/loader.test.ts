// DataLoader: each sample exactly once per epoch, order a pure function of (seed, epoch),
// exact resumption from a batch offset (augmentation included), no tensor leaks, and speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as torch from '../../src/torch/index.js';
import { ConfigError } from '../../src/torch/index.js';
import {
  DataLoader, datasetFromArrays, disposeDataset, loadFashionMnist, randomShift, FASHION_MNIST_DIR, type Batch, type Dataset,
} from '../../src/data/index.js';
import { floats, ints, noLeak, throwsClean } from './helpers.js';
import { prerequisite } from '../helpers/prerequisite.js';

/** N images (1×4×4) whose every pixel is the sample id / 1000, labels id % 10. */
function synthetic(n: number): Dataset {
  const x = new Float32Array(n * 16);
  for (let i = 0; i < n; i++) x.fill(i / 1000, i * 16, (i + 1) * 16);
  return datasetFromArrays({ name: 'syn', source: 'test', x, featureShape: [1, 4, 4], labels: Int32Array.from({ length: n }, (_, i) => i % 10) });
}

/** The batches as plain data: (index list, x, y) — and checks x/y/index agree row by row. */
function collect(it: Iterable<Batch>): { index: number[]; x: Float32Array; y: number[] }[] {
  const out: { index: number[]; x: Float32Array; y: number[] }[] = [];
  for (const b of it) {
    const index = ints(b.index), y = ints(b.y), x = floats(b.x);
    assert.equal(b.index.dtype, 'int64');
    assert.equal(b.y.dtype, 'int64');
    index.forEach((id, k) => assert.equal(y[k], id % 10, 'y follows index'));
    out.push({ index, x, y });
  }
  return out;
}

const ds = synthetic(103);

test('each sample exactly once per epoch; last batch partial or dropped; x rows follow index', () => {
  noLeak('epoch', () => {
    const dl = new DataLoader(ds, { batchSize: 10, seed: 5 });
    assert.equal(dl.numBatches, 11);
    const batches = collect(dl);
    assert.deepEqual(batches.map((b) => b.index.length), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    const seen = batches.flatMap((b) => b.index).sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 103 }, (_, i) => i));
    for (const b of batches) b.index.forEach((id, k) => assert.equal(b.x[k * 16 + 7], Math.fround(id / 1000), 'x row is the indexed sample'));
    const dropped = new DataLoader(ds, { batchSize: 10, seed: 5, dropLast: true });
    assert.equal(dropped.numBatches, 10);
    assert.equal(collect(dropped).flatMap((b) => b.index).length, 100);
  });
});

test('order: changes with epoch, identical for the same (seed, epoch), identity without shuffle', () => {
  noLeak('order', () => {
    const a = new DataLoader(ds, { batchSize: 16, seed: 1 });
    const e0 = collect(a).flatMap((b) => b.index);
    a.setEpoch(1);
    const e1 = collect(a).flatMap((b) => b.index);
    assert.notDeepEqual(e0, e1, 'a new epoch reshuffles');
    const b = new DataLoader(ds, { batchSize: 16, seed: 1 });
    b.setEpoch(1);
    assert.deepEqual(collect(b).flatMap((x) => x.index), e1, 'a fresh loader at the same (seed, epoch) replays it');
    const c = new DataLoader(ds, { batchSize: 16, seed: 2 });
    assert.notDeepEqual(collect(c).flatMap((x) => x.index), e0, 'another seed, another order');
    const plain = new DataLoader(ds, { batchSize: 16, shuffle: false });
    assert.deepEqual(collect(plain).flatMap((x) => x.index), Array.from({ length: 103 }, (_, i) => i));
  });
});

test('resume: iterate(k) gives exactly batches k.. of an uninterrupted epoch, augmentation included', () => {
  noLeak('resume', () => {
    // Each sample is a constant image, so a shift shows as a zero-filled border.
    const aug = randomShift(1);
    const full = new DataLoader(ds, { batchSize: 8, seed: 3, augment: aug });
    full.setEpoch(4);
    const all = collect(full);
    const resumed = new DataLoader(ds, { batchSize: 8, seed: 3, augment: aug });
    resumed.setEpoch(4);
    const tail = collect(resumed.iterate(6));
    assert.equal(tail.length, all.length - 6);
    tail.forEach((b, k) => {
      assert.deepEqual(b.index, all[k + 6].index);
      assert.deepEqual(b.x, all[k + 6].x);
    });
    assert.equal(collect(resumed.iterate(resumed.numBatches)).length, 0, 'resuming at the end yields nothing');
    throwsClean(() => resumed.iterate(resumed.numBatches + 1), ConfigError, /fromBatch/);
    // Random access gives the same batch as iteration.
    const b7 = torch.tidy(() => {
      const b = resumed.batch(7, 4);
      return { index: ints(b.index), x: floats(b.x) };
    });
    assert.deepEqual(b7.index, all[7].index);
    assert.deepEqual(b7.x, all[7].x);
  });
});

test('no leaks: per-step tidy, early break, epoch-wide tidy, retainBatches', () => {
  const dl = new DataLoader(ds, { batchSize: 10, augment: randomShift(1) });
  noLeak('per-step tidy', () => {
    for (const b of dl) torch.tidy(() => b.x.mul(2).sum().item());
  });
  noLeak('break mid-epoch', () => {
    let n = 0;
    for (const b of dl) {
      assert.equal(b.x.isDisposed, false);
      if (++n === 3) break;
    }
  });
  noLeak('batches freed as the loop advances', () => {
    const live: number[] = [];
    let prev: Batch | undefined;
    for (const b of dl) {
      if (prev) assert.equal(prev.x.isDisposed, true, 'the previous batch is freed when the next is requested');
      prev = b;
      live.push(torch.memory().liveTensors);
    }
    assert.equal(new Set(live).size, 1, 'live tensor count flat across the epoch');
  });
  noLeak('epoch-wide tidy', () => torch.tidy(() => {
    for (const b of dl) b.y.sum();
  }));
  noLeak('retainBatches: the caller owns every batch', () => {
    const own = new DataLoader(ds, { batchSize: 50, retainBatches: true });
    torch.tidy(() => {
      const bs = [...own];
      assert.equal(bs.length, 3);
      assert.ok(bs.every((b) => !b.x.isDisposed));
    });
  });
});

test('lean batches: one index tensor, one indexSelect each for x and y, one tensor per augmentation', () => {
  for (const [augment, peak] of [[undefined, 3], [randomShift(1), 4]] as const) {
    const dl = new DataLoader(ds, { batchSize: 32, augment });
    torch.tidy(() => {
      torch.resetPeakTensors();
      const base = torch.memory().liveTensors;
      dl.batch(0);
      assert.equal(torch.memory().liveTensors - base, 3, 'x, y, index');
      assert.equal(torch.memory().peakTensors - base, peak, 'no per-sample tensors');
    });
  }
});

test('bad options are refused', () => {
  throwsClean(() => new DataLoader(ds, { batchSize: 0 }), ConfigError, /batchSize must be a positive integer/);
  throwsClean(() => new DataLoader(ds, { batchSize: 200, dropLast: true }), ConfigError, /gives no batches/);
  throwsClean(() => new DataLoader(ds, { batchSize: 8, seed: 0.5 }), ConfigError, /seed/);
  const dl = new DataLoader(ds, { batchSize: 8 });
  throwsClean(() => dl.setEpoch(-1), ConfigError, /epoch/);
  throwsClean(() => dl.batch(99), ConfigError, /batch 99 is out of range/);
});

const fashion = prerequisite(`Fashion-MNIST (${FASHION_MNIST_DIR})`, fs.existsSync(`${FASHION_MNIST_DIR}/train-images-idx3-ubyte.gz`), 'npm run setup (installs the Debian package dataset-fashion-mnist)');
test('a Fashion-MNIST train epoch (60k, batch 128) with randomShift(2) covers every sample and leaks nothing (time as a diagnostic)', { skip: fashion.skip }, (t) => {
  fashion.check();
  const fm = loadFashionMnist({ split: 'train' });
  const dl = new DataLoader(fm, { batchSize: 128, augment: randomShift(2), seed: 0 });
  const times: number[] = [];
  noLeak('fashion epochs', () => {
    for (let e = 0; e < 3; e++) {
      dl.setEpoch(e);
      const t0 = performance.now();
      let n = 0;
      for (const b of dl) n += b.x.shape[0];
      times.push(performance.now() - t0);
      assert.equal(n, 60000);
    }
  });
  times.sort((a, b) => a - b);
  const median = times[1];
  // Speed is a benchmark's business, not a test's: reported, not asserted.
  t.diagnostic(`Fashion-MNIST train epoch, batch 128, randomShift(2): median ${median.toFixed(0)} ms (${times.map((v) => v.toFixed(0)).join(', ')})`);
  disposeDataset(fm);
});

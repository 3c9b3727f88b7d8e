// Splits, subsets and transfer sets: disjoint, complete, deterministic from the seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { ConfigError } from '../../src/torch/index.js';
import {
  datasetFromArrays, splitDataset, makeTransferSet, subsetDataset, classCounts, disposeDataset, loadMnistDigits, type Dataset,
} from '../../src/data/index.js';
import { floats, ints, throwsClean } from './helpers.js';

/** N samples with x[i] = [i, -i] and labels i % classes, so each row says which sample it is. */
function synthetic(n: number, classes = 4): Dataset {
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) x.set([i, -i], 2 * i);
  return datasetFromArrays({ name: 'syn', source: 'test', x, featureShape: [2], labels: Int32Array.from({ length: n }, (_, i) => i % classes) });
}
const ids = (ds: Dataset) => Array.from(floats(ds.x).filter((_, k) => k % 2 === 0));

test('splitDataset: [train, val, test] parts are disjoint, cover every sample, keep x/y aligned', () => {
  const ds = synthetic(1000);
  const base = torch.memory().liveTensors;
  const { train, val, test: tst } = splitDataset(ds, { fractions: [0.7, 0.2, 0.1], seed: 1 });
  assert.equal(torch.memory().liveTensors, base + 6);
  assert.ok(tst);
  assert.deepEqual([train.y.shape[0], val.y.shape[0], tst.y.shape[0]], [700, 200, 100]);
  const all = [...ids(train), ...ids(val), ...ids(tst)];
  assert.equal(new Set(all).size, 1000, 'every sample in exactly one part');
  for (const part of [train, val, tst]) {
    const y = ints(part.y);
    ids(part).forEach((id, k) => assert.equal(y[k], id % 4, 'label follows its row'));
    const sorted = ids(part);
    assert.deepEqual(sorted, [...sorted].sort((a, b) => a - b), 'source order kept inside a part');
  }
  assert.equal(train.name, 'syn/train');
  const again = splitDataset(ds, { fractions: [0.7, 0.2, 0.1], seed: 1 });
  assert.deepEqual(ids(again.val), ids(val), 'same seed, same split');
  const other = splitDataset(ds, { fractions: [0.7, 0.2, 0.1], seed: 2 });
  assert.notDeepEqual(ids(other.val), ids(val), 'other seed, other split');
  for (const d of [train, val, tst, again.train, again.val, again.test!, other.train, other.val, other.test!, ds]) disposeDataset(d);
});

test('splitDataset: valFraction shorthand, stratification keeps class proportions', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 900 ? 0 : 1)); // 90/10 imbalance
  const ds = datasetFromArrays({ name: 'imb', source: 'test', x: new Float32Array(1000), featureShape: [1], labels });
  const { train, val, test: none } = splitDataset(ds, { valFraction: 0.2, seed: 0, stratify: true });
  assert.equal(none, undefined);
  assert.deepEqual(classCounts(val), [180, 20]);
  // x holds the sample id, so shared ids would mean a sample in both parts.
  ds.x.dispose();
  ds.x = torch.arange(0, 1000, 1, 'float32').reshape([1000, 1]);
  const s2 = splitDataset(ds, { fractions: [0.6, 0.3, 0.1], seed: 0, stratify: true });
  const all2 = [...floats(s2.train.x), ...floats(s2.val.x), ...floats(s2.test!.x)];
  assert.equal(new Set(all2).size, 1000, 'stratified parts are disjoint and complete');
  assert.deepEqual(classCounts(s2.test!), [90, 10]);
  for (const d of [s2.train, s2.val, s2.test!]) disposeDataset(d);
  assert.deepEqual(classCounts(train), [720, 80]);
  for (const d of [train, val, ds]) disposeDataset(d);
});

test('splitDataset: bad fractions and empty parts are refused', () => {
  const ds = synthetic(10);
  throwsClean(() => splitDataset(ds, { fractions: [0.5, 0.4], seed: 0 }), ConfigError, /sum to 1/);
  throwsClean(() => splitDataset(ds, {}), ConfigError, /fractions .* or valFraction is required/);
  throwsClean(() => splitDataset(ds, { valFraction: 0.01 }), ConfigError, /leaves the val part empty/);
  throwsClean(() => splitDataset(ds, { fractions: [1, 0] }), ConfigError, /must be > 0/);
  disposeDataset(ds);
});

test('subsetDataset: picks rows in the given order and checks indices', () => {
  const ds = synthetic(10);
  const sub = subsetDataset(ds, [9, 0, 9]);
  assert.deepEqual(ids(sub), [9, 0, 9]);
  assert.deepEqual(ints(sub.y), [1, 0, 1]);
  throwsClean(() => subsetDataset(ds, [10]), ConfigError, /index 10 .* out of range for 10 samples/);
  throwsClean(() => subsetDataset(ds, []), ConfigError, /empty/);
  const fromTensor = subsetDataset(ds, torch.tensor(BigInt64Array.from([3n, 4n])));
  assert.deepEqual(ids(fromTensor), [3, 4]);
  for (const d of [ds, sub, fromTensor]) disposeDataset(d);
});

test('makeTransferSet: Hinton\'s "no 3s" set on real digits removes every 3 and nothing else', () => {
  const digits = loadMnistDigits({ split: 'train' });
  const before = classCounts(digits);
  const no3 = makeTransferSet(digits, { omitClasses: [3], seed: 0 });
  const after = classCounts(no3);
  assert.equal(after[3], 0, 'no 3 left');
  assert.ok(!ints(no3.y).includes(3));
  for (let c = 0; c < 10; c++) if (c !== 3) assert.equal(after[c], before[c], `digit ${c} kept whole`);
  assert.equal(no3.numClasses, 10, 'the student still has an output for 3');
  assert.equal(no3.name, 'mnist-digits-train/transfer-no3');

  const small = makeTransferSet(digits, { omitClasses: [3], subset: 500, seed: 7 });
  assert.equal(small.y.shape[0], 500);
  assert.equal(classCounts(small)[3], 0);
  const same = makeTransferSet(digits, { omitClasses: [3], subset: 500, seed: 7 });
  assert.deepEqual(floats(same.x), floats(small.x), 'same seed, same subset');
  const diff = makeTransferSet(digits, { omitClasses: [3], subset: 500, seed: 8 });
  assert.notDeepEqual(ints(diff.y), ints(small.y));

  throwsClean(() => makeTransferSet(digits, { omitClasses: [10] }), ConfigError, /omitted class 10/);
  throwsClean(() => makeTransferSet(digits, { subset: 1e6 }), ConfigError, /larger than/);
  throwsClean(() => makeTransferSet(digits, { omitClasses: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }), ConfigError, /leaves .* empty/);
  for (const d of [digits, no3, small, same, diff]) disposeDataset(d);
});

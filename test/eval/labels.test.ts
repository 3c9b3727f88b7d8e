// Agreement, accuracy, confusion matrix and per-class accuracy on predictions whose
// answers are worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { agreement, accuracyOf, confusionMatrix, perClassAccuracy, classesOf } from '../../src/eval/index.js';
import { live } from './fixtures.js';

// Logits whose argmax per row is 2, 0, 1, 1 (written so a wrong reduction dim would differ).
const LOGITS = [
  [0.1, 0.2, 0.9],
  [0.8, 0.1, 0.7],
  [0.0, 0.5, 0.4],
  [-1.0, 3.0, 2.9],
];

test('classesOf takes the argmax of logits and passes labels through', () => {
  const base = live();
  const logits = torch.tensor(LOGITS);
  const idx = torch.tensor([2, 0, 1, 1], { dtype: 'int64' });
  assert.deepEqual([...classesOf(logits)], [2, 0, 1, 1]);
  assert.deepEqual([...classesOf(idx)], [2, 0, 1, 1]);
  assert.deepEqual([...classesOf([2, 0, 1, 1])], [2, 0, 1, 1]);
  assert.throws(() => classesOf([0.5]), /not a class index/);
  logits.dispose();
  idx.dispose();
  assert.equal(live(), base, 'no tensor leaks');
});

test('agreement is the fraction of equal argmax', () => {
  const base = live();
  const a = torch.tensor(LOGITS); // 2 0 1 1
  const b = torch.tensor([
    [0, 0, 1], // 2  same
    [0, 1, 0], // 1  differs
    [0, 1, 0], // 1  same
    [1, 0, 0], // 0  differs
  ]);
  assert.equal(agreement(a, b), 0.5);
  assert.equal(agreement(a, a), 1);
  assert.equal(agreement(a, [2, 0, 1, 0]), 0.75); // logits against labels
  assert.throws(() => agreement(a, [1, 2]), /4 entries but predsB has 2/);
  assert.throws(() => agreement([], []), /no samples/);
  a.dispose();
  b.dispose();
  assert.equal(live(), base, 'no tensor leaks');
});

test('accuracyOf counts predictions equal to the labels', () => {
  const y = torch.tensor([2, 1, 1, 0], { dtype: 'int64' });
  const logits = torch.tensor(LOGITS); // 2 0 1 1 → right, wrong, right, wrong
  assert.equal(accuracyOf(logits, y), 0.5);
  logits.dispose();
  y.dispose();
});

test('confusionMatrix puts the truth on rows and the prediction on columns', () => {
  const pred = [0, 1, 1, 2, 2, 2, 0, 1];
  const y = [0, 1, 2, 2, 2, 0, 0, 1];
  // true 0: predicted 0, 2, 0   → [2, 0, 1]
  // true 1: predicted 1, 1      → [0, 2, 0]
  // true 2: predicted 1, 2, 2   → [0, 1, 2]
  assert.deepEqual(confusionMatrix(pred, y, 3), [
    [2, 0, 1],
    [0, 2, 0],
    [0, 1, 2],
  ]);
  // a fourth class with no samples gives a zero row and column
  assert.deepEqual(confusionMatrix(pred, y, 4)[3], [0, 0, 0, 0]);
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /prediction 3 at entry 1 is outside \[0, 3\)/);
  assert.throws(() => confusionMatrix([0, 1], [0, -1], 3), /label -1/);
  // tensors work the same
  const pt = torch.tensor(pred.map((v) => [v === 0 ? 1 : 0, v === 1 ? 1 : 0, v === 2 ? 1 : 0]));
  const yt = torch.tensor(y, { dtype: 'int64' });
  assert.deepEqual(confusionMatrix(pt, yt, 3), confusionMatrix(pred, y, 3));
  pt.dispose();
  yt.dispose();
});

test('perClassAccuracy is each class’s diagonal share of its row; null for an absent class', () => {
  const pred = [0, 1, 1, 2, 2, 2, 0, 1];
  const y = [0, 1, 2, 2, 2, 0, 0, 1];
  assert.deepEqual(perClassAccuracy(pred, y, 4), [2 / 3, 1, 2 / 3, null]);
});

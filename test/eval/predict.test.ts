// predict / accuracy on a model whose predictions are known by construction, the
// restoration of train/eval flags, and memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { predict, predictLabels, accuracy } from '../../src/eval/index.js';
import { identityClassifier, live } from './fixtures.js';

// Rows of x are the logits themselves (identity classifier): argmax 0, 2, 1, 2, 0.
const X = [
  [5, 1, 2],
  [0, 1, 3],
  [1, 4, 2],
  [-3, -2, -1],
  [9, 8, 7],
];

test('predict returns the eval-mode logits for every sample, across batch boundaries', () => {
  const model = identityClassifier();
  const base = live();
  const x = torch.tensor(X);
  for (const batchSize of [1, 2, 5, 256]) {
    const logits = predict(model, x, { batchSize });
    // Dropout(0.5) is active in train mode; equal logits prove the forward ran in eval mode.
    assert.deepEqual(logits.toArray(), X, `batchSize ${batchSize}`);
    logits.dispose();
    assert.deepEqual([...predictLabels(model, x, { batchSize })], [0, 2, 1, 2, 0]);
  }
  x.dispose();
  assert.equal(live(), base, 'no tensor leaks');
  model.dispose();
});

test('accuracy on known predictions', () => {
  const model = identityClassifier();
  const base = live();
  const x = torch.tensor(X); // predicts 0 2 1 2 0
  const cases: [number[], number][] = [
    [[0, 2, 1, 2, 0], 1],
    [[0, 2, 1, 2, 1], 0.8],
    [[1, 0, 0, 0, 1], 0],
    [[0, 0, 1, 0, 0], 0.6],
  ];
  for (const [labels, expected] of cases) {
    const y = torch.tensor(labels, { dtype: 'int64' });
    assert.equal(accuracy(model, x, y, { batchSize: 2 }), expected, `labels ${labels}`);
    y.dispose();
  }
  const bad = torch.tensor([0, 1], { dtype: 'int64' });
  assert.throws(() => accuracy(model, x, bad), /same N/);
  bad.dispose();
  x.dispose();
  assert.equal(live(), base, 'no tensor leaks');
  model.dispose();
});

test('every module’s own train/eval flag is restored, even a mixed tree and after an error', () => {
  const model = identityClassifier(); // fresh modules are in train mode
  const x = torch.tensor(X);
  const y = torch.tensor([0, 2, 1, 2, 0], { dtype: 'int64' });
  accuracy(model, x, y);
  assert.deepEqual(model.modules().map((m) => m.training), [true, true, true]);

  model.at(0).eval(); // a frozen dropout inside a training model
  predict(model, x).dispose();
  assert.deepEqual(model.modules().map((m) => m.training), [true, false, true]);

  model.eval();
  accuracy(model, x, y);
  assert.deepEqual(model.modules().map((m) => m.training), [false, false, false]);

  model.train();
  const wrongWidth = torch.zeros([2, 4]); // Linear(3, 3) rejects it mid-measurement
  assert.throws(() => predict(model, wrongWidth));
  assert.deepEqual(model.modules().map((m) => m.training), [true, true, true], 'restored after a throw');
  assert.equal(torch.isGradEnabled(), true, 'grad mode restored');
  wrongWidth.dispose();
  x.dispose();
  y.dispose();
  model.dispose();
});

test('predict inside tidy: the result belongs to the enclosing scope', () => {
  const model = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
  const x = torch.randn([10, 3]);
  const base = live();
  const shape = torch.tidy(() => predict(model, x, { batchSize: 3 }).shape);
  assert.deepEqual([...shape], [10, 2]);
  assert.equal(live(), base, 'the tidy freed the logits');
  // and without autograd: the logits are not part of a graph
  const logits = predict(model, x);
  assert.equal(logits.requiresGrad, false);
  logits.dispose();
  x.dispose();
  model.dispose();
});

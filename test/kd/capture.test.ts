// captureFeatures on real nn models: the captured output is the intermediate a manual
// run of the prefix gives; gradients flow through it; unknown names are ConfigErrors
// that list the valid ones; clear() and remove() leave no tensor behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as kd from '../../src/kd/index.js';
import { R } from '../helpers/inputs.js';
import { near } from './checks.js';

torch.manualSeed(11);
const model = new nn.Sequential(
  new nn.Linear(6, 8), new nn.ReLU(),
  new nn.Sequential(new nn.Linear(8, 5), new nn.Tanh()),
  new nn.Linear(5, 3),
);
const x = R(4, 6);

function prefix(n: number, inner = 2): torch.Tensor {
  // The model run by hand up to (and including) a module.
  return torch.tidy(() => {
    let h = x;
    for (let i = 0; i < n; i++) h = model.at(i).call(h);
    if (inner < 2) h = (model.at(2) as nn.Sequential).at(inner).call(model.at(1).call(model.at(0).call(x)));
    return h;
  });
}

test('the captured outputs equal running the prefix by hand, nested names included', () => {
  const cap = kd.captureFeatures(model, ['1', '2.0', '2']);
  torch.tidy(() => {
    // By hand first: calling the modules fires the hooks too, and the model's forward
    // below replaces (and frees) whatever they captured.
    const want1 = prefix(2), want20 = prefix(0, 0), want2 = prefix(3), wantOut = prefix(4);
    const out = model.call(x);
    near(cap.get('1'), want1, { rtol: 0, atol: 0, label: "'1' (after ReLU)" });
    near(cap.get('2.0'), want20, { rtol: 0, atol: 0, label: "'2.0' (inner Linear)" });
    near(cap.get('2'), want2, { rtol: 0, atol: 0, label: "'2' (inner Sequential)" });
    near(out, wantOut, { rtol: 0, atol: 0, label: 'the model output is unchanged' });
    assert.deepEqual(Object.keys(cap.features()).sort(), ['1', '2', '2.0']);
    assert.deepEqual([...cap.names], ['1', '2.0', '2']);
  });
  cap.remove();
});

test('a loss on a captured feature backpropagates into the model', () => {
  const cap = kd.captureFeatures(model, ['1']);
  model.zeroGrad();
  torch.tidy(() => {
    model.call(x);
    cap.get('1').pow(2).mean().backward();
  });
  const w0 = model.at(0).parameters()[0];
  assert.ok(w0.grad && w0.grad.abs().sum().item() > 0, 'the first layer gets a gradient');
  assert.equal(model.at(3).parameters()[0].grad, null, 'layers after the feature get none');
  model.zeroGrad();
  cap.remove();
});

test('capturing the last module: clear() frees only its alias, never the output the model returned', () => {
  const cap = kd.captureFeatures(model, ['3']);
  const out = torch.tidy(() => model.call(x));
  near(cap.get('3'), out, { rtol: 0, atol: 0 });
  cap.clear();
  assert.equal(out.isDisposed, false);
  assert.ok(Number.isFinite(out.sum().item()));
  out.dispose();
  cap.remove();
});

test('unknown names are ConfigErrors naming them and listing the valid names', () => {
  assert.throws(() => kd.captureFeatures(model, ['1', 'fc9', '2.7']), (e: Error) => {
    assert.ok(e instanceof torch.ConfigError);
    assert.match(e.message, /'fc9'/);
    assert.match(e.message, /'2\.7'/);
    assert.match(e.message, /valid names: '0', '1', '2', '2\.0', '2\.1', '3'/);
    return true;
  });
  assert.throws(() => kd.captureFeatures(model, []), torch.ConfigError);
  const cap = kd.captureFeatures(model, ['0']);
  assert.throws(() => cap.get('0'), (e: Error) => e instanceof torch.ConfigError && /run the model/.test(e.message));
  assert.throws(() => cap.get('1'), (e: Error) => e instanceof torch.ConfigError && /not captured/.test(e.message));
  cap.remove();
  assert.throws(() => cap.get('0'), (e: Error) => e instanceof torch.ConfigError && /removed/.test(e.message));
});

test('no leaks: repeated forwards replace the capture; clear() and remove() return to the baseline; no hooks remain', () => {
  const base = torch.memory().liveTensors;
  const cap = kd.captureFeatures(model, ['0', '2.1']);
  for (let i = 0; i < 3; i++) torch.tidy(() => void model.call(x));
  assert.equal(torch.memory().liveTensors, base + 2, 'one alias per captured name, whatever the number of forwards');
  cap.clear();
  assert.equal(torch.memory().liveTensors, base, 'clear() frees the captured outputs');
  assert.equal(cap.has('0'), false);
  torch.tidy(() => void model.call(x));
  assert.equal(cap.has('0'), true, 'the hooks stay after clear()');
  cap.remove();
  assert.equal(torch.memory().liveTensors, base, 'remove() frees them too');
  torch.tidy(() => void model.call(x));
  assert.equal(torch.memory().liveTensors, base, 'after remove() no hook captures anything');
  cap.remove(); // idempotent
});

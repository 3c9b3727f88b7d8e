// The teacher's accuracy on consistent-KD views, and the warning for a view it never learned.
// Teacher: a nearest-class-mean classifier on the bundled digits (W = class means μ_c,
// b_c = −½‖μ_c‖², no training), whose accuracy on mirrored digits collapses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as data from '../../src/data/index.js';
import * as evaluate from '../../src/eval/index.js';
import { teacherOnViews, viewReport, MAX_VIEW_DROP } from '../../src/cli/view_check.js';

const train = data.loadMnistDigits({ split: 'train', seed: 0 });
const val = data.loadMnistDigits({ split: 'test', seed: 0 });
const teacher = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 10));
torch.tidy(() => {
  const x = train.x.flatten(1); // (N, 784)
  const onehot = torch.oneHot(train.y, 10).toDtype('float32'); // (N, 10)
  const means = onehot.transpose(0, 1).mm(x).div(onehot.sum(0).unsqueeze(1)); // (10, 784)
  teacher.loadStateDict({ '1.weight': means, '1.bias': means.pow(2).sum(1).mul(-0.5) });
});

test('view accuracy: an always-on flip scores as libtorch flip does; a never-on flip as plain', () => {
  const s = teacherOnViews(teacher, val, [
    { name: 'always', augment: data.randomFlip(1) },
    { name: 'never', augment: data.randomFlip(0) },
    { name: 'half', augment: data.randomFlip(0.5) },
  ], 0);
  const model = teacher as evaluate.EvalModel;
  assert.equal(s.plain, evaluate.accuracy(model, val.x, val.y));
  const mirrored = torch.flip(val.x, [-1]);
  assert.equal(s.views[0].accuracy, evaluate.accuracy(model, mirrored, val.y));
  mirrored.dispose();
  assert.equal(s.views[1].accuracy, s.plain);
  assert.ok(s.plain > 0.75, `class means classify digits: ${s.plain}`);
  assert.ok(s.views[0].accuracy < s.plain - 0.3, `mirrored digits: ${s.views[0].accuracy}`);
  assert.ok(s.views[2].accuracy < s.plain && s.views[2].accuracy > s.views[0].accuracy, 'half the samples flipped');
  const lines = viewReport(s);
  assert.match(lines[0], /^kd: teacher accuracy on validation: \d+\.\d% plain, \d+\.\d% with always, .* with never, .* with half$/);
  assert.equal(lines.filter((l) => /warning: always costs the teacher/.test(l)).length, 1);
  assert.ok(!lines.some((l) => /warning: never/.test(l)));
});

test('the warning starts just past MAX_VIEW_DROP', () => {
  const at = (drop: number) => viewReport({ plain: 0.9, views: [{ name: 'v', accuracy: 0.9 - drop }] }).length - 1;
  assert.equal(at(MAX_VIEW_DROP - 0.001), 0);
  assert.equal(at(MAX_VIEW_DROP + 0.001), 1);
  assert.equal(at(-0.05), 0, 'a view the teacher does better on');
});

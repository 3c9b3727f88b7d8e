// α and T schedules over training progress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';

const at = (f: kd.Schedule) => [0, 0.5, 1].map(f);
const close = (a: number[], b: number[]) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-12, `${a} vs ${b}`));

test('constant, linear and cosine at 0, 0.5 and 1', () => {
  close(at(kd.makeSchedule(4)), [4, 4, 4]);
  close(at(kd.makeSchedule({ kind: 'constant', value: 0.3 })), [0.3, 0.3, 0.3]);
  close(at(kd.makeSchedule({ kind: 'linear', from: 10, to: 2 })), [10, 6, 2]);
  close(at(kd.makeSchedule({ kind: 'cosine', from: 0, to: 0.8 })), [0, 0.4, 0.8]);
  // Cosine is flat at the ends and steeper in the middle than linear.
  const cos = kd.makeSchedule({ kind: 'cosine', from: 0, to: 1 });
  assert.ok(cos(0.1) < 0.1 && cos(0.9) > 0.9);
  close([cos(0.25)], [(1 - Math.cos(Math.PI / 4)) / 2]);
});

test('progress outside [0, 1] is clamped', () => {
  const f = kd.makeSchedule({ kind: 'linear', from: 1, to: 3 });
  close([f(-1), f(2)], [1, 3]);
  assert.throws(() => f(NaN), torch.ConfigError);
});

test('makeKDSchedule gives the { T, alpha } context', () => {
  const f = kd.makeKDSchedule({ T: { kind: 'linear', from: 8, to: 2 }, alpha: { kind: 'cosine', from: 0.1, to: 0.9 } });
  assert.deepEqual(f(0), { T: 8, alpha: 0.1 });
  const mid = f(0.5);
  close([mid.T, mid.alpha], [5, 0.5]);
});

test('bad specs are ConfigErrors naming the key', () => {
  const bad = (spec: unknown, re: RegExp) => assert.throws(() => kd.makeSchedule(spec as kd.ScheduleSpec, 'T'), (e: Error) => e instanceof torch.ConfigError && re.test(e.message));
  bad({ kind: 'exp', from: 1, to: 2 }, /T: unknown schedule kind "exp"; valid kinds: constant, linear, cosine/);
  bad({ kind: 'linear', from: 1 }, /'to' must be a finite number/);
  bad({ kind: 'linear', from: 1, to: 2, steps: 3 }, /unknown key\(s\) 'steps'/);
  bad({ kind: 'constant' }, /'value'/);
  bad(NaN, /'value'/);
  bad('4', /expected a number/);
});

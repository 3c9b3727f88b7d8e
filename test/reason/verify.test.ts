// Answer extraction (boxed > #### > last number) and the verdicts built on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extractAnswer, checkAnswer, lastBoxed, parseValues, parseNumericAnswer, sameNumber,
} from '../../src/reason/verify.js';

test('lastBoxed: the last complete box, nested and escaped braces, truncated boxes skipped', () => {
  assert.equal(lastBoxed('a \\boxed{1} b \\boxed{2}'), '2');
  assert.equal(lastBoxed('\\boxed{\\frac{\\sqrt{3}}{2}}'), '\\frac{\\sqrt{3}}{2}');
  assert.equal(lastBoxed('\\boxed{\\{1, 2\\}}'), '\\{1, 2\\}');
  assert.equal(lastBoxed('\\boxed{5} then truncated \\boxed{\\frac{1}{'), '5');
  assert.equal(lastBoxed('\\boxed 7$'), '7');
  assert.equal(lastBoxed('\\fbox{8}'), '8');
  assert.equal(lastBoxed('no box here'), null);
});

test('extractAnswer: preference order boxed > #### > last number, with the source named', () => {
  assert.deepEqual(extractAnswer('#### 3\nso \\boxed{6, 4}\nthen 99'), { values: [6, 4], text: '6, 4', source: 'boxed' });
  assert.deepEqual(extractAnswer('steps 12 and 13\n#### 1,234\nthanks 7'), { values: [1234], text: '1,234', source: '####' });
  assert.deepEqual(extractAnswer('First 3.\nSo the answer is 42.\nHope this helps!'), { values: [42], text: 'So the answer is 42.', source: 'last-number' });
  // after </think> when the answer part holds a number; otherwise the whole text
  assert.deepEqual(extractAnswer('<think>\n2+2=4\n</think>\nIt is 5 apples.')?.values, [5]);
  assert.deepEqual(extractAnswer('<think>\nx=7\n</think>\nDone.')?.values, [7]);
  assert.equal(extractAnswer('no numbers at all'), null);
  assert.equal(extractAnswer(''), null);
  assert.equal(extractAnswer('\\boxed{}'), null, 'an empty box is no answer');
});

test('parseValues: two-value answers in the usual spellings', () => {
  const cases: [string, number[]][] = [
    ['6, 4', [6, 4]],
    ['6,4', [6, 4]],
    ['6 chickens and 4 rabbits', [6, 4]],
    ['x=6, y=4', [6, 4]],
    ['x = 6 and y = 4', [6, 4]],
    ['鸡6只，兔4只', [6, 4]],
    ['鸡有6只、兔有4只', [6, 4]],
    ['(6; 4)', [6, 4]],
    ['\\text{6 chickens}, \\text{4 rabbits}', [6, 4]],
    ['６，４', [6, 4]],
  ];
  for (const [s, want] of cases) assert.deepEqual(parseValues(s), want, s);
});

test('parseValues: thousands, fractions, signs, decimals, names', () => {
  const cases: [string, number[]][] = [
    ['1,234', [1234]],
    ['1,234,567', [1234567]],
    ['1,234, 5', [1234, 5]],
    ['12,34', [12, 34]], // not a thousands group: two values
    ['3/4', [0.75]],
    ['\\frac{3}{4}', [0.75]],
    ['-\\dfrac{1}{2}', [-0.5]],
    ['x = -5', [-5]],
    ['x=−5', [-5]],
    ['2.5', [2.5]],
    ['.5', [0.5]],
    ['It is 42.', [42]],
    ['28-20=8', [8]],
    ['2y=28-2*10=28-20=8', [8]],
    ['28-20', [28, 20]],
    ['x_1 = 3', [3]],
    ['x2 + 7', [7]],
    ['10{,}000', [10000]],
    ['1\\,234', [1234]],
    ['\\$18.90', [18.9]],
    ['45\\%', [45]],
    ['90^\\circ', [90]],
    ['5/0', []],
  ];
  for (const [s, want] of cases) assert.deepEqual(parseValues(s), want, s);
});

test('parseNumericAnswer: only answers that are nothing but numbers', () => {
  assert.deepEqual(parseNumericAnswer('42'), [42]);
  assert.deepEqual(parseNumericAnswer(' -3.5 '), [-3.5]);
  assert.deepEqual(parseNumericAnswer('6, 4'), [6, 4]);
  assert.deepEqual(parseNumericAnswer('\\frac{3}{4}'), [0.75]);
  assert.deepEqual(parseNumericAnswer('1,234'), [1234]);
  for (const s of ['\\sqrt{2}', '(3, 4)', 'x+1', 'Paris', '', '2\\pi', '6 chickens']) assert.equal(parseNumericAnswer(s), null, s);
});

test('checkAnswer: correct, wrong, missing; order-sensitive; tolerance 1e-6 relative', () => {
  const cr = { answer: '6, 4', values: [6, 4] };
  assert.deepEqual(checkAnswer('<think>\n...\n</think>\n\\boxed{6, 4}', cr), { ok: true, reason: 'correct', extracted: [6, 4] });
  assert.deepEqual(checkAnswer('There are 6 chickens and 4 rabbits.', cr), { ok: true, reason: 'correct', extracted: [6, 4] });
  assert.deepEqual(checkAnswer('鸡6只，兔4只。', cr), { ok: true, reason: 'correct', extracted: [6, 4] });
  assert.deepEqual(checkAnswer('\\boxed{4, 6}', cr), { ok: false, reason: 'wrong-answer', extracted: [4, 6] });
  assert.deepEqual(checkAnswer('\\boxed{6}', cr), { ok: false, reason: 'wrong-answer', extracted: [6] });
  assert.deepEqual(checkAnswer('\\boxed{6, 4, 10}', cr), { ok: false, reason: 'wrong-answer', extracted: [6, 4, 10] });
  assert.deepEqual(checkAnswer('\\boxed{six}', cr), { ok: false, reason: 'wrong-answer', extracted: [] });
  assert.deepEqual(checkAnswer('I do not know.', cr), { ok: false, reason: 'no-answer', extracted: null });
  const one = { answer: '42', values: [42] };
  assert.equal(checkAnswer('After 3 steps the answer is 42', one).ok, true, 'free text: the last k numbers');
  assert.equal(checkAnswer('\\boxed{3, 42}', one).ok, false, 'a box must hold exactly k values');
  assert.equal(checkAnswer('#### 42.0000001', one).ok, true);
  assert.equal(checkAnswer('#### 42.001', one).ok, false);
  assert.equal(checkAnswer('\\boxed{0.75}', { answer: '\\frac{3}{4}', values: [0.75] }).ok, true);
  assert.equal(checkAnswer('\\boxed{0.3333333}', { answer: '\\frac{1}{3}', values: [1 / 3] }).ok, true);
  assert.equal(checkAnswer('\\boxed{0.33}', { answer: '\\frac{1}{3}', values: [1 / 3] }).ok, false);
  assert.equal(checkAnswer('\\boxed{-1,000,000}', { answer: '-1000000', values: [-1e6] }).ok, true);
  assert.equal(sameNumber(0, 1e-7), true);
  assert.equal(sameNumber(1e9, 1e9 + 1), true);
  assert.equal(sameNumber(1e9, 1e9 + 2000), false);
});

test('checkAnswer: text answers compare normalised text when values are empty', () => {
  const p = { answer: '2\\sqrt{2}', values: [] };
  assert.equal(checkAnswer('so \\boxed{2 \\sqrt{2}}.', p).ok, true);
  assert.equal(checkAnswer('so \\boxed{2\\sqrt{3}}', p).reason, 'wrong-answer');
  assert.equal(checkAnswer('\\boxed{\\dfrac{\\pi}{2}}', { answer: '\\frac{\\pi}{2}', values: [] }).ok, true);
  assert.equal(checkAnswer('\\boxed{\\text{Paris}}', { answer: 'paris', values: [] }).ok, true);
  assert.equal(checkAnswer('nothing', p).reason, 'no-answer');
});

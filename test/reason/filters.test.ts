// Trace quality filters: too long, repetitive, mixed language; reference solutions always pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterTrace, repeatRatio, foreignWords } from '../../src/reason/filters.js';
import { FAMILIES } from '../../src/reason/problems/index.js';
import { splitThink } from '../../src/reason/traces/formats.js';

const asTrace = (solution: string) => splitThink(solution);

test('every built-in reference solution passes, EN and ZH', () => {
  let n = 0;
  for (const f of Object.values(FAMILIES)) {
    for (let i = 0; i < f.size; i += 7) {
      for (const lang of ['en', 'zh'] as const) {
        const p = f.make(i, lang, i);
        assert.equal(filterTrace(asTrace(p.solution!), lang), null, `${p.id} ${lang}`);
        n++;
      }
    }
  }
  assert.ok(n > 1500);
});

test('the documented chickens-and-rabbits solutions pass in both languages', () => {
  const en = { reasoning: 'Let x=chickens, y=rabbits.\nx+y=10\n2x+4y=28\n2y=28-2*10=28-20=8\ny=8/2=4\nx=10-4=6', content: '\\boxed{6, 4}' };
  assert.equal(filterTrace(en, 'en'), null);
  assert.equal(filterTrace({ ...en, reasoning: en.reasoning.replace('Let x=chickens, y=rabbits.', '设鸡x只，兔y只。') }, 'zh'), null);
});

const NATURAL = [
  'We need the number of chickens and rabbits given heads and legs.',
  'Each animal has one head, so the total number of animals is 35.',
  'If every animal were a chicken there would be 70 legs, but we have 94 legs.',
  'Each rabbit adds two extra legs compared with a chicken, so there are 24 / 2 = 12 rabbits.',
  'That leaves 35 - 12 = 23 chickens. Check: 23*2 + 12*4 = 46 + 48 = 94. Correct.',
].join('\n');

test('a natural long EN reasoning passes; the same text over maxChars is too-long', () => {
  const reasoning = NATURAL;
  const t = { reasoning, content: 'There are 23 chickens and 12 rabbits. \\boxed{23, 12}' };
  assert.equal(filterTrace(t, 'en'), null);
  assert.equal(filterTrace(t, 'en', { maxChars: 200 }), 'too-long');
  assert.equal(filterTrace({ reasoning: 'a'.repeat(8001), content: '' }, 'en'), 'too-long', 'default limit 8000');
});

test('repetitive: a repeated line, a word loop, a character loop, a ZH loop', () => {
  const ok = NATURAL;
  assert.equal(filterTrace({ reasoning: `${ok}\n${'Wait, let me recompute this.\n'.repeat(5)}`, content: '\\boxed{6, 4}' }, 'en'), 'repetitive');
  assert.equal(filterTrace({ reasoning: `${ok}\n${'Wait, let me recompute this.\n'.repeat(4)}`, content: '\\boxed{6, 4}' }, 'en'), null, 'four is tolerated');
  assert.equal(filterTrace({ reasoning: 'so the answer is so the answer is '.repeat(12), content: '' }, 'en', { maxChars: 1e6 }), 'repetitive');
  assert.equal(filterTrace({ reasoning: `${ok} ${'ha'.repeat(20)}`, content: '' }, 'en'), 'repetitive');
  assert.equal(filterTrace({ reasoning: `设鸡x只。${'所以鸡的数量是'.repeat(10)}`, content: '' }, 'zh'), 'repetitive');
  // long runs of digits or rules are not loops
  assert.equal(filterTrace({ reasoning: `${ok}\n10000000000000000000\n====================`, content: '' }, 'en'), null);
});

test('repeatRatio: 1 − distinct/total over n-grams, 0 below the minimum count', () => {
  assert.equal(repeatRatio('a b c d e f'.split(' ')), 0);
  const loop = Array(40).fill('x');
  assert.equal(repeatRatio(loop), 1 - 1 / 37);
  const distinct = Array.from({ length: 40 }, (_, i) => `w${i}`);
  assert.equal(repeatRatio(distinct), 0);
  // 37 grams inside a copy, 3 crossing the seam: 40 distinct of 77
  assert.equal(repeatRatio([...distinct, ...distinct]), 1 - 40 / 77);
});

test('mixed-language: CJK in an EN trace, English words in a ZH trace', () => {
  assert.equal(filterTrace({ reasoning: 'x+y=10\n所以 y=4', content: '\\boxed{6, 4}' }, 'en'), 'mixed-language');
  assert.equal(filterTrace({ reasoning: 'x+y=10', content: '答案：\\boxed{6, 4}' }, 'en'), 'mixed-language');
  assert.equal(filterTrace({ reasoning: 'x+y=10，所以 y=4', content: '\\boxed{6, 4}' }, 'en'), 'mixed-language');
  assert.equal(filterTrace({ reasoning: '设鸡x只，兔y只。\nx+y=10\nSo y=4', content: '\\boxed{6, 4}' }, 'zh'), 'mixed-language');
  assert.equal(filterTrace({ reasoning: '设鸡x只。x+y=10', content: '\\boxed{\\text{six}, 4}' }, 'zh'), 'mixed-language');
  // allowed in ZH: single letters, LaTeX commands, units, point names, extra words on request
  assert.equal(filterTrace({ reasoning: '速度是60 km/h，线段AB长\\frac{1}{2}，x\\times y=6', content: '\\boxed{6}' }, 'zh'), null);
  assert.equal(filterTrace({ reasoning: '先算GDP', content: '\\boxed{6}' }, 'zh'), null, 'all-caps ≤3 letters');
  assert.equal(filterTrace({ reasoning: '用Python算', content: '\\boxed{6}' }, 'zh'), 'mixed-language');
  assert.equal(filterTrace({ reasoning: '用Python算', content: '\\boxed{6}' }, 'zh', { allowWords: ['python'] }), null);
  assert.deepEqual(foreignWords('<think>\n设x=3，so y\\cdot z is 4\n</think>'), ['so', 'is']);
});

// Built-in problem families (exact answers, reference solutions that check out line by line),
// the seeded id-hash split, and the GSM8K / MATH / JSONL importers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  FAMILIES, chickensRabbits, generateProblems, splitOf, mulberry32,
  parseGsm8k, parseMath, parseJsonl, importProblems,
} from '../../src/reason/problems/index.js';
import type { Problem } from '../../src/reason/types.js';
import { checkAnswer, lastBoxed } from '../../src/reason/verify.js';
import { ConfigError, FormatError } from '../../src/torch/errors.js';

// ---- a tiny checker for the symbolic lines of a reference solution ----

/** Evaluates + - * / ( ), numbers, single-letter variables and implicit products ("2x", "(a+b)t"). */
function evaluate(expr: string, env: Record<string, number>): number {
  const toks = expr.match(/\d+(?:\.\d+)?|[a-z]|[-+*/()]/g) ?? [];
  assert.equal(toks.join(''), expr, `unparsable expression '${expr}'`);
  let i = 0;
  const primary = (): number => {
    const t = toks[i++];
    if (t === '(') {
      const v = sum();
      assert.equal(toks[i++], ')', `unbalanced '(' in '${expr}'`);
      return v;
    }
    if (t === '-') return -primary();
    if (t !== undefined && /^[a-z]$/.test(t)) {
      assert.ok(t in env, `unbound variable ${t} in '${expr}'`);
      return env[t]!;
    }
    assert.ok(t !== undefined && /^\d/.test(t), `unexpected '${t}' in '${expr}'`);
    return Number(t);
  };
  const product = (): number => {
    let v = primary();
    for (;;) {
      const t = toks[i];
      if (t === '*') (i++, (v *= primary()));
      else if (t === '/') (i++, (v /= primary()));
      else if (t !== undefined && /^[a-z0-9(]/.test(t)) v *= primary(); // implicit product
      else return v;
    }
  };
  const sum = (): number => {
    let v = product();
    for (;;) {
      const t = toks[i];
      if (t === '+') (i++, (v += product()));
      else if (t === '-') (i++, (v -= product()));
      else return v;
    }
  };
  const v = sum();
  assert.equal(i, toks.length, `trailing tokens in '${expr}'`);
  return v;
}

/**
 * Checks a reference solution: shape <think>/first line/steps/</think>/\boxed{answer}, every step a
 * symbolic `a=b=c` line whose sides are all equal once the variables (in order of first appearance)
 * take the problem's answer values. Returns the number of equation lines checked.
 */
function checkSolution(p: Problem): number {
  const lines = p.solution!.split('\n');
  assert.equal(lines[0], '<think>');
  assert.equal(lines.at(-2), '</think>');
  assert.equal(lines.at(-1), `\\boxed{${p.answer}}`);
  const steps = lines.slice(2, -2);
  const names: string[] = [];
  for (const s of steps) {
    assert.match(s, /^[0-9a-z+\-*/().=]+$/, `step is not symbolic: '${s}'`);
    for (const v of s.match(/[a-z]/g) ?? []) if (!names.includes(v)) names.push(v);
  }
  assert.equal(names.length, p.values.length, `${p.id}: one variable per answer value`);
  const env = Object.fromEntries(names.map((n, k) => [n, p.values[k]!]));
  for (const s of steps) {
    const sides = s.split('=').map((e) => evaluate(e, env));
    assert.ok(sides.length >= 2, `'${s}' has no '='`);
    for (const v of sides) assert.ok(Math.abs(v - sides[0]!) < 1e-9, `${p.id}: '${s}' is false (${sides.join(' vs ')})`);
  }
  return steps.length;
}

const allOf = (lang: 'en' | 'zh'): Problem[] =>
  Object.values(FAMILIES).flatMap((f) => Array.from({ length: f.size }, (_, i) => f.make(i, lang, i)));

// ---- families ----

test('chickens-rabbits: the reference solution has exactly the documented shape, EN and ZH', () => {
  const i = Array.from({ length: chickensRabbits.size }, (_, k) => k).find((k) => chickensRabbits.idAt(k) === 'chickens-rabbits:10:28')!;
  const en = chickensRabbits.make(i, 'en', 0);
  assert.equal(en.solution, '<think>\nLet x=chickens, y=rabbits.\nx+y=10\n2x+4y=28\n2y=28-2*10=28-20=8\ny=8/2=4\nx=10-4=6\n</think>\n\\boxed{6, 4}');
  assert.deepEqual([en.answer, en.values, en.lang, en.family], ['6, 4', [6, 4], 'en', 'chickens-rabbits']);
  const zh = chickensRabbits.make(i, 'zh', 3);
  assert.equal(zh.id, en.id, 'same numbers, same id, whatever the language');
  assert.equal(zh.solution, en.solution!.replace('Let x=chickens, y=rabbits.', '设鸡x只，兔y只。'));
});

test('chickens-rabbits: 500 generated problems satisfy c+r=H and 2c+4r=L; ≥4 phrasings per language', () => {
  const ps = [0, 1, 2, 3].flatMap((seed) =>
    ['train', 'test'].flatMap((split) => generateProblems({ families: ['chickens-rabbits'], n: 70, seed, split: split as 'train', lang: 'both' })));
  assert.ok(ps.length >= 500, `only ${ps.length}`);
  for (const p of ps.slice(0, 500)) {
    const [, h, l] = p.id.split(':').map(Number);
    const [c, r] = p.values as [number, number];
    assert.ok(c >= 1 && r >= 1 && h! >= 2 && h! <= 40, p.id);
    assert.equal(c + r, h);
    assert.equal(2 * c + 4 * r, l);
    assert.equal(p.answer, `${c}, ${r}`);
    assert.ok(p.question.includes(String(h)) && p.question.includes(String(l)), p.question);
    assert.equal(/[\u4e00-\u9fff]/.test(p.question), p.lang === 'zh');
  }
  for (const lang of ['en', 'zh'] as const) {
    assert.ok(chickensRabbits.phrasings(lang) >= 4);
    const qs = new Set(Array.from({ length: chickensRabbits.phrasings(lang) }, (_, k) => chickensRabbits.make(0, lang, k).question));
    assert.equal(qs.size, chickensRabbits.phrasings(lang), 'phrasings differ');
  }
});

test('every family: ids unique, answers exact, every reference-solution line evaluates true', () => {
  assert.ok(Object.keys(FAMILIES).length >= 4, 'chickens-rabbits and at least 3 more');
  let lines = 0;
  for (const f of Object.values(FAMILIES)) {
    const ids = Array.from({ length: f.size }, (_, i) => f.idAt(i));
    assert.equal(new Set(ids).size, f.size, `${f.name}: ids collide`);
    assert.ok(ids.every((id) => new RegExp(`^${f.name}(:\\d+)+$`).test(id)), `${f.name}: id is family + numbers`);
    assert.ok(f.phrasings('en') >= 3 && f.phrasings('zh') >= 3, f.name);
  }
  for (const lang of ['en', 'zh'] as const) {
    for (const p of allOf(lang)) {
      lines += checkSolution(p);
      assert.ok(p.values.every((v) => Number.isInteger(v) && v > 0), `${p.id}: whole positive answers`);
      assert.deepEqual(checkAnswer(p.solution!, p), { ok: true, reason: 'correct', extracted: p.values });
      assert.equal(lastBoxed(p.solution!), p.answer);
    }
  }
  assert.ok(lines > 40000, `checked ${lines} lines`);
});

test('the solution checker itself rejects a wrong step', () => {
  const p = chickensRabbits.make(5, 'en', 0);
  const bad = { ...p, solution: p.solution!.replace(/^y=(\d+)\/2=(\d+)$/m, (_, a, b) => `y=${a}/2=${Number(b) + 1}`) };
  assert.notEqual(bad.solution, p.solution);
  assert.throws(() => checkSolution(bad), /is false/);
});

// ---- generation and split ----

test('generateProblems: train and test never share an id, over several seeds and fractions', () => {
  for (const testFraction of [0.2, 0.5]) {
    const train = new Set<string>(), tst = new Set<string>();
    for (let seed = 0; seed < 5; seed++) {
      for (const p of generateProblems({ n: 300, seed, split: 'train', testFraction })) train.add(p.id);
      for (const p of generateProblems({ n: 300, seed, split: 'test', testFraction })) tst.add(p.id);
    }
    assert.ok(train.size > 500 && tst.size > 200, `${train.size} / ${tst.size}`);
    assert.deepEqual([...train].filter((id) => tst.has(id)), []);
    for (const id of tst) assert.equal(splitOf(id, testFraction), 'test');
  }
  const ids = Object.values(FAMILIES).flatMap((f) => Array.from({ length: f.size }, (_, i) => f.idAt(i)));
  const share = ids.filter((id) => splitOf(id) === 'test').length / ids.length;
  assert.ok(share > 0.17 && share < 0.23, `test share ${share}`);
});

test('generateProblems: deterministic per seed, balanced over families, no duplicates', () => {
  const a = generateProblems({ n: 40, seed: 7, split: 'train', lang: 'en' });
  assert.deepEqual(generateProblems({ n: 40, seed: 7, split: 'train', lang: 'en' }), a);
  assert.notDeepEqual(generateProblems({ n: 40, seed: 8, split: 'train', lang: 'en' }).map((p) => p.id), a.map((p) => p.id));
  assert.equal(a.length, 40);
  assert.equal(new Set(a.map((p) => p.id)).size, 40);
  assert.ok(a.every((p) => p.lang === 'en'));
  const per = new Map<string, number>();
  for (const p of a) per.set(p.family, (per.get(p.family) ?? 0) + 1);
  assert.deepEqual([...per.values()], Array(Object.keys(FAMILIES).length).fill(40 / Object.keys(FAMILIES).length));
  const both = generateProblems({ n: 200, seed: 1, split: 'test', lang: 'both', families: ['ages'] });
  const keys = both.map((p) => `${p.id}/${p.lang}`);
  assert.equal(new Set(keys).size, keys.length, 'an id at most once per language');
  assert.ok(both.some((p) => p.lang === 'zh') && both.some((p) => p.lang === 'en'));
});

test('generateProblems: asking for more than exists returns what exists, once each', () => {
  const f = FAMILIES['work-rates']!;
  const inTest = Array.from({ length: f.size }, (_, i) => f.idAt(i)).filter((id) => splitOf(id) === 'test').length;
  const en = generateProblems({ families: ['work-rates'], n: 100000, seed: 3, split: 'test', lang: 'zh' });
  assert.equal(en.length, inTest);
  assert.equal(new Set(en.map((p) => p.id)).size, inTest);
  const both = generateProblems({ families: ['work-rates'], n: 100000, seed: 3, split: 'test', lang: 'both' });
  assert.equal(both.length, 2 * inTest);
  assert.deepEqual(generateProblems({ n: 0, seed: 0, split: 'train' }), []);
  assert.equal(generateProblems({ n: 10, seed: 0, split: 'test', testFraction: 0 }).length, 0);
});

test('generateProblems: bad options are refused with a clear error', () => {
  assert.throws(() => generateProblems({ families: ['nope'], n: 1, seed: 0, split: 'train' }), (e: unknown) =>
    e instanceof ConfigError && /unknown family 'nope'/.test(e.message) && /chickens-rabbits/.test(e.message));
  assert.throws(() => generateProblems({ n: -1, seed: 0, split: 'train' }), ConfigError);
  assert.throws(() => generateProblems({ n: 1, seed: 0, split: 'dev' as 'train' }), ConfigError);
  assert.throws(() => generateProblems({ n: 1, seed: 0, split: 'train', testFraction: 1.5 }), ConfigError);
});

test('mulberry32: reproducible uniform draws in [0, 1)', () => {
  const r = mulberry32(42), s = mulberry32(42);
  const xs = Array.from({ length: 10000 }, () => r());
  assert.deepEqual(Array.from({ length: 10000 }, () => s()), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
});

// ---- importers ----

const GSM8K = [
  JSON.stringify({ question: 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?', answer: 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72' }),
  '',
  JSON.stringify({ question: 'A company pays $1,000 a week. How much in 2 weeks?', answer: '1000*2=2000 hmm, plus bonus\n#### 2,000' }),
  JSON.stringify({ question: '温度从5度降了8度，现在是多少度？', answer: '5-8=-3\n#### -3' }),
].join('\n');

test('parseGsm8k: the number after ####, commas and signs, lang by CJK, stable ids', () => {
  const ps = parseGsm8k(GSM8K, 'gsm.jsonl');
  assert.deepEqual(ps.map((p) => [p.answer, p.values, p.lang, p.family]), [
    ['72', [72], 'en', 'gsm8k'], ['2,000', [2000], 'en', 'gsm8k'], ['-3', [-3], 'zh', 'gsm8k'],
  ]);
  assert.match(ps[0]!.id, /^gsm8k:[0-9a-f]{16}$/);
  assert.deepEqual(parseGsm8k(GSM8K.split('\n').reverse().join('\n')).map((p) => p.id).reverse(), ps.map((p) => p.id));
  assert.equal(parseGsm8k(`${GSM8K}\n${GSM8K}`).length, 3, 'a repeated question is kept once');
});

const MATH = [
  JSON.stringify({ problem: 'What is $\\frac{1}{2}+\\frac{1}{4}$?', solution: 'We get $\\frac{2}{4}+\\frac{1}{4}=\\boxed{\\frac{3}{4}}$.', level: 'Level 1' }),
  JSON.stringify({ problem: 'Simplify $\\sqrt{8}$.', solution: 'First \\boxed{4} is wrong; $\\sqrt{8}=\\boxed{2\\sqrt{2}}$.' }),
  JSON.stringify({ problem: 'Write the set.', solution: 'It is $\\boxed{\\left\\{ \\frac{1}{2}, \\{3\\} \\right\\}}$' }),
  JSON.stringify({ problem: 'How many?', solution: 'There are $\\boxed{10{,}000}$.' }),
];

test('parseMath: the last \\boxed{} with nested braces; numeric when it is a number, else text', () => {
  const ps = parseMath(MATH.join('\n'), 'math.jsonl');
  assert.deepEqual(ps.map((p) => [p.answer, p.values]), [
    ['\\frac{3}{4}', [0.75]],
    ['2\\sqrt{2}', []],
    ['\\left\\{ \\frac{1}{2}, \\{3\\} \\right\\}', []],
    ['10{,}000', [10000]],
  ]);
  assert.ok(ps.every((p) => p.family === 'math' && p.lang === 'en' && p.solution === undefined));
});

test('parseJsonl: numbers, numeric lists and text answers', () => {
  const text = [
    JSON.stringify({ question: 'q1', answer: 42 }),
    JSON.stringify({ question: 'q2', answer: '6, 4' }),
    JSON.stringify({ question: 'q3', answer: 'Paris' }),
    JSON.stringify({ question: 'q4', answer: 'so... #### 7' }),
  ].join('\r\n');
  assert.deepEqual(parseJsonl(text).map((p) => [p.answer, p.values, p.family]), [
    ['42', [42], 'jsonl'], ['6, 4', [6, 4], 'jsonl'], ['Paris', [], 'jsonl'], ['7', [7], 'jsonl'],
  ]);
});

test('importers: malformed lines throw FormatErrors naming the file and line', () => {
  const bad = (fn: () => unknown, ...patterns: RegExp[]) =>
    assert.throws(fn, (e: unknown) => e instanceof FormatError && patterns.every((p) => p.test((e as Error).message)));
  const good = JSON.stringify({ question: 'q', answer: '#### 1' });
  bad(() => parseGsm8k(`${good}\n\n{"question": "x", "answer": `, 'a.jsonl'), /a\.jsonl:3: malformed JSON/);
  bad(() => parseGsm8k(`${good}\n${JSON.stringify({ question: 'q2' })}`, 'a.jsonl'), /a\.jsonl:2: missing field 'answer'/);
  bad(() => parseGsm8k(JSON.stringify({ question: 'q', answer: 'no marker 5' }), 'b.jsonl'), /b\.jsonl:1: no extractable answer/);
  bad(() => parseGsm8k(JSON.stringify({ question: 'q', answer: '#### five' }), 'b.jsonl'), /b\.jsonl:1: no extractable answer/);
  bad(() => parseMath(`${MATH[0]}\n${JSON.stringify({ problem: 'p', solution: 'x = \\boxed{3' })}`, 'm.jsonl'), /m\.jsonl:2: no extractable answer/);
  bad(() => parseMath(JSON.stringify({ question: 'p', solution: '\\boxed{1}' }), 'm.jsonl'), /m\.jsonl:1: missing field 'problem'/);
  bad(() => parseJsonl('[1, 2]', 'c.jsonl'), /c\.jsonl:1: expected a JSON object/);
  bad(() => parseJsonl(JSON.stringify({ question: 'q', answer: '  ' }), 'c.jsonl'), /c\.jsonl:1: field 'answer' is empty/);
  bad(() => parseJsonl(JSON.stringify({ question: { t: 1 }, answer: 1 }), 'c.jsonl'), /c\.jsonl:1: field 'question' must be a string/);
});

test('importProblems: reads a file by format; a missing file is a clear error', () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'distill-reason-'));
  try {
    const path = join(dir, 'gsm.jsonl');
    fs.writeFileSync(path, GSM8K);
    assert.deepEqual(importProblems(path, 'gsm8k').map((p) => p.values[0]), [72, 2000, -3]);
    assert.throws(() => importProblems(join(dir, 'none.jsonl'), 'math'), (e: unknown) => e instanceof FormatError && /none\.jsonl/.test((e as Error).message));
    fs.writeFileSync(path, `${GSM8K}\nnot json`);
    assert.throws(() => importProblems(path, 'gsm8k'), new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: malformed JSON`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

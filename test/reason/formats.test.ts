// Trainer formats (messages / ShareGPT / Alpaca, reasoning inline or as a field), the train/eval
// n-gram contamination check, and the dataset card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { formatTrace, formatTraces, writeTraces, inlineThink, splitThink } from '../../src/reason/traces/formats.js';
import { findOverlap, assertNoOverlap, ngrams } from '../../src/reason/traces/overlap.js';
import { datasetCard } from '../../src/reason/traces/card.js';
import { generateProblems } from '../../src/reason/problems/index.js';
import type { Trace } from '../../src/reason/types.js';
import { ConfigError } from '../../src/torch/errors.js';

function trace(over: Partial<Trace> = {}): Trace {
  return {
    id: 'h1', problemId: 'chickens-rabbits:10:28', sample: 0,
    question: 'A cage holds 10 heads and 28 legs. How many chickens and rabbits?', answer: '6, 4',
    reasoning: 'x+y=10\n2x+4y=28', content: '\\boxed{6, 4}', finishReason: 'stop',
    usage: { promptTokens: 100, completionTokens: 50 }, model: 'teacher-a',
    verdict: { ok: true, reason: 'correct', extracted: [6, 4] }, createdAt: '2025-01-01T00:00:00Z',
    ...over,
  };
}
const T = trace();
const INLINE = '<think>\nx+y=10\n2x+4y=28\n</think>\n\\boxed{6, 4}';

test('formatTrace: the three formats with inline reasoning', () => {
  assert.equal(inlineThink(T.reasoning, T.content), INLINE);
  assert.deepEqual(formatTrace(T, { format: 'messages' }), {
    messages: [{ role: 'user', content: T.question }, { role: 'assistant', content: INLINE }],
  });
  assert.deepEqual(formatTrace(T, { format: 'sharegpt', reasoning: 'inline' }), {
    conversations: [{ from: 'human', value: T.question }, { from: 'gpt', value: INLINE }],
  });
  assert.deepEqual(formatTrace(T, { format: 'alpaca' }), { instruction: T.question, input: '', output: INLINE });
});

test('formatTrace: reasoning as a separate field, and a system prompt', () => {
  assert.deepEqual(formatTrace(T, { format: 'messages', reasoning: 'field', system: 'Be brief.' }), {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: T.question },
      { role: 'assistant', content: T.content, reasoning_content: T.reasoning },
    ],
  });
  assert.deepEqual(formatTrace(T, { format: 'sharegpt', reasoning: 'field' }), {
    conversations: [{ from: 'human', value: T.question }, { from: 'gpt', value: T.content }], reasoning: T.reasoning,
  });
  assert.deepEqual(formatTrace(T, { format: 'alpaca', reasoning: 'field', system: 'S' }), {
    instruction: T.question, input: '', output: T.content, system: 'S', reasoning: T.reasoning,
  });
  assert.throws(() => formatTrace(T, { format: 'csv' as 'alpaca' }), ConfigError);
});

test('splitThink inverts inlineThink, also for built-in reference solutions', () => {
  assert.deepEqual(splitThink(INLINE), { reasoning: T.reasoning, content: T.content });
  assert.deepEqual(splitThink('just text'), { reasoning: '', content: 'just text' });
  for (const p of generateProblems({ n: 20, seed: 0, split: 'train' })) {
    const s = splitThink(p.solution!);
    assert.equal(inlineThink(s.reasoning, s.content), p.solution);
    assert.equal(s.content, `\\boxed{${p.answer}}`);
  }
});

test('writeTraces: accepted traces only, one JSON per line, atomically written', () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'distill-formats-'));
  try {
    const path = join(dir, 'sft.jsonl');
    const bad = trace({ id: 'h2', verdict: { ok: false, reason: 'wrong-answer', extracted: [5, 5] } });
    const other = trace({ id: 'h3', question: '另一个问题', content: '\\boxed{1, 2}' });
    assert.equal(writeTraces(path, [T, bad, other], { format: 'messages' }), 2);
    const lines = fs.readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.deepEqual(lines.slice(0, 2).map((l) => JSON.parse(l).messages[0].content), [T.question, '另一个问题']);
    assert.deepEqual(fs.readdirSync(dir), ['sft.jsonl'], 'no temp file left');
    assert.equal(writeTraces(path, [T, bad], { format: 'alpaca', includeRejected: true }), 2);
    assert.equal(fs.readFileSync(path, 'utf8'), formatTraces([T, bad], { format: 'alpaca' }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- overlap ----

test('ngrams: word 8-grams, CJK char 13-grams, normalised, short texts whole', () => {
  const g = ngrams('One two three, four five six seven EIGHT nine!');
  assert.deepEqual([...g], ['one two three four five six seven eight', 'two three four five six seven eight nine']);
  assert.deepEqual([...ngrams('How many?')], ['how many']);
  const zh = ngrams('一个笼子里有鸡和兔，共有10个头，28条腿。');
  assert.ok(zh.has('一个笼子里有鸡和兔共有10'));
  assert.equal(zh.size, 19 - 13 + 1);
  assert.equal(ngrams('a b c', { wordN: 2 }).size, 2);
});

test('findOverlap: finds copied and lightly edited questions, ignores unrelated ones', () => {
  const evalSet = [
    { id: 'e1', question: 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.' },
    { id: 'e2', question: '一个笼子里有鸡和兔，共有10个头，28条腿。鸡和兔各有多少只？' },
    { id: 'chickens-rabbits:12:30', question: 'unrelated wording' },
  ];
  const train = [
    'Tom bought 3 apples and 4 pears at the market on Sunday morning.',
    'NATALIA sold clips to 48 of her friends in April; then she sold half as many in June!',
    '农场里有鸡和兔，一个笼子里有鸡和兔，共有10个头，28条腿，问各多少。',
    { id: 'chickens-rabbits:12:30', question: '笼中鸡兔共12只' },
  ];
  const pairs = findOverlap(train, evalSet);
  assert.deepEqual(pairs.map((p) => [p.train, p.eval, p.kind]), [[1, 0, 'ngram'], [2, 1, 'ngram'], [3, 2, 'id']]);
  assert.equal(pairs[0]!.match, 'natalia sold clips to 48 of her friends');
  assert.equal(pairs[0]!.evalId, 'e1');
  assert.deepEqual(findOverlap(train.slice(0, 1), evalSet), []);
  assert.deepEqual(findOverlap(['sold clips to 48 of her'], evalSet, { wordN: 5 }).map((p) => p.eval), [0]);
  assert.throws(() => findOverlap([], [], { wordN: 0 }), ConfigError);
});

test('assertNoOverlap: refuses a contaminated split, naming the pairs', () => {
  const evalSet = generateProblems({ n: 50, seed: 0, split: 'test', lang: 'en' });
  const train = generateProblems({ n: 200, seed: 0, split: 'train', lang: 'both' });
  assertNoOverlap(train, evalSet);
  // Built-in wording is templated: as bare strings the same problems share n-grams everywhere,
  // which is why built-in items are compared by id only.
  assert.ok(findOverlap(train.map((p) => p.question), evalSet.map((p) => p.question)).length > 0);
  const leaked = [...train, { ...evalSet[3]!, lang: 'zh' as const, question: '换一种说法' }];
  assert.throws(() => assertNoOverlap(leaked, evalSet), (e: unknown) =>
    e instanceof ConfigError && /contaminated split: 1 train\/eval pair/.test(e.message) && e.message.includes(evalSet[3]!.id));
});

// ---- card ----

test('datasetCard: counts, acceptance, rejection histogram, tokens, cost and models', () => {
  const traces = [
    trace(),
    trace({ id: 'b', sample: 1, verdict: { ok: false, reason: 'wrong-answer', extracted: [1, 2] } }),
    trace({ id: 'c', sample: 2, verdict: { ok: false, reason: 'repetitive', extracted: [6, 4] } }),
    trace({ id: 'd', problemId: 'ages:3:5:50', model: 'teacher-b', verdict: { ok: false, reason: 'wrong-answer', extracted: [1] } }),
    trace({ id: 'e', problemId: 'ages:3:5:50', model: 'teacher-b', usage: { promptTokens: 1000, completionTokens: 2000 } }),
  ];
  const { json, markdown } = datasetCard(traces, { name: 'cr-demo', pricePerMTokens: { prompt: 1, completion: 4 } });
  assert.deepEqual({ ...json, acceptanceRate: undefined }, {
    name: 'cr-demo', problems: 2, problemsSolved: 2, samples: 5, accepted: 2, acceptanceRate: undefined,
    rejections: { 'wrong-answer': 2, repetitive: 1 },
    promptTokens: 1400, completionTokens: 2200, acceptedCompletionTokens: 2050,
    cost: (1400 * 1 + 2200 * 4) / 1e6, price: { prompt: 1, completion: 4 },
    models: [{ name: 'teacher-a', samples: 3, accepted: 1 }, { name: 'teacher-b', samples: 2, accepted: 1 }],
  });
  assert.equal(json.acceptanceRate, 0.4);
  assert.deepEqual(Object.keys(json.rejections), ['wrong-answer', 'repetitive']);
  assert.match(markdown, /^# Dataset card: cr-demo$/m);
  assert.match(markdown, /\| Accepted \| 2 \(40\.0%\) \|/);
  assert.match(markdown, /\| wrong-answer \| 2 \| 40\.0% \|/);
  assert.match(markdown, /\$0\.0102 at \$1 \/ \$4 per 1M/);
  assert.match(markdown, /teacher-a \(1\/3 accepted\), teacher-b \(1\/2 accepted\)/);
  const flat = datasetCard(traces, { pricePerMTokens: 2 }).json;
  assert.equal(flat.cost, (3600 * 2) / 1e6);
  const none = datasetCard([]);
  assert.deepEqual([none.json.samples, none.json.acceptanceRate, none.json.cost], [0, 0, null]);
  assert.match(none.markdown, /n\/a \(no price given\)/);
  assert.match(none.markdown, /## Rejections\n\nNone\./);
});

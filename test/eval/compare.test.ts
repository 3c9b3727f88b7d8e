// compareModels end to end on three small models, and the table it feeds: terminal text,
// Markdown, and the comparison.md / comparison.json files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import {
  compareModels, formatTable, tableMarkdown, writeComparison, countParameters, modelFileBytes, predictLabels,
  agreement, accuracy, formatCount, formatBytes, formatMs, formatPercent, formatRate, type ComparisonRow, type CompareOptions,
} from '../../src/eval/index.js';
import { mlp, copyOf, live } from './fixtures.js';

const tensorsBefore = live();
torch.manualSeed(3);
const teacher = mlp([784, 64, 10]);
const copy = copyOf(teacher, () => mlp([784, 64, 10]));
const baseline = mlp([784, 16, 10]);
const x = torch.randn([300, 784]);
// Labels = the teacher's own predictions on 2/3 of the samples and a shifted class on the rest,
// so the teacher's accuracy is exactly 2/3 and everything else is checked against accuracy().
const y = torch.tidy(() => {
  const t = predictLabels(teacher, x);
  return torch.tensor(Array.from(t, (c, i) => (i % 3 === 2 ? (c + 1) % 10 : c)), { dtype: 'int64' });
});
const FAST: CompareOptions = { latency: { warmup: 2, iters: 20 }, throughput: { iters: 2, warmup: 0 }, memory: { batch: 64 } };

const entries = [
  { name: 'teacher', role: 'teacher', model: teacher },
  { name: 'baseline', role: 'baseline', model: baseline },
  { name: 'teacher copy', role: 'student', model: copy },
];

let rows: ComparisonRow[];

test('compareModels: one row per model, in order, measured', () => {
  for (const e of entries) e.model.train();
  const base = live();
  const messages: string[] = [];
  rows = compareModels(entries, { x, y }, { ...FAST, onProgress: (m) => messages.push(m) });
  assert.equal(live(), base, 'no tensor leaks');
  assert.deepEqual(rows.map((r) => [r.name, r.role]), entries.map((e) => [e.name, e.role]));

  rows.forEach((r, i) => {
    const m = entries[i].model;
    assert.equal(r.params, countParameters(m).parameters);
    assert.equal(r.fileBytes, modelFileBytes(m));
    assert.equal(r.accuracy, accuracy(m, x, y));
    assert.ok(r.latencyP50Ms > 0 && r.latencyP50Ms <= r.latencyP95Ms, JSON.stringify(r));
    assert.ok(r.throughputPerS > 0 && Number.isFinite(r.throughputPerS));
    assert.ok(r.peakMemoryBytes > 4 * r.params, 'weights + input + activations');
    assert.ok(m.modules().every((mod) => mod.training), `${r.name}: train mode restored`);
  });
  assert.ok(Math.abs(rows[0].accuracy - 2 / 3) < 1e-12);
  assert.equal(rows[0].agreementWithTeacher, null, 'the teacher is not compared with itself');
  assert.equal(rows[2].agreementWithTeacher, 1, 'an identical copy agrees everywhere');
  assert.equal(rows[2].accuracy, rows[0].accuracy);
  const expected = agreement(predictLabels(baseline, x), predictLabels(teacher, x));
  assert.equal(rows[1].agreementWithTeacher, expected);
  assert.ok(expected < 1, 'an untrained baseline does not match the teacher everywhere');
  assert.ok(rows[0].params > rows[1].params && rows[0].fileBytes > rows[1].fileBytes);

  for (const name of ['teacher', 'baseline', 'teacher copy']) assert.ok(messages.some((m) => m.includes(name)), `progress for ${name}`);
  assert.equal(messages.at(-1), 'done');
});

test('compareModels without a teacher gives no agreement; bad data is an error', () => {
  const r = compareModels([{ name: 'b', role: 'baseline', model: baseline }], { x, y }, FAST);
  assert.equal(r[0].agreementWithTeacher, null);
  assert.throws(() => compareModels([], { x, y }), /no models/);
  const short = torch.tensor([1, 2], { dtype: 'int64' });
  assert.throws(() => compareModels(entries, { x, y: short }), /same N/);
  short.dispose();
});

test('human units', () => {
  assert.equal(formatCount(950), '950');
  assert.equal(formatCount(101_770), '101.8k');
  assert.equal(formatCount(1_234_567), '1.2M');
  assert.equal(formatBytes(812), '812 B');
  assert.equal(formatBytes(4_600_000), '4.6 MB');
  assert.equal(formatMs(0.2134), '0.21 ms');
  assert.equal(formatMs(12.34), '12.3 ms');
  assert.equal(formatMs(0.0123), '0.012 ms');
  assert.equal(formatPercent(0.9312), '93.1%');
  assert.equal(formatPercent(null), '—');
  assert.equal(formatRate(12_345), '12.3k/s');
});

/** Every figure of a row as the table prints it. */
const cellsOf = (r: ComparisonRow) => [
  r.name, r.role, formatCount(r.params), formatBytes(r.fileBytes), formatMs(r.latencyP50Ms), formatMs(r.latencyP95Ms),
  formatRate(r.throughputPerS), formatBytes(r.peakMemoryBytes), formatPercent(r.accuracy), formatPercent(r.agreementWithTeacher),
];

test('formatTable: aligned lines holding every row’s values', () => {
  const text = formatTable(rows);
  const lines = text.split('\n');
  assert.equal(lines.length, rows.length + 2, 'header, rule, one line per row');
  assert.ok(lines.every((l) => l.length === lines[0].length), `aligned:\n${text}`);
  rows.forEach((r, i) => {
    for (const cell of cellsOf(r)) assert.ok(lines[i + 2].includes(cell), `row ${r.name} shows ${cell}:\n${text}`);
  });
});

test('tableMarkdown: a GFM table holding every row’s values; pipes in names are escaped', () => {
  const text = tableMarkdown(rows);
  const lines = text.split('\n');
  assert.equal(lines.length, rows.length + 2);
  assert.match(lines[1], /^\| :--- \| :--- \| ---: /);
  rows.forEach((r, i) => {
    const cells = lines[i + 2].slice(2, -2).split(' | ');
    assert.deepEqual(cells, cellsOf(r));
  });
  const odd = tableMarkdown([{ ...rows[0], name: 'a|b' }]);
  assert.ok(odd.includes('a\\|b'));
});

test('writeComparison writes comparison.json equal to the rows and comparison.md with the table', () => {
  const dir = join(fs.mkdtempSync(join(os.tmpdir(), 'distill-eval-cmp-')), 'nested', 'out');
  try {
    const { markdownPath, jsonPath } = writeComparison(dir, rows);
    assert.equal(jsonPath, join(dir, 'comparison.json'));
    assert.deepEqual(JSON.parse(fs.readFileSync(jsonPath, 'utf8')), rows);
    const md = fs.readFileSync(markdownPath, 'utf8');
    assert.ok(md.startsWith(`${tableMarkdown(rows)}\n`));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['comparison.json', 'comparison.md'], 'no temp files left');
    // a second write replaces both
    writeComparison(dir, rows.slice(0, 1));
    assert.equal(JSON.parse(fs.readFileSync(jsonPath, 'utf8')).length, 1);
  } finally {
    fs.rmSync(join(dir, '..', '..'), { recursive: true, force: true });
  }
});

// Teardown, a hook rather than a test: it runs after every test (even when one fails), checks
// that everything the file made is freed, and a failure here is reported as the hook's.
after(() => {
  for (const t of [x, y]) t.dispose();
  for (const e of entries) e.model.dispose();
  assert.equal(live(), tensorsBefore, 'every tensor this file made is freed');
});

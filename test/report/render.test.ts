// The report's render half on hand-made data, without models: exact numbers in the
// comparison table, the temperature chart's softmax, escaping, and sections that are
// omitted when their data is absent. Also the run-folder readers and the static charts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  renderRunReport, chartData, chartSvgs, softenAt, perClassDelta, readTrainingCurve, readTraces,
  type RunReportData, type ChartData,
} from '../../src/report/index.js';
import type { ComparisonRow } from '../../src/eval/index.js';

const ASSETS = { js: 'window.uPlot = function () {};', css: '.uplot {}' };

// Awkward doubles on purpose: the attributes must give them back exactly.
const rows: ComparisonRow[] = [
  { name: 'teacher (cnn)', role: 'teacher', params: 824_490, fileBytes: 3_298_312, latencyP50Ms: 0.39012345678901234, latencyP95Ms: 0.1 + 0.2, throughputPerS: 4_912.333333333333, peakMemoryBytes: 94_812_160, accuracy: 0.9181, agreementWithTeacher: null },
  { name: 'baseline (mlp:128,128)', role: 'baseline', params: 118_282, fileBytes: 473_600, latencyP50Ms: 1e-7, latencyP95Ms: 0.026, throughputPerS: 765_432.1, peakMemoryBytes: 2_600_000, accuracy: 1 / 3, agreementWithTeacher: 0.9099999999999999 },
  { name: 'distilled <"s"> & co', role: 'student', params: 118_282, fileBytes: 473_600, latencyP50Ms: 0.02, latencyP95Ms: 0.022, throughputPerS: 771_700, peakMemoryBytes: 2_600_000, accuracy: 0.8891, agreementWithTeacher: 0.926 },
];
const logits = [2.5, 1.9, -1, 0.3, -3.2];
const full: RunReportData = {
  title: 'run <x>',
  runDir: '/runs/x',
  generatedAt: '2025-01-01T00:00:00.000Z',
  dataset: 'toy',
  numClasses: 5,
  classNames: ['zero', 'one', '</script><b>two</b>', 'three', 'four'],
  settings: { teacher: 'cnn', T: '4' },
  comparison: rows,
  temperature: { index: 7, label: 0, predicted: 0, why: 'hand-made', logits, temperatures: [1, 2, 4, 10, 20], image: { width: 4, height: 3, pixels: [0, 0.5, 1, 0, 0, 1, 1, 0, 0, 0.2, 0, 0] } },
  curves: {
    student: {
      steps: [1, 2, 3].map((s) => ({ step: s * 10, epoch: s - 1, loss: 1 / s, parts: { hinton: 1 / s, 'hinton.hard': 2 / s, 'hinton.soft': 0.5 / s } })),
      epochs: [0.5, 0.6, 0.7].map((v, e) => ({ epoch: e, loss: 1, valAccuracy: v, teacherAgreement: 0.6 })),
    },
    baseline: { steps: [], epochs: [0.55, 0.65].map((v, e) => ({ epoch: e, loss: 1, valAccuracy: v, teacherAgreement: null })) },
    teacher: { accuracy: 0.9, split: 'val' },
  },
  errors: { confusion: [[5, 1, 0, 0, 0], [0, 4, 2, 0, 0], [0, 0, 3, 0, 0], [1, 0, 0, 2, 0], [0, 0, 0, 0, 0]], perClass: { student: [5 / 6, 4 / 6, 1, 2 / 3, null], baseline: [1, 0.5, 1, 1 / 3, null] } },
};

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const embedded = (html: string): ChartData => JSON.parse(/<script type="application\/json" id="report-data">([^]*?)<\/script>/.exec(html)![1]) as ChartData;
/** The comparison table's cells as { role: { field: raw attribute } }. */
function tableCells(html: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  const table = /<table class="comparison">([^]*?)<\/table>/.exec(html)![1];
  for (const [, role, cells] of table.matchAll(/<tr data-role="([^"]*)">([^]*?)<\/tr>/g)) {
    out[unescape(role)] = Object.fromEntries([...cells.matchAll(/data-field="(\w+)" data-value="([^"]*)"/g)].map(([, f, v]) => [f, unescape(v)]));
  }
  return out;
}

test('every comparison value is in a data-value attribute equal to the input', () => {
  const cells = tableCells(renderRunReport(full, { assets: ASSETS }));
  assert.deepEqual(Object.keys(cells), ['teacher', 'baseline', 'student']);
  for (const row of rows) {
    const c = cells[row.role];
    assert.equal(c.name, row.name);
    for (const f of ['params', 'fileBytes', 'latencyP50Ms', 'latencyP95Ms', 'throughputPerS', 'peakMemoryBytes', 'accuracy', 'agreementWithTeacher'] as const) {
      const v = row[f];
      if (v === null) assert.equal(c[f], 'null', `${row.role}.${f}`);
      else assert.equal(Number(c[f]), v, `${row.role}.${f}`);
    }
  }
});

test('the temperature chart at T = 1 is softmax(logits), and entropy grows with T', () => {
  const t = embedded(renderRunReport(full, { assets: ASSETS })).temperature!;
  assert.deepEqual(t.series.map((s) => s.T), [1, 2, 4, 10, 20]);
  assert.deepEqual(t.logits, logits);
  const e = logits.map(Math.exp), z = e.reduce((a, b) => a + b);
  t.series[0].probs.forEach((p, i) => assert.ok(Math.abs(p - e[i] / z) < 1e-12, `p${i}`));
  for (const s of t.series) {
    assert.ok(Math.abs(s.probs.reduce((a, b) => a + b) - 1) < 1e-12);
    assert.ok(Math.abs(s.entropy + s.probs.reduce((a, p) => a + p * Math.log(p), 0)) < 1e-12, `H at T=${s.T}`);
  }
  for (let i = 1; i < t.series.length; i++) assert.ok(t.series[i].entropy > t.series[i - 1].entropy, `H(T=${t.series[i].T}) > H(T=${t.series[i - 1].T})`);
  assert.ok(t.series.at(-1)!.entropy < Math.log(logits.length));
  // Stable where a naive exp would overflow, and exact where a probability underflows.
  const big = softenAt([1000, 999, -1000], 1);
  assert.ok(Math.abs(big.probs[0] - 1 / (1 + Math.exp(-1))) < 1e-12 && big.probs[2] === 0 && Number.isFinite(big.entropy));
  assert.throws(() => softenAt([1, 2], 0), /temperature must be > 0/);
});

test('class names, titles and run names are escaped, and the data block survives a </script> in a name', () => {
  const html = renderRunReport(full, { assets: ASSETS });
  assert.ok(!html.includes('<b>two</b>') && html.includes('&lt;/script&gt;&lt;b&gt;two&lt;/b&gt;'));
  assert.ok(html.includes('<title>run &lt;x&gt;</title>'));
  assert.equal(embedded(html).temperature!.classes[2], '</script><b>two</b>');
  assert.equal((html.match(/<script/g) ?? []).length, 3, 'data, uPlot, page script');
  assert.doesNotMatch(html, /<script[^>]+src=|<link /, 'nothing loaded from elsewhere');
});

test('every section of a full report is there; missing optional sections are omitted', () => {
  const html = renderRunReport(full, { assets: ASSETS });
  for (const id of ['comparison', 'temperature', 'curves', 'errors', 'chart-temperature', 'chart-loss', 'chart-accuracy']) assert.ok(html.includes(`id="${id}"`), id);
  assert.ok(!html.includes('id="traces"'), 'no traces.jsonl, no traces section');
  assert.ok(html.includes('class="example-image"'), 'the example image');
  assert.match(unescape(html), /KD helped most on 'three' \(\+33\.3 points\) and hurt most on 'zero' \(−16\.7 points\)/);
  assert.match(html, /closing \d+% of the teacher–baseline gap/);

  const bare: RunReportData = { title: 'bare', runDir: '/r', generatedAt: 'now' };
  const b = renderRunReport(bare, { assets: ASSETS });
  for (const id of ['comparison', 'temperature', 'curves', 'errors', 'traces', 'chart-temperature', 'chart-loss', 'chart-accuracy']) assert.ok(!b.includes(`id="${id}"`), id);
  assert.deepEqual(embedded(b), {});
  assert.deepEqual(chartSvgs(bare), {});

  // Curves without a baseline or teacher: only the student's lines; tabular input: no image.
  const partial: RunReportData = { ...bare, curves: { student: full.curves!.student }, temperature: { ...full.temperature!, image: undefined } };
  const p = renderRunReport(partial, { assets: ASSETS });
  assert.deepEqual(embedded(p).accuracy!.series.map((s) => s.name), ['distilled student']);
  assert.ok(!p.includes('class="example-image"') && !p.includes('id="errors"') && !p.includes('id="comparison"'));
});

test('the loss chart shows the total and the distinct parts, with the T²·KL part named', () => {
  const loss = chartData(full).loss!;
  assert.deepEqual(loss.x, [10, 20, 30]);
  // 'hinton' equals the total at every step, so it is not drawn twice.
  assert.deepEqual(loss.series.map((s) => s.name), ['total loss', 'hard CE (hinton.hard)', 'T²·KL (hinton.soft)']);
  const acc = chartData(full).accuracy!;
  assert.deepEqual(acc.x, [1, 2, 3]);
  assert.deepEqual(acc.series.map((s) => s.values), [[0.5, 0.6, 0.7], [0.55, 0.65, null], [0.9, 0.9, 0.9]]);
  assert.equal(acc.series[2].name, 'teacher (val)');
});

test('a reasoning run shows verified and rejected traces with the student answer, escaped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distill-traces-'));
  try {
    const lines = [
      { question: 'What is 2+2?', trace: 'Two plus two <is> four.', answer: '4', expected: '4', verified: true, studentAnswer: '4' },
      { prompt: 'What is 3*3?', reasoning: '3*3 = 6', answer: '6', reference: '9', accepted: false, student_answer: '9' },
      ...Array.from({ length: 5 }, (_, i) => ({ question: `q${i}`, trace: 't', verified: true })),
    ];
    writeFileSync(join(dir, 'traces.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"question": "cut off');
    const traces = readTraces(dir)!;
    assert.deepEqual(traces.counts, { verified: 6, rejected: 1 });
    assert.equal(traces.verified.length, 3, 'a few of each kind');
    assert.equal(traces.rejected[0].studentAnswer, '9');
    const html = renderRunReport({ title: 't', runDir: dir, generatedAt: 'now', traces }, { assets: ASSETS });
    assert.ok(html.includes('id="traces"'));
    assert.ok(html.includes('Two plus two &lt;is&gt; four.'));
    assert.match(html, /6 verified traces kept for fine-tuning, 1 rejected/);
    assert.equal(readTraces(join(dir, 'nothing')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metrics.jsonl: a resumed run logs an epoch twice (last wins) and a cut-off line is skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distill-metrics-'));
  try {
    mkdirSync(join(dir, 'student'));
    const p = join(dir, 'student', 'metrics.jsonl');
    const step = (s: number, loss: number) => JSON.stringify({ type: 'step', epoch: 0, step: s, stepInEpoch: s, stepsPerEpoch: 2, loss, parts: { a: loss } });
    const epoch = (e: number, acc: number) => JSON.stringify({ type: 'epoch', epoch: e, loss: 1, parts: {}, valAccuracy: acc, teacherAgreement: null, lr: 1e-3, T: 4, alpha: 0.1, seconds: 1 });
    writeFileSync(p, [step(1, 3), step(2, 2), epoch(0, 0.5), step(1, 3), step(2, 2.5), epoch(0, 0.6), '{"type":"ep'].join('\n'));
    const c = readTrainingCurve(p)!;
    assert.deepEqual(c.steps.map((s) => [s.step, s.loss]), [[1, 3], [2, 2.5]]);
    assert.deepEqual(c.epochs.map((e) => e.valAccuracy), [0.6]);
    assert.equal(readTrainingCurve(join(dir, 'none.jsonl')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-class differences sort the largest gain first and skip empty classes', () => {
  const d = perClassDelta([0.9, null, 0.5, 0.8], [0.8, null, 0.7, 0.8]);
  assert.deepEqual(d.map((x) => x.cls), [0, 3, 2]);
  assert.ok(Math.abs(d[0].delta - 0.1) < 1e-12 && Math.abs(d[2].delta + 0.2) < 1e-12);
});

test('the static SVG charts: one per chart, five temperature bars per class, escaped names', () => {
  const svgs = chartSvgs(full);
  assert.deepEqual(Object.keys(svgs).sort(), ['accuracy.svg', 'confusion.svg', 'loss.svg', 'temperature.svg']);
  for (const [name, svg] of Object.entries(svgs)) assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>\n$/, name);
  const bars = svgs['temperature.svg'].match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#[0-9a-f]{6}"><title>/g) ?? [];
  assert.equal(bars.length, 5 * logits.length);
  assert.ok(svgs['temperature.svg'].includes('class="example-image"'));
  assert.ok(!svgs['confusion.svg'].includes('<b>two</b>'));
});

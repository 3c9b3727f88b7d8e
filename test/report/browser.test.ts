// A real report from a tiny real run (the CLI's demo on the bundled digits writes it),
// rebuilt by `runReport`, cross-checked against the models, and opened in Debian's
// chromium through playwright-core: charts drawn, table equal to comparison.json, no
// errors, nothing fetched but the file itself. The screenshot lands in test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { softenAt, type ChartData } from '../../src/report/index.js';
import type { ComparisonRow } from '../../src/eval/index.js';
import { runReport } from '../../src/cli/cmd_report.js';
import { openRunFolder } from '../../src/cli/run_folder.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const CHROMIUM = process.env.DISTILL_CHROMIUM ?? '/usr/bin/chromium';
const work = mkdtempSync(join(tmpdir(), 'distill-report-'));
const env = { ...process.env, DISTILL_CACHE: join(work, 'cache'), NO_COLOR: '1' };
const tiny = ['--set', 'data.dataset=mnist-digits', 'teacher.arch=mlp:64', 'teacher.train.epochs=2', 'student.arch=mlp:32', 'student.train.epochs=2', 'threads=1'];

test.after(() => rmSync(work, { recursive: true, force: true }));

const embedded = (html: string): ChartData => JSON.parse(/<script type="application\/json" id="report-data">([^]*?)<\/script>/.exec(html)![1]) as ChartData;
const FIELDS = ['params', 'fileBytes', 'latencyP50Ms', 'latencyP95Ms', 'throughputPerS', 'peakMemoryBytes', 'accuracy', 'agreementWithTeacher'] as const;

test('a tiny real run: demo writes the report, runReport rebuilds it, chromium renders it offline', { timeout: 180_000 }, async () => {
  // 1. The demo writes report.html and charts/*.svg, and names the report in its JSON.
  const r = spawnSync(process.execPath, [CLI, 'demo', '--json', '--name', 'rep', ...tiny], { cwd: work, env, encoding: 'utf8', timeout: 150_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runDir: string; report: string; rows: ComparisonRow[] };
  const run = out.runDir;
  assert.equal(out.report, join(run, 'report.html'));
  for (const f of ['temperature', 'loss', 'accuracy', 'confusion']) assert.match(readFileSync(join(run, 'charts', `${f}.svg`), 'utf8'), /^<svg /, f);
  const fromDemo = embedded(readFileSync(out.report, 'utf8'));
  const comparison = JSON.parse(readFileSync(join(run, 'comparison.json'), 'utf8')) as ComparisonRow[];

  // 2. Rebuilt from the folder alone (in this process, as `distill report` runs), the same data.
  process.env.DISTILL_CACHE = env.DISTILL_CACHE;
  const log = console.log;
  console.log = () => {}; // runReport prints the path; keep the TAP stream clean
  try {
    assert.equal(await runReport(run, { json: true }), 0);
  } finally {
    console.log = log;
  }
  const html = readFileSync(out.report, 'utf8');
  assert.deepEqual(embedded(html), fromDemo, 'runReport rebuilds the same models and picks the same example');

  // 3. Against the models themselves: the example's logits are the teacher's, the softened
  //    probabilities are kd.softTargets', and the confusion matrix's diagonal is the student's accuracy.
  const { d, models: loaded } = openRunFolder(run, { json: true });
  const models = { teacher: loaded.teacher?.model, baseline: loaded.baseline?.model, student: loaded.student?.model };
  const t = fromDemo.temperature!;
  torch.tidy(() => {
    // The same batching as the report: BLAS may round a lone row differently from a batch.
    const z = kd.computeLogits(models.teacher!, d.test.x, 512).narrow(0, t.index, 1); // (1, C)
    assert.deepEqual(t.logits, Array.from(z.dataSync() as Float32Array));
    for (const s of t.series) {
      const p = kd.softTargets(z, s.T).dataSync() as Float32Array;
      s.probs.forEach((v, i) => assert.ok(Math.abs(v - p[i]) < 1e-6, `T=${s.T} p${i}: ${v} vs ${p[i]}`));
      assert.ok(Math.abs(s.entropy - kd.entropyAtT(z, s.T).item()) < 1e-5, `H at T=${s.T}`);
      assert.deepEqual(softenAt(t.logits, s.T).probs, s.probs);
    }
  });
  const cells = [...html.matchAll(/<table class="confusion">([^]*?)<\/table>/g)][0][1];
  const rowsOfCells = [...cells.matchAll(/<tr><th>[^<]*<\/th>((?:<td data-value="\d+"[^>]*>[^<]*<\/td>)+)/g)].map((m) => [...m[1].matchAll(/data-value="(\d+)"/g)].map((v) => Number(v[1])));
  assert.equal(rowsOfCells.length, d.numClasses);
  const n = rowsOfCells.flat().reduce((a, b) => a + b, 0), diag = rowsOfCells.reduce((a, row, i) => a + row[i], 0);
  assert.equal(n, d.test.y.shape[0]);
  assert.equal(diag / n, comparison.find((c) => c.role === 'student')!.accuracy);

  // 4. In the browser.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const blocked: string[] = [], requests: string[] = [], problems: string[] = [];
    await context.route((url) => url.protocol !== 'file:', (route) => {
      blocked.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    page.on('request', (q) => requests.push(q.url()));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(pathToFileURL(out.report).href, { waitUntil: 'load' });
    // Page code is passed as strings: the project compiles without the DOM's types.
    await page.waitForFunction(`document.querySelectorAll('.uplot canvas').length >= 3`);
    const canvases = await page.evaluate(`[...document.querySelectorAll('.uplot canvas')].map((c) => {
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
      return { id: c.closest('.chart')?.id, w: c.width, h: c.height, inked };
    })`) as { id: string; w: number; h: number; inked: number }[];
    assert.deepEqual(canvases.map((c) => c.id), ['chart-temperature', 'chart-loss', 'chart-accuracy']);
    for (const c of canvases) assert.ok(c.w > 0 && c.h > 0 && c.inked > 1000, `${c.id} drawn: ${JSON.stringify(c)}`);

    const temp = await page.evaluate(`(() => {
      const u = window.distillCharts.temperature;
      return { labels: u.series.slice(1).map((s) => s.label), groups: u.data[0].length, legend: document.querySelectorAll('#chart-temperature .u-legend .u-series').length };
    })()`) as { labels: string[]; groups: number; legend: number };
    assert.equal(temp.labels.length, 5);
    assert.deepEqual(temp.labels.map((l) => l.split(' ')[0]), ['T=1', 'T=2', 'T=4', 'T=10', 'T=20']);
    assert.equal(temp.groups, d.numClasses);
    assert.equal(temp.legend, 6, 'x plus five temperatures in the legend');

    const table = await page.evaluate(`[...document.querySelectorAll('table.comparison tbody tr')].map((tr) => ({
      role: tr.getAttribute('data-role'),
      cells: Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map((td) => [td.getAttribute('data-field'), td.getAttribute('data-value')])),
    }))`) as { role: string; cells: Record<string, string> }[];
    assert.deepEqual(table.map((x) => x.role), comparison.map((c) => c.role));
    table.forEach((x, i) => {
      assert.equal(x.cells.name, comparison[i].name);
      for (const f of FIELDS) {
        const v = comparison[i][f];
        assert.equal(v === null ? x.cells[f] : Number(x.cells[f]), v === null ? 'null' : v, `${x.role}.${f}`);
      }
    });
    assert.equal(await page.locator('#traces').count(), 0, 'no traces.jsonl, no section');
    assert.equal(await page.locator('#temperature svg.example-image').count(), 1);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    assert.deepEqual(problems, []);
    assert.deepEqual(blocked, []);
    assert.deepEqual(requests.filter((u) => !u.startsWith('file://')), []);
    assert.ok(existsSync(join(ARTIFACTS, 'report.png')));
  } finally {
    await browser.close();
  }
});

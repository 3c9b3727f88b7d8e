// The browser bundles (scripts/build-browser.mjs: src/*/browser/ → dist/browser/*.js, esbuild):
// they exist, are what esbuild makes of the sources now (the oracle: a fresh in-memory build),
// are self-contained classic scripts, and each page inlines one verbatim with a CSP hash of
// exactly that text. A package copy without dist/browser/ refuses to write a page, naming the fix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { build } from 'esbuild';
import { BROWSER_DIR, readBrowserBundle } from '../../src/io/browser_bundle.js';
import { DistillError } from '../../src/torch/errors.js';
import { writeWebPage } from '../../src/export/web_page.js';
import { pageCsp } from '../../src/export/serve_static.js';
import { renderPage } from '../../src/serve/page.js';
import { renderRunReport } from '../../src/report/render.js';
import type { MetricLine as ServerLine, RunInfo as ServerRun } from '../../src/serve/runs.js';
import type { MetricLine, RunsAnswer } from '../../src/serve/dashboard_api.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUNDLES = { 'export-page': 'src/export/browser/export_page.ts', dashboard: 'src/serve/browser/dashboard.ts', 'report-page': 'src/report/browser/report_page.ts' } as const;
const work = mkdtempSync(join(tmpdir(), 'distill-bundles-'));
after(() => rmSync(work, { recursive: true, force: true }));

// Compile-time: what the server sends still has every field the page reads, with its type.
const serverLineFits: [ServerLine] extends [MetricLine] ? true : false = true;
const serverRunsFit: [{ runsDir: string; runs: ServerRun[] }] extends [RunsAnswer] ? true : false = true;
const sha = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

test('dist/browser holds every bundle, as esbuild builds them from src/*/browser/ now', async () => {
  assert.ok(serverLineFits && serverRunsFit);
  assert.equal(BROWSER_DIR, join(ROOT, 'dist', 'browser') + '/');
  for (const [name, entry] of Object.entries(BUNDLES)) {
    const path = join(BROWSER_DIR, `${name}.js`);
    assert.ok(existsSync(path), `${path}: run npm run build`);
    const built = readFileSync(path, 'utf8');
    // The same options as scripts/build-browser.mjs, in memory: a stale bundle differs.
    const fresh = await build({
      absWorkingDir: ROOT, entryPoints: [entry], bundle: true, format: 'iife', platform: 'browser', target: 'es2020',
      minify: false, charset: 'utf8', write: false, logLevel: 'silent',
      banner: { js: '// Built by scripts/build-browser.mjs from src/*/browser/; edit those, not this.' },
    });
    assert.equal(built, fresh.outputFiles[0].text, `${name}.js is stale: run npm run build`);
    // A classic script (it parses as one) with nothing left to resolve at run time.
    assert.doesNotThrow(() => new Script(built, { filename: path }));
    assert.doesNotMatch(built, /\brequire\(|^\s*(import|export)\b|\bimport\(/m);
    assert.match(built, new RegExp(`// ${entry.replace(/\./g, '\\.')}\\n`), 'the entry is in the bundle');
    assert.equal(readBrowserBundle(name as keyof typeof BUNDLES), built, 'no </script to escape');
  }
});

test('the dashboard inlines its bundle verbatim and its CSP allows exactly that text', () => {
  const bundle = readFileSync(join(BROWSER_DIR, 'dashboard.js'), 'utf8');
  const { html, csp } = renderPage();
  assert.ok(html.includes(`<script>${bundle}</script>`));
  const scriptSrc = csp.split('; ').find((d) => d.startsWith('script-src '))!;
  assert.ok(scriptSrc.includes(sha(bundle)), scriptSrc);
  // One hash per inline script (uPlot and ours), computed from the inlined text.
  const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => sha(m[1]));
  assert.deepEqual(scriptSrc.split(' ').slice(1), inline);
});

test('the export page inlines its bundle verbatim and the static server hashes that text', () => {
  const bundle = readFileSync(join(BROWSER_DIR, 'export-page.js'), 'utf8');
  const dir = join(work, 'page');
  const { page } = writeWebPage(dir, {
    models: [{ role: 'student', label: 'student (mlp)', arch: 'mlp', file: 'student.onnx' }],
    inputShape: [1, 2, 2], classNames: ['a', 'b'], samples: { x: new Float32Array(4), labels: [1], index: [7] },
  });
  const html = readFileSync(page, 'utf8');
  assert.ok(html.includes(`<script>${bundle}</script>`));
  assert.ok(pageCsp(html).includes(sha(bundle)));
});

test('the report page inlines its bundle verbatim, after uPlot and the chart data it reads', () => {
  const bundle = readFileSync(join(BROWSER_DIR, 'report-page.js'), 'utf8');
  const html = renderRunReport({ title: 't', runDir: 'runs/x', generatedAt: 'now' }, { assets: { js: '/* uPlot */', css: '' } });
  const scripts = [...html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  assert.deepEqual(scripts, ['{}', '/* uPlot */', bundle]);
});

test('a missing bundle is one ERR_NOT_BUILT error that names npm run build', () => {
  const empty = join(work, 'empty');
  mkdirSync(empty);
  assert.throws(() => readBrowserBundle('dashboard', empty), (e: unknown) =>
    e instanceof DistillError && e.code === 'ERR_NOT_BUILT' && e.message.includes(join(empty, 'dashboard.js')) && e.message.includes('`npm run build`'));
});

test('a package without dist/browser/ refuses to write any page, and writes nothing', { timeout: 60_000 }, () => {
  // A copy of the built package (dist/src, package.json) beside the real node_modules and addon,
  // with no dist/browser/: what a checkout gets that ran `tsc -b` alone.
  const pkg = join(work, 'pkg');
  cpSync(join(ROOT, 'dist', 'src'), join(pkg, 'dist', 'src'), { recursive: true, filter: (f) => !f.endsWith('.map') });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  symlinkSync(join(ROOT, 'build'), join(pkg, 'build'));
  const out = join(work, 'no-page');
  const script = join(pkg, 'try.mjs');
  writeFileSync(script, `
    const { writeWebPage } = await import('./dist/src/export/web_page.js');
    const { startDashboard } = await import('./dist/src/serve/index.js');
    const { renderRunReport } = await import('./dist/src/report/render.js');
    const tries = [
      () => renderRunReport({ title: 't', runDir: 'r', generatedAt: 'now' }, { assets: { js: '', css: '' } }),
      () => writeWebPage(${JSON.stringify(out)}, { models: [], inputShape: [1], classNames: ['a'], samples: { x: new Float32Array(0), labels: [], index: [] } }),
      () => startDashboard({ runsDir: ${JSON.stringify(join(work, 'runs'))} }),
    ];
    for (const t of tries) {
      try { await t(); console.log('no error'); process.exit(1); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
    }`);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const errors = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { code: string; message: string });
  assert.deepEqual(errors.map((e) => e.code), ['ERR_NOT_BUILT', 'ERR_NOT_BUILT', 'ERR_NOT_BUILT']);
  assert.match(errors[0].message, /dist\/browser\/report-page\.js is missing; run `npm run build`/);
  assert.match(errors[1].message, /dist\/browser\/export-page\.js is missing; run `npm run build`/);
  assert.match(errors[2].message, /dist\/browser\/dashboard\.js is missing; run `npm run build`/);
  assert.ok(!existsSync(out), 'nothing written');
});

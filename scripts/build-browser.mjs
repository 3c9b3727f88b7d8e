// Builds the browser code: type-checks the */browser/ folders of src/ against the DOM
// (src/tsconfig.browser.json), then bundles each page's entry with esbuild into dist/browser/,
// one classic script per page, which the page writers inline (src/export/web_page.ts,
// src/serve/page.ts, src/report/render.ts). Run by `npm run build`, `npm run build:lib` (so `npm pack` ships the
// bundles) and scripts/setup.sh. Not minified: the pages stay readable in the browser.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const t0 = performance.now();

// 1. Types: esbuild strips them without checking.
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const check = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'src/tsconfig.browser.json'], { cwd: root, stdio: 'inherit' });
if (check.status !== 0) {
  console.error('build-browser: the browser code does not type-check (src/tsconfig.browser.json)');
  process.exit(check.status ?? 1);
}
const t1 = performance.now();

// 2. Bundles: dist/browser/<name>.js. iife: a classic <script> that defines no globals of its
// own (the page's globals, ort and uPlot, come from their own scripts, loaded before).
const ENTRIES = {
  'export-page': 'src/export/browser/export_page.ts',
  dashboard: 'src/serve/browser/dashboard.ts',
  'report-page': 'src/report/browser/report_page.ts',
};
await build({
  absWorkingDir: root,
  entryPoints: ENTRIES,
  outdir: 'dist/browser',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  minify: false,
  charset: 'utf8', // '…' stays '…' rather than '\u2026'
  banner: { js: "// Built by scripts/build-browser.mjs from src/*/browser/; edit those, not this." },
  logLevel: 'warning',
});
const t2 = performance.now();
console.log(`build-browser: type-check ${((t1 - t0) / 1000).toFixed(1)} s, bundle ${((t2 - t1) / 1000).toFixed(2)} s → dist/browser/{${Object.keys(ENTRIES).join(',')}}.js`);

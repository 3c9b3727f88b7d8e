// The student in the browser: `<dir>/index.html`, one self-contained page (CSS, script and
// ~20 test images inline) beside the exported .onnx files and onnxruntime-web's runtime,
// copied from node_modules/onnxruntime-web/dist. Draw a digit or pick a test image; the
// teacher's and the student's softmax(logits / T) show side by side, with each model's
// file size and in-browser latency, and a temperature slider that re-softens both live.
//
// onnxruntime-web 1.30: `ort.wasm.min.js` is the wasm-only UMD build (defines the `ort`
// global); at session creation it imports `ort-wasm-simd-threaded.mjs` (the Emscripten
// glue) from env.wasm.wasmPaths, which fetches `ort-wasm-simd-threaded.wasm`. The glue is
// threaded-capable, but with numThreads = 1 it runs without SharedArrayBuffer, so no
// cross-origin isolation headers are needed. wasm cannot load from file://: serve the
// folder (serveStatic in serve_static.ts, or any static server).
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError } from '../torch/index.js';
import { writeFileAtomic } from '../io/index.js';
import { readBrowserBundle } from '../io/browser_bundle.js';
import type { DemoData, DemoModel } from './demo_data.js';

/** The runtime files the page needs, from onnxruntime-web's dist/. */
export const ORT_WEB_FILES = ['ort.wasm.min.js', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const;

/** One model card of the page. */
export type WebModel = DemoModel;

export interface WebPageOptions {
  title?: string;
  models: WebModel[];
  /** Per-sample input shape, e.g. [1, 28, 28]. */
  inputShape: readonly number[];
  classNames: readonly string[];
  /** The embedded test images: (n × ∏inputShape) float32, their labels and test-set rows. */
  samples: { x: Float32Array; labels: readonly number[]; index: readonly number[] };
  /** A line under the title (dataset, run). */
  subtitle?: string;
}

export function ortWebDist(): string {
  const require = createRequire(import.meta.url);
  try {
    // The package's exports map hides package.json; its node entry lives in dist/.
    return dirname(require.resolve('onnxruntime-web'));
  } catch {
    throw new ConfigError('the onnxruntime-web npm package is not installed; run `npm install`');
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSS = `
:root { --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --teacher: #3b6fd8; --student: #e07b2a; --other: #2e9d6a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f7f8fa; }
header { padding: 16px 24px 8px; } h1 { margin: 0; font-size: 20px; } .sub, #status { color: var(--muted); }
main { display: grid; grid-template-columns: 330px 1fr; gap: 20px; padding: 8px 24px 24px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px; }
h2 { font-size: 15px; margin: 0 0 4px; } h3 { font-size: 13px; margin: 12px 0 6px; color: var(--muted); font-weight: 600; }
#pad { width: 280px; height: 280px; border-radius: 8px; touch-action: none; cursor: crosshair; background: #000; display: block; }
.padrow { display: flex; gap: 10px; align-items: center; margin-top: 8px; }
#preview { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid var(--line); }
button { font: inherit; }
#samples { display: grid; grid-template-columns: repeat(5, 1fr); gap: 6px; }
.sample { padding: 3px; border: 2px solid transparent; border-radius: 6px; background: #f2f4f7; cursor: pointer; display: flex; flex-direction: column; align-items: center; }
.sample canvas { width: 44px; height: 44px; image-rendering: pixelated; } .sample span { font-size: 11px; color: var(--muted); }
.sample.selected { border-color: var(--teacher); }
.controls { display: flex; align-items: center; gap: 12px; margin-bottom: 12px; }
#temperature { width: 260px; } #t-value { font-weight: 700; min-width: 3ch; display: inline-block; }
#models { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
.model .meta { color: var(--muted); font-size: 12px; margin-bottom: 6px; } .model .top { font-weight: 600; margin-bottom: 6px; }
.row { display: grid; grid-template-columns: 90px 1fr 48px; align-items: center; gap: 8px; height: 22px; }
.cls { text-align: right; font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.track { background: #eef0f4; border-radius: 4px; height: 14px; overflow: hidden; }
.bar { display: block; height: 100%; background: var(--other); opacity: .55; transition: width .12s; }
.model[data-role="teacher"] .bar { background: var(--teacher); } .model[data-role="student"] .bar { background: var(--student); }
.bar.best { opacity: 1; } .val { font-variant-numeric: tabular-nums; font-size: 12px; text-align: right; }
#source { color: var(--muted); margin-bottom: 8px; }
`;

/** Writes index.html and copies the runtime; returns the page path and the runtime files' bytes. */
export function writeWebPage(dir: string, o: WebPageOptions): { page: string; runtime: { file: string; bytes: number }[] } {
  const per = o.inputShape.reduce((a, b) => a * b, 1);
  if (o.samples.x.length !== per * o.samples.labels.length)
    throw new ConfigError(`web page: ${o.samples.x.length} sample values for ${o.samples.labels.length} samples of shape [${o.inputShape.join(', ')}]`);
  // The page's script: src/export/browser/export_page.ts, bundled by `npm run build`.
  const script = readBrowserBundle('export-page');
  mkdirSync(dir, { recursive: true });
  const dist = ortWebDist();
  const runtime = ORT_WEB_FILES.map((f) => {
    copyFileSync(join(dist, f), join(dir, f));
    return { file: f, bytes: statSync(join(dir, f)).size };
  });
  const data: DemoData = {
    models: o.models,
    inputShape: [...o.inputShape],
    classNames: [...o.classNames],
    samples: { pixels: Buffer.from(o.samples.x.buffer, o.samples.x.byteOffset, o.samples.x.byteLength).toString('base64'), labels: [...o.samples.labels], index: [...o.samples.index] },
  };
  const title = o.title ?? 'Teacher and student in the browser';
  const isImage = o.inputShape.length === 3 && o.inputShape[0] === 1;
  const [H, W] = isImage ? [o.inputShape[1], o.inputShape[2]] : [1, 1];
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body data-state="loading">
<header>
  <h1>${esc(title)}</h1>
  <div class="sub">${esc(o.subtitle ?? '')} · models run in this page with onnxruntime-web (wasm, 1 thread); nothing leaves the browser</div>
  <div id="status">loading…</div>
</header>
<main>
  <div class="panel">
    <div id="pad-box">
      <h2>Draw</h2>
      <canvas id="pad" width="280" height="280" aria-label="drawing pad"></canvas>
      <div class="padrow"><button id="clear" type="button">Clear</button>
        <span class="sub">model input (${H}×${W}):</span><canvas id="preview" width="${W}" height="${H}"></canvas></div>
    </div>
    <h3>…or pick a test image</h3>
    <div id="samples"></div>
  </div>
  <div class="panel">
    <div class="controls">
      <label for="temperature">temperature T</label>
      <input id="temperature" type="range" min="1" max="20" step="0.5" value="1">
      <span>T = <span id="t-value">1.0</span></span>
      <span class="sub">bars show softmax(logits / T)</span>
    </div>
    <div id="source"></div>
    <div id="models"></div>
  </div>
</main>
<script type="application/json" id="demo-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script src="ort.wasm.min.js"></script>
<script>${script}</script>
</body>
</html>
`;
  const page = join(dir, 'index.html');
  writeFileAtomic(page, html);
  return { page, runtime };
}

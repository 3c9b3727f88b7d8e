// The browser side of the student demo page (web_page.ts writes the bundle of this module,
// dist/browser/export-page.js, inline into index.html). It reads #demo-data, loads every model
// with onnxruntime-web (wasm backend, one thread: no cross-origin isolation is needed), and
// shows each model's softmax(logits / T) as bars. The temperature slider re-softens the
// stored logits without running the models again.
//
// Test hooks: body[data-state] is 'loading' → 'ready' (or 'error'); window.distillDemo holds
// { T, input, logits: {role: number[]}, probs: {role: number[]}, selected, latency };
// body[data-shown] names the last input shown ('sample-3#7', 'drawing#8'); each bar has
// data-prob (full precision) and each card data-top (the arg-max class).
import type { InferenceSession } from 'onnxruntime-web';
import type { DemoData } from '../demo_data.js';
import { byId, esc, fmtBytes, paintGray } from './dom.js';
import { setupPad } from './pad.js';
import { softmax } from './softmax.js';

export interface DemoState {
  T: number;
  /** The input of the last run (∏inputShape values). */
  input?: number[];
  logits: Record<string, number[]>;
  probs: Record<string, number[]>;
  /** The test image shown, or null for the drawing. */
  selected: number | null;
  /** Milliseconds at batch 1: the mean of 20 timed runs, and the last run. */
  latency: Record<string, { mean: number; last: number }>;
  sessions: Record<string, InferenceSession>;
  select?: (i: number) => Promise<void>;
}

const data = JSON.parse(byId('demo-data').textContent ?? '') as DemoData;
const C = data.classNames.length;
const shape = data.inputShape;
const perSample = shape.reduce((a, b) => a * b, 1);
const isImage = shape.length === 3 && shape[0] === 1;
const H = isImage ? shape[1] : 0, W = isImage ? shape[2] : 0;
const state: DemoState = { T: 1, logits: {}, probs: {}, selected: null, latency: {}, sessions: {} };
window.distillDemo = state;
const status = (msg: string) => { byId('status').textContent = msg; };
const cardOf = (role: string) => document.querySelector<HTMLElement>(`.model[data-role="${role}"]`)!;

function decodeSamples(): Float32Array {
  const bin = atob(data.samples.pixels);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
const pixels = decodeSamples();
const sampleAt = (i: number) => pixels.slice(i * perSample, (i + 1) * perSample);
const inputTensor = (x: Float32Array) => new ort.Tensor('float32', x, [1, ...shape]);

// ── model cards ──
function buildCards(): void {
  const host = byId('models');
  for (const m of data.models) {
    const card = document.createElement('section');
    card.className = 'model';
    card.dataset.role = m.role;
    let html = '<h2>' + esc(m.label) + '</h2><div class="meta"><span class="arch">' + esc(m.arch) + '</span> · ' +
      '<span class="size" title="bytes fetched">…</span> · <span class="lat">…</span></div>' +
      '<div class="top">—</div><div class="bars">';
    for (let c = 0; c < C; c++)
      html += '<div class="row"><span class="cls">' + esc(data.classNames[c]) + '</span><span class="track"><span class="bar" data-class="' + c +
        '" data-prob="0"></span></span><span class="val" data-class="' + c + '">0.000</span></div>';
    card.innerHTML = html + '</div>';
    host.appendChild(card);
  }
}

function render(): void {
  byId('t-value').textContent = state.T.toFixed(1);
  for (const m of data.models) {
    const z = state.logits[m.role];
    if (!z) continue;
    const p = softmax(z, state.T);
    state.probs[m.role] = p;
    const card = cardOf(m.role);
    let top = 0;
    for (let c = 0; c < C; c++) if (p[c] > p[top]) top = c;
    card.dataset.top = String(top);
    card.querySelector('.top')!.textContent = 'prediction: ' + data.classNames[top] + ' (' + (100 * p[top]).toFixed(1) + '%)';
    card.querySelectorAll<HTMLElement>('.bar').forEach((bar) => {
      const k = Number(bar.dataset.class);
      bar.style.width = (100 * p[k]).toFixed(2) + '%';
      bar.dataset.prob = String(p[k]);
      bar.classList.toggle('best', k === top);
    });
    card.querySelectorAll<HTMLElement>('.val').forEach((v) => { v.textContent = p[Number(v.dataset.class)].toFixed(3); });
    const lat = state.latency[m.role];
    if (lat) card.querySelector('.lat')!.textContent = 'latency ' + lat.last.toFixed(1) + ' ms (mean ' + lat.mean.toFixed(3) + ' ms over 20 runs)';
  }
}

let runs = 0;
async function infer(x: Float32Array): Promise<void> {
  state.input = Array.from(x);
  for (const m of data.models) {
    const t0 = performance.now();
    const out = await state.sessions[m.role].run({ input: inputTensor(x) });
    const dt = performance.now() - t0;
    state.logits[m.role] = Array.from(out.logits.data as Float32Array);
    const lat = state.latency[m.role];
    if (lat) lat.last = dt;
  }
  render();
  // 'sample-3#7': what is shown and a counter, so a test can wait for this very run.
  document.body.dataset.shown = (state.selected === null ? 'drawing' : 'sample-' + state.selected) + '#' + (++runs);
}

/** The input preview (what the models see). */
function showInput(x: Float32Array): void {
  if (isImage) paintGray(byId<HTMLCanvasElement>('preview'), x, W, H);
}

let clearPad = () => {};
function select(i: number): Promise<void> {
  clearPad();
  state.selected = i;
  document.querySelectorAll<HTMLElement>('.sample').forEach((s) => s.classList.toggle('selected', Number(s.dataset.sample) === i));
  const x = sampleAt(i);
  showInput(x);
  byId('source').textContent = 'test image #' + data.samples.index[i] + ' (label ' + data.classNames[data.samples.labels[i]] + ')';
  return infer(x);
}
state.select = select;

function buildSamples(): void {
  const host = byId('samples');
  data.samples.labels.forEach((label, i) => {
    const b = document.createElement('button');
    b.className = 'sample';
    b.dataset.sample = String(i);
    b.title = 'test image #' + data.samples.index[i] + ', label ' + data.classNames[label];
    if (isImage) {
      const cv = document.createElement('canvas');
      cv.width = W; cv.height = H;
      b.appendChild(cv);
      paintGray(cv, sampleAt(i), W, H);
    }
    const cap = document.createElement('span');
    cap.textContent = data.classNames[label];
    b.appendChild(cap);
    b.addEventListener('click', () => { void select(i); });
    host.appendChild(b);
  });
}

function setupDrawing(): void {
  if (!isImage) { byId('pad-box').hidden = true; return; }
  clearPad = setupPad(W, H, (x) => {
    state.selected = null;
    document.querySelectorAll('.sample').forEach((s) => s.classList.remove('selected'));
    byId('source').textContent = 'your drawing';
    showInput(x);
    void infer(x);
  });
}

async function main(): Promise<void> {
  document.body.dataset.state = 'loading';
  buildCards();
  buildSamples();
  setupDrawing();
  const slider = byId<HTMLInputElement>('temperature');
  slider.addEventListener('input', () => { state.T = Number(slider.value); render(); });
  state.T = Number(slider.value);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL('./', location.href).href;
  for (const m of data.models) {
    status('loading ' + m.file + ' …');
    const res = await fetch(m.file);
    if (!res.ok) throw new Error(m.file + ': HTTP ' + res.status);
    const bytes = new Uint8Array(await res.arrayBuffer());
    cardOf(m.role).querySelector('.size')!.textContent = m.file + ' ' + fmtBytes(bytes.byteLength);
    state.sessions[m.role] = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  }
  // Latency at batch 1 on the first test image: 3 warm-up runs, then 20 timed together
  // (the browser coarsens performance.now() to 0.1 ms, finer than one run of a small MLP).
  const x0 = data.samples.labels.length ? sampleAt(0) : new Float32Array(perSample);
  for (const { role } of data.models) {
    const feed = { input: inputTensor(x0) };
    for (let k = 0; k < 3; k++) await state.sessions[role].run(feed);
    const t0 = performance.now();
    for (let k = 0; k < 20; k++) await state.sessions[role].run(feed);
    const mean = (performance.now() - t0) / 20;
    state.latency[role] = { mean, last: mean };
  }
  if (data.samples.labels.length) await select(0);
  status('ready: ' + data.models.length + ' models on onnxruntime-web ' + (ort.env.versions ? ort.env.versions.web : '') + ' (wasm, 1 thread)');
  document.body.dataset.state = 'ready';
}

main().catch((e: unknown) => {
  document.body.dataset.state = 'error';
  const message = e && typeof e === 'object' && 'message' in e && e.message ? String(e.message) : String(e);
  status('error: ' + message);
  console.error(e);
});

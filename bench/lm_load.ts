// Loading a Hugging Face folder against reading its bytes: a Qwen2.5-0.5B-shaped bfloat16
// folder (24 layers, d 896, 14/2 heads, MLP 4864, vocab 151,936, tied; ~494M parameters,
// ~0.99 GB) with random weights is written to a temp folder, then, with the files in the
// page cache (one warm-up read), the median of `reps` runs of
//   read: every weight file read into memory (fs.readSync into one new buffer), nothing else;
//   read_reused: the same into one buffer allocated (and first touched) once: the copy out of the
//         page cache without page faults, which is what a load into recycled memory pays (libtorch's
//         CPU allocator keeps large freed blocks, so every load after the first reuses touched memory);
//   load: loadHfFolder: config, headers, model built without random init, each bf16 tensor
//         read and widened to the float32 parameter by libtorch;
//   load_bf16: loadHfFolder(dir, {dtype: 'auto'}): the same, the parameters allocated in
//         bfloat16 and each tensor's bytes copied in unchanged (no widening);
//   touch: the floor under any load into float32: allocating and first writing (zero-filling)
//         the parameters' float32 memory, 2× the file's bytes (page faults dominate on a VM);
//   touch_bf16: the same for bfloat16 parameters, 1× the file's bytes.
// Usage: node dist/bench/lm_load.js [--reps N] [--layers N] [--threads N] [--keep DIR]
// Prints one JSON object: {"params", "bytes", "read_ms", "load_ms", "ratio", "load_bf16_ms", "ratio_bf16", ...}: medians, and
// the fastest of each ("min_ratio"), which on a shared machine is the least disturbed figure.
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { init } from '../src/nn/index.js';
import { CausalLM, countLmParameters, lmConfig } from '../src/lm/model.js';
import { loadHfFolder, saveHfFolder } from '../src/lm/hf_folder.js';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    layers: { type: 'string', default: '24' },
    threads: { type: 'string' },
    keep: { type: 'string' },
  },
});
if (args.threads) torch.setNumThreads(Number(args.threads));

const cfg = lmConfig({
  arch: 'qwen2', vocabSize: 151936, dim: 896, nLayers: Number(args.layers), nHeads: 14, nKvHeads: 2, hiddenDim: 4864,
  maxSeqLen: 32768, ropeTheta: 1e6, normEps: 1e-6, qkvBias: true, tieEmbeddings: true,
});
const dir = args.keep ?? join(mkdtempSync(join(tmpdir(), 'distill-lm-load-')), 'qwen2-0.5b-bf16');

// Random weights, cheaply: the model is built without init and each parameter filled from N(0, 0.02²).
let t0 = performance.now();
{
  const m = init.skipInit(() => new CausalLM(cfg));
  torch.noGrad(() => m.parameters().forEach((p) => void p.normal_(0, 0.02)));
  saveHfFolder(dir, m, { dtype: 'bfloat16' });
  m.dispose();
}
const writeMs = performance.now() - t0;
const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).map((f) => join(dir, f));

let reused: Buffer | null = null;
function readAll(reuse = false): number {
  let total = 0;
  for (const f of files) {
    const fd = openSync(f, 'r');
    const size = fstatSync(fd).size;
    const buf = reuse ? (reused = reused && reused.length >= size ? reused : Buffer.alloc(size)) : Buffer.allocUnsafe(size);
    for (let got = 0; got < size; ) got += readSync(fd, buf, got, size - got, got);
    closeSync(fd);
    total += size;
  }
  return total;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn: () => void) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

const bytes = readAll(); // warm-up: the files are now in the page cache
const shapes = init.skipInit(() => {
  const m = new CausalLM(cfg);
  const s = m.parameters().map((p) => [...p.shape]);
  m.dispose();
  return s;
});
const readsReused: number[] = [], reads: number[] = [], loads: number[] = [], loadsBf16: number[] = [], touches: number[] = [], touchesBf16: number[] = [];
for (let r = 0; r < Number(args.reps); r++) {
  reads.push(time(() => readAll()));
  readsReused.push(time(() => readAll(true)));
  loads.push(time(() => loadHfFolder(dir).model.dispose()));
  loadsBf16.push(time(() => loadHfFolder(dir, { dtype: 'auto' }).model.dispose()));
  touches.push(time(() => shapes.map((s) => torch.zeros(s)).forEach((t) => t.dispose())));
  touchesBf16.push(time(() => shapes.map((s) => torch.zeros(s, 'bfloat16')).forEach((t) => t.dispose())));
}
t0 = performance.now();
if (!args.keep) rmSync(join(dir, '..'), { recursive: true, force: true });

const readMs = median(reads), loadMs = median(loads), loadBf16Ms = median(loadsBf16);
const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
console.log(JSON.stringify({
  shape: 'Qwen2.5-0.5B (qwen2, bf16 on disk; loaded into float32, and kept in bfloat16)',
  params: countLmParameters(cfg), bytes, files: files.length,
  read_ms: Math.round(readMs), load_ms: Math.round(loadMs), ratio: ratio(loadMs, readMs),
  load_bf16_ms: Math.round(loadBf16Ms), ratio_bf16: ratio(loadBf16Ms, readMs),
  read_reused_ms: Math.round(median(readsReused)), ratio_bf16_reused: ratio(loadBf16Ms, median(readsReused)), ratio_reused: ratio(loadMs, median(readsReused)),
  min_read_reused_ms: Math.round(Math.min(...readsReused)), min_ratio_bf16_reused: ratio(Math.min(...loadsBf16), Math.min(...readsReused)),
  touch_f32_ms: Math.round(median(touches)), touch_ratio: ratio(median(touches), readMs),
  touch_bf16_ms: Math.round(median(touchesBf16)), touch_bf16_ratio: ratio(median(touchesBf16), readMs),
  min_read_ms: Math.round(Math.min(...reads)), min_load_ms: Math.round(Math.min(...loads)), min_touch_ms: Math.round(Math.min(...touches)),
  min_load_bf16_ms: Math.round(Math.min(...loadsBf16)), min_touch_bf16_ms: Math.round(Math.min(...touchesBf16)),
  min_ratio: ratio(Math.min(...loads), Math.min(...reads)), min_ratio_bf16: ratio(Math.min(...loadsBf16), Math.min(...reads)),
  read_gb_s: Number((bytes / readMs / 1e6).toFixed(2)), reads_ms: reads.map(Math.round), loads_ms: loads.map(Math.round),
  loads_bf16_ms: loadsBf16.map(Math.round), reads_reused_ms: readsReused.map(Math.round),
  write_ms: Math.round(writeMs), threads: torch.getNumThreads(),
}));

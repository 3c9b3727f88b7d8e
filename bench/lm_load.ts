// Loading a Hugging Face folder against reading its bytes: a Qwen2.5-0.5B-shaped bfloat16
// folder (24 layers, d 896, 14/2 heads, MLP 4864, vocab 151,936, tied; ~494M parameters,
// ~0.99 GB) with random weights is written to a temp folder, then, with the files in the
// page cache (one warm-up read), the median of `reps` runs of
//   read: every weight file read into memory (fs.readSync into one buffer), nothing else;
//   load: loadHfFolder: config, headers, model built without random init, each bf16 tensor
//         read and widened to the float32 parameter by libtorch;
//   touch: the floor under any load into float32: allocating and first writing (zero-filling)
//         the parameters' float32 memory, 2× the file's bytes (page faults dominate on a VM).
// Usage: node dist/bench/lm_load.js [--reps N] [--layers N] [--threads N] [--keep DIR]
// Prints one JSON object: {"params", "bytes", "read_ms", "load_ms", "ratio", ...}: medians, and
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

function readAll(): number {
  let total = 0;
  for (const f of files) {
    const fd = openSync(f, 'r');
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
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
const reads: number[] = [], loads: number[] = [], touches: number[] = [];
for (let r = 0; r < Number(args.reps); r++) {
  reads.push(time(() => readAll()));
  loads.push(time(() => loadHfFolder(dir).model.dispose()));
  touches.push(time(() => shapes.map((s) => torch.zeros(s)).forEach((t) => t.dispose())));
}
t0 = performance.now();
if (!args.keep) rmSync(join(dir, '..'), { recursive: true, force: true });

const readMs = median(reads), loadMs = median(loads);
console.log(JSON.stringify({
  shape: 'Qwen2.5-0.5B (qwen2, bf16 on disk, float32 in memory)',
  params: countLmParameters(cfg), bytes, files: files.length,
  read_ms: Math.round(readMs), load_ms: Math.round(loadMs), ratio: Number((loadMs / readMs).toFixed(2)),
  touch_f32_ms: Math.round(median(touches)), touch_ratio: Number((median(touches) / readMs).toFixed(2)),
  min_read_ms: Math.round(Math.min(...reads)), min_load_ms: Math.round(Math.min(...loads)), min_touch_ms: Math.round(Math.min(...touches)),
  min_ratio: Number((Math.min(...loads) / Math.min(...reads)).toFixed(2)),
  read_gb_s: Number((bytes / readMs / 1e6).toFixed(2)), reads_ms: reads.map(Math.round), loads_ms: loads.map(Math.round),
  write_ms: Math.round(writeMs), threads: torch.getNumThreads(),
}));

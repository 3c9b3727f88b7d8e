// The LM-head loss alone, naive against chunked, at a real vocabulary (Qwen2.5's 151,936):
// hidden (tokens, d) → hidden·Wᵀ → CE on every token → backward.
//   naive:   tokenKdLoss on the full logits, then loss.backward() (what src/reason/sft.ts does);
//   chunked: chunkedLmLoss (src/lm/chunked_loss.ts).
// Memory: each variant runs in its own process, so its peak resident memory is its own:
// VmHWM from /proc/self/status minus VmRSS once the inputs exist (after a warm-up at a small
// vocabulary, so OpenBLAS's buffers are not counted as the loss's).
// The headline figures have a frozen head (W does not require grad): the 0.5B shape's tied
// head under LoRA, where this vocabulary is trained. `trainable_head` repeats one pair with
// W requiring grad: both peaks then also hold W's (V, d) gradient, 545 MB here, which
// no loss implementation avoids and which dominates the chunked side.
// Time: rounds alternate naive and chunked processes. time_ratio is the median over rounds
// of chunked/naive CPU time per step (user + system, libtorch and OpenBLAS on `threads`
// threads, default 1): on a shared machine wall time mostly measures the neighbours;
// wall_time_ratio is beside it.
// Usage: node dist/bench/chunked_loss.js [--vocab 151936] [--tokens 1024] [--d 896] [--chunk N]
//        [--rounds 2] [--reps 2] [--threads 1] [--no-trainable]
// Prints one JSON line {vocab, tokens, peak_bytes_naive, peak_bytes_chunked, ratio, time_ratio, …}.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { chunkedLmLoss, DEFAULT_CHUNK_SIZE } from '../src/lm/index.js';
import { tokenKdLoss } from '../src/kd/index.js';
import { median, procStatusKb } from './stats.js';

export interface ChunkedLossBenchOptions {
  vocab?: number;
  tokens?: number;
  d?: number;
  /** Tokens per chunk (default: the library's DEFAULT_CHUNK_SIZE). */
  chunk?: number;
  /** Alternating naive/chunked process pairs with a frozen head (default 2). */
  rounds?: number;
  /** Timed steps per process (default 2). */
  reps?: number;
  threads?: number;
  /** Also one pair with a trainable head (default true). */
  trainable?: boolean;
}

interface Pair {
  peak_bytes_naive: number;
  peak_bytes_chunked: number;
  /** peak_bytes_naive / peak_bytes_chunked. */
  ratio: number;
  time_ratio: number;
}

export interface ChunkedLossBenchResult extends Pair {
  vocab: number;
  tokens: number;
  d: number;
  chunk: number;
  threads: number;
  /** Median CPU ms per step. */
  naive_cpu_ms: number;
  chunked_cpu_ms: number;
  /** Per round: chunked / naive CPU time. The goal for the median (time_ratio) is ≤ 1.10; for ratio ≥ 4. */
  time_ratios: number[];
  wall_time_ratio: number;
  trainable_head?: Pair;
}

interface WorkerResult {
  peak_bytes: number;
  cpu_ms: number[];
  wall_ms: number[];
  loss: number;
}

const SELF = fileURLToPath(import.meta.url);

const statusBytes = (field: 'VmRSS' | 'VmHWM') => procStatusKb(field) * 1024;

/** One variant in this process: setup, `reps` steps, and the peak above the setup's RSS. */
type WorkerOptions = Required<Omit<ChunkedLossBenchOptions, 'trainable'>> & { frozen: boolean };

function worker(variant: 'naive' | 'chunked', o: WorkerOptions): WorkerResult {
  torch.setNumThreads(o.threads);
  torch.manualSeed(0);
  const { vocab: V, tokens: N, d } = o;
  const step = (hidden: Tensor, weight: Tensor, target: Tensor): number => {
    hidden.grad = null;
    weight.grad = null;
    if (variant === 'chunked') return chunkedLmLoss(hidden, weight, target, { chunkSize: o.chunk }).loss;
    return torch.tidy(() => {
      const logits = hidden.mm(weight.transpose(0, 1)).unsqueeze(0); // (1, N, V)
      const r = tokenKdLoss(logits, target.unsqueeze(0), null, { alpha: 1, T: 1 });
      r.loss.backward();
      return r.parts.hard.item();
    });
  };
  const inputs = (V: number) => [
    torch.randn([N, d]).requiresGrad_(),
    torch.randn([V, d]).mul(0.02).requiresGrad_(!o.frozen),
    torch.randint(0, V, [N], 'int64'),
  ] as const;
  // Warm-up at a small vocabulary: OpenBLAS's packing buffers (≈100 MB, resident once
  // touched, in any process that multiplies matrices) are not the loss's memory.
  torch.tidy(() => void step(...inputs(Math.min(V, 8192))));
  const [hidden, weight, target] = inputs(V);
  const base = statusBytes('VmRSS');
  const cpu: number[] = [];
  const wall: number[] = [];
  let loss = NaN;
  for (let r = 0; r < o.reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    loss = step(hidden, weight, target);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { peak_bytes: statusBytes('VmHWM') - base, cpu_ms: cpu, wall_ms: wall, loss };
}

function runWorker(variant: 'naive' | 'chunked', o: WorkerOptions): WorkerResult {
  const out = execFileSync(process.execPath, [SELF, '--worker', variant, '--opts', JSON.stringify(o)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(o.threads) },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as WorkerResult;
}

/** Naive and chunked processes alternated `rounds` times with the same inputs. */
function pairs(o: WorkerOptions, rounds: number): { naive: WorkerResult[]; chunked: WorkerResult[]; pair: Pair } {
  const naive: WorkerResult[] = [];
  const chunked: WorkerResult[] = [];
  for (let r = 0; r < rounds; r++) {
    naive.push(runWorker('naive', o));
    chunked.push(runWorker('chunked', o));
  }
  // The same loss on both sides, or the comparison means nothing.
  const l0 = naive[0].loss, l1 = chunked[0].loss;
  if (!(Math.abs(l0 - l1) <= 1e-4 * Math.abs(l0))) throw new Error(`chunkedLossBench: the losses differ (naive ${l0}, chunked ${l1})`);
  const peakNaive = Math.max(...naive.map((w) => w.peak_bytes));
  const peakChunked = Math.max(...chunked.map((w) => w.peak_bytes));
  const ratios = naive.map((w, i) => median(chunked[i].cpu_ms) / median(w.cpu_ms));
  return {
    naive, chunked,
    pair: { peak_bytes_naive: peakNaive, peak_bytes_chunked: peakChunked, ratio: +(peakNaive / peakChunked).toFixed(2), time_ratio: +median(ratios).toFixed(3) },
  };
}

export async function chunkedLossBench(opts: ChunkedLossBenchOptions = {}): Promise<ChunkedLossBenchResult> {
  const { trainable = true, ...rest } = opts;
  const o: WorkerOptions = { vocab: 151936, tokens: 1024, d: 896, chunk: DEFAULT_CHUNK_SIZE, rounds: 2, reps: 2, threads: 1, ...rest, frozen: true };
  const { naive, chunked, pair } = pairs(o, o.rounds);
  const per = (f: (w: WorkerResult) => number[]) => naive.map((w, i) => median(f(chunked[i])) / median(f(w)));
  return {
    vocab: o.vocab, tokens: o.tokens, ...pair, d: o.d, chunk: o.chunk, threads: o.threads,
    naive_cpu_ms: Math.round(median(naive.flatMap((w) => w.cpu_ms))),
    chunked_cpu_ms: Math.round(median(chunked.flatMap((w) => w.cpu_ms))),
    time_ratios: per((w) => w.cpu_ms).map((r) => +r.toFixed(3)),
    wall_time_ratio: +median(per((w) => w.wall_ms)).toFixed(3),
    ...(trainable ? { trainable_head: pairs({ ...o, frozen: false }, 1).pair } : {}),
  };
}

if (process.argv[1] === SELF) {
  const { values: a } = parseArgs({
    options: {
      worker: { type: 'string' }, opts: { type: 'string' },
      vocab: { type: 'string' }, tokens: { type: 'string' }, d: { type: 'string' }, chunk: { type: 'string' },
      rounds: { type: 'string' }, reps: { type: 'string' }, threads: { type: 'string' }, 'no-trainable': { type: 'boolean' },
    },
  });
  if (a.worker) {
    console.log(JSON.stringify(worker(a.worker as 'naive' | 'chunked', JSON.parse(a.opts!) as WorkerOptions)));
  } else {
    const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
    const opts = Object.fromEntries(Object.entries({
      vocab: num(a.vocab), tokens: num(a.tokens), d: num(a.d), chunk: num(a.chunk),
      rounds: num(a.rounds), reps: num(a.reps), threads: num(a.threads), trainable: a['no-trainable'] ? false : undefined,
    }).filter(([, v]) => v !== undefined)) as ChunkedLossBenchOptions;
    console.log(JSON.stringify(await chunkedLossBench(opts)));
  }
}

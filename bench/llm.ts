// Real-size LM benchmark: training steps of random-initialised models in two real shapes,
// ours against PyTorch (bench/llm_torch.py: the same model in plain torch, the same loss,
// LoRA and threads), in the same run.
//
//   npm run bench:llm -- [--json] [--quick] [--threads N=2] [--rounds N=3] [--steps N=2] [--warmup N=1]
//                        [--parts sgemm,train,lora,chunked,precision,train_bf16,lora_bf16] [--checkpointing] [--bf16-base] [--peer-no-mmap]
//
// - train: a full fine-tuning step of the SmolLM2-135M shape at sequence 512 (AdamW, CE on
//   every token, full logits on both sides);
// - lora: a LoRA step (r 16, alpha 32 on q,k,v,o,gate,up,down; frozen base) of the
//   Qwen2.5-0.5B shape at sequence 1,024; ours computes the loss with the chunked head
//   (src/lm/chunked_loss.ts), PyTorch with its naive full logits;
// - chunked_loss: the loss part alone at vocabulary 151,936 (bench/chunked_loss.ts);
// - peak_rss_mb: each side's VmHWM over the LoRA step (its process does nothing else);
// - tokens_per_s and the achieved model FLOP/s as a fraction of this machine's sgemm peak,
//   measured in the same run (2048² float32 matmul, best of 10, same threads);
// - precision: float32 against bfloat16 matmuls, ours and PyTorch's (the same libtorch
//   kernels: OpenBLAS for float32, oneDNN for bfloat16), and PyTorch's LM training step
//   in each dtype;
// - train_bf16, lora_bf16: the train and lora steps in mixed precision on both sides, the
//   forward under `torch.autocast('cpu', dtype=torch.bfloat16)` (ours: torch.autocast, as
//   `--precision bf16` trains), float32 master weights and AdamW state, the logits upcast
//   for the loss; with their speedup over the float32 step of the same side (when the train
//   / lora part ran too) and peak RSS. (`--parts train_bf16,lora_bf16` runs just these.)
//   --bf16-base: lora_bf16 holds the frozen base in bfloat16 on both sides (`model.to('bfloat16')`
//   before the adapters, which stay float32 as PEFT keeps them): the memory it saves.
//
// Every timed side runs in its own child process (`--child`), one at a time: R rounds of
// (ours, PyTorch), each process building its model, warming up and timing `steps` steps.
// Both models never sit in memory together (the 0.5B LoRA step takes several GB each), and a
// child's VmHWM is the peak of that step alone. The ratio is the median of the per-round
// ratios, with their interquartile range beside it (bench/stats.ts summarizeRounds).
// --quick runs toy shapes through the same paths (a smoke test, seconds). --peer-no-mmap gives
// the PyTorch peer glibc's MALLOC_MMAP_MAX_=0 (no block of its own mapped fresh each step):
// PyTorch without its page faults, at the price of a heap that keeps its fragments.
// The last line of output is one JSON object.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { CausalLM, applyLora, chunkedLmLoss, forwardBackward, loraParameters } from '../src/lm/index.js';
import { AdamW } from '../src/optim/index.js';
import { median, procStatusKb, summarizeRounds, type PairSummary } from './stats.js';
import { peerEnv } from './peer.js';
import { chunkedLossBench } from './chunked_loss.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string', default: '1' },
    parts: { type: 'string', default: 'sgemm,train,lora,chunked,precision,train_bf16,lora_bf16' },
    checkpointing: { type: 'boolean', default: false },
    'bf16-base': { type: 'boolean', default: false },
    'peer-no-mmap': { type: 'boolean', default: false },
    // child mode (one timed side; internal)
    child: { type: 'string' },
    shape: { type: 'string' },
    seq: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:llm -- [--json] [--quick] [--threads N=2] [--rounds N=3] [--steps N=2] [--warmup N=1] [--parts sgemm,train,lora,chunked,precision,train_bf16,lora_bf16] [--checkpointing] [--bf16-base] [--peer-no-mmap]   (needs python3-torch)');
  process.exit(0);
}

/** Hugging Face config.json values of the two real shapes (and toy ones for --quick). */
const SHAPES = {
  smol: { arch: 'llama', vocab: 49152, d: 576, layers: 30, heads: 9, kv: 3, mlp: 1536, theta: 100000, eps: 1e-5, qkvBias: false },
  qwen: { arch: 'qwen2', vocab: 151936, d: 896, layers: 24, heads: 14, kv: 2, mlp: 4864, theta: 1000000, eps: 1e-6, qkvBias: true },
  tiny: { arch: 'llama', vocab: 512, d: 64, layers: 2, heads: 4, kv: 2, mlp: 128, theta: 10000, eps: 1e-5, qkvBias: false },
  'tiny-qwen': { arch: 'qwen2', vocab: 1024, d: 64, layers: 2, heads: 4, kv: 2, mlp: 160, theta: 10000, eps: 1e-6, qkvBias: true },
} as const;
type ShapeName = keyof typeof SHAPES;
type Shape = (typeof SHAPES)[ShapeName];

const threads = Number(args.threads);
const warmup = Number(args.warmup);
const LORA = { r: 16, alpha: 32 };

/** One child's answer: the timed steps, and the process's peak RSS and page faults. */
interface SideResult { step_ms: number[]; peak_rss_mb: number; faults_per_step: number; params: number; trainable: number }

// ── child: one side's model and step ────────────────────────────────────────────────────

function buildOurs(s: Shape, seq: number): CausalLM {
  return new CausalLM({
    vocabSize: s.vocab, dim: s.d, nLayers: s.layers, nHeads: s.heads, nKvHeads: s.kv, hiddenDim: s.mlp,
    maxSeqLen: seq, ropeTheta: s.theta, normEps: s.eps, tieEmbeddings: true, arch: s.arch, qkvBias: s.qkvBias,
  });
}

async function runChild(part: string, shapeName: ShapeName, seq: number, steps: number): Promise<SideResult> {
  torch.setNumThreads(threads);
  torch.setFlushDenormal(true);
  torch.manualSeed(0);
  const s = SHAPES[shapeName];
  const model = buildOurs(s, seq);
  const ids = torch.keep(torch.randint(0, s.vocab, [1, seq]));
  const target = torch.keep(torch.randint(0, s.vocab, [seq]));
  let step: () => void;
  // The _bf16 parts: the same step with its forward under bfloat16 autocast (float32 masters).
  const bf16 = part.endsWith('_bf16');
  const amp = <T>(fn: () => T): T => (bf16 ? torch.autocast('bfloat16', fn) : fn());
  const base = bf16 ? part.slice(0, -'_bf16'.length) : part;
  if (base === 'train') {
    const opt = new AdamW(model.parameters(), { lr: 1e-4, weightDecay: 0.01 });
    step = () => torch.tidy(() => {
      opt.zeroGrad();
      const out = amp(() => model.call(ids)); // (1, T, V): full logits, as the peer
      const logits = out.dtype === 'float32' ? out : out.toDtype('float32'); // upcast for the loss, as the peer's .float()
      torch.crossEntropy(logits.view([-1, s.vocab]), target).backward();
      opt.step();
    });
  } else if (base === 'lora') {
    // Adapters on q,k,v,o,gate,up,down (the default targets), base frozen; the blocks run
    // through forwardBackward and the loss through the chunked head (no (T, V) logits).
    if (bf16 && args['bf16-base']) model.to('bfloat16'); // the frozen base at 2 bytes a weight
    applyLora(model, LORA, 0);
    const opt = new AdamW(loraParameters(model), { lr: 1e-4, weightDecay: 0.01 });
    step = () => torch.tidy(() => {
      opt.zeroGrad();
      amp(() => forwardBackward(model, ids, (h) => chunkedLmLoss(h.view([-1, s.d]), model.headWeight, target), { checkpointing: args.checkpointing }));
      opt.step();
    });
  } else {
    throw new Error(`unknown part '${part}'`);
  }
  for (let i = 0; i < warmup; i++) step();
  const f0 = process.resourceUsage().minorPageFault;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const faults = (process.resourceUsage().minorPageFault - f0) / steps;
  const hwm = procStatusKb('VmHWM') / 1024;
  const params = model.parameters();
  return {
    step_ms: times, peak_rss_mb: hwm, faults_per_step: faults,
    params: params.reduce((a, p) => a + p.numel, 0), trainable: params.filter((p) => p.requiresGrad).reduce((a, p) => a + p.numel, 0),
  };
}

if (args.child) {
  console.log(JSON.stringify(await runChild(args.child, args.shape as ShapeName, Number(args.seq), Number(args.steps ?? 2))));
  process.exit(0);
}

// ── parent: alternate the sides, summarise ──────────────────────────────────────────────

const log = (msg: string) => { if (!args.json) console.log(msg); };
const quick = args.quick;
const rounds = Number(args.rounds ?? (quick ? 2 : 3));
const steps = Number(args.steps ?? 2);
const parts = new Set(args.parts.split(','));
const SELF = fileURLToPath(import.meta.url);
const PEER = fileURLToPath(new URL('../../bench/llm_torch.py', import.meta.url));
const PYTHON = process.env.DISTILL_PYTHON ?? '/usr/bin/python3';

function lastJson<T>(out: string): T {
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

function side(who: 'ours' | 'torch', part: string, shape: ShapeName, seq: number): SideResult {
  const common = ['--shape', shape, '--seq', String(seq), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads)];
  const out = who === 'ours'
    ? execFileSync(process.execPath, [SELF, '--child', part, ...common, ...(args.checkpointing ? ['--checkpointing'] : []), ...(args['bf16-base'] ? ['--bf16-base'] : [])], { encoding: 'utf8', maxBuffer: 1 << 26 })
    : execFileSync(PYTHON, [PEER, '--part', part.replace(/_bf16$/, ''), ...(part.endsWith('_bf16') ? ['--amp'] : []), ...(part === 'lora_bf16' && args['bf16-base'] ? ['--bf16-base'] : []), ...common, '--lora-r', String(LORA.r), '--lora-alpha', String(LORA.alpha)], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...peerEnv(threads), ...(args['peer-no-mmap'] ? { MALLOC_MMAP_MAX_: '0' } : {}) } });
  return lastJson<SideResult>(out);
}

/** Model FLOPs of one forward over T tokens (matmuls only; attention over the full T×T). */
function forwardFlops(s: Shape, T: number): number {
  const hd = s.d / s.heads;
  const proj = s.d * s.heads * hd * 2 + s.d * s.kv * hd * 2 + 3 * s.d * s.mlp; // q, o; k, v; gate, up, down
  return s.layers * (2 * T * proj + 4 * T * T * s.heads * hd) + 2 * T * s.d * s.vocab;
}

interface PairResult extends PairSummary { tokens_per_s: { ours: number; torch: number }; gflops: { ours: number; torch: number }; peak_rss_mb: { ours: number; torch: number }; faults_per_step: { ours: number; torch: number }; params: { ours: number; torch: number }; trainable: { ours: number; torch: number } }

function measure(part: string, shape: ShapeName, seq: number, flopsPerStep: number): PairResult {
  const o: SideResult[] = [], p: SideResult[] = [];
  for (let r = 0; r < rounds; r++) {
    o.push(side('ours', part, shape, seq));
    p.push(side('torch', part, shape, seq));
    log(`${part} round ${r + 1}/${rounds}: ours ${median(o[r].step_ms).toFixed(0)} ms, PyTorch ${median(p[r].step_ms).toFixed(0)} ms`);
  }
  // The two sides must be the same model: a shape mismatch would make the ratio meaningless.
  if (o[0].params !== p[0].params || o[0].trainable !== p[0].trainable)
    throw new Error(`${part}: ours has ${o[0].params} parameters (${o[0].trainable} trained), PyTorch ${p[0].params} (${p[0].trainable})`);
  const sum = summarizeRounds(o.map((x) => x.step_ms), p.map((x) => x.step_ms));
  const r1 = (x: number) => +x.toFixed(1);
  return {
    ...sum,
    tokens_per_s: { ours: r1(seq / (sum.ours_ms / 1e3)), torch: r1(seq / (sum.torch_ms / 1e3)) },
    gflops: { ours: r1(flopsPerStep / sum.ours_ms / 1e6), torch: r1(flopsPerStep / sum.torch_ms / 1e6) },
    peak_rss_mb: { ours: Math.round(Math.max(...o.map((x) => x.peak_rss_mb))), torch: Math.round(Math.max(...p.map((x) => x.peak_rss_mb))) },
    faults_per_step: { ours: Math.round(median(o.map((x) => x.faults_per_step))), torch: Math.round(median(p.map((x) => x.faults_per_step))) },
    params: { ours: o[0].params, torch: p[0].params }, trainable: { ours: o[0].trainable, torch: p[0].trainable },
  };
}

/** sgemm GFLOP/s: n² float32 matmul, best of `reps`, on `threads` threads (libtorch → OpenBLAS). */
function sgemmGflops(n: number, reps: number): number {
  torch.setNumThreads(threads);
  return torch.tidy(() => {
    const a = torch.randn([n, n]), b = torch.randn([n, n]);
    torch.matmul(a, b).dispose(); // threads started, pages touched
    let best = 0;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      torch.matmul(a, b).dispose();
      best = Math.max(best, (2 * n ** 3) / ((performance.now() - t0) / 1e3) / 1e9);
    }
    return best;
  });
}

/** Median ms of an (m, k) @ (k, n) product in each dtype, ours. */
function matmulMs(m: number, k: number, n: number, reps: number): Record<string, number> {
  torch.setNumThreads(threads);
  const out: Record<string, number> = {};
  for (const dt of ['float32', 'bfloat16'] as const) {
    torch.tidy(() => {
      const a = torch.randn([m, k]).toDtype(dt), b = torch.randn([k, n]).toDtype(dt);
      torch.matmul(a, b).dispose();
      const ts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        torch.matmul(a, b).dispose();
        ts.push(performance.now() - t0);
      }
      out[dt] = +median(ts).toFixed(2);
    });
  }
  return out;
}

// OpenBLAS picks its kernels by CPU unless OPENBLAS_CORETYPE names one (this machine's
// environment sets Haswell: AVX2 kernels, about half the float32 matmul speed of the
// AVX-512 ones it detects otherwise). Recorded, never changed: both sides read it.
const result: Record<string, unknown> = { threads, rounds, steps, warmup, quick, libtorch: torch.buildInfo().version, openblas_coretype: process.env.OPENBLAS_CORETYPE ?? 'auto', peer_no_mmap: args['peer-no-mmap'] };
let peak = 0;
if (parts.has('sgemm') || parts.has('train') || parts.has('lora') || parts.has('train_bf16') || parts.has('lora_bf16')) {
  const n = quick ? 512 : 2048;
  const ours = sgemmGflops(n, 10);
  const peer = lastJson<{ gflops: number }>(execFileSync(PYTHON, [PEER, '--part', 'sgemm', '--n', String(n), '--steps', '10', '--threads', String(threads)], { encoding: 'utf8', env: peerEnv(threads) })).gflops;
  peak = Math.max(ours, peer);
  result.sgemm = { n, gflops_ours: +ours.toFixed(1), gflops_torch: +peer.toFixed(1), peak_gflops: +peak.toFixed(1) };
  log(`sgemm ${n}²: ours ${ours.toFixed(0)} GFLOP/s, PyTorch ${peer.toFixed(0)} GFLOP/s`);
}
const frac = (g: { ours: number; torch: number }) => ({ ours: +(g.ours / peak).toFixed(3), torch: +(g.torch / peak).toFixed(3) });
if (parts.has('train')) {
  const shape: ShapeName = quick ? 'tiny' : 'smol', seq = quick ? 64 : 512;
  // Full fine-tuning: forward + backward (input and weight gradients: 2× forward) = 3× forward.
  const r = measure('train', shape, seq, 3 * forwardFlops(SHAPES[shape], seq));
  result.train = { shape, seq, ...r, fraction_of_sgemm_peak: frac(r.gflops) };
}
if (parts.has('precision')) {
  const reps = quick ? 3 : 7;
  const matmul: Record<string, unknown> = {};
  // A square product, and the 0.5B shape's MLP up-projection at 1,024 tokens.
  for (const [m, k, n] of quick ? [[256, 256, 256]] : [[2048, 2048, 2048], [1024, 896, 4864]]) {
    const ours = matmulMs(m, k, n, reps);
    const peer = lastJson<{ ms: Record<string, number> }>(execFileSync(PYTHON, [PEER, '--part', 'matmul', '--mkn', `${m},${k},${n}`, '--steps', String(reps), '--threads', String(threads)], { encoding: 'utf8', env: peerEnv(threads) })).ms;
    matmul[`${m}x${k}x${n}`] = { ours_ms: ours, torch_ms: peer, bf16_speedup: { ours: +(ours.float32 / ours.bfloat16).toFixed(2), torch: +(peer.float32 / peer.bfloat16).toFixed(2) } };
  }
  // PyTorch's whole training step (the train part's shape, sequence 256) in each dtype:
  // pure bfloat16 (weights, activations, AdamW state), the fastest it can be.
  const shape: ShapeName = quick ? 'tiny' : 'smol', seq = quick ? 64 : 256;
  const lm: Record<string, number[]> = { float32: [], bfloat16: [] };
  for (let r = 0; r < rounds; r++)
    for (const dt of ['float32', 'bfloat16']) {
      const out = execFileSync(PYTHON, [PEER, '--part', 'train', '--shape', shape, '--seq', String(seq), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--dtype', dt], { encoding: 'utf8', env: peerEnv(threads) });
      lm[dt].push(median(lastJson<SideResult>(out).step_ms));
    }
  const f = median(lm.float32), b = median(lm.bfloat16);
  result.precision = { matmul, torch_lm_step: { shape, seq, float32_ms: +f.toFixed(1), bfloat16_ms: +b.toFixed(1), bf16_speedup: +(f / b).toFixed(2) } };
  log(`precision: ${JSON.stringify(result.precision)}`);
}
if (parts.has('lora')) {
  const shape: ShapeName = quick ? 'tiny-qwen' : 'qwen', seq = quick ? 64 : 1024;
  // Frozen base: backward computes input gradients only (1× a forward) plus the adapters'.
  const r = measure('lora', shape, seq, 2 * forwardFlops(SHAPES[shape], seq));
  result.lora = { shape, seq, r: LORA.r, alpha: LORA.alpha, checkpointing: args.checkpointing, ...r, fraction_of_sgemm_peak: frac(r.gflops) };
  // The whole LoRA step's peak resident memory, each side in its own process.
  result.peak_rss_mb = r.peak_rss_mb;
}
if (parts.has('chunked')) {
  // The loss part alone at Qwen2.5's vocabulary (bench/chunked_loss.ts, naive vs chunked).
  const c = await chunkedLossBench(quick ? { vocab: 4096, tokens: 64, d: 64, rounds: 1, reps: 1, threads, trainable: false } : { rounds, threads });
  result.chunked_loss = c;
  log(`chunked loss: ${JSON.stringify(c)}`);
}
// Mixed precision: the same steps under bfloat16 autocast on both sides, and the speedup of each
// side over its own float32 step (train / lora above, when they ran).
for (const [part, fp32] of [['train_bf16', 'train'], ['lora_bf16', 'lora']] as const) {
  if (!parts.has(part)) continue;
  const shape: ShapeName = part === 'train_bf16' ? (quick ? 'tiny' : 'smol') : (quick ? 'tiny-qwen' : 'qwen');
  const seq = quick ? 64 : part === 'train_bf16' ? 512 : 1024;
  const flops = (part === 'train_bf16' ? 3 : 2) * forwardFlops(SHAPES[shape], seq);
  const r = measure(part, shape, seq, flops);
  const f = result[fp32] as PairResult | undefined;
  const speedup = f ? { ours: +(f.ours_ms / r.ours_ms).toFixed(3), torch: +(f.torch_ms / r.torch_ms).toFixed(3) } : null;
  result[part] = { shape, seq, ...(part === 'lora_bf16' ? { r: LORA.r, alpha: LORA.alpha, checkpointing: args.checkpointing, bf16_base: args['bf16-base'] } : {}), ...r, fraction_of_sgemm_peak: peak ? frac(r.gflops) : null, speedup_over_fp32: speedup };
  log(`${part}: ${JSON.stringify(result[part])}`);
}
result.tokens_per_s = Object.fromEntries(['train', 'lora', 'train_bf16', 'lora_bf16'].filter((k) => result[k]).map((k) => [k, (result[k] as PairResult).tokens_per_s]));
console.log(JSON.stringify(result));

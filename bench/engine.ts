// Engine benchmark: the same training steps in our engine and in PyTorch, same machine,
// same run, same threads. Usage: npm run bench:engine -- [--json] [--threads N] [--steps N] [--rounds N]
// Both sides stay loaded (the peer is one long-lived process, bench/peer.ts) and take turns:
// `rounds` rounds of `steps` timed steps each, ours then PyTorch's. A round's figure is the
// median of its steps; the ratio is the median of the per-round ratios, with their
// interquartile range beside it, so load on a shared machine that comes and goes cancels.
// The last line of output is one JSON object:
//   {"mlp":{"ours_ms","torch_ms","ratio","ratio_iqr","rounds","faults_per_step":{ours,torch}},"cnn":{…},"op_overhead_us":…, …}
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { Adam } from '../src/optim/index.js';
import { median, summarizeRounds } from './stats.js';
import { PeerProcess, peerEnv } from './peer.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '12' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:engine -- [--json] [--threads N=1] [--steps N=10 per round] [--warmup N=10] [--rounds N=12]');
  process.exit(0);
}
const threads = Number(args.threads), steps = Number(args.steps), warmup = Number(args.warmup), rounds = Number(args.rounds);
const log = (msg: string) => { if (!args.json) console.log(msg); };
const PEER = fileURLToPath(new URL('../../bench/engine_torch.py', import.meta.url));

// The models of bench/engine_torch.py, layer for layer.
function build(model: 'mlp' | 'cnn') {
  torch.manualSeed(0);
  if (model === 'mlp') {
    const net = new nn.Sequential(new nn.Linear(784, 1200), new nn.ReLU(), new nn.Linear(1200, 1200), new nn.ReLU(), new nn.Linear(1200, 10));
    return { net, x: torch.keep(torch.randn([128, 784])), y: torch.keep(torch.randint(0, 10, [128])) };
  }
  const net = new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(64 * 7 * 7, 10));
  return { net, x: torch.keep(torch.randn([64, 1, 28, 28])), y: torch.keep(torch.randint(0, 10, [64])) };
}

/** Our training step, warmed up; `time(n)` runs n timed steps. */
function ours(model: 'mlp' | 'cnn') {
  const { net, x, y } = build(model);
  const opt = new Adam(net.parameters(), { lr: 1e-3 });
  const step = () =>
    torch.tidy(() => {
      opt.zeroGrad();
      const loss = torch.crossEntropy(net.call(x), y);
      loss.backward();
      opt.step();
    });
  for (let i = 0; i < warmup; i++) step();
  return {
    time(n: number): number[] {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        step();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return times;
    },
    dispose() {
      opt.dispose();
      net.dispose();
      x.dispose();
      y.dispose();
    },
  };
}

/** Per-op overhead: one 1-element add, created and disposed, median over batches. */
function opOverheadUs(): number {
  const a = torch.tensor([1]), b = torch.tensor([2]);
  const batch = 20000, per: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) a.add(b).dispose();
    per.push(Number(process.hrtime.bigint() - t0) / 1e3 / batch);
  }
  a.dispose();
  b.dispose();
  return median(per.slice(3));
}

torch.setNumThreads(threads);
const result: Record<string, unknown> = {};
for (const model of ['mlp', 'cnn'] as const) {
  const peer = new PeerProcess('/usr/bin/python3', [PEER, '--model', model, '--warmup', String(warmup), '--threads', String(threads), '--serve'], peerEnv(threads));
  await peer.next(); // set up and warmed up
  const me = ours(model);
  const o: number[][] = [], p: number[][] = [], peerFaults: number[] = [];
  const f0 = process.resourceUsage().minorPageFault;
  for (let r = 0; r < rounds; r++) {
    o.push(me.time(steps));
    p.push(await peer.time(steps));
    peerFaults.push(peer.faultsPerStep);
    log(`${model} round ${r + 1}/${rounds}: ours ${median(o[r]).toFixed(2)} ms, PyTorch ${median(p[r]).toFixed(2)} ms`);
  }
  // Minor page faults per step: ~0 once the allocator keeps its memory (native/threads.cc
  // tune_malloc); thousands per step, and a slow or fast mode by chance, without.
  const faults = (process.resourceUsage().minorPageFault - f0) / (rounds * steps);
  me.dispose();
  await peer.close();
  result[model] = { ...summarizeRounds(o, p), faults_per_step: { ours: Math.round(faults), torch: Math.round(median(peerFaults)) } };
}
result.op_overhead_us = +opOverheadUs().toFixed(3);
result.threads = threads;
result.steps = steps * rounds;
result.libtorch = torch.buildInfo().version;
console.log(JSON.stringify(result));

// Engine benchmark: the same training steps in our engine and in PyTorch, same machine,
// same run, same threads. Usage: npm run bench:engine -- [--json] [--threads N] [--steps N] [--rounds N]
// The last line of output is one JSON object:
//   {"mlp":{"ours_ms","torch_ms","ratio"},"cnn":{…},"op_overhead_us":…, …}
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { Adam } from '../src/optim/index.js';
import { median } from './stats.js';
import { peerEnv } from './peer.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:engine -- [--json] [--threads N=1] [--steps N=40] [--warmup N=10] [--rounds N=3]');
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

function timeOurs(model: 'mlp' | 'cnn'): number[] {
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
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    step();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  opt.dispose();
  net.dispose();
  x.dispose();
  y.dispose();
  return times;
}

function timeTorch(model: 'mlp' | 'cnn'): number[] {
  const out = execFileSync('/usr/bin/python3', [PEER, '--model', model, '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads)], { encoding: 'utf8', env: peerEnv(threads) });
  return (JSON.parse(out) as { step_ms: number[] }).step_ms;
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
  const ours: number[] = [], peer: number[] = [];
  // Interleave rounds so drift on the machine hits both sides alike.
  for (let r = 0; r < rounds; r++) {
    ours.push(...timeOurs(model));
    peer.push(...timeTorch(model));
    log(`${model} round ${r + 1}/${rounds}: ours ${median(ours).toFixed(2)} ms, PyTorch ${median(peer).toFixed(2)} ms`);
  }
  const o = median(ours), p = median(peer);
  result[model] = { ours_ms: +o.toFixed(3), torch_ms: +p.toFixed(3), ratio: +(o / p).toFixed(3) };
}
result.op_overhead_us = +opOverheadUs().toFixed(3);
result.threads = threads;
result.steps = steps * rounds;
result.libtorch = torch.buildInfo().version;
console.log(JSON.stringify(result));

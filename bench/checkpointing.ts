// Activation checkpointing's trade: peak memory and step time of forwardBackward with and
// without it, on a 20-layer model. Each mode runs in its own child process, so its peak
// resident set (VmHWM of /proc/self/status) is its own.
// Usage: node dist/bench/checkpointing.js [--steps N=3] [--threads N=1] [--batch 4] [--seq 256]
import { execFileSync } from 'node:child_process';
import { procStatusKb } from './stats.js';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { CausalLM, LM_DEFAULTS, countLmParameters, forwardBackward } from '../src/lm/index.js';

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    steps: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '256' },
  },
});
const config = { ...LM_DEFAULTS, vocabSize: 512, dim: 256, nLayers: 20, nHeads: 4, nKvHeads: 2, hiddenDim: 704, maxSeqLen: 512 };

/** Resident set now and its peak so far, in MB. */
function rss(): { now: number; peak: number } {
  return { now: procStatusKb('VmRSS') / 1024, peak: procStatusKb('VmHWM') / 1024 };
}

function child(checkpointing: boolean): void {
  torch.setNumThreads(Number(args.threads));
  torch.manualSeed(0);
  const model = new CausalLM(config);
  const B = Number(args.batch), T = Number(args.seq);
  const ids = torch.randint(0, config.vocabSize, [B, T]);
  const target = torch.randint(0, config.vocabSize, [B, T]);
  const step = () => {
    forwardBackward(model, ids, (h) => {
      const logits = model.head(h); // (B, T, V)
      torch.crossEntropy(logits.reshape([-1, config.vocabSize]), target.reshape([-1])).backward();
    }, { checkpointing });
  };
  // Baseline: the runtime and the model, before any step (the first step adds the gradients, one more model's worth).
  const base = rss().now;
  const steps = Number(args.steps);
  step(); // warm-up
  // CPU time as well as wall time: on a shared machine the process's own CPU time is the steadier figure (1 thread).
  const t0 = performance.now(), c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - t0) / steps;
  const c = process.cpuUsage(c0);
  const cpu_ms = (c.user + c.system) / 1000 / steps;
  console.log(JSON.stringify({ checkpointing, ms, cpu_ms, base_mb: base, peak_mb: rss().peak }));
}

if (args.child) child(args.child === 'ckpt');
else {
  const self = fileURLToPath(import.meta.url);
  const run = (mode: string) => JSON.parse(execFileSync(process.execPath, [self, '--child', mode, ...process.argv.slice(2)], { encoding: 'utf8' }).trim().split('\n').pop()!);
  const plain = run('plain');
  const ckpt = run('ckpt');
  console.log(`model: ${countLmParameters(config) / 1e6} M parameters, ${config.nLayers} layers, batch ${args.batch} × ${args.seq}`);
  console.log(JSON.stringify({ plain, ckpt, peak_ratio: plain.peak_mb / ckpt.peak_mb, activation_ratio: (plain.peak_mb - plain.base_mb) / (ckpt.peak_mb - ckpt.base_mb), time_ratio: ckpt.ms / plain.ms, cpu_time_ratio: ckpt.cpu_ms / plain.cpu_ms }));
}

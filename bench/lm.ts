// LM training-step benchmark: our engine (src/reason/sft.ts trainLm) against PyTorch
// (scripts/lm_torch.py, the same model, data, batch and optimizer) in the same run.
// Usage: npm run bench:lm -- [--json] [--steps N] [--threads N] [--size student|small|teacher] [--rounds N]
// Rounds alternate ours and PyTorch (a fresh run of `steps` + 3 warm-up steps each); a round's
// figure is the median of its step times, the ratio the median of the per-round ratios, its
// interquartile range beside it (bench/stats.ts), so load that comes and goes cancels out.
// Last line: {"ours_ms_per_step", "torch_ms_per_step", "ours_vs_torch_ratio", "ratio_iqr", …}
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { CausalLM, countLmParameters } from '../src/lm/index.js';
import { ByteTokenizer } from '../src/lm/index.js';
import { generateProblems } from '../src/reason/problems/index.js';
import { trainLm } from '../src/reason/sft.js';
import { peerEnv } from './peer.js';
import { summarizeRounds } from './stats.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    steps: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    size: { type: 'string', default: 'student' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:lm -- [--json] [--steps N=10] [--rounds N=3] [--threads N=1] [--size student|small|teacher]   (needs python3-torch)');
  process.exit(0);
}
const steps = Number(args.steps);
const rounds = Number(args.rounds);
const threads = Number(args.threads);
const sizes = {
  // The reasoning demo's student (the teacher pruned to 549k parameters), and its earlier 193k one.
  student: { dim: 96, nLayers: 6, nHeads: 3, nKvHeads: 3, hiddenDim: 160 },
  small: { dim: 64, nLayers: 3, nHeads: 2, nKvHeads: 2, hiddenDim: 192 },
  teacher: { dim: 192, nLayers: 6, nHeads: 6, nKvHeads: 6, hiddenDim: 512 },
};
const size = sizes[args.size as keyof typeof sizes];
if (!size) throw new Error(`--size must be student, small or teacher, got '${args.size}'`);
torch.setNumThreads(threads);
const tok = new ByteTokenizer();
const problems = generateProblems({ families: ['chickens-rabbits'], n: 1e6, seed: 1, split: 'train', lang: 'both' });
const train = problems.map((p) => ({ prompt: tok.chatPrompt([{ role: 'user', content: p.question }]), completion: [...tok.encode(p.solution!), tok.eosId] }));
const config = { vocabSize: tok.vocabSize, ropeTheta: 10000, normEps: 1e-5, tieEmbeddings: false, maxSeqLen: 384, ...size };
const batchSize = 32;

// Ours: the first 3 steps warm up (allocator, thread pool), then `steps` timed, each from
// one onStep to the next.
function ours(): number[] {
  torch.manualSeed(0);
  const model = new CausalLM(config);
  const stamps: number[] = [];
  trainLm({ model, examples: train, steps: steps + 3, batchSize, lr: 3e-3, padId: tok.eosId, onStep: (s) => { if (s.step >= 3) stamps.push(performance.now()); } });
  model.dispose();
  return stamps.slice(1).map((t, i) => t - stamps[i]);
}

// PyTorch: the same recipe through scripts/lm_torch.py's train(), timed the same way (from
// one loss call to the next).
const dir = mkdtempSync(join(tmpdir(), 'bench-lm-'));
const data = join(dir, 'data.json');
writeFileSync(data, JSON.stringify({ config, train, test: [], steps: steps + 3, batchSize, lr: 3e-3, seed: 0, eos: tok.eosId }));
const script = fileURLToPath(new URL('../../scripts/lm_torch.py', import.meta.url));
const py = `
import sys, time, json, torch
torch.set_num_threads(${threads})
torch.set_flush_denormal(True)
sys.argv = ['lm_torch.py']
src = open(${JSON.stringify(script)}).read().replace('if __name__ == "__main__":', 'if False:')
exec(src)
import torch.nn.functional as F
d = json.load(open(${JSON.stringify(data)}))
orig = F.cross_entropy
stamps = []
def ce(*a, **k):
    stamps.append(time.perf_counter()); return orig(*a, **k)
F.cross_entropy = ce
save_file = None
import types
sys.modules['safetensors'] = types.ModuleType('safetensors'); m = types.ModuleType('safetensors.torch'); m.save_file = lambda *a, **k: None; sys.modules['safetensors.torch'] = m
train(d, ${JSON.stringify(join(dir, 'out'))})
s = stamps[3:]
print(json.dumps({"step_ms": [(b - a) * 1000 for a, b in zip(s, s[1:])]}))
`;
function peer(): number[] {
  const out = execFileSync(process.env.DISTILL_PYTHON ?? '/usr/bin/python3', ['-c', py], { encoding: 'utf8', maxBuffer: 1 << 26, env: peerEnv(threads) });
  return (JSON.parse(out.trim().split('\n').pop()!) as { step_ms: number[] }).step_ms;
}

const o: number[][] = [], p: number[][] = [];
for (let r = 0; r < rounds; r++) {
  o.push(ours());
  p.push(peer());
}
rmSync(dir, { recursive: true, force: true });
const sum = summarizeRounds(o, p);
const result = {
  size: args.size, params: countLmParameters(config), batchSize, threads, steps, rounds,
  ours_ms_per_step: +sum.ours_ms.toFixed(1), torch_ms_per_step: +sum.torch_ms.toFixed(1), ours_vs_torch_ratio: sum.ratio, ratio_iqr: sum.ratio_iqr,
};
if (!args.json) console.log(`LM training step (${args.size}, ${result.params} params, batch ${batchSize}, ${threads} thread(s)): ours ${result.ours_ms_per_step} ms, PyTorch ${result.torch_ms_per_step} ms`);
console.log(JSON.stringify(result));

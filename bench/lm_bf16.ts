// Forward speed of the same Llama-family model with float32 and with bfloat16 parameters
// (model.to('bfloat16'): Hugging Face's eager bf16 numerics, model.ts): a Qwen2.5-0.5B-shaped
// model cut to `--layers` blocks (d 896, 14/2 heads, MLP 4864, vocabulary 151,936, tied), random
// N(0, 0.02²) weights. Per repetition, alternating the two models:
//   prefill: one forward over a (1, --tokens) prompt, logits included;
//   decode: generate() of --new greedy tokens after a 32-token prompt (KV cache; one token a step).
// Usage: node dist/bench/lm_bf16.js [--reps N] [--layers N] [--tokens T] [--new N] [--threads N]
// Prints one JSON object: medians in ms and the float32 / bfloat16 ratios.
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { init } from '../src/nn/index.js';
import { CausalLM } from '../src/lm/model.js';
import { generate } from '../src/lm/generate.js';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    layers: { type: 'string', default: '4' },
    tokens: { type: 'string', default: '128' },
    new: { type: 'string', default: '16' },
    threads: { type: 'string', default: '1' },
  },
});
torch.setNumThreads(Number(args.threads));
const cfg = { arch: 'qwen2' as const, vocabSize: 151936, dim: 896, nLayers: Number(args.layers), nHeads: 14, nKvHeads: 2, hiddenDim: 4864,
  maxSeqLen: 1024, ropeTheta: 1e6, normEps: 1e-6, qkvBias: true, tieEmbeddings: true };
torch.manualSeed(0);
const f32 = init.skipInit(() => new CausalLM(cfg)).eval();
torch.noGrad(() => f32.parameters().forEach((p) => void p.normal_(0, 0.02)));
const bf16 = init.skipInit(() => new CausalLM(cfg)).eval();
bf16.loadStateDict(f32.stateDict());
bf16.to('bfloat16');

const ids = torch.randint(0, cfg.vocabSize, [1, Number(args.tokens)]);
const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919) % cfg.vocabSize);
const time = (fn: () => void) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = { prefill_f32: [] as number[], prefill_bf16: [] as number[], decode_f32: [] as number[], decode_bf16: [] as number[] };
for (let r = 0; r < Number(args.reps); r++)
  for (const [m, tag] of [[f32, 'f32'], [bf16, 'bf16']] as const) {
    runs[`prefill_${tag}`].push(time(() => torch.tidy(() => void torch.noGrad(() => m.call(ids)))));
    runs[`decode_${tag}`].push(time(() => void generate(m, prompt, { maxNewTokens: Number(args.new) })));
  }
const med = Object.fromEntries(Object.entries(runs).map(([k, v]) => [`${k}_ms`, Math.round(median(v))]));
console.log(JSON.stringify({
  shape: `Qwen2.5-0.5B cut to ${cfg.nLayers} layers`, tokens: Number(args.tokens), new_tokens: Number(args.new), threads: torch.getNumThreads(), ...med,
  prefill_speedup: Number((median(runs.prefill_f32) / median(runs.prefill_bf16)).toFixed(2)),
  decode_speedup: Number((median(runs.decode_f32) / median(runs.decode_bf16)).toFixed(2)),
  runs: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map(Math.round)])),
}));

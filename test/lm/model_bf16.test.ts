// The causal LM with bfloat16 (and float16) parameters against PyTorch running the same
// weights under Hugging Face's eager numerics (test/helpers/llama_ref.py with dtype=…):
// RMSNorm statistics and the attention softmax in float32, RoPE cos/sin cast to the
// activations' dtype, logits in the parameters' dtype. Both sides call the same libtorch
// kernels on the same bf16 operands in the same order, so the logits must agree bit for bit.
// Then greedy decoding through a bfloat16 KV cache against PyTorch's greedy loop.
// (float16 converts too, but libtorch 1.13 has no float16 matmul on the CPU: "addmm_impl_cpu_"
// not implemented for 'Half', in PyTorch alike, so a float16 forward is a GPU-only affair.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { CausalLM, KVCache, type LmConfig } from '../../src/lm/model.js';
import { generate } from '../../src/lm/generate.js';
import { Module } from '../../src/nn/index.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';
import type { Encoded } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const exact = { rtol: 0, atol: 0 };
type Half = 'bfloat16' | 'float16';

/** A random float32 model's weights (as PyTorch gets them) and the same model converted with to(dtype). */
function converted(cfg: Partial<LmConfig> & { vocabSize: number }, dtype: Half, seed = 7) {
  torch.manualSeed(seed);
  const m = new CausalLM(cfg).eval();
  // Scale the weights up from HF's N(0, 0.02²) init so that the logits spread over many
  // bf16 binades and any rounding difference shows; norms get non-trivial weights.
  torch.noGrad(() => {
    for (const [n, p] of m.namedParameters()) {
      if (n.endsWith('norm.weight')) p.copy_(torch.rand([...p.shape]).add(0.5));
      else if (p.ndim > 1) p.mul_(8);
      else p.copy_(torch.randn([...p.shape]).mul(0.1)); // biases
    }
  });
  const sd = m.stateDict();
  const names = Object.keys(sd);
  const inputs: Record<string, torch.Tensor> = {};
  names.forEach((n, i) => (inputs[`p${i}`] = torch.noGrad(() => sd[n].detach().clone())));
  m.to(dtype);
  return { m, names, inputs };
}

const refHeader = (names: string[]) => [
  `import sys, json; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
  'from llama_ref import llama_logits',
  `names = ${JSON.stringify(names)}`,
  'sd = {n: globals()[f"p{i}"] for i, n in enumerate(names)}',
];

function parity(name: string, cfg: Partial<LmConfig> & { vocabSize: number }, dtype: Half, B: number, T: number): Check {
  const { m, names, inputs } = converted(cfg, dtype);
  torch.manualSeed(3);
  const x = torch.randint(0, cfg.vocabSize, [B, T]);
  const logits = torch.noGrad(() => m.call(x));
  return {
    name: `${name} in ${dtype}: logits equal PyTorch's HF-eager forward of the same ${dtype} weights bit for bit`,
    oracle: {
      code: [...refHeader(names), `out = {"y": llama_logits(sd, json.loads(${JSON.stringify(JSON.stringify(m.cfg))}), x, dtype=torch.${dtype})}`].join('\n'),
      inputs: { ...inputs, x },
    },
    check: (r) => {
      assert.equal(logits.dtype, dtype, 'logits come back in the parameters dtype');
      assert.equal((r.y as Encoded).dtype, dtype);
      assertClose(logits, r.y, { ...exact, label: 'logits' });
      const f = logits.toDtype('float32').dataSync() as Float32Array;
      assert.ok(new Set(f).size > f.length / 4, 'the logits are spread (the comparison is not vacuous)');
    },
  };
}

const llama = { vocabSize: 96, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, hiddenDim: 160, maxSeqLen: 64 };
const gqa = { ...llama, nKvHeads: 2, tieEmbeddings: true, ropeTheta: 500000,
  ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 } } as const;
const qwen2 = { ...llama, arch: 'qwen2', nKvHeads: 2, qkvBias: true, ropeTheta: 1e6, normEps: 1e-6 } as const;
const qwen3 = { ...llama, arch: 'qwen3', nHeads: 4, nKvHeads: 2, headDim: 32, qkNorm: true, oBias: true, normEps: 1e-6 } as const;

// Greedy decoding: PyTorch recomputes the full bf16 forward for every new token and takes the
// argmax; ours decodes through the KV cache (bf16 keys and values). Cached and full forwards
// differ by bf16 rounding noise (next test), so the seed is one whose top-2 logit margins
// (≥ 0.14 at every step) exceed that noise (≤ 0.09 at this weight scale).
const greedy = (() => {
  const { m, names, inputs } = converted(qwen2, 'bfloat16', 10);
  const prompt = [5, 17, 42, 8, 77];
  const gen = generate(m, prompt, { maxNewTokens: 8 });
  return {
    name: 'greedy generation with a bfloat16 model (KV cache in bfloat16) gives PyTorch\'s greedy tokens',
    oracle: {
      code: [...refHeader(names),
        `cfg = json.loads(${JSON.stringify(JSON.stringify(m.cfg))})`,
        `ids = torch.tensor([${JSON.stringify(prompt)}])`,
        'for _ in range(8):',
        '    nxt = llama_logits(sd, cfg, ids, dtype=torch.bfloat16)[0, -1].argmax()',
        '    ids = torch.cat([ids, nxt.view(1, 1)], 1)',
        `out = {"ids": ids[0, ${prompt.length}:]}`].join('\n'),
      inputs,
    },
    check: (r: Record<string, unknown>) => {
      assert.deepEqual(gen.ids, (r.ids as Encoded).data);
      assert.ok(new Set(gen.ids).size > 1, 'not a constant sequence');
    },
  } satisfies Check;
})();

oracleChecks([
  parity('llama (multi-head attention)', llama, 'bfloat16', 2, 11),
  parity('llama (GQA, tied head, llama3 RoPE scaling)', gqa, 'bfloat16', 2, 23),
  parity('qwen2 (q/k/v biases, GQA)', qwen2, 'bfloat16', 2, 9),
  parity('qwen3 (q/k norm, head_dim ≠ dim/heads, o bias)', qwen3, 'bfloat16', 2, 9),
  greedy,
]);

test("a bfloat16 model caches bfloat16 keys and values; cached decoding stays within bf16's own rounding noise of the full forward", () => {
  const { m } = converted(llama, 'bfloat16');
  torch.manualSeed(4);
  const x = torch.randint(0, llama.vocabSize, [2, 10]);
  const full = torch.noGrad(() => m.call(x));
  using cache = new KVCache(llama.nLayers, 10);
  const parts = torch.noGrad(() => [m.call(x.narrow(1, 0, 6), cache), ...[6, 7, 8, 9].map((i) => m.call(x.narrow(1, i, 1), cache))]);
  assert.equal(cache.layers[0]!.k.dtype, 'bfloat16');
  assert.equal(cache.layers[1]!.v.dtype, 'bfloat16');
  // Not bit-exact, in PyTorch alike: a cached step multiplies (1, d) rows where the full forward
  // multiplies (T, d), and the GEMM kernels block these differently; a float32 accumulation that
  // differs in its last bits rounds to a different bf16 now and then, and the layers carry it on.
  // The bound is twice bf16's own noise here (two bf16 paths, each that far from exact): the
  // noise is how far the same bf16-valued weights' float32 forward is from the bf16 one.
  // A cache bug (a wrong position, a stale key) lands far outside it.
  const maxDiff = (a: torch.Tensor, b: torch.Tensor) => torch.noGrad(() => a.toDtype('float32').sub(b.toDtype('float32')).abs().max().item());
  const cached = maxDiff(torch.cat(parts, 1), full);
  m.float();
  const noise = maxDiff(torch.noGrad(() => m.call(x)), full);
  assert.ok(cached <= 2 * noise, `cached vs full ${cached}, bf16 vs f32 ${noise}`);
  const shifted = maxDiff(torch.cat(parts, 1).narrow(1, 1, 9), full.narrow(1, 0, 9));
  assert.ok(shifted > 8 * noise, `a one-position shift must stand out: ${shifted} vs ${noise}`);
});

test("to('bfloat16') keeps the RoPE tables in float32; to('float32') afterwards restores a float32 forward", () => {
  const { m } = converted(llama, 'bfloat16');
  const bufs = Object.fromEntries(m.namedBuffers());
  assert.equal(bufs.rope_cos.dtype, 'float32');
  assert.equal(bufs.rope_sin.dtype, 'float32');
  assert.ok(m.parameters().every((p) => p.dtype === 'bfloat16'));
  // Nested in another module, the model's own `to` still runs (children convert through their own `to`).
  class Pair extends Module<[torch.Tensor], torch.Tensor> {
    readonly lm = this.registerModule('lm', new CausalLM(llama));
    forward(x: torch.Tensor) {
      return this.lm.call(x);
    }
  }
  const pair = new Pair().to('bfloat16');
  assert.deepEqual(pair.buffers().map((b) => b.dtype), ['float32', 'float32']);
  assert.ok(pair.parameters().every((p) => p.dtype === 'bfloat16'));
  // The same bf16-valued weights in float32 give float32 logits equal to a fresh float32 model holding them.
  const fresh = new CausalLM(m.cfg).eval();
  fresh.loadStateDict(m.stateDict());
  m.float();
  const x = torch.tensor([[1, 2, 3, 4]], { dtype: 'int64' });
  const a = torch.noGrad(() => m.call(x));
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(a.dataSync(), torch.noGrad(() => fresh.call(x)).dataSync());
});

// The Llama-style LM against a PyTorch reference written from Hugging Face's
// LlamaForCausalLM (test/helpers/llama_ref.py): logits and parameter gradients, then
// the KV cache against full recomputation, and the sampler's contracts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { CausalLM, KVCache, countLmParameters, type LmConfig } from '../../src/lm/model.js';
import { generate, generateBatch } from '../../src/lm/generate.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';
import type { OracleValue } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));

function ids(B: number, T: number, V: number, seed: number): torch.Tensor {
  torch.manualSeed(seed);
  return torch.randint(0, V, [B, T]);
}

/** Our logits and gradients of Σ logits·g for a random model; PyTorch recomputes both. */
function parity(name: string, cfg: Partial<LmConfig> & { vocabSize: number }, B: number, T: number): Check {
  torch.manualSeed(7);
  const m = new CausalLM(cfg);
  const x = ids(B, T, cfg.vocabSize, 3);
  const g = torch.randn([B, T, cfg.vocabSize]);
  const logits = m.call(x);
  logits.mul(g).sum().backward();
  const sd = m.stateDict();
  const names = Object.keys(sd);
  const inputs: Record<string, torch.Tensor> = { x, g };
  names.forEach((n, i) => (inputs[`p${i}`] = sd[n]));
  const c = JSON.stringify(m.cfg);
  return {
    name: `${name}: logits and every parameter gradient match the PyTorch Llama reference`,
    oracle: {
      code: [
        `import sys, json; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
        'from llama_ref import llama_logits',
        `names = ${JSON.stringify(names)}`,
        'ps = [globals()[f"p{i}"] for i in range(len(names))]',
        'sd = dict(zip(names, ps))',
        `y = llama_logits(sd, json.loads(${JSON.stringify(c)}), x)`,
        '(y * g).sum().backward()',
        'out = {"y": y, "grads": [p.grad for p in ps]}',
      ].join('\n'),
      inputs,
      grad: names.map((_, i) => `p${i}`),
    },
    check: (r) => {
      assertClose(logits, r.y, { rtol: 1e-4, atol: 1e-5, label: 'logits' });
      const grads = r.grads as OracleValue[];
      names.forEach((n, i) => assertClose(sd[n].grad!, grads[i], { rtol: 1e-3, atol: 1e-5, label: `grad ${n}` }));
    },
  };
}

oracleChecks([
  parity('multi-head attention', { vocabSize: 50, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 4, hiddenDim: 48, maxSeqLen: 32 }, 2, 9),
  parity('grouped-query attention (4 query heads per 2 kv heads), tied head', { vocabSize: 40, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 40, maxSeqLen: 16, tieEmbeddings: true, ropeTheta: 500 }, 3, 7),
]);

const small = { vocabSize: 30, dim: 24, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 32, maxSeqLen: 40 };

test('the parameter count formula agrees with the built model', () => {
  for (const c of [small, { ...small, tieEmbeddings: true }, { ...small, nKvHeads: 4 }]) {
    const m = new CausalLM(c);
    const n = m.parameters().reduce((a, p) => a + p.numel, 0);
    assert.equal(countLmParameters(m.cfg), n);
  }
});

test('decoding token by token through the KV cache gives the logits of one full forward', () => {
  torch.manualSeed(1);
  const m = new CausalLM(small).eval();
  const x = ids(2, 12, small.vocabSize, 5);
  const full = torch.noGrad(() => m.call(x)); // (2, 12, V)
  using cache = new KVCache(small.nLayers, 12);
  const parts = torch.noGrad(() => [m.call(x.narrow(1, 0, 5), cache), ...Array.from({ length: 7 }, (_, i) => m.call(x.narrow(1, 5 + i, 1), cache))]);
  assert.equal(cache.length, 12);
  const inc = torch.cat(parts, 1);
  const diff = inc.sub(full).abs().max().item();
  assert.ok(diff < 1e-5, `max |cached − full| = ${diff}`);
});

test('greedy generation equals argmax of a full recomputation at every step', () => {
  torch.manualSeed(2);
  const m = new CausalLM(small);
  const prompt = [1, 2, 3, 4];
  const out = generate(m, prompt, { maxNewTokens: 20, topLogprobs: 3 });
  const seq = [...prompt];
  for (let s = 0; s < 20; s++) {
    const z = torch.noGrad(() => m.call(torch.tensor(BigInt64Array.from(seq, BigInt), { shape: [1, seq.length] })).select(1, seq.length - 1).select(0, 0));
    const best = z.argmax().item();
    assert.equal(out.ids[s], best, `step ${s}`);
    // logprob of the chosen token = log_softmax at temperature 1
    const lp = Number(torch.logSoftmax(z, 0).dataSync()[best]);
    assert.ok(Math.abs(out.tokens[s].logprob - lp) < 1e-4);
    assert.equal(out.tokens[s].top[0].id, best);
    seq.push(best);
  }
  assert.equal(out.finishReason, 'length');
});

test('sampling: a seed reproduces, topK=1 and a tiny topP are greedy, eos and shouldStop end with "stop"', () => {
  torch.manualSeed(3);
  const m = new CausalLM(small);
  const p = [5, 6];
  const a = generate(m, p, { maxNewTokens: 15, temperature: 1, seed: 11 });
  const b = generate(m, p, { maxNewTokens: 15, temperature: 1, seed: 11 });
  const c = generate(m, p, { maxNewTokens: 15, temperature: 1, seed: 12 });
  assert.deepEqual(a.ids, b.ids);
  assert.notDeepEqual(a.ids, c.ids);
  const greedy = generate(m, p, { maxNewTokens: 15 }).ids;
  assert.deepEqual(generate(m, p, { maxNewTokens: 15, temperature: 1.5, topK: 1, seed: 4 }).ids, greedy);
  assert.deepEqual(generate(m, p, { maxNewTokens: 15, temperature: 1.5, topP: 1e-6, seed: 4 }).ids, greedy);
  const eos = greedy[3];
  const e = generate(m, p, { maxNewTokens: 15, eosId: eos });
  assert.equal(e.finishReason, 'stop');
  assert.ok(!e.ids.includes(eos));
  const s = generate(m, p, { maxNewTokens: 15, shouldStop: (ids) => ids.length === 4 });
  assert.deepEqual(s.ids, greedy.slice(0, 4));
  assert.equal(s.finishReason, 'stop');
});

test('generation stops at maxSeqLen with "length", and bad inputs get clear errors', () => {
  const m = new CausalLM(small);
  const g = generate(m, Array.from({ length: 35 }, () => 1), { maxNewTokens: 100 });
  assert.equal(g.ids.length, 5);
  assert.equal(g.finishReason, 'length');
  assert.throws(() => generate(m, [], { maxNewTokens: 3 }), /prompt is empty/);
  assert.throws(() => generate(m, Array.from({ length: 40 }, () => 1), { maxNewTokens: 3 }), /maxSeqLen is 40/);
  assert.throws(() => m.call(torch.zeros([1, 41], 'int64')), /exceeds maxSeqLen 40/);
  assert.throws(() => new CausalLM({ vocabSize: 10, dim: 30, nHeads: 4 }), /divisible by nHeads/);
  assert.throws(() => new CausalLM({ vocabSize: 10, dim: 32, nHeads: 4, nKvHeads: 3 }), /multiple of nKvHeads/);
});

test('no tensor leaks across a generation', () => {
  const m = new CausalLM(small);
  generate(m, [1, 2], { maxNewTokens: 3 });
  const before = torch.memory().liveTensors;
  generate(m, [1, 2, 3], { maxNewTokens: 10, temperature: 0.7, topLogprobs: 2 });
  assert.equal(torch.memory().liveTensors, before);
});

test('batched generation of left-padded prompts gives each row what it gets alone (greedy and seeded sampling)', () => {
  torch.manualSeed(4);
  const m = new CausalLM(small);
  const prompts = [[1, 2, 3, 4, 5, 6, 7], [8, 9], [10, 11, 12, 13], [3]];
  const opts = [{ maxNewTokens: 12 }, { maxNewTokens: 9, temperature: 0.9, seed: 3 }, { maxNewTokens: 12, topLogprobs: 2 }, { maxNewTokens: 5, temperature: 1.2, topK: 5, seed: 8 }];
  const batch = generateBatch(m, prompts.map((prompt, i) => ({ prompt, options: opts[i] })));
  prompts.forEach((p, i) => {
    const alone = generate(m, p, opts[i]);
    assert.deepEqual(batch[i].ids, alone.ids, `row ${i}`);
    assert.equal(batch[i].finishReason, alone.finishReason);
    batch[i].tokens.forEach((t, j) => assert.ok(Math.abs(t.logprob - alone.tokens[j].logprob) < 1e-4, `row ${i} token ${j} logprob`));
  });
});

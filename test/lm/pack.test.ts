// Sequence packing (src/lm/pack.ts + CausalLM's segments): the row layout by hand, the
// too-long example, and the loss and every gradient of a packed batch against (a) the same
// documents unpacked through our own model (makeBatch) and (b) PyTorch running each
// document alone through the Hugging Face-style reference (test/helpers/llama_ref.py).
// Both normalise the same way: the sum of the completion tokens' CE over their count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { CausalLM, type LmConfig, type ForwardOptions } from '../../src/lm/model.js';
import { tokenKdLoss } from '../../src/kd/token_kd.js';
import { makeBatch, disposeLmBatch, type LmExample } from '../../src/lm/batch.js';
import { packExamples, PAD_SEGMENT } from '../../src/lm/pack.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';
import type { OracleValue } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const ints = (t: Tensor) => Array.from(t.dataSync() as BigInt64Array, Number);
const enc = (t: Tensor) => ({ data: Array.from(t.dataSync() as Float32Array), shape: [...t.shape], dtype: t.dtype });

test('packing lays documents out first-fit, positions restart per document, targets stay inside their document', () => {
  const dist = (id: number) => ({ ids: [id, 0], logprobs: [-0.1, -2.5] });
  const examples: LmExample[] = [
    { prompt: [1, 2], completion: [3, 4] },
    { prompt: [5], completion: [6, 7, 8], teacher: [dist(6), dist(7), dist(8)] },
    { prompt: [9, 9, 9], completion: [1] },
  ];
  const b = packExamples(examples, 6, 0);
  try {
    assert.deepEqual(b.input.shape, [2, 6]);
    // Row 0: A's 3 inputs then B's 3; row 1: C, then padding. Each example of n tokens
    // takes n − 1 positions: its last token is only a target.
    assert.deepEqual(ints(b.input), [1, 2, 3, 5, 6, 7, 9, 9, 9, 0, 0, 0]);
    assert.deepEqual(ints(b.target), [-100, 3, 4, 6, 7, 8, -100, -100, 1, -100, -100, -100]);
    assert.deepEqual(ints(b.positions!), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0]);
    const P = PAD_SEGMENT;
    assert.deepEqual(ints(b.segments!), [0, 0, 0, 1, 1, 1, 0, 0, 0, P, P, P]);
    assert.equal(b.tokens, 6);
    assert.deepEqual(ints(b.teacher!.rows), [3, 4, 5]);
    assert.deepEqual(ints(b.teacher!.ids), [6, 0, 7, 0, 8, 0]);
  } finally {
    disposeLmBatch(b);
  }
  // The freed batch releases positions and segments too.
  assert.ok(b.positions!.isDisposed && b.segments!.isDisposed);
});

test('an example longer than the maximum sequence length is a ConfigError naming it and the limit', () => {
  const examples: LmExample[] = [{ prompt: [1], completion: [2, 3] }, { prompt: [1, 2, 3, 4], completion: [5, 6, 7, 8, 9, 10] }];
  assert.throws(() => packExamples(examples, 8, 0), (e: Error) => e instanceof torch.ConfigError && /example 1 has 10 tokens/.test(e.message) && /length 8\b/.test(e.message));
  assert.doesNotThrow(() => disposeLmBatch(packExamples(examples, 9, 0))); // 10 tokens = 9 inputs + the last target: fits a limit of 9
  assert.throws(() => packExamples([], 8, 0), torch.ConfigError);
});

/** Documents of varied prompt/completion lengths, ids derived from a seed. */
function documents(V: number, seed: number): LmExample[] {
  torch.manualSeed(seed);
  const lens: [number, number][] = [[3, 5], [1, 2], [6, 4], [2, 7], [4, 1], [2, 3]];
  return lens.map(([p, c]) => {
    const s = Array.from(torch.randint(0, V, [p + c]).dataSync() as BigInt64Array, Number);
    return { prompt: s.slice(0, p), completion: s.slice(p) };
  });
}

/** Mean CE over the batch's completion tokens, backward; returns the loss and every parameter gradient. */
function lossAndGrads(m: CausalLM, ids: Tensor, target: Tensor, o = {}): { loss: number; grads: Map<string, Tensor> } {
  m.zeroGrad();
  const loss = torch.tidy(() => {
    const logits = m.call(ids, undefined, o); // (B, T, V)
    const l = torch.crossEntropy(logits.reshape([-1, logits.shape[2]]), target.reshape([-1]), { ignoreIndex: -100 });
    l.backward();
    return l.item();
  });
  const grads = new Map(m.namedParameters().map(([n, p]) => [n, torch.keep(p.grad!.clone())] as const));
  m.zeroGrad();
  return { loss, grads };
}

const cfgs: [string, Partial<LmConfig> & { vocabSize: number }][] = [
  ['llama GQA untied', { vocabSize: 41, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 48, maxSeqLen: 32 }],
  ['qwen3 q/k norm tied', { vocabSize: 41, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 1, hiddenDim: 48, maxSeqLen: 32, arch: 'qwen3', qkNorm: true, headDim: 16, tieEmbeddings: true }],
];

for (const [name, cfg] of cfgs) {
  test(`${name}: a packed batch's loss and gradients equal the same documents unpacked`, () => {
    torch.tidy(() => {
      torch.manualSeed(9);
      const m = new CausalLM(cfg);
      const docs = documents(cfg.vocabSize, 4);
      const packed = packExamples(docs, 16, 0);
      const unpacked = makeBatch(docs, 16, 0);
      assert.ok(packed.input.shape[0] < docs.length, 'documents share rows');
      assert.equal(packed.tokens, unpacked.tokens);
      const a = lossAndGrads(m, packed.input, packed.target, { positions: packed.positions, segments: packed.segments });
      const b = lossAndGrads(m, unpacked.input, unpacked.target);
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * b.loss, `loss ${a.loss} vs ${b.loss}`);
      for (const [n, g] of b.grads) assertClose(a.grads.get(n)!, enc(g), { rtol: 1e-4, atol: 1e-6, label: `grad ${n}` });
      // Without segments the documents would see each other: the test can tell.
      const leaky = lossAndGrads(m, packed.input, packed.target, { positions: packed.positions });
      assert.ok(Math.abs(leaky.loss - b.loss) > 1e-4, 'attention across documents changes the loss');
    });
  });
}

test('token-level KD on packed rows (teacher top-k at the packed positions) equals the unpacked batch, loss and gradients', () => {
  torch.tidy(() => {
    const cfg = cfgs[0][1];
    torch.manualSeed(13);
    const m = new CausalLM(cfg);
    // Every other completion token has the teacher's top-3 (ids and normalised log-probabilities).
    const docs = documents(cfg.vocabSize, 6).map((d, j) => ({
      ...d,
      teacher: d.completion.map((t, c) => ((c + j) % 2 ? null : { ids: [t, (t + 1) % cfg.vocabSize, (t + 5) % cfg.vocabSize], logprobs: [Math.log(0.7), Math.log(0.2), Math.log(0.1)] })),
    }));
    const run = (b: ReturnType<typeof makeBatch>, o: ForwardOptions) => {
      m.zeroGrad();
      const parts = torch.tidy(() => {
        const r = tokenKdLoss(m.call(b.input, undefined, o), b.target, b.teacher, { alpha: 0.5, T: 2 });
        r.loss.backward();
        return { loss: r.loss.item(), kl: r.parts.soft.item() };
      });
      const grads = new Map(m.namedParameters().map(([n, p]) => [n, torch.keep(p.grad!.clone())] as const));
      return { ...parts, grads };
    };
    const packed = packExamples(docs, 16, 0);
    const unpacked = makeBatch(docs, 16, 0);
    assert.equal(packed.teacher!.rows.shape[0], unpacked.teacher!.rows.shape[0]);
    const a = run(packed, { positions: packed.positions, segments: packed.segments });
    const b = run(unpacked, {});
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * b.loss && Math.abs(a.kl - b.kl) <= 1e-5 * b.kl, `loss ${a.loss}/${b.loss}, kl ${a.kl}/${b.kl}`);
    for (const [n, g] of b.grads) assertClose(a.grads.get(n)!, enc(g), { rtol: 1e-4, atol: 1e-6, label: `grad ${n}` });
  });
});

/** Our packed loss and gradients; PyTorch runs each document alone and normalises by the total completion tokens. */
function torchParity(name: string, cfg: Partial<LmConfig> & { vocabSize: number }): Check {
  torch.manualSeed(21);
  const m = new CausalLM(cfg);
  const docs = documents(cfg.vocabSize, 8);
  const packed = torch.keep(packExamples(docs, 20, 0));
  const ours = lossAndGrads(m, packed.input, packed.target, { positions: packed.positions, segments: packed.segments });
  const sd = m.stateDict();
  const names = Object.keys(sd);
  const inputs: Record<string, Tensor> = {};
  names.forEach((n, i) => (inputs[`p${i}`] = sd[n]));
  // Each document alone: ids (1, n − 1), targets the next tokens with −100 on the prompt.
  docs.forEach((d, j) => {
    const s = [...d.prompt, ...d.completion];
    inputs[`x${j}`] = torch.tensor(BigInt64Array.from(s.slice(0, -1), BigInt), { shape: [1, s.length - 1] });
    inputs[`y${j}`] = torch.tensor(BigInt64Array.from(s.slice(1).map((t, i) => (i + 1 < d.prompt.length ? -100 : t)), BigInt), { shape: [1, s.length - 1] });
  });
  return {
    name: `${name}: a packed batch's loss and gradients match PyTorch running each document alone`,
    oracle: {
      code: [
        `import sys, json; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
        'from llama_ref import llama_logits',
        `names = ${JSON.stringify(names)}`,
        'ps = [globals()[f"p{i}"] for i in range(len(names))]',
        'sd = dict(zip(names, ps))',
        `cfg = json.loads(${JSON.stringify(JSON.stringify(m.cfg))})`,
        `n = ${docs.length}`,
        'total, count = 0.0, 0',
        'for j in range(n):',
        '    x, y = globals()[f"x{j}"], globals()[f"y{j}"]',
        '    logits = llama_logits(sd, cfg, x)',
        '    total = total + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100, reduction="sum")',
        '    count += int((y != -100).sum())',
        'loss = total / count',
        'loss.backward()',
        'out = {"loss": loss, "grads": [p.grad for p in ps]}',
      ].join('\n'),
      inputs,
      grad: names.map((_, i) => `p${i}`),
    },
    check: (r) => {
      assertClose(torch.tensor([ours.loss]).view([]), r.loss, { rtol: 1e-5, atol: 1e-6, label: 'loss' });
      const grads = r.grads as OracleValue[];
      names.forEach((n, i) => assertClose(ours.grads.get(n)!, grads[i], { rtol: 1e-3, atol: 1e-5, label: `grad ${n}` }));
    },
  };
}

oracleChecks(cfgs.map(([name, cfg]) => torchParity(name, cfg)));

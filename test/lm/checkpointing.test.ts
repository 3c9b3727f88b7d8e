// forwardBackward (src/lm/checkpointing.ts): the head gets the final hidden states as a
// leaf, and the gradients that reach every parameter, with and without per-block
// checkpointing, equal those of the plain `model.call(ids)` + `loss.backward()` — for the
// three architectures (llama GQA untied, qwen2 q/k/v bias tied, qwen3 q/k norm untied),
// for packed rows (positions + segments), and with random draws inside a block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { CausalLM, type LmConfig, type ForwardOptions } from '../../src/lm/model.js';
import { forwardBackward } from '../../src/lm/checkpointing.js';
import { packExamples } from '../../src/lm/pack.js';
import type { LmExample } from '../../src/lm/batch.js';
import { assertClose } from '../helpers/assert.js';

const base = { vocabSize: 37, dim: 32, nLayers: 3, nHeads: 4, hiddenDim: 40, maxSeqLen: 32 };
const ARCHS: [string, Partial<LmConfig> & { vocabSize: number }][] = [
  ['llama, GQA, untied head', { ...base, arch: 'llama', nKvHeads: 2 }],
  ['qwen2, q/k/v bias, tied head', { ...base, arch: 'qwen2', nKvHeads: 2, qkvBias: true, tieEmbeddings: true }],
  ['qwen3, q/k norm, head_dim 12, untied', { ...base, arch: 'qwen3', nKvHeads: 1, qkNorm: true, headDim: 12 }],
];

const enc = (t: Tensor) => ({ data: Array.from(t.dataSync() as Float32Array), shape: [...t.shape], dtype: t.dtype });

/** Every parameter's gradient (copied out), then cleared. */
function takeGrads(m: CausalLM): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [n, p] of m.namedParameters()) {
    assert.ok(p.grad, `${n} got no gradient`);
    out.set(n, torch.keep(p.grad.clone()));
  }
  m.zeroGrad();
  return out;
}

function assertSameGrads(got: Map<string, Tensor>, want: Map<string, Tensor>, what: string): void {
  for (const [n, g] of want) assertClose(got.get(n)!, enc(g), { rtol: 1e-5, atol: 1e-7, label: `${what}: grad ${n}` });
}

/** Mean cross-entropy of logits (B, T, V) against target (B, T), −100 ignored. */
const ce = (logits: Tensor, target: Tensor) => torch.crossEntropy(logits.reshape([-1, logits.shape[2]]), target.reshape([-1]), { ignoreIndex: -100 });

/** Loss and gradients three ways: model.call + backward, forwardBackward plain, forwardBackward checkpointed. */
function threeWays(m: CausalLM, ids: Tensor, target: Tensor, o: ForwardOptions, label: string): void {
  const want = torch.tidy(() => {
    const loss = ce(m.call(ids, undefined, o), target);
    loss.backward();
    return loss.item();
  });
  const ref = takeGrads(m);
  for (const checkpointing of [false, true]) {
    const got = forwardBackward(m, ids, (h) => {
      assert.ok(h.isLeaf && h.requiresGrad, 'the head gets a leaf that requires grad');
      assert.deepEqual(h.shape, [...ids.shape, m.cfg.dim]);
      const loss = ce(m.head(h), target);
      loss.backward();
      return loss.item();
    }, { ...o, checkpointing });
    assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `${label}: loss ${got} vs ${want}`);
    assertSameGrads(takeGrads(m), ref, `${label}, checkpointing ${checkpointing}`);
  }
}

for (const [name, cfg] of ARCHS) {
  test(`${name}: forwardBackward's gradients equal model.call + backward, with and without checkpointing`, () => {
    torch.tidy(() => {
      torch.manualSeed(11);
      const m = new CausalLM(cfg);
      // Non-trivial norm weights, so their gradients are not all alike.
      torch.noGrad(() => { for (const [n, p] of m.namedParameters()) if (n.endsWith('norm.weight')) p.add_(torch.randn([...p.shape]).mul(0.1)); });
      const ids = torch.randint(0, cfg.vocabSize, [2, 11]);
      const target = torch.randint(0, cfg.vocabSize, [2, 11]);
      threeWays(m, ids, target, {}, name);
    });
  });
}

test('packed rows (positions and segments): forwardBackward equals the plain forward with the same options', () => {
  torch.tidy(() => {
    torch.manualSeed(5);
    const cfg = ARCHS[1][1];
    const m = new CausalLM(cfg);
    const ex = (p: number, c: number): LmExample => ({
      prompt: Array.from({ length: p }, (_, i) => (i * 7 + p) % cfg.vocabSize),
      completion: Array.from({ length: c }, (_, i) => (i * 5 + c + 1) % cfg.vocabSize),
    });
    const b = packExamples([ex(3, 6), ex(2, 4), ex(5, 9), ex(1, 3)], 16, 0);
    assert.ok(b.input.shape[0] < 4, 'several documents share a row');
    threeWays(m, b.input, b.target, { positions: b.positions, segments: b.segments }, 'packed');
  });
});

test('checkpointing replays the random draws of each block (dropout inside a block) and leaves the generator where one forward would', () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const m = new CausalLM(ARCHS[0][1]);
    // A dropout inside every MLP, as a LoRA adapter's dropout would be.
    for (const block of m.layers) {
      const mlp = block.mlp;
      const forward = mlp.forward.bind(mlp);
      mlp.forward = (x: Tensor) => torch.dropout(forward(x), 0.3, true);
    }
    const ids = torch.randint(0, 37, [2, 9]);
    const target = torch.randint(0, 37, [2, 9]);
    torch.manualSeed(100);
    ce(m.call(ids), target).backward();
    const after = torch.randn([4]).dataSync();
    const ref = takeGrads(m);
    torch.manualSeed(100);
    forwardBackward(m, ids, (h) => ce(m.head(h), target).backward(), { checkpointing: true });
    assert.deepEqual(torch.randn([4]).dataSync(), after, 'the generator continues as after one forward');
    assertSameGrads(takeGrads(m), ref, 'dropout');
  });
});

test('frozen parameters (a LoRA-style frozen embedding, head and first block) get no gradient; the others match', () => {
  torch.tidy(() => {
    torch.manualSeed(4);
    const m = new CausalLM(ARCHS[0][1]);
    const frozen = (n: string) => n.startsWith('embed_tokens.') || n.startsWith('lm_head.') || n.startsWith('layers.0.');
    for (const [n, p] of m.namedParameters()) if (frozen(n)) p.requiresGrad_(false);
    const ids = torch.randint(0, 37, [2, 8]);
    const target = torch.randint(0, 37, [2, 8]);
    const grads = () => {
      const out = new Map<string, Tensor>();
      for (const [n, p] of m.namedParameters()) {
        if (frozen(n)) assert.equal(p.grad, null, `${n} is frozen`);
        else out.set(n, torch.keep(p.grad!.clone()));
      }
      m.zeroGrad();
      return out;
    };
    ce(m.call(ids), target).backward();
    const ref = grads();
    for (const checkpointing of [false, true]) {
      forwardBackward(m, ids, (h) => ce(m.head(h), target).backward(), { checkpointing });
      assertSameGrads(grads(), ref, `frozen, checkpointing ${checkpointing}`);
    }
  });
});

test('a head that does not call backward is a clear error', () => {
  torch.tidy(() => {
    const m = new CausalLM(ARCHS[0][1]);
    const ids = torch.randint(0, 37, [1, 5]);
    for (const checkpointing of [false, true])
      assert.throws(() => forwardBackward(m, ids, (h) => m.head(h).sum(), { checkpointing }), (e: Error) => e instanceof torch.ConfigError && /must call backward/.test(e.message));
  });
});

test('hidden() then the head weight gives forward()\'s logits exactly', () => {
  torch.tidy(() => {
    for (const [, cfg] of ARCHS) {
      torch.manualSeed(2);
      const m = new CausalLM(cfg);
      const ids = torch.randint(0, cfg.vocabSize, [2, 7]);
      const logits = torch.noGrad(() => m.call(ids));
      const h = torch.noGrad(() => m.hidden(ids));
      assert.deepEqual(h.shape, [2, 7, cfg.dim]);
      assert.equal(m.headWeight, cfg.tieEmbeddings ? m.embed_tokens.weight : m.lm_head!.weight);
      const viaWeight = torch.noGrad(() => (cfg.tieEmbeddings ? torch.matmul(h, m.headWeight.transpose(0, 1)) : torch.linear(h, m.headWeight)));
      assert.deepEqual(viaWeight.dataSync(), logits.dataSync());
    }
  });
});

// Mixed-precision LM training (issue 19 §5): precision 'bf16' runs the forward under
// torch.autocast('bfloat16') with float32 master weights. One step's loss and every
// parameter gradient are checked against PyTorch doing the same step under
// `torch.autocast('cpu', dtype=torch.bfloat16)` (test/helpers/llama_ref.py, logits.float(),
// cross-entropy, backward outside the scope), for the plain step, block checkpointing and the
// chunked loss; a tiny SFT run's bf16 loss curve tracks fp32's; a resume in the other
// precision is refused naming both.
//
// Tolerance: none where the kernels and their order are the same (the plain step, checkpointing,
// a one-chunk loss): loss and gradients are bit-identical. The many-chunk loss sums the head
// weight's gradient over chunks in float32 instead of rounding one bf16 product: that one
// tensor may differ by bf16 rounding at its scale (see the test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { CausalLM, lmConfig } from '../../src/lm/model.js';
import { makeBatch, type LmExample } from '../../src/lm/batch.js';
import { lmBatchLoss, trainLm } from '../../src/reason/sft.js';
import { applyLora, loraParameters } from '../../src/lm/lora.js';
import { runOracle, type Encoded } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const tok = new ByteTokenizer();
const cfg = lmConfig({ arch: 'llama', vocabSize: tok.vocabSize, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 48, maxSeqLen: 64, tieEmbeddings: true });
const examples: LmExample[] = ['x+y=10', 'y=8/2=4 so x=6', '2y=28-20=8', 'x=10-4=6, y=4', 'no', 'heads 10, legs 28', 'a=b', '7*6=42'].map((s, i) => ({
  prompt: tok.chatPrompt([{ role: 'user', content: `question ${i}${'?'.repeat(i)}` }]), completion: [...tok.encode(s), tok.eosId],
}));

function freshModel(): CausalLM {
  torch.manualSeed(7);
  const m = new CausalLM(cfg);
  // Non-trivial norm weights, so their gradients are not all alike.
  torch.noGrad(() => { for (const [n, p] of m.namedParameters()) if (n.endsWith('norm.weight')) p.add_(torch.randn([...p.shape]).mul(0.1)); });
  return m;
}

const flat = (t: Tensor) => Array.from(t.toDtype('float32').dataSync() as Float32Array);
const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('a bf16 step (plain, checkpointed, chunked loss): loss and every gradient match PyTorch under autocast bit for bit (many chunks: the head gradient within bf16 rounding)', () => {
  const batch = makeBatch(examples.slice(0, 4), 40, tok.eosId);
  const model = freshModel();
  const sd = model.stateDict();
  const names = Object.keys(sd);
  const inputs: Record<string, Tensor> = { ids: batch.input, target: batch.target };
  names.forEach((n, i) => (inputs[`p${i}`] = sd[n]));
  const step = (amp: boolean) => [
    'for p in ps: p.grad = None',
    amp ? "with torch.autocast('cpu', dtype=torch.bfloat16):\n  y = llama_logits(sd, cfg, ids)" : 'y = llama_logits(sd, cfg, ids)',
    'loss = F.cross_entropy(y.float().reshape(-1, y.shape[-1]), target.reshape(-1), ignore_index=-100)',
    'loss.backward()',
  ].join('\n');
  const [r] = runOracle([{
    code: [
      `import sys, json; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
      'from llama_ref import llama_logits',
      `names = ${JSON.stringify(names)}; cfg = json.loads(${JSON.stringify(JSON.stringify(model.cfg))})`,
      'ps = [globals()[f"p{i}"] for i in range(len(names))]; sd = dict(zip(names, ps))',
      step(false), 'l32, g32 = loss.detach(), [p.grad.clone() for p in ps]',
      step(true), 'out = {"loss32": l32, "grads32": g32, "loss": loss.detach(), "logits_dtype": str(y.dtype), "grads": [p.grad for p in ps]}',
    ].join('\n'),
    inputs, grad: names.map((_, i) => `p${i}`),
  }]);
  assert.equal(r.error, undefined, `PyTorch failed: ${r.error}`);
  assert.equal(r.logits_dtype, 'torch.bfloat16', 'PyTorch\'s autocast logits are bfloat16');
  const want = (r.grads as Encoded[]).map((e) => e.data);
  const want32 = (r.grads32 as Encoded[]).map((e) => e.data);
  const loss16 = (r.loss as Encoded).data[0], loss32 = (r.loss32 as Encoded).data[0];
  assert.notEqual(loss16, loss32, 'bf16 and float32 losses differ');

  // The plain step, checkpointing and a one-chunk chunked loss run PyTorch's very kernels in
  // the same order: bit-identical. With many chunks the head weight's gradient is a float32 sum
  // of per-chunk bf16 products (PyTorch rounds one bf16 product over all tokens): it may differ
  // by bf16 rounding at the tensor's scale (2^-8·max|g|), and is no further from float32 than PyTorch's.
  type Mode = { checkpointing?: boolean; chunkedLoss?: boolean; chunkSize?: number };
  const exact: Mode[] = [{}, { checkpointing: true }, { chunkedLoss: true, chunkSize: 1000 }];
  for (const mode of [...exact, { chunkedLoss: true, chunkSize: 16, checkpointing: true } as Mode]) {
    const isExact = exact.includes(mode);
    const label = JSON.stringify(mode);
    const loss = torch.tidy(() => {
      const out = lmBatchLoss(model, batch, { alpha: 1, T: 1, weight: 1, precision: 'bf16', ...mode });
      if (out.backward) out.backward(1);
      else out.loss.backward();
      return out.loss.item();
    });
    assert.equal(torch.isAutocastEnabled(), false, `${label}: the autocast scope is closed`);
    if (isExact) assert.equal(loss, loss16, `${label}: loss ${loss}, PyTorch bf16 ${loss16} (float32 ${loss32})`);
    else assert.ok(Math.abs(loss - loss16) <= 1e-6 * loss16, `${label}: loss ${loss}, PyTorch bf16 ${loss16}`);
    names.forEach((n, i) => {
      const p = model.namedParameters().find(([k]) => k === n)![1];
      assert.ok(p.grad, `${label}: ${n} got a gradient`);
      assert.equal(p.grad.dtype, 'float32', `${label}: ${n}'s gradient is float32 (master weights)`);
      const got = flat(p.grad);
      const ours = maxAbsDiff(got, want[i]);
      assert.ok(maxAbsDiff(want[i], want32[i]) > 0, `${n}: PyTorch's bf16 gradient differs from float32`);
      if (isExact || n !== 'embed_tokens.weight') assert.equal(ours, 0, `${label}: grad ${n} differs from PyTorch's by up to ${ours}`);
      else {
        const scale = Math.max(...want[i].map(Math.abs));
        assert.ok(ours <= 2 ** -8 * scale, `${label}: head grad: max |ours − PyTorch bf16| = ${ours}, max |g| ${scale}`);
        assert.ok(maxAbsDiff(got, want32[i]) <= maxAbsDiff(want[i], want32[i]), `${label}: head grad no further from float32 than PyTorch's bf16`);
      }
    });
    model.zeroGrad();
  }
  model.dispose();
});

test('a tiny SFT run in bf16 tracks the float32 run\'s loss curve, and a resume in the other precision is refused naming both', () => {
  const work = mkdtempSync(join(tmpdir(), 'sft-precision-'));
  try {
    const curve = (precision: 'fp32' | 'bf16', checkpoint?: string) => {
      const losses: number[] = [];
      const model = freshModel();
      trainLm({ model, examples, steps: 30, batchSize: 4, lr: 3e-3, seed: 3, padId: tok.eosId, maxLen: 40, precision, checkpoint, onStep: (s) => losses.push(s.loss) });
      for (const p of model.parameters()) assert.equal(p.dtype, 'float32', 'master weights stay float32');
      model.dispose();
      return losses;
    };
    const ckpt = join(work, 'run.ckpt');
    const f32 = curve('fp32'), b16 = curve('bf16', ckpt);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    // Both learn: the last 5 steps' mean loss is well below the first 5's.
    for (const c of [f32, b16]) assert.ok(mean(c.slice(-5)) < 0.8 * mean(c.slice(0, 5)), `loss falls: ${c.slice(0, 5)} … ${c.slice(-5)}`);
    // bf16 tracks fp32: every step within 5% (bf16 carries ~3 significant digits; 30 Adam steps compound them).
    const worst = Math.max(...f32.map((v, i) => Math.abs(b16[i] - v) / v));
    assert.ok(worst < 0.05, `bf16 vs fp32 worst relative loss gap ${worst}`);
    assert.notDeepEqual(b16, f32, 'bf16 really computed something else');
    // The finished bf16 run's checkpoint names its precision; asking for fp32 is one ConfigError naming both.
    assert.throws(() => curve('fp32', ckpt), (e: Error) => e instanceof torch.ConfigError && /precision bf16/.test(e.message) && /precision fp32/.test(e.message));
    assert.throws(() => curve('fp16' as 'bf16'), (e: Error) => e instanceof torch.ConfigError && /fp16/.test(e.message));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('bf16 with LoRA: checkpointing recomputes under autocast and gives the adapters the same gradients as without (the cast cache of the no-grad forward is not reused)', () => {
  const batch = makeBatch(examples.slice(0, 4), 40, tok.eosId);
  const model = freshModel();
  applyLora(model, { r: 4, alpha: 8 }, 3);
  // B starts at zero, so A's gradient would be zero: give B values first.
  torch.noGrad(() => { for (const p of loraParameters(model)) if (p.shape[1] === 4) p.copy_(torch.randn([...p.shape]).mul(0.05)); });
  const grads = (mode: { checkpointing?: boolean; chunkedLoss?: boolean }) => {
    torch.tidy(() => {
      const out = lmBatchLoss(model, batch, { alpha: 1, T: 1, weight: 1, precision: 'bf16', ...mode });
      if (out.backward) out.backward(1);
      else out.loss.backward();
    });
    const g = loraParameters(model).map((p) => {
      assert.ok(p.grad, 'every adapter gets a gradient');
      return flat(p.grad);
    });
    model.zeroGrad();
    return g;
  };
  const plain = grads({});
  assert.ok(plain.every((g) => g.some((v) => v !== 0)), 'every adapter gradient is non-zero');
  for (const mode of [{ checkpointing: true }, { checkpointing: true, chunkedLoss: true }]) {
    const got = grads(mode);
    got.forEach((g, i) => assert.equal(maxAbsDiff(g, plain[i]), 0, `${JSON.stringify(mode)}: adapter ${i}`));
  }
  model.dispose();
});

test('bf16 with LoRA on a bfloat16 base (the base as a bf16 checkpoint loads): loss and the float32 adapters\' gradients match PyTorch + PEFT under autocast bit for bit', () => {
  const batch = makeBatch(examples.slice(0, 4), 40, tok.eosId);
  const model = freshModel().to('bfloat16');
  applyLora(model, { r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] }, 3);
  torch.noGrad(() => { for (const p of loraParameters(model)) if (p.shape[1] === 4) p.copy_(torch.randn([...p.shape]).mul(0.05)); });
  const lora = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const base = Object.entries(model.stateDict()).filter(([n]) => !n.includes('lora_'));
  for (const [n, p] of lora) assert.equal(p.dtype, 'float32', `${n}: adapters stay float32`);
  assert.ok(base.every(([, t]) => t.dtype === 'bfloat16'), 'the frozen base is bfloat16');
  const inputs: Record<string, Tensor> = { ids: batch.input, target: batch.target };
  base.forEach(([, t], i) => (inputs[`b${i}`] = t));
  lora.forEach(([, t], i) => (inputs[`a${i}`] = t));
  // PEFT's LoRA Linear: base(x) + lora_B(lora_A(x.to(A's dtype)))·scaling, the update cast to the result's dtype.
  const [r] = runOracle([{
    code: [
      `import sys, json; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
      'from llama_ref import llama_logits',
      `bn = ${JSON.stringify(base.map(([n]) => n))}; ln = ${JSON.stringify(lora.map(([n]) => n))}; cfg = json.loads(${JSON.stringify(JSON.stringify(model.cfg))})`,
      'sd = {n.replace(".base.", "."): globals()[f"b{i}"] for i, n in enumerate(bn)}',
      'ad = {n: globals()[f"a{i}"] for i, n in enumerate(ln)}',
      'mods = sorted({n.rsplit(".lora_", 1)[0] for n in ln})',
      'def upd(m): return lambda h: (F.linear(F.linear(h.to(torch.float32), ad[m + ".lora_A.weight"]), ad[m + ".lora_B.weight"]) * 2.0).to(h.dtype)',
      "with torch.autocast('cpu', dtype=torch.bfloat16):\n  y = llama_logits(sd, cfg, ids, lora={m: upd(m) for m in mods})",
      'loss = F.cross_entropy(y.float().reshape(-1, y.shape[-1]), target.reshape(-1), ignore_index=-100)',
      'loss.backward()',
      'out = {"loss": loss.detach(), "grads": [ad[n].grad for n in ln]}',
    ].join('\n'),
    inputs, grad: lora.map((_, i) => `a${i}`),
  }]);
  assert.equal(r.error, undefined, `PyTorch failed: ${r.error}`);
  const loss = torch.tidy(() => {
    const out = lmBatchLoss(model, batch, { alpha: 1, T: 1, weight: 1, precision: 'bf16' });
    out.loss.backward();
    return out.loss.item();
  });
  assert.equal(loss, (r.loss as Encoded).data[0]);
  lora.forEach(([n, p], i) => {
    assert.ok(flat(p.grad!).some((v) => v !== 0), `${n}: a gradient`);
    assert.equal(maxAbsDiff(flat(p.grad!), (r.grads as Encoded[])[i].data), 0, `${n}: gradient differs from PyTorch's`);
  });
  model.dispose();
});

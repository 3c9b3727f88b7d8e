// torch.autocast against PyTorch's `torch.autocast('cpu', dtype=torch.bfloat16)`: the same
// libtorch (1.13) runs both, so every output and every gradient must be BIT-identical and of
// the same dtype. Also the scope's state handling (nesting, restore on throw, enabled=false).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { runOracle, type Encoded, type OracleResult } from '../helpers/oracle.js';

torch.manualSeed(11);
const R = (...shape: number[]) => torch.randn(shape);
const inputs = {
  x: R(5, 7), w: R(3, 7), b: R(3), a: R(2, 5, 7), m: R(7, 4),
  img: R(2, 3, 6, 6), k: R(4, 3, 3, 3), kb: R(4), s: R(4, 6), t: R(4, 6),
};
const target = torch.tensor([1, 0, 3, 2], { dtype: 'int64' });

interface Case {
  name: string;
  /** Python under autocast; sets `y` (a tensor or a tuple of tensors). */
  py: string;
  ours: (v: Record<string, torch.Tensor>) => torch.Tensor | torch.Tensor[];
  /** Inputs whose gradients of Σ over the outputs of Σ y.float()² (backward outside the autocast scope) are compared. */
  grad?: (keyof typeof inputs)[];
}

const cases: Case[] = [
  { name: 'linear with bias', py: 'y = F.linear(x, w, b)', ours: (v) => torch.linear(v.x, v.w, v.b), grad: ['x', 'w', 'b'] },
  { name: 'matmul batched', py: 'y = torch.matmul(a, m)', ours: (v) => v.a.matmul(v.m), grad: ['a', 'm'] },
  { name: 'mm', py: 'y = x.mm(m)', ours: (v) => v.x.mm(v.m), grad: ['x', 'm'] },
  { name: 'conv2d', py: 'y = F.conv2d(img, k, kb, 1, 1)', ours: (v) => torch.conv2d(v.img, v.k, v.kb, 1, 1), grad: ['img', 'k', 'kb'] },
  // Ops outside the lists run in their inputs' dtypes: softmax of float32 stays float32, of bfloat16 stays bfloat16;
  // a mixed add promotes to float32; cross-entropy (nll_loss) is on the float32 list.
  { name: 'softmax of float32 and of a bf16 matmul', py: 'y = (torch.softmax(s, -1), torch.softmax(s @ t.T, -1))', ours: (v) => [v.s.softmax(-1), v.s.matmul(v.t.transpose(0, 1)).softmax(-1)], grad: ['s', 't'] },
  { name: 'add of bf16 and float32 inputs', py: 'y = (s.mm(t.T) + x[:4, :4], s.to(torch.bfloat16) + t)', ours: (v) => [v.s.mm(v.t.transpose(0, 1)).add(v.x.narrow(0, 0, 4).narrow(1, 0, 4)), v.s.toDtype('bfloat16').add(v.t)], grad: ['s', 't', 'x'] },
  { name: 'cross-entropy of bf16 logits', py: 'y = F.cross_entropy(s.mm(t.T), target)', ours: (v) => torch.crossEntropy(v.s.mm(v.t.transpose(0, 1)), target), grad: ['s', 't'] },
];

/** Our outputs (and gradients) as encoded values, read exactly (bfloat16 widened to float32). */
function mine(c: Case): { y: Encoded[]; grads: Record<string, Encoded> } {
  const leaves = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, c.grad?.includes(k as keyof typeof inputs) ? t.detach().requiresGrad_() : t]));
  const out = torch.autocast('bfloat16', () => c.ours(leaves));
  const ys = Array.isArray(out) ? out : [out];
  if (c.grad) ys.map((y) => y.toDtype('float32').pow(2).sum()).reduce((p, q) => p.add(q)).backward(); // outside the scope, as PyTorch recommends
  const enc = (t: torch.Tensor): Encoded => ({ data: Array.from(t.toDtype('float32').dataSync() as Float32Array), shape: [...t.shape], dtype: t.dtype });
  const grads: Record<string, Encoded> = {};
  for (const k of c.grad ?? []) grads[k] = enc(leaves[k].grad!);
  return { y: ys.map(enc), grads };
}

function assertBitIdentical(a: Encoded, e: Encoded, label: string): void {
  assert.equal(a.dtype, e.dtype, `${label}: dtype`);
  assert.deepEqual(a.shape, e.shape, `${label}: shape`);
  const bad = a.data.findIndex((v, i) => !Object.is(v, e.data[i]));
  assert.equal(bad, -1, `${label}: element ${bad} is ${a.data[bad]}, PyTorch says ${e.data[bad]}`);
}

test('ops under torch.autocast(bfloat16) are bit-identical to PyTorch under torch.autocast("cpu", bfloat16), with the same dtypes', () => {
  const results: OracleResult[] = runOracle(cases.map((c) => ({
    inputs: { ...inputs, target },
    grad: c.grad,
    code: `with torch.autocast('cpu', dtype=torch.bfloat16):\n  ${c.py}\n`
      + 'ys = y if isinstance(y, tuple) else (y,)\n'
      + (c.grad ? 'sum(v.float().pow(2).sum() for v in ys).backward()\n' : '')
      + `out = {'y': list(ys), 'grads': {k: globals()[k].grad for k in ${JSON.stringify(c.grad ?? [])}}}`,
  })));
  cases.forEach((c, i) => {
    const r = results[i];
    assert.equal(r.error, undefined, `${c.name}: PyTorch failed: ${r.error}`);
    const ours = mine(c);
    const ys = r.y as Encoded[];
    assert.equal(ours.y.length, ys.length, `${c.name}: outputs`);
    ours.y.forEach((y, j) => assertBitIdentical(y, ys[j], `${c.name} output ${j}`));
    const grads = r.grads as Record<string, Encoded>;
    for (const k of c.grad ?? []) assertBitIdentical(ours.grads[k], grads[k], `${c.name} grad ${k}`);
  });
});

test('the bf16 outputs really are lower precision: float32 gives different values', () => {
  const y32 = torch.linear(inputs.x, inputs.w);
  const y16 = torch.autocast('bfloat16', () => torch.linear(inputs.x, inputs.w));
  assert.equal(y32.dtype, 'float32');
  assert.equal(y16.dtype, 'bfloat16');
  const diff = y32.sub(y16.toDtype('float32')).abs().max().item();
  assert.ok(diff > 0 && diff < 0.1, `bf16 − f32 max |Δ| = ${diff}`);
});

test('autocast scopes nest, restore the previous state (also on throw), and enabled=false turns it off inside', () => {
  assert.equal(torch.isAutocastEnabled(), false);
  torch.autocast('bfloat16', () => {
    assert.deepEqual(torch.autocastState(), { enabled: true, dtype: 'bfloat16' });
    torch.autocast('bfloat16', () => {
      assert.equal(torch.isAutocastEnabled(), false);
      assert.equal(torch.linear(inputs.x, inputs.w).dtype, 'float32');
    }, { enabled: false });
    assert.equal(torch.isAutocastEnabled(), true);
    torch.noAutocast(() => assert.equal(torch.mm(inputs.x, inputs.m).dtype, 'float32'));
    assert.equal(torch.mm(inputs.x, inputs.m).dtype, 'bfloat16');
    assert.throws(() => torch.autocast('bfloat16', () => { throw new Error('boom'); }), /boom/);
    assert.equal(torch.isAutocastEnabled(), true);
  });
  assert.equal(torch.isAutocastEnabled(), false);
  assert.equal(torch.linear(inputs.x, inputs.w).dtype, 'float32');
  const saved = torch.autocast('bfloat16', () => torch.autocastState());
  assert.equal(torch.withAutocastState(saved, () => torch.mm(inputs.x, inputs.m).dtype), 'bfloat16');
  assert.equal(torch.isAutocastEnabled(), false);
});

test('float16 on the CPU and unknown dtypes or devices are one clear error', () => {
  assert.throws(() => torch.autocast('float16', () => 0), (e: Error) => e instanceof torch.ConfigError && /bfloat16 only/.test(e.message));
  assert.throws(() => torch.autocast('float32' as 'bfloat16', () => 0), (e: Error) => e instanceof torch.ConfigError && /'float32'/.test(e.message));
  assert.throws(() => torch.autocast('bfloat16', () => 0, { device: 'tpu' as 'cpu' }), (e: Error) => e instanceof torch.ConfigError && /tpu/.test(e.message));
  assert.equal(torch.isAutocastEnabled(), false);
});

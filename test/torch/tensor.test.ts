// Tensor metadata, data in and out, autograd entry points and grad modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';

test('round-trips data of every dtype', () => {
  const values = [0, 1, -2, 3, 100, -7];
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8'] as const) {
    const t = torch.tensor(values, { dtype });
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.toArray(), values, dtype);
  }
  const u = torch.tensor([0, 1, 255], { dtype: 'uint8' });
  assert.deepEqual(u.toArray(), [0, 1, 255]);
  const b = torch.tensor([true, false, true]);
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(b.toArray(), [true, false, true]);
});

test('float16 and bfloat16 round to their precision like PyTorch', () => {
  // 1/3 in float16 is 0.333251953125, in bfloat16 0.333984375.
  assert.equal(torch.tensor([1 / 3], { dtype: 'float16' }).item(), 0.333251953125);
  assert.equal(torch.tensor([1 / 3], { dtype: 'bfloat16' }).item(), 0.333984375);
});

test('metadata: shape, ndim, numel, size, device', () => {
  const t = torch.zeros([2, 3, 4]);
  assert.deepEqual(t.shape, [2, 3, 4]);
  assert.equal(t.ndim, 3);
  assert.equal(t.numel, 24);
  assert.equal(t.size(-1), 4);
  assert.equal(t.device, 'cpu');
  assert.equal(torch.tensor(5).ndim, 0);
  assert.equal(torch.tensor(5).toArray(), 5);
});

test('typed arrays: dataSync copies, int64 is BigInt64Array, shape option reshapes', () => {
  const src = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const t = torch.tensor(src, { shape: [2, 3] });
  src[0] = 99; // one copy in: the tensor does not alias the array
  assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
  const out = t.dataSync() as Float32Array;
  out[1] = 42; // one copy out
  assert.equal(t.toArray().toString(), '1,2,3,4,5,6');
  const l = torch.arange(3).dataSync();
  assert.ok(l instanceof BigInt64Array);
  assert.deepEqual(Array.from(l as BigInt64Array), [0n, 1n, 2n]);
  assert.deepEqual(Array.from(t.bytes().subarray(0, 4)), Array.from(new Uint8Array(Float32Array.of(1).buffer)));
});

test('ragged or mistyped nested arrays are rejected clearly', () => {
  assert.throws(() => torch.tensor([[1, 2], [3]]), { code: 'ERR_ARG', message: /ragged/ });
  assert.throws(() => torch.tensor(Float32Array.from([1, 2, 3]), { shape: [2, 2] }), { code: 'ERR_SHAPE', message: /12 bytes but shape and dtype need 16/ });
});

test('backward with and without a gradient argument, grad accumulation and reset', () => {
  const x = torch.tensor([1, 2, 3], { requiresGrad: true });
  const y = x.mul(x); // dy/dx = 2x
  y.backward(torch.tensor([1, 0.5, 2]), { retainGraph: true });
  assert.deepEqual(x.grad!.toArray(), [2, 2, 12]);
  y.sum().backward();
  assert.deepEqual(x.grad!.toArray(), [4, 6, 18], 'gradients accumulate: [2,2,12] + 2x');
  x.grad = null;
  assert.equal(x.grad, null);
  assert.equal(x.isLeaf, true);
  assert.equal(y.isLeaf, false);
  assert.equal(y.gradFn, 'MulBackward0');
});

test('detach and noGrad stop tracking; enableGrad turns it back on', () => {
  const x = torch.tensor([1, 2], { requiresGrad: true });
  assert.equal(x.mul(2).detach().requiresGrad, false);
  const y = torch.noGrad(() => x.mul(2));
  assert.equal(y.requiresGrad, false);
  assert.equal(torch.isGradEnabled(), true, 'noGrad restores the mode');
  const z = torch.noGrad(() => torch.enableGrad(() => x.mul(2)));
  assert.equal(z.requiresGrad, true);
  assert.throws(() => torch.noGrad(() => { throw new Error('boom'); }), /boom/);
  assert.equal(torch.isGradEnabled(), true, 'restored after a throw');
});

test('manualSeed repeats a random sequence bit for bit; RNG state saves and restores', () => {
  torch.manualSeed(123);
  const a = torch.randn([5]).toArray();
  torch.manualSeed(123);
  assert.deepEqual(torch.randn([5]).toArray(), a);
  const state = torch.getRngState();
  const next = torch.rand([4]).toArray();
  torch.rand([10]);
  torch.setRngState(state);
  assert.deepEqual(torch.rand([4]).toArray(), next);
});

test('setNumThreads changes libtorch intra-op threads', () => {
  const before = torch.getNumThreads();
  torch.setNumThreads(2);
  assert.equal(torch.getNumThreads(), 2);
  torch.setNumThreads(before);
  assert.throws(() => torch.setNumThreads(0), { code: 'ERR_ARG' });
});

test('build info names the libtorch version and BLAS', () => {
  const info = torch.buildInfo();
  assert.match(info.version, /^\d+\.\d+/);
  assert.equal(typeof info.cuda, 'boolean');
  assert.match(info.config, /BLAS/i);
});

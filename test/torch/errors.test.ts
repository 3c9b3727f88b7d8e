// Every failure below an op arrives as a typed JS error with a stable code, the op name
// and the input shapes, and never takes the process down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';

const expectError = (fn: () => unknown, cls: typeof torch.TorchError, code: string, op: string, inputs: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.ok(e instanceof torch.TorchError);
    assert.equal(e.code, code);
    assert.equal(e.op, op);
    assert.match(e.inputs, inputs);
    assert.match(e.message, new RegExp(`^${op}: `));
    return true;
  });

test('wrong shapes: matmul, broadcasting, view', () => {
  expectError(() => torch.zeros([2, 3]).matmul(torch.zeros([4, 5])), torch.ShapeError, 'ERR_SHAPE', 'matmul', /self=\[2, 3\] float32, other=\[4, 5\] float32/);
  expectError(() => torch.zeros([2]).add(torch.zeros([3])), torch.ShapeError, 'ERR_SHAPE', 'add', /\[2\].*\[3\]/);
  expectError(() => torch.zeros([6]).view([4, 2]), torch.ShapeError, 'ERR_SHAPE', 'view', /self=\[6\]/);
  expectError(() => torch.linear(torch.zeros([2, 3]), torch.zeros([4, 5])), torch.ShapeError, 'ERR_SHAPE', 'linear', /input=\[2, 3\]/);
});

test('wrong dtypes', () => {
  expectError(() => torch.zeros([2, 2]).mm(torch.zeros([2, 2], 'float64')), torch.DTypeError, 'ERR_DTYPE', 'mm', /float64/);
  expectError(() => torch.crossEntropy(torch.zeros([2, 3]), torch.zeros([2])), torch.DTypeError, 'ERR_DTYPE', 'crossEntropy', /target=\[2\] float32/);
  expectError(() => torch.zeros([2]).toDtype('complex' as torch.DType), torch.DTypeError, 'ERR_DTYPE', 'toDtype', /^dtype=complex$/);
});

test('wrong device', () => {
  if (torch.cudaIsAvailable()) return; // only meaningful on a CPU-only libtorch
  expectError(() => torch.zeros([2]).to('cuda'), torch.DeviceError, 'ERR_DEVICE', 'toDevice', /device=cuda/);
  expectError(() => torch.zeros([2]).to('tpu:0'), torch.DeviceError, 'ERR_DEVICE', 'toDevice', /device=tpu:0/);
});

test('a disposed tensor', () => {
  const t = torch.ones([3]);
  t.dispose();
  t.dispose(); // idempotent
  assert.equal(t.isDisposed, true);
  expectError(() => t.add(1), torch.DisposedTensorError, 'ERR_DISPOSED', 'add', /self=<disposed>/);
  expectError(() => t.shape, torch.DisposedTensorError, 'ERR_DISPOSED', 'shape', /<disposed>/);
  expectError(() => torch.cat([torch.ones([1]), t]), torch.DisposedTensorError, 'ERR_DISPOSED', 'cat', /<disposed>/);
  assert.equal(String(t), 'Tensor(<disposed>)');
});

test('out-of-range indices', () => {
  const m = torch.zeros([3, 4]);
  expectError(() => m.indexSelect(0, torch.tensor([5], { dtype: 'int64' })), torch.IndexError, 'ERR_INDEX', 'indexSelect', /index=\[1\] int64/);
  expectError(() => m.select(0, 3), torch.IndexError, 'ERR_INDEX', 'select', /index=3/);
  expectError(() => m.sum(2), torch.IndexError, 'ERR_INDEX', 'sum', /dim=2/);
  expectError(() => torch.embedding(torch.zeros([4, 2]), torch.tensor([4], { dtype: 'int64' })), torch.IndexError, 'ERR_INDEX', 'embedding', /indices=\[1\] int64/);
  expectError(() => torch.zeros([2, 3]).gather(1, torch.tensor([[0, 7]], { dtype: 'int64' })), torch.TorchError, 'ERR_INDEX', 'gather', /index=\[1, 2\] int64/);
});

test('backward on a tensor without grad, and twice through a freed graph', () => {
  expectError(() => torch.ones([1]).backward(), torch.AutogradError, 'ERR_AUTOGRAD', 'backward', /self=\[1\] float32/);
  const x = torch.ones([2], 'float32').requiresGrad_();
  expectError(() => x.mul(2).backward(), torch.AutogradError, 'ERR_AUTOGRAD', 'backward', /self=\[2\] float32/);
  const y = x.mul(x).sum();
  y.backward();
  expectError(() => y.backward(), torch.AutogradError, 'ERR_AUTOGRAD', 'backward', /self=\[\] float32/);
});

test('bad arguments from JS', () => {
  expectError(() => torch.zeros([2]).add('x' as unknown as number), torch.ArgumentError, 'ERR_ARG', 'add', /self=\[2\] float32/);
  expectError(() => torch.zeros([2.5]), torch.ArgumentError, 'ERR_ARG', 'zeros', /size=\[2.5\]/);
  expectError(() => torch.crossEntropy(torch.zeros([2, 3]), torch.zeros([2], 'int64'), { reduction: 'avg' as 'mean' }), torch.ArgumentError, 'ERR_ARG', 'crossEntropy', /reduction=avg/);
  expectError(() => torch.ones([2]).item(), torch.ShapeError, 'ERR_SHAPE', 'item', /self=\[2\]/);
});

test('the process survives a burst of failures and keeps computing', () => {
  for (let i = 0; i < 1000; i++) {
    try {
      torch.zeros([2, 3]).matmul(torch.zeros([4, 5]));
    } catch {
      /* expected */
    }
  }
  assert.equal(torch.ones([2]).add(1).sum().item(), 4);
});

test('a worker thread loading the addon keeps its own error factory; errors on both threads stay typed', async () => {
  const { Worker } = await import('node:worker_threads');
  const url = new URL('../../src/torch/index.js', import.meta.url).href;
  const code = `import(${JSON.stringify(url)}).then((torch) => {
    try { torch.zeros([2, 3]).matmul(torch.zeros([4, 5])); } catch (e) { require('node:worker_threads').parentPort.postMessage(e.constructor.name + ' ' + e.code); }
  });`;
  const w = new Worker(code, { eval: true });
  const msg = await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.equal(msg, 'ShapeError ERR_SHAPE');
  await w.terminate();
  // The main thread's factory still works after the worker is gone.
  expectError(() => torch.zeros([2]).add(torch.zeros([3])), torch.ShapeError, 'ERR_SHAPE', 'add', /\[2\]/);
});

// ── issue #21: classification by c10's error classes and raise sites, public op names, dtype names ──

test('autograd failures are ERR_AUTOGRAD: an in-place op on a leaf that requires grad, a saved tensor modified before backward', () => {
  // PyTorch: "a leaf Variable that requires grad is being used in an in-place operation."
  const leaf = torch.ones([2]).requiresGrad_();
  expectError(() => leaf.add_(1), torch.AutogradError, 'ERR_AUTOGRAD', 'add_', /self=\[2\] float32/);
  expectError(() => leaf.mul_(torch.ones([2])), torch.AutogradError, 'ERR_AUTOGRAD', 'mul_', /self=\[2\] float32/);
  // PyTorch: "one of the variables needed for gradient computation has been modified by an inplace operation"
  const x = torch.ones([3]).requiresGrad_();
  const y = x.exp();
  const z = y.exp(); // saves y for its backward
  y.add_(1);
  expectError(() => z.sum().backward(), torch.AutogradError, 'ERR_AUTOGRAD', 'backward', /self=\[\] float32/);
  const y2 = torch.ones([3]).requiresGrad_().exp();
  const z2 = y2.exp();
  y2.mul_(2);
  assert.throws(() => z2.sum().backward(), /modified by an inplace operation/);
  // Control: the same graph without the in-place op runs.
  const x2 = torch.ones([3]).requiresGrad_();
  x2.exp().exp().sum().backward();
  assert.ok(Math.abs((x2.grad!.toArray() as number[])[0] - Math.exp(1 + Math.E)) < 1e-3);
});

test('an allocation libtorch cannot make is ERR_OOM', () => {
  // 4 TiB: libtorch 1.13's CPU allocator raises a plain c10::Error from alloc_cpu.cpp
  // ("DefaultCPUAllocator: can't allocate memory"), classified by where it was raised.
  expectError(() => torch.empty([2 ** 40], 'float32'), torch.OutOfMemoryError, 'ERR_OOM', 'empty', /size=\[1099511627776\], dtype=float32/);
  // Beyond any address space (2^54 bytes), whatever the kernel's overcommit policy.
  expectError(() => torch.zeros([2 ** 26, 2 ** 26], 'float32'), torch.OutOfMemoryError, 'ERR_OOM', 'zeros', /dtype=float32/);
  assert.match(String((() => { try { torch.empty([2 ** 40]); } catch (e) { return (e as Error).message; } })()), /can't allocate memory/);
});

test('errors name the public op, not the binding behind it', () => {
  // functional.ts wraps crossEntropyRaw, nllLossRaw, klDivRaw, mseLossRaw, maxDim, …
  const logits = torch.zeros([2, 3]);
  expectError(() => torch.nllLoss(logits, torch.zeros([2])), torch.DTypeError, 'ERR_DTYPE', 'nllLoss', /target=\[2\] float32/);
  expectError(() => torch.mseLoss(torch.zeros([2]), torch.zeros([3])), torch.ShapeError, 'ERR_SHAPE', 'mseLoss', /input=\[2\] float32, target=\[3\] float32/);
  expectError(() => torch.klDiv(torch.zeros([2]), torch.zeros([3])), torch.ShapeError, 'ERR_SHAPE', 'klDiv', /input=\[2\]/);
  expectError(() => torch.max(logits, 5), torch.IndexError, 'ERR_INDEX', 'max', /dim=5/);
  expectError(() => torch.arange(0, 5, 0), torch.TorchError, 'ERR_TORCH', 'arange', /step=0/);
  // tensor() and fromBytes() share the native copy; each reports its own name.
  expectError(() => torch.tensor(new Float32Array(4), { shape: [3] }), torch.ShapeError, 'ERR_SHAPE', 'tensor', /shape=\[3\], dtype=float32/);
  expectError(() => torch.fromBytes(new Uint8Array(3), [2], 'float32'), torch.ShapeError, 'ERR_SHAPE', 'fromBytes', /shape=\[2\], dtype=float32/);
  expectError(() => torch.tensor([1, 2], { dtype: 'complex' as torch.DType }), torch.DTypeError, 'ERR_DTYPE', 'tensor', /dtype=complex/);
  const leaf = torch.ones([2]).requiresGrad_();
  expectError(() => leaf.mul(2).requiresGrad_(false), torch.AutogradError, 'ERR_AUTOGRAD', 'requiresGrad_', /self=\[2\] float32, requiresGrad=false/);
});

test('dtypes print by name in the inputs, not as enum numbers', () => {
  // randn has no int64 kernel: "normal_kernel_cpu" not implemented for 'Long'
  expectError(() => torch.randn([2], 'int64'), torch.DTypeError, 'ERR_DTYPE', 'randn', /^size=\[2\], dtype=int64$/);
  expectError(() => torch.zeros([2], 'bfloat16').matmul(torch.zeros([3], 'bfloat16')), torch.ShapeError, 'ERR_SHAPE', 'matmul', /^self=\[2\] bfloat16, other=\[3\] bfloat16$/);
  expectError(() => torch.linspace(0, 1, -1, 'float64'), torch.TorchError, 'ERR_TORCH', 'linspace', /dtype=float64/);
});

test('c10 error classes map to codes: IndexError, ValueError', () => {
  // c10::IndexError (TORCH_CHECK_INDEX) for an out-of-range dim, whatever its message says.
  expectError(() => torch.zeros([2]).transpose(0, 3), torch.IndexError, 'ERR_INDEX', 'transpose', /dim1=3/);
  // c10::ValueError (TORCH_CHECK_VALUE), Python's ValueError: batch norm's check below.
  expectError(() => torch.batchNorm(torch.ones([1, 3]), null, null, null, null, true), torch.ArgumentError, 'ERR_ARG', 'batchNorm', /input=\[1, 3\] float32/);
});

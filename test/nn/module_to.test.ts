// Module.to(dtype) and Tensor.setData against PyTorch's `module.to(torch.bfloat16)` and
// `param.data = x`: the same tensor objects end up in the new dtype with values equal to
// PyTorch's conversion bit for bit, integer buffers untouched, requiresGrad kept, and a
// converted Linear computes exactly what PyTorch's bfloat16 Linear computes (same kernels).
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { runChecks, randn, type Check } from './harness.js';
import { assertClose } from '../helpers/assert.js';
import type { Encoded, OracleValue } from '../helpers/oracle.js';

torch.manualSeed(11);

const exact = { rtol: 0, atol: 0 };
const mlp = () => new nn.Sequential(new nn.Linear(5, 4), new nn.BatchNorm1d(4), new nn.ReLU(), new nn.Linear(4, 3));
const mlpPy = 'nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))';
const isConfig = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);

// Our float32 state dict goes to PyTorch, which converts the module with m.to(dtype).
function conversionCheck(dtype: 'bfloat16' | 'float16'): Check {
  const m = mlp();
  m.call(randn(6, 5)).sum().backward(); // grads present before the conversion; BatchNorm stats updated
  m.eval();
  const sd0 = Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, torch.noGrad(() => t.detach().clone())]));
  const inputs: Record<string, Tensor> = {};
  Object.values(sd0).forEach((t, i) => (inputs[`s${i}`] = t));
  return {
    name: `Module.to('${dtype}') converts parameters and floating buffers in place like PyTorch's m.to(torch.${dtype})`,
    oracle: {
      inputs,
      code: `m = ${mlpPy}
keys = ${JSON.stringify(Object.keys(sd0))}
m.load_state_dict({k: globals()[f"s{i}"] for i, k in enumerate(keys)})
m.to(torch.${dtype})
out = {"values": list(m.state_dict().values())}`,
    },
    check: (r) => {
      const before = m.parameters();
      const bufs = m.buffers();
      assert.equal(m.to(dtype), m, 'returns this');
      assert.ok(m.parameters().every((p, i) => p === before[i]) && m.buffers().every((b, i) => b === bufs[i]), 'same Tensor objects');
      const values = r.values as OracleValue[];
      Object.entries(m.stateDict()).forEach(([k, t], i) => {
        assert.equal(t.dtype, (values[i] as Encoded).dtype, `${k}: dtype`);
        assertClose(t, values[i], { ...exact, label: k });
      });
      assert.equal(m.stateDict()['1.num_batches_tracked'].dtype, 'int64', 'integer buffer untouched');
      assert.ok(m.parameters().every((p) => p.requiresGrad && p.grad === null), 'requiresGrad kept, grads dropped');
    },
  };
}

// A Linear converted to bfloat16 runs forward and backward with PyTorch's bfloat16 kernels.
const lin = new nn.Linear(7, 5);
const frozen = new nn.Linear(7, 5);
frozen.requiresGrad_(false);
const x = randn(3, 7).toDtype('bfloat16');
const g = randn(3, 5).toDtype('bfloat16');
const w0 = lin.weight.detach().clone();
const b0 = lin.bias!.detach().clone();
const linearCheck: Check = {
  name: "a Linear after to('bfloat16') equals PyTorch's bfloat16 Linear bit for bit (output and gradients)",
  oracle: {
    inputs: { w: w0, b: b0, x, g },
    code: `m = nn.Linear(7, 5)
m.load_state_dict({"weight": w, "bias": b})
m.to(torch.bfloat16)
x.requires_grad_(True)
y = m(x)
y.backward(g)
out = {"y": y, "gx": x.grad, "gw": m.weight.grad, "gb": m.bias.grad}`,
  },
  check: (r) => {
    lin.to('bfloat16');
    frozen.to('bfloat16');
    assert.equal(frozen.weight.requiresGrad, false, 'a frozen parameter stays frozen');
    const xi = x.clone().requiresGrad_();
    const y = lin.call(xi);
    assert.equal(y.dtype, 'bfloat16');
    y.backward(g);
    assertClose(y, r.y, { ...exact, label: 'y' });
    assertClose(xi.grad!, r.gx, { ...exact, label: 'x.grad' });
    assert.equal(lin.weight.grad!.dtype, 'bfloat16', 'the weight gradient is bfloat16');
    assertClose(lin.weight.grad!, r.gw, { ...exact, label: 'weight.grad' });
    assertClose(lin.bias!.grad!, r.gb, { ...exact, label: 'bias.grad' });
  },
};

const checks: Check[] = [
  conversionCheck('bfloat16'),
  conversionCheck('float16'),
  linearCheck,
  {
    name: 'Tensor.setData: the same object takes the source storage, dtype and shape (as t.data = src)',
    check: () => {
      const t = torch.zeros([2, 3]).requiresGrad_();
      assert.deepEqual([t.shape, t.dtype], [[2, 3], 'float32']); // caches filled
      const src = torch.tensor([1.5, -2, 3.25, 4], { dtype: 'bfloat16' });
      assert.equal(t.setData(src), t);
      assert.deepEqual([[...t.shape], t.dtype, t.requiresGrad], [[4], 'bfloat16', true]);
      assert.deepEqual(Array.from(t.dataSync() as Float32Array), [1.5, -2, 3.25, 4]);
      torch.noGrad(() => src.fill_(7)); // storage is shared with src, as in PyTorch
      assert.deepEqual(Array.from(t.dataSync() as Float32Array), [7, 7, 7, 7]);
      src.dispose();
      assert.deepEqual(Array.from(t.dataSync() as Float32Array), [7, 7, 7, 7], 't keeps the storage alive');
      assert.throws(() => torch.zeros([2]).requiresGrad_().setData(torch.zeros([2], 'int64')), /floating point/);
    },
  },
  {
    name: 'Module.to: a tied weight converts once; memory() counts the converted storage; float() converts back exactly',
    check: () => {
      class Tied extends nn.Module {
        readonly embed = this.registerModule('embed', new nn.Embedding(64, 32));
        readonly head = this.registerModule('head', new nn.Linear(32, 64, { bias: false }));
        constructor() {
          super();
          this.head.registerParameter('weight', this.embed.weight);
        }
        forward(i: Tensor) {
          return this.head.call(this.embed.call(i));
        }
      }
      const m = new Tied();
      const expect = m.embed.weight.toDtype('bfloat16');
      const bytes0 = torch.memory().nativeBytes;
      const live0 = torch.memory().liveTensors;
      m.bfloat16();
      assert.equal(m.stateDict()['head.weight'], m.embed.weight);
      assert.equal(m.embed.weight.dtype, 'bfloat16');
      assert.deepEqual(m.embed.weight.dataSync(), expect.dataSync());
      assert.equal(torch.memory().liveTensors, live0, 'no tensor left behind');
      assert.equal(torch.memory().nativeBytes, bytes0 - 64 * 32 * 2, 'the weight now counts 2 bytes an element');
      m.float();
      assert.equal(m.embed.weight.dtype, 'float32');
      assert.deepEqual(m.embed.weight.dataSync(), expect.dataSync(), 'bfloat16 → float32 is exact');
      const y = m.call(torch.tensor([[1, 2]], { dtype: 'int64' }));
      assert.equal(y.dtype, 'float32');
    },
  },
  {
    name: 'Module.to with a non-floating or unknown dtype is a ConfigError naming the choices',
    check: () => {
      const m = mlp();
      assert.throws(() => m.to('int64'), isConfig(/floating dtype \(float32, bfloat16, float16, float64\), got 'int64'/));
      assert.throws(() => m.to('bf16' as torch.DType), isConfig(/got 'bf16'/));
      assert.ok(m.parameters().every((p) => p.dtype === 'float32'), 'nothing converted');
    },
  },
];

runChecks(checks);

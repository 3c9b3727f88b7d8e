// Parameter counts against PyTorch and the closed form; file size against the file
// saveSafetensors writes; weight bytes against 4 × the float32 element count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { saveSafetensors } from '../../src/io/index.js';
import { countParameters, modelFileBytes, weightsBytes } from '../../src/eval/index.js';
import { runOracle } from '../helpers/oracle.js';
import { mlp, live } from './fixtures.js';

torch.manualSeed(0);

// A CNN with BatchNorm (buffers: running_mean, running_var, num_batches_tracked) and a
// bias-free linear, mirrored in PyTorch below.
const cnn = () => new nn.Sequential(
  new nn.Conv2d(1, 8, 3), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.Flatten(),
  new nn.Linear(8 * 26 * 26, 10, { bias: false }),
);
const PY_MODELS = {
  mlp: 'nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))',
  cnn: 'nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8*26*26, 10, bias=False))',
};

test('countParameters equals PyTorch sum(p.numel()) and sum(b.numel()) for the same architectures', () => {
  const code = (expr: string) => `
m = ${expr}
m[1].requires_grad_(False) if isinstance(m[1], nn.Linear) else m[0].requires_grad_(False)
out = {"parameters": sum(p.numel() for p in m.parameters()),
       "trainable": sum(p.numel() for p in m.parameters() if p.requires_grad),
       "buffers": sum(b.numel() for b in m.buffers())}`;
  const [pyMlp, pyCnn] = runOracle([{ code: code(PY_MODELS.mlp) }, { code: code(PY_MODELS.cnn) }]);
  for (const r of [pyMlp, pyCnn]) if (r.error) assert.fail(`PyTorch raised: ${r.error}`);

  const m = mlp([784, 128, 10]);
  m.at(1).requiresGrad_(false); // freeze the first Linear, as the Python side does
  const c = cnn();
  c.at(0).requiresGrad_(false); // freeze the conv
  for (const [ours, py] of [[countParameters(m), pyMlp], [countParameters(c), pyCnn]] as const) {
    assert.equal(ours.parameters, py.parameters);
    assert.equal(ours.trainable, py.trainable);
    assert.equal(ours.buffers, py.buffers);
    assert.equal(ours.total, (py.parameters as number) + (py.buffers as number));
  }
  m.dispose();
  c.dispose();
});

test('countParameters matches the closed form', () => {
  // Linear(i, o) holds i·o weights + o biases:
  //   784-128-10:  784·128 + 128 + 128·10 + 10 = 101,770
  const m = mlp([784, 128, 10]);
  assert.deepEqual(countParameters(m), { trainable: 101_770, parameters: 101_770, buffers: 0, total: 101_770 });
  // Conv2d(1, 8, 3): 8·1·3·3 + 8 = 80; BatchNorm2d(8): weight 8 + bias 8 = 16 parameters,
  // running_mean 8 + running_var 8 + num_batches_tracked 1 = 17 buffer elements;
  // Linear(5408, 10, bias=False): 54,080.  Parameters: 80 + 16 + 54,080 = 54,176.
  const c = cnn();
  assert.deepEqual(countParameters(c), { trainable: 54_176, parameters: 54_176, buffers: 17, total: 54_193 });
  m.dispose();
  c.dispose();
});

test('a tied weight is counted once, as PyTorch does', () => {
  class Tied extends nn.Module {
    readonly a = this.registerModule('a', new nn.Linear(4, 4));
    readonly b = this.registerModule('b', new nn.Linear(4, 4));
    constructor() {
      super();
      const own = this.b.weight;
      this.b.registerParameter('weight', this.a.weight); // b.weight is now a.weight (weight tying)
      own.dispose();
    }
    forward(x: torch.Tensor) {
      return this.b.call(this.a.call(x));
    }
  }
  const t = new Tied();
  // a: 16 + 4, b: tied weight (not again) + its own bias 4
  assert.equal(countParameters(t).parameters, 24);
  t.dispose();
});

test('weightsBytes is 4 × the element count for float32, and counts int64 buffers at 8 bytes', () => {
  const m = mlp([784, 128, 10]);
  assert.equal(weightsBytes(m), 4 * countParameters(m).total);
  const c = cnn();
  // 54,176 float32 parameters + 16 float32 running stats + one int64 counter
  assert.equal(weightsBytes(c), 4 * (54_176 + 16) + 8);
  m.dispose();
  c.dispose();
});

test('modelFileBytes equals the length of the file saveSafetensors writes, and of a given path', () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'distill-eval-size-'));
  try {
    for (const [name, m] of [['mlp', mlp([784, 128, 10])], ['cnn', cnn()]] as const) {
      const base = live();
      const path = join(dir, `${name}.safetensors`);
      saveSafetensors(path, m.stateDict());
      const onDisk = fs.statSync(path).size;
      assert.equal(modelFileBytes(m), onDisk, `${name}: encoding length = file length`);
      assert.equal(modelFileBytes(path), onDisk);
      // metadata changes the header, and the measured size follows it
      const meta = { arch: name, format: 'pt' };
      saveSafetensors(path, m.stateDict(), meta);
      assert.equal(modelFileBytes(m, meta), fs.statSync(path).size);
      assert.ok(modelFileBytes(m) > weightsBytes(m), 'the file holds the weights plus a header');
      assert.equal(live(), base, 'no tensor leaks');
      m.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

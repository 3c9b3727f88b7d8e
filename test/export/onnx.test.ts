// ONNX export: every file passes the official checker (onnx 1.12, full_check), and
// onnxruntime-node computes what our libtorch forward computes (eval, no grad) to 1e-4 on
// 100 random inputs fed as batches of 1 and 7 (the batch axis is dynamic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as ex from '../../src/export/index.js';
import { fixtures, onnxCheck } from './fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-onnx-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** 100 random inputs as batches 1, 7×14, 1. */
function batches(inputShape: number[], seed: number): ex.InputBatch[] {
  const per = inputShape.reduce((a, b) => a * b, 1);
  const x = ex.seededUniform(100 * per, seed);
  const sizes = [1, ...new Array<number>(14).fill(7), 1];
  let off = 0;
  return sizes.map((b) => {
    const part = { x: x.subarray(off * per, (off + b) * per), shape: [b, ...inputShape] };
    off += b;
    return part;
  });
}

const models = fixtures();

test('float export: checker accepts, onnxruntime-node equals libtorch to 1e-4 at batch 1 and 7', async () => {
  const files: string[] = [];
  for (const f of models) {
    const path = join(work, `${f.name}.onnx`);
    const before = torch.memory().liveTensors;
    const info = ex.exportOnnx(f.model, path, { inputShape: f.inputShape, modelName: f.name, metadata: { fixture: f.name } });
    assert.equal(info.bytes, statSync(path).size);
    assert.deepEqual(info.outputShape, [f.classes]);
    assert.equal(f.model.training, false, 'the export puts the mode back');
    assert.equal(torch.memory().liveTensors, before, `${f.name}: export leaks no tensors`);
    files.push(path);
    const s = await ex.ortSession(path);
    const r = await ex.compareWithOrt(f.model, s, batches(f.inputShape, 11), f.classes);
    assert.equal(r.samples, 100);
    assert.ok(r.maxAbsDiff <= 1e-4, `${f.name}: max |ours − ort| = ${r.maxAbsDiff}`);
    assert.equal(r.argmaxMismatches, 0, f.name);
    await s.release();
  }
  const checked = onnxCheck(files);
  for (const f of files) assert.deepEqual(checked[f], { ir: 8, opset: 17, batch: 'batch', output_batch: 'batch' }, f);
});

test('the file: IR 8, opset 17, named input/output, weights as little-endian raw_data under state-dict names', () => {
  const mlp = models[0];
  const { bytes } = ex.buildOnnx(mlp.model, { inputShape: mlp.inputShape, metadata: { role: 'student' } });
  const m = ex.decodeModel(bytes);
  assert.equal(Number(m.irVersion), 8);
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.deepEqual([m.producerName, m.producerVersion], ['distill', pkg.version]);
  assert.deepEqual(m.opsetImport!.map((o) => [o.domain, Number(o.version)]), [['', 17]]);
  const g = m.graph!;
  const input = g.input!, output = g.output!, node = g.node!, initializer = g.initializer!;
  assert.deepEqual(input.map((v) => v.name), ['input']);
  assert.deepEqual(output.map((v) => v.name), ['logits']);
  const dims = (v: (typeof input)[number]) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  assert.deepEqual(dims(input[0]), ['batch', 1, 28, 28]);
  assert.deepEqual(dims(output[0]), ['batch', 10]);
  assert.deepEqual(node.map((n) => n.opType), ['Flatten', 'Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm'], 'Dropout leaves no node');
  assert.ok(node.filter((n) => n.opType === 'Gemm').every((n) => n.attribute!.some((a) => a.name === 'transB' && Number(a.i) === 1)));
  const sd = mlp.model.stateDict();
  assert.deepEqual(initializer.map((t) => t.name).sort(), Object.keys(sd).sort());
  for (const t of initializer) {
    const raw = new Uint8Array(t.rawData!); // a copy: the decoder may hand out a view into a shared pool
    const ours = sd[t.name!].dataSync() as Float32Array;
    assert.deepEqual(new Float32Array(raw.buffer), ours, t.name!);
    assert.deepEqual(t.dims!.map(Number), sd[t.name!].shape);
  }
  assert.deepEqual(Object.fromEntries(m.metadataProps!.map((p) => [p.key, p.value])), { role: 'student', input_shape: '[1,28,28]' });
});

test('int8: the checker accepts it, a quarter of the size, close to float', async () => {
  const files: string[] = [];
  for (const f of models.filter((x) => x.name === 'mlp' || x.name === 'cnn')) {
    const path = join(work, `${f.name}.int8.onnx`);
    const info = ex.exportOnnx(f.model, path, { inputShape: f.inputShape, quantize: 'int8' });
    const float = ex.buildOnnx(f.model, { inputShape: f.inputShape }).info;
    assert.ok(info.ops.MatMulInteger >= 2 && !info.ops.Gemm, JSON.stringify(info.ops));
    assert.ok(info.bytes < 0.3 * float.bytes, `${info.bytes} vs ${float.bytes}`);
    files.push(path);
    const s = await ex.ortSession(path);
    const b = batches(f.inputShape, 5);
    const r = await ex.compareWithOrt(f.model, s, b, f.classes);
    const scale = Math.max(...b.map((x) => ex.ourLogits(f.model, x.x, x.shape)).flatMap((z) => Array.from(z, Math.abs)));
    assert.ok(r.maxAbsDiff < 0.05 * scale, `${f.name} int8: ${r.maxAbsDiff} (logit scale ${scale})`);
    assert.ok(r.argmaxMismatches <= 5, `${f.name} int8: ${r.argmaxMismatches} of 100 change class`);
    await s.release();
  }
  onnxCheck(files);
});

test('opset 20 uses the native Gelu op and still matches', async () => {
  const f = models[2];
  const path = join(work, 'normed20.onnx');
  const info = ex.exportOnnx(f.model, path, { inputShape: f.inputShape, opset: 20 });
  assert.equal(info.ops.Gelu, 2);
  assert.equal(info.ops.Erf, undefined);
  const s = await ex.ortSession(path);
  const r = await ex.compareWithOrt(f.model, s, batches(f.inputShape, 3), f.classes);
  assert.ok(r.maxAbsDiff <= 1e-4, String(r.maxAbsDiff));
  assert.throws(() => ex.buildOnnx(f.model, { inputShape: f.inputShape, opset: 13 }), /opset 13 is not supported/);
});

class Scale2 extends nn.Module {
  forward(x: torch.Tensor): torch.Tensor {
    return x.mul(2);
  }
}
class MyLinear extends nn.Linear {}

test('unsupported layers: a ConfigError naming the dotted layer name and class, and no file', () => {
  const cases: [nn.Module, RegExp][] = [
    [new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 10), new Scale2()), /layer '2' \(Scale2\) is not supported/],
    [new nn.Sequential(new nn.Flatten(), new nn.Sequential(new nn.Linear(784, 8), new nn.RMSNorm(8))), /layer '1\.1' \(RMSNorm\) is not supported/],
    [new nn.Sequential(new nn.Flatten(), new MyLinear(784, 10)), /layer '1' \(MyLinear\) is not supported/],
    [new Scale2(), /layer '\(root\)' \(Scale2\)/],
  ];
  for (const [model, re] of cases) {
    const path = join(work, 'bad.onnx');
    assert.throws(() => ex.exportOnnx(model, path, { inputShape: [1, 28, 28] }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_CONFIG');
      assert.match(e.message, re);
      return true;
    });
    assert.throws(() => statSync(path), /ENOENT/);
    assert.throws(() => ex.exportHf(model, join(work, 'bad-hf'), { arch: 'x', inputShape: [1, 28, 28], numClasses: 10 }), re);
  }
  // PyTorch's ceil_mode drops a last window ONNX would keep: refused, not exported wrong.
  const ceil = new nn.Sequential(new nn.MaxPool2d(2, { stride: 3, padding: 1, ceilMode: true }), new nn.Flatten());
  assert.throws(() => ex.buildOnnx(ceil, { inputShape: [1, 5, 5] }), /layer '0' \(MaxPool2d\): ceil_mode=True/);
  // A batch-statistics BatchNorm cannot run per sample.
  const bn = new nn.Sequential(new nn.Flatten(), new nn.BatchNorm1d(4, { trackRunningStats: false }));
  assert.throws(() => ex.buildOnnx(bn, { inputShape: [4] }), /layer '1' \(BatchNorm1d\): track_running_stats=False/);
  assert.throws(() => ex.buildOnnx(models[0].model, { inputShape: [1, 28, 27] }), /shape|size/i);
});

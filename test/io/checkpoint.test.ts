// Checkpoints: a save/load round trip restores model, optimizer, scheduler, step, extra and
// the RNG exactly; a corrupt or mismatched checkpoint changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import {
  CHECKPOINT_FORMAT, loadCheckpoint, loadSafetensors, saveCheckpoint, saveSafetensors,
  type OptimizerState, type StatefulModel, type StatefulOptimizer, type StatefulScheduler,
} from '../../src/io/index.js';
import { hex, refDescribe } from '../helpers/safetensors_ref.js';
import { runOracle } from '../helpers/oracle.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'distill-ckpt-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Copies `src` into the live tensors of `dst`, key for key, as nn/optim will (without autograd). */
function copyInto(dst: Record<string, torch.Tensor>, src: Record<string, torch.Tensor>): void {
  torch.noGrad(() => {
    for (const k of Object.keys(dst)) torch.copy_(dst[k], src[k]);
  });
}

function bf16(t: torch.Tensor): torch.Tensor {
  const out = t.toDtype('bfloat16');
  t.dispose();
  return out;
}

class MockModel implements StatefulModel {
  params: Record<string, torch.Tensor>;
  loads = 0;
  constructor() {
    this.params = {
      'fc.weight': torch.randn([4, 3]).requiresGrad_(),
      'fc.bias': torch.randn([4]).requiresGrad_(),
      'norm.weight': bf16(torch.randn([4])),
      'bn.num_batches_tracked': torch.tensor(BigInt64Array.from([17n]), { shape: [] }),
    };
  }
  stateDict() {
    return this.params; // references to the live tensors, as the contract says
  }
  loadStateDict(sd: Record<string, torch.Tensor>) {
    this.loads++;
    copyInto(this.params, sd);
  }
  snapshot(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.params).map(([k, t]) => [k, hex(t.bytes())]));
  }
  dispose() {
    Object.values(this.params).forEach((t) => t.dispose());
  }
}

class MockOptimizer implements StatefulOptimizer {
  state: Record<string, torch.Tensor> = {
    '0.exp_avg': torch.randn([4, 3]),
    '0.exp_avg_sq': torch.rand([4, 3]),
    '0.step': torch.tensor(Float32Array.from([5]), { shape: [] }),
  };
  meta: unknown = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, groups: [{ params: [0, 1], weightDecay: 0 }] };
  stateDict(): OptimizerState {
    return { tensors: this.state, meta: this.meta };
  }
  loadStateDict(s: OptimizerState) {
    copyInto(this.state, s.tensors);
    this.meta = structuredClone(s.meta);
  }
  dispose() {
    Object.values(this.state).forEach((t) => t.dispose());
  }
}

class MockScheduler implements StatefulScheduler {
  // Infinity and NaN must survive: ReduceLROnPlateau starts with best = Infinity.
  s: unknown = { lastEpoch: 7, best: Infinity, worst: -Infinity, unknown: NaN, lrs: [0.1, 0.05] };
  stateDict() {
    return this.s;
  }
  loadStateDict(s: unknown) {
    this.s = s;
  }
}

/** Fresh objects with the state of a "run" at step 42, saved to a file. */
function savedRun(name: string) {
  torch.manualSeed(123);
  const model = new MockModel();
  const optimizer = new MockOptimizer();
  const scheduler = new MockScheduler();
  const file = join(dir, name);
  const extra = { epoch: 3, bestAcc: 0.91, note: 'ünïcode', loader: { offset: 1280 } };
  saveCheckpoint(file, { model, optimizer, scheduler, step: 42, extra });
  return { model, optimizer, scheduler, file, extra };
}
const randHex = (n = 8) => {
  const t = torch.rand([n]);
  const h = hex(t.bytes());
  t.dispose();
  return h;
};

test('round trip: model, optimizer, scheduler, step, extra and RNG are restored exactly', () => {
  const live = torch.memory().liveTensors;
  const { model, optimizer, scheduler, file, extra } = savedRun('round.ckpt');
  const savedModel = model.snapshot();
  const savedOpt = Object.fromEntries(Object.entries(optimizer.state).map(([k, t]) => [k, hex(t.bytes())]));
  const savedMeta = structuredClone(optimizer.meta);
  const savedSched = structuredClone(scheduler.s);
  const afterSave = randHex(); // what torch.rand gives right after the save

  // the run goes on: everything changes
  torch.noGrad(() => {
    Object.values(model.params).forEach((t) => torch.fill_(t, 0));
    Object.values(optimizer.state).forEach((t) => torch.fill_(t, 9));
  });
  optimizer.meta = { lr: 5 };
  scheduler.s = { lastEpoch: 99 };
  randHex(1000);

  const info = loadCheckpoint(file, { model, optimizer, scheduler });
  assert.equal(info.step, 42);
  assert.deepEqual(info.extra, extra);
  assert.deepEqual(model.snapshot(), savedModel);
  assert.deepEqual(Object.fromEntries(Object.entries(optimizer.state).map(([k, t]) => [k, hex(t.bytes())])), savedOpt);
  assert.deepEqual(optimizer.meta, savedMeta);
  assert.deepEqual(scheduler.s, savedSched);
  assert.equal(randHex(), afterSave, 'torch.rand after load equals torch.rand after save');
  assert.equal(model.params['fc.weight'].requiresGrad, true, 'live tensors keep their autograd flags');

  model.dispose();
  optimizer.dispose();
  assert.equal(torch.memory().liveTensors, live, 'save and load free every tensor they made, and no live one');
});

test('the checkpoint is one plain safetensors file that PyTorch reads, RNG included', () => {
  const { model, optimizer, file } = savedRun('pt.ckpt');
  const afterSave = torch.rand([6]);
  const ref = refDescribe(file);
  assert.equal(ref.metadata.format, CHECKPOINT_FORMAT);
  assert.equal(ref.metadata.version, '1');
  assert.equal(ref.metadata.step, '42');
  assert.deepEqual(JSON.parse(ref.metadata.extra), { epoch: 3, bestAcc: 0.91, note: 'ünïcode', loader: { offset: 1280 } });
  assert.deepEqual(Object.keys(ref.tensors).sort(), [
    'model.bn.num_batches_tracked', 'model.fc.bias', 'model.fc.weight', 'model.norm.weight',
    'optim.0.exp_avg', 'optim.0.exp_avg_sq', 'optim.0.step', 'rng',
  ]);
  assert.equal(ref.tensors['model.fc.weight'].hex, hex(model.params['fc.weight'].bytes()));
  assert.equal(ref.tensors['model.norm.weight'].dtype, 'bfloat16');
  assert.equal(ref.tensors.rng.dtype, 'uint8');
  // PyTorch's own generator, given our saved state, draws what libtorch drew after the save.
  const [r] = runOracle([{ code: `
import sys; sys.path.insert(0, ${JSON.stringify(new URL('../../../test/helpers/', import.meta.url).pathname)})
import safetensors_ref
ts, meta = safetensors_ref.load(${JSON.stringify(file)})
torch.set_rng_state(ts["rng"])
out = {"r": torch.rand(6)}` }]);
  assert.equal(r.error, undefined, String(r.error));
  assert.deepEqual((r.r as { data: number[] }).data, Array.from(afterSave.dataSync() as Float32Array));
  afterSave.dispose();
  model.dispose();
  optimizer.dispose();
});

test('a truncated or corrupt checkpoint is a FormatError and leaves model, optimizer, scheduler and RNG untouched', () => {
  const { model, optimizer, scheduler, file } = savedRun('corrupt.ckpt');
  const good = readFileSync(file);
  torch.noGrad(() => Object.values(model.params).forEach((t) => torch.fill_(t, 3)));
  const before = model.snapshot();
  const beforeSched = structuredClone(scheduler.s);
  const live = torch.memory().liveTensors;
  const cuts = [0, 5, 8, 40, Number(good.readBigUInt64LE(0)) + 8, good.length - 100, good.length - 1];
  for (const cut of cuts) {
    const bad = join(dir, `cut${cut}.ckpt`);
    writeFileSync(bad, good.subarray(0, cut));
    const state = torch.getRngState();
    assert.throws(() => loadCheckpoint(bad, { model, optimizer, scheduler }), { name: 'FormatError', message: new RegExp(`^${bad}: `) }, `cut at ${cut}`);
    const now = torch.getRngState();
    assert.equal(hex(now.bytes()), hex(state.bytes()), 'RNG untouched');
    state.dispose();
    now.dispose();
  }
  // flipped bytes inside the JSON header
  const garbled = Buffer.from(good);
  garbled.fill(0x5b, 20, 30);
  const gfile = join(dir, 'garbled.ckpt');
  writeFileSync(gfile, garbled);
  assert.throws(() => loadCheckpoint(gfile, { model }), { name: 'FormatError' });
  assert.equal(model.loads, 0, 'loadStateDict never called');
  assert.deepEqual(model.snapshot(), before);
  assert.deepEqual(scheduler.s, beforeSched);
  assert.equal(torch.memory().liveTensors, live, 'nothing leaked by failed loads');
  model.dispose();
  optimizer.dispose();
});

test('foreign or damaged metadata is a FormatError before anything is applied', () => {
  const model = new MockModel();
  const sd = model.stateDict();
  const rng = torch.getRngState();
  const base = { format: CHECKPOINT_FORMAT, version: '1', step: '1', extra: '{}' };
  const withModel = (extraTensors: Record<string, torch.Tensor> = { rng }) => {
    const t: Record<string, torch.Tensor> = { ...extraTensors };
    for (const [k, v] of Object.entries(sd)) t[`model.${k}`] = v;
    return t;
  };
  const cases: [Record<string, torch.Tensor>, Record<string, string>, RegExp][] = [
    [withModel(), { ...base, format: 'something-else' }, /not a distill-checkpoint file \(metadata format is "something-else"\)/],
    [withModel(), {}, /not a distill-checkpoint file \(metadata format is null\)/],
    [withModel(), { ...base, version: '2' }, /version 2 is newer than this program reads/],
    [withModel(), { ...base, version: 'x' }, /metadata "version" is "x"/],
    [withModel(), { ...base, step: '-1' }, /metadata "step" is "-1"/],
    [withModel(), { ...base, extra: '{not json' }, /metadata "extra" is not valid JSON/],
    [withModel(), { ...base, extra: '[1]' }, /"extra" is not a JSON object/],
    [withModel({}), base, /no "rng" tensor/],
    [withModel({ rng: sd['fc.bias'] }), base, /"rng" is float32 \[4\]; this libtorch's generator state is uint8/],
    [withModel({ rng, stray: rng }), base, /unexpected tensor "stray"/],
    [withModel({ rng, 'optim.x': rng }), base, /optimizer tensors without "optimizer" metadata/],
  ];
  cases.forEach(([tensors, metadata, why], i) => {
    const file = join(dir, `meta${i}.ckpt`);
    saveSafetensors(file, tensors, metadata);
    assert.throws(() => loadCheckpoint(file, { model }), { name: 'FormatError', message: why }, String(why));
  });
  assert.equal(model.loads, 0);
  rng.dispose();
  model.dispose();
});

test('a checkpoint that does not fit the objects given is a ConfigError and changes nothing', () => {
  const { model, file } = savedRun('fit.ckpt');
  // missing / unexpected keys
  const other = new MockModel();
  other.params.extra = torch.zeros([2]);
  const before = other.snapshot();
  assert.throws(() => loadCheckpoint(file, { model: other }), { name: 'ConfigError', message: /does not fit the model: missing "extra"/ });
  other.params.extra.dispose();
  delete other.params.extra;
  other.params['fc.weight'].dispose();
  other.params['fc.weight'] = torch.zeros([3, 4]);
  assert.throws(() => loadCheckpoint(file, { model: other }), { name: 'ConfigError', message: /shape of "fc.weight" is \[4, 3\] in the file, \[3, 4\] in the model/ });
  assert.equal(other.loads, 0);
  assert.equal(other.snapshot()['fc.bias'], before['fc.bias'], 'untouched');
  // optimizer / scheduler state requested but not saved
  const bare = join(dir, 'bare.ckpt');
  saveCheckpoint(bare, { model, step: 0 });
  const optimizer = new MockOptimizer();
  assert.throws(() => loadCheckpoint(bare, { model, optimizer }), { name: 'ConfigError', message: /holds no optimizer state/ });
  assert.throws(() => loadCheckpoint(bare, { model, scheduler: new MockScheduler() }), { name: 'ConfigError', message: /holds no scheduler state/ });
  assert.equal(model.loads, 0);
  assert.deepEqual(loadCheckpoint(bare, { model }), { step: 0, extra: {} });
  assert.equal(model.loads, 1);
  other.dispose();
  model.dispose();
  optimizer.dispose();
});

test('restoreRng: false leaves the RNG alone', () => {
  const { model, optimizer, file } = savedRun('norng.ckpt');
  torch.manualSeed(7);
  const expected = randHex();
  torch.manualSeed(7);
  loadCheckpoint(file, { model, restoreRng: false });
  assert.equal(randHex(), expected);
  model.dispose();
  optimizer.dispose();
});

test('saveCheckpoint validates its input and writes atomically over an older checkpoint', () => {
  const { model, optimizer, file } = savedRun('atomic.ckpt');
  const old = readFileSync(file);
  assert.throws(() => saveCheckpoint(file, { model, step: -1 }), { name: 'ConfigError', message: /step must be a non-negative integer/ });
  assert.throws(() => saveCheckpoint(file, { model, step: 1.5 }), { name: 'ConfigError' });
  assert.throws(() => saveCheckpoint(file, { model, step: 1, extra: { n: 10n } }), { name: 'ConfigError', message: /extra is not JSON-serialisable/ });
  // a model whose state cannot be read (a disposed tensor) fails mid-save: the old file stays
  const broken: StatefulModel = { stateDict: () => ({ w: disposedTensor() }), loadStateDict: () => undefined };
  assert.throws(() => saveCheckpoint(file, { model: broken, step: 2 }), { name: 'DisposedTensorError' });
  assert.ok(readFileSync(file).equals(old));
  const { tensors } = loadSafetensors(file);
  assert.ok('model.fc.weight' in tensors);
  Object.values(tensors).forEach((t) => t.dispose());
  model.dispose();
  optimizer.dispose();
});

function disposedTensor(): torch.Tensor {
  const t = torch.ones([1]);
  t.dispose();
  return t;
}

// The trainer: accumulation normalisation, exact resume, NaN guard, early stopping,
// and a distillation run from a cached teacher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as kd from '../../src/kd/index.js';
import type { Batch } from '../../src/data/index.js';

/** A minimal in-memory batch source: order is a pure function of (seed, epoch). */
class Source implements kd.BatchSource {
  epoch = 0;
  constructor(readonly x: torch.Tensor, readonly y: torch.Tensor, readonly batchSize: number, readonly shuffle = true) {}
  get numBatches() {
    return Math.ceil(this.x.shape[0] / this.batchSize);
  }
  setEpoch(e: number) {
    this.epoch = e;
  }
  *[Symbol.iterator](): Iterator<Batch> {
    const n = this.x.shape[0];
    const order = Array.from({ length: n }, (_, i) => i);
    if (this.shuffle) {
      let s = 1 + this.epoch * 7919;
      for (let i = n - 1; i > 0; i--) {
        s = (s * 48271) % 2147483647;
        const j = s % (i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    for (let b = 0; b < n; b += this.batchSize) {
      const index = torch.tensor(order.slice(b, b + this.batchSize), { dtype: 'int64' });
      const batch = { x: this.x.indexSelect(0, index), y: this.y.indexSelect(0, index), index };
      yield batch;
      // Like data.DataLoader: a batch lives until the next one is asked for.
      for (const t of Object.values(batch)) t.dispose();
    }
  }
}

function data(n = 100, seed = 5) {
  torch.manualSeed(seed);
  const x = torch.keep(torch.randn([n, 6]));
  const w = torch.randn([6, 3]);
  const y = torch.keep(x.matmul(w).argmax(1)); // a learnable rule
  w.dispose();
  return { x, y };
}
const cfg = (o: Partial<kd.TrainConfig> = {}): kd.TrainConfig => ({ ...kd.DEFAULT_TRAIN, logEvery: 1, ...o });
const weights = (m: nn.Module) => Object.values(m.stateDict()).map((t) => Array.from(t.dataSync() as Float32Array));
const tmp = () => mkdtempSync(join(tmpdir(), 'distill-trainer-'));

test('accumulating uneven micro-batches equals one big batch', () => {
  const { x, y } = data(100);
  const run = (batchSize: number, accumulation: number) => {
    torch.manualSeed(1);
    const model = new nn.Sequential(new nn.Linear(6, 16), new nn.Tanh(), new nn.Linear(16, 3));
    const dir = tmp();
    // One optimizer step per epoch over all 100 samples: either 1 batch of 100, or 32+32+32+4 accumulated.
    kd.train({ model, train: new Source(x, y, batchSize, false), config: cfg({ epochs: 3, gradAccumulation: accumulation, optimizer: 'sgd', lr: 0.5, momentum: 0 }), runDir: dir });
    rmSync(dir, { recursive: true });
    return weights(model);
  };
  const big = run(100, 1);
  const accumulated = run(32, 4);
  big.forEach((w, i) => w.forEach((v, j) => assert.ok(Math.abs(v - accumulated[i][j]) < 1e-6, `param ${i}[${j}]: ${v} vs ${accumulated[i][j]}`)));
  // The data can tell the two normalisations apart: the mean of the four micro-batch means
  // (the classic bug) is not the mean over all 100 samples.
  const losses = torch.tidy(() => {
    torch.manualSeed(1);
    const m = new nn.Linear(6, 3);
    const per = torch.crossEntropy(m.call(x), y, { reduction: 'none' });
    const micro = [0, 32, 64, 96].map((s) => per.narrow(0, s, Math.min(32, 100 - s)).mean().item());
    return { all: per.mean().item(), meanOfMeans: micro.reduce((a, b) => a + b) / 4 };
  });
  assert.ok(Math.abs(losses.all - losses.meanOfMeans) > 1e-3, `${losses.all} vs ${losses.meanOfMeans}`);
});

test('a run interrupted after an epoch resumes to the same final weights', () => {
  const { x, y } = data(96);
  const build = () => {
    torch.manualSeed(2);
    return new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(16, 3));
  };
  const config = cfg({ epochs: 4, schedule: 'cosine' });
  const d1 = tmp(), d2 = tmp();
  try {
    const straight = build();
    kd.train({ model: straight, train: new Source(x, y, 16), config, runDir: d1 });

    const interrupted = build();
    assert.throws(() =>
      kd.train({ model: interrupted, train: new Source(x, y, 16), config, runDir: d2, onEvent: (e) => {
        if (e.type === 'step' && e.epoch === 2 && e.stepInEpoch === 3) throw new Error('killed');
      } }), /killed/);
    torch.manualSeed(12345); // the new process starts from another RNG position
    const resumed = build();
    const r = kd.train({ model: resumed, train: new Source(x, y, 16), config, runDir: d2, resume: true });
    assert.equal(r.resumedFrom, 1, 'resumes after the last completed epoch');
    assert.deepEqual(weights(resumed), weights(straight));
    const epochs = readFileSync(join(d2, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'epoch').map((l) => l.epoch);
    assert.deepEqual(epochs, [0, 1, 2, 3], 'metrics keep one line per epoch, none duplicated by the resume');
  } finally {
    rmSync(d1, { recursive: true });
    rmSync(d2, { recursive: true });
  }
});

test('a loss that turns NaN stops with a clear message and keeps the last checkpoint', () => {
  const { x, y } = data(64);
  torch.manualSeed(3);
  const model = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Linear(16, 3));
  const dir = tmp();
  try {
    kd.train({ model, train: new Source(x, y, 16), config: cfg({ epochs: 1 }), runDir: dir });
    const before = readFileSync(join(dir, 'checkpoint.safetensors'));
    // The resumed run meets a corrupt sample (a NaN feature) in its first epoch.
    const bad = torch.keep(x.clone().maskedFill_(torch.eye(64, 6).toDtype('bool'), NaN));
    assert.throws(
      () => kd.train({ model, train: new Source(bad, y, 16), config: cfg({ epochs: 3 }), runDir: dir, resume: true }),
      (e: unknown) => e instanceof kd.NonFiniteLossError && e.code === 'ERR_NONFINITE' && /loss became (NaN|Infinity|-Infinity) at epoch 2/.test(e.message) && /checkpoint .* is intact/.test(e.message),
    );
    assert.deepEqual(readFileSync(join(dir, 'checkpoint.safetensors')), before);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('early stopping keeps the best weights file and stops after `patience` bad epochs', () => {
  const { x, y } = data(64);
  torch.manualSeed(4);
  const model = new nn.Sequential(new nn.Linear(6, 3));
  const dir = tmp();
  try {
    // A learning rate of 0 never improves after the first epoch: stops at epoch 1 + patience.
    const r = kd.train({ model, train: new Source(x, y, 16), val: { x, y }, config: cfg({ epochs: 10, lr: 1e-12, patience: 2 }), runDir: dir });
    assert.equal(r.stoppedEarly, true);
    assert.equal(r.history.length, 3);
    assert.ok(existsSync(join(dir, 'best.safetensors')));
    // The model ends at its best epoch's weights, and a resume does not train on.
    const best = readFileSync(join(dir, 'best.safetensors'));
    const again = kd.train({ model, train: new Source(x, y, 16), val: { x, y }, config: cfg({ epochs: 10, lr: 1e-12, patience: 2 }), runDir: dir, resume: true });
    assert.equal(again.history.length, 3, 'no epochs after an early stop');
    assert.deepEqual(readFileSync(join(dir, 'best.safetensors')), best);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('distilling from a cached teacher: the cache is built once, reused, and rebuilt when the teacher changes', () => {
  const { x, y } = data(128);
  const dir = tmp();
  try {
    torch.manualSeed(6);
    const teacherNet = new nn.Sequential(new nn.Linear(6, 64), new nn.ReLU(), new nn.Linear(64, 3));
    kd.train({ model: teacherNet, train: new Source(x, y, 32), config: cfg({ epochs: 30, lr: 3e-3 }), runDir: join(dir, 'teacher') });
    const ds = { name: 'toy', x, y };
    const cached = kd.CachedTeacher.build(teacherNet, ds, 3, { dir: join(dir, 'cache') });
    assert.equal(cached.computed, true);
    const again = kd.CachedTeacher.build(teacherNet, ds, 3, { dir: join(dir, 'cache') });
    assert.equal(again.computed, false, 'same teacher, same data: read from disk');
    again.dispose();

    torch.manualSeed(7);
    const student = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Linear(16, 3));
    const r = kd.train({
      model: student, train: new Source(x, y, 32), val: { x, y }, teacherModel: teacherNet, runDir: join(dir, 'student'),
      config: cfg({ epochs: 40, lr: 1e-2 }),
      kd: { teacher: cached, loss: kd.createLoss({ name: 'hinton' }), T: () => 4, alpha: () => 0.1 },
    });
    const last = r.history[r.history.length - 1];
    assert.ok(last.loss < r.history[0].loss, 'KD loss decreases');
    assert.ok(last.parts['hinton.soft'] !== undefined && last.parts['hinton.hard'] !== undefined, `parts logged: ${Object.keys(last.parts)}`);
    assert.ok((last.teacherAgreement ?? 0) > 0.8, `agreement with the teacher ${last.teacherAgreement}`);
    cached.dispose();

    // Change the teacher: the key changes and the cache is recomputed, never reused stale.
    torch.noGrad(() => teacherNet.parameters()[0].add_(0.01));
    const changed = kd.CachedTeacher.build(teacherNet, ds, 3, { dir: join(dir, 'cache') });
    assert.equal(changed.computed, true);
    assert.equal(readdirSync(join(dir, 'cache')).length, 2);
    changed.dispose();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

/** A 6-24-3 teacher, a 6-8-3 student and hinton + a FitNets hint between their hidden layers ('1'), from `seed`. */
function hintSetup(seed: number) {
  torch.manualSeed(seed);
  const teacherNet = new nn.Sequential(new nn.Linear(6, 24), new nn.ReLU(), new nn.Linear(24, 3));
  const student = new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.Linear(8, 3));
  const loss = kd.createLoss([{ name: 'hinton' }, { name: 'hint', student: '1', teacher: '1', studentDim: 8, teacherDim: 24 }] as unknown as kd.LossSpec);
  return { teacherNet, student, loss };
}

test('a feature (FitNets hint) loss reads both models by module name and trains its regressor', () => {
  const { x, y } = data(96);
  const dir = tmp();
  try {
    const { teacherNet, student, loss } = hintSetup(8);
    const regressor = loss.parameters();
    assert.equal(regressor.length, 2, 'the regressor has a weight and a bias');
    const before = regressor[0].toArray();
    const features = { student: kd.captureFeatures(student, ['1']), teacher: kd.captureFeatures(teacherNet, ['1']) };
    const base = torch.memory().liveTensors;
    const r = kd.train({
      model: student, train: new Source(x, y, 32), val: { x, y }, teacherModel: teacherNet, runDir: dir, extraParams: regressor, config: cfg({ epochs: 8, lr: 1e-2 }),
      kd: { teacher: new kd.LiveTeacher(teacherNet, 3), loss, T: () => 2, alpha: () => 0.5, features },
    });
    assert.ok(r.history[7].parts.hint < r.history[0].parts.hint, `hint loss falls: ${r.history.map((h) => h.parts.hint?.toFixed(4))}`);
    assert.notDeepEqual(regressor[0].toArray(), before, 'the regressor was trained');
    assert.equal(torch.memory().liveTensors, base, 'captured features are freed every step');
    features.student.remove();
    features.teacher.remove();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a run with a hint regressor resumes exactly: the regressor is in the checkpoint', () => {
  const { x, y } = data(64);
  // Every "process" builds the same teacher, student and regressor from seed 9; only the
  // checkpoint can carry the regressor's trained weights into the resumed run.
  const run = (dir: string, opts: { resume?: boolean; killAtEpoch?: number } = {}) => {
    const { teacherNet, student, loss } = hintSetup(9);
    const features = { student: kd.captureFeatures(student, ['1']), teacher: kd.captureFeatures(teacherNet, ['1']) };
    try {
      kd.train({
        model: student, train: new Source(x, y, 16), runDir: dir, extraParams: loss.parameters(), config: cfg({ epochs: 4, lr: 1e-2 }), resume: opts.resume,
        kd: { teacher: new kd.LiveTeacher(teacherNet, 3), loss, T: () => 2, alpha: () => 0.5, features },
        onEvent: (e) => {
          if (e.type === 'epoch' && e.record.epoch === opts.killAtEpoch) throw new Error('killed');
        },
      });
      return [...weights(student), ...loss.parameters().map((t) => Array.from(t.dataSync() as Float32Array))];
    } finally {
      features.student.remove();
      features.teacher.remove();
    }
  };
  const d1 = tmp(), d2 = tmp();
  try {
    const straight = run(d1);
    assert.throws(() => run(d2, { killAtEpoch: 1 }), /killed/);
    assert.deepEqual(run(d2, { resume: true }), straight);
  } finally {
    rmSync(d1, { recursive: true });
    rmSync(d2, { recursive: true });
  }
});

/** A live teacher that counts its forward passes. */
class CountingTeacher extends kd.LiveTeacher {
  calls = 0;
  override logits(batch: Parameters<kd.LiveTeacher["logits"]>[0]) {
    this.calls++;
    return super.logits(batch);
  }
}

interface ReplayOptions {
  viewEpochs: number;
  epochs?: number;
  mixup?: number;
  lr?: number;
  store?: kd.ViewLogitsStore;
  resume?: boolean;
  killAtEpoch?: number;
}

/** A small student distilled with replayed views from `teacherNet`; its final weights and the teacher's call count. */
function replayRun(teacherNet: nn.Module, loss: kd.KDLoss, source: Source, dir: string, o: ReplayOptions) {
  torch.manualSeed(2);
  const student = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(16, 3));
  const teacher = new CountingTeacher(teacherNet, 3);
  kd.train({
    model: student, train: source, runDir: dir, resume: o.resume, viewStore: o.store,
    config: cfg({ epochs: o.epochs ?? 3, lr: o.lr ?? 1e-2, mixup: o.mixup ?? 0, viewEpochs: o.viewEpochs, schedule: 'cosine' }),
    kd: { teacher, loss, T: () => 2, alpha: () => 0.2 },
    onEvent: (e) => {
      if (e.type === 'epoch' && e.record.epoch === o.killAtEpoch) throw new Error('killed');
    },
  });
  return { weights: weights(student), calls: teacher.calls };
}

test('replayed views (viewEpochs): epoch e reuses view epoch e mod K, and the teacher runs only in the first K', () => {
  const { x, y } = data(96);
  torch.manualSeed(4);
  const teacherNet = new nn.Sequential(new nn.Linear(6, 24), new nn.ReLU(), new nn.Linear(24, 3));
  const loss = kd.createLoss({ name: 'hinton' } as kd.LossSpec);
  // Oracle: a source that serves epoch 0's batches whatever epoch is set, with fresh teacher calls.
  class EpochZero extends Source {
    override setEpoch() {
      this.epoch = 0;
    }
  }
  const run = (source: Source, viewEpochs: number, dir: string, o: Omit<ReplayOptions, 'viewEpochs'> = {}) =>
    replayRun(teacherNet, loss, source, dir, { viewEpochs, epochs: 3, mixup: 0, ...o });
  const dirs: string[] = [];
  const dir = () => (dirs.push(tmp()), dirs.at(-1)!);
  try {
    const batches = new Source(x, y, 16).numBatches; // 6
    // K = 1: three passes over epoch 0's views, the teacher run once per batch.
    const replayed = run(new Source(x, y, 16), 1, dir());
    const oracle = run(new EpochZero(x, y, 16), 0, dir());
    assert.equal(replayed.calls, batches);
    assert.equal(oracle.calls, 3 * batches);
    assert.deepEqual(replayed.weights, oracle.weights);
    // K ≥ epochs changes nothing, mixup included: every view is fresh.
    const fresh = run(new Source(x, y, 16), 0, dir(), { mixup: 0.4 });
    const wide = run(new Source(x, y, 16), 5, dir(), { mixup: 0.4 });
    assert.deepEqual(wide, fresh);
    // K = 2 over 5 epochs, mixup on: 2 epochs of teacher calls; different from fresh views; killed and resumed, the same weights.
    const straight = run(new Source(x, y, 16), 2, dir(), { mixup: 0.4, epochs: 5 });
    assert.equal(straight.calls, 2 * batches);
    assert.notDeepEqual(straight.weights, run(new Source(x, y, 16), 0, dir(), { mixup: 0.4, epochs: 5 }).weights);
    const d = dir();
    assert.throws(() => run(new Source(x, y, 16), 2, d, { mixup: 0.4, epochs: 5, killAtEpoch: 2 }), /killed/);
    const resumed = run(new Source(x, y, 16), 2, d, { mixup: 0.4, epochs: 5, resume: true });
    assert.equal(resumed.calls, 2 * batches, 'epochs 3 and 4 refill the empty memo once');
    assert.deepEqual(resumed.weights, straight.weights);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true });
    loss.dispose();
  }
});

test('a view store keeps the teacher\'s logits on replayed views: a resumed run or another recipe reads them, a corrupt file is relabelled', () => {
  const { x, y } = data(96);
  torch.manualSeed(4);
  const teacherNet = new nn.Sequential(new nn.Linear(6, 24), new nn.ReLU(), new nn.Linear(24, 3));
  const loss = kd.createLoss({ name: 'hinton' } as kd.LossSpec);
  const run = (dir: string, o: Omit<ReplayOptions, 'viewEpochs'> = {}) =>
    replayRun(teacherNet, loss, new Source(x, y, 16), dir, { viewEpochs: 2, epochs: 5, mixup: 0.4, ...o });
  const dirs: string[] = [];
  const dir = () => (dirs.push(tmp()), dirs.at(-1)!);
  try {
    const batches = new Source(x, y, 16).numBatches;
    const store = new kd.ViewLogitsStore(dir(), 'k1');
    const plain = run(dir());
    // The first run labels 2 view epochs and writes them; its weights are those of a run without a store.
    const first = run(dir(), { store });
    assert.equal(first.calls, 2 * batches);
    assert.deepEqual(first.weights, plain.weights);
    assert.deepEqual(readdirSync(store.dir).sort(), [store.path(0), store.path(1)].map((p) => p.slice(store.dir.length + 1)).sort());
    // The same recipe again: no teacher call at all, the same weights.
    const again = run(dir(), { store });
    assert.equal(again.calls, 0);
    assert.deepEqual(again.weights, first.weights);
    // Another recipe on the same views: no teacher call, and the weights of that recipe run with the teacher.
    const other = run(dir(), { store, lr: 3e-3 });
    assert.equal(other.calls, 0);
    assert.deepEqual(other.weights, run(dir(), { lr: 3e-3 }).weights);
    // Killed after epoch 1 and resumed without its memo: the store serves it, the same weights.
    const d = dir();
    assert.throws(() => run(d, { store, killAtEpoch: 1 }), /killed/);
    const resumed = run(d, { store, resume: true });
    assert.equal(resumed.calls, 0);
    assert.deepEqual(resumed.weights, first.weights);
    // A truncated file counts as absent: that epoch is labelled again and the file rewritten whole.
    const bytes = readFileSync(store.path(1));
    writeFileSync(store.path(1), bytes.subarray(0, bytes.length >> 1));
    const mended = run(dir(), { store });
    assert.equal(mended.calls, batches);
    assert.deepEqual(mended.weights, first.weights);
    assert.deepEqual(readFileSync(store.path(1)), bytes);
    // Another key's file under this name is not used.
    const foreign = new kd.ViewLogitsStore(store.dir, 'k2');
    writeFileSync(foreign.path(0), readFileSync(store.path(0)));
    assert.equal(foreign.load(0), null);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true });
    loss.dispose();
  }
});

test('ema: the run returns and validates θ̄ ← d·θ̄ + (1 − d)·θ over every step, and resumes to it exactly', () => {
  const { x, y } = data(96);
  const d = 0.9;
  const run = (dir: string, o: { resume?: boolean; killAtEpoch?: number; seen?: number[][][] } = {}) => {
    torch.manualSeed(2);
    const model = new nn.Sequential(new nn.Linear(6, 16), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(16, 3));
    o.seen?.push(weights(model));
    const r = kd.train({
      model, train: new Source(x, y, 16), val: { x, y }, runDir: dir, resume: o.resume, config: cfg({ epochs: 3, lr: 1e-2, ema: d, schedule: 'cosine' }),
      onEvent: (e) => {
        if (e.type === 'step') o.seen?.push(weights(model)); // the raw weights after each optimizer step
        if (e.type === 'epoch' && e.record.epoch === o.killAtEpoch) throw new Error('killed');
      },
    });
    return { model, weights: weights(model), r };
  };
  const dirs = [tmp(), tmp()];
  try {
    const seen: number[][][] = [];
    const straight = run(dirs[0], { seen });
    assert.equal(seen.length, 1 + 3 * 6, 'the initial weights and one set per step');
    // Oracle: the average recomputed in float64 from the recorded iterates.
    const avg = seen[0].map((w) => w.slice());
    for (const w of seen.slice(1)) avg.forEach((a, i) => a.forEach((v, j) => (a[j] = d * v + (1 - d) * w[i][j])));
    straight.weights.forEach((w, i) => w.forEach((v, j) => assert.ok(Math.abs(v - avg[i][j]) < 1e-5, `param ${i}[${j}]: ${v} vs ${avg[i][j]}`)));
    assert.notDeepEqual(straight.weights, seen.at(-1), 'the average, not the last iterate');
    const acc = torch.tidy(() => kd.computeLogits(straight.model, x, 512).argmax(1).eq(y).toDtype('float32').mean().item());
    assert.equal(straight.r.history[2].valAccuracy, acc, 'validated with the averaged weights');
    assert.throws(() => run(dirs[1], { killAtEpoch: 1 }), /killed/);
    assert.deepEqual(run(dirs[1], { resume: true }).weights, straight.weights);
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true });
  }
});

test('a library user\'s hint loss trains its regressor with no extraParams and no captures: the loss declares both', () => {
  const { x, y } = data(96);
  const dir = tmp();
  try {
    const { teacherNet, student, loss } = hintSetup(8);
    assert.deepEqual(loss.features, { student: ['1'], teacher: ['1'] });
    const before = loss.parameters()[0].toArray();
    const setup = { teacher: new kd.LiveTeacher(teacherNet, 3), loss, T: () => 2, alpha: () => 0.5 };
    // Without the teacher as a module there is nothing to capture its features from: refused up front.
    assert.throws(() => kd.train({ model: student, train: new Source(x, y, 32), runDir: dir, config: cfg({ epochs: 1 }), kd: setup }),
      (e: unknown) => e instanceof torch.ConfigError && /reads intermediate features .*pass teacherModel/.test(e.message));
    const base = torch.memory().liveTensors;
    const r = kd.train({ model: student, train: new Source(x, y, 32), teacherModel: teacherNet, runDir: dir, config: cfg({ epochs: 8, lr: 1e-2 }), kd: setup });
    assert.ok(r.history[7].parts.hint < r.history[0].parts.hint, `hint loss falls: ${r.history.map((h) => h.parts.hint?.toFixed(4))}`);
    assert.notDeepEqual(loss.parameters()[0].toArray(), before, 'the regressor was trained');
    assert.equal(torch.memory().liveTensors, base, 'captures made by train() are removed and their features freed');
    // The hooks train() installed are gone: a forward captures nothing any more.
    assert.equal(student.call(x).shape[0], 96);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

// One config source (issue #21 §3): kd/config.ts's zod schema is TrainConfig's type, defaults
// and checks; kd.train takes any subset of its keys and refuses a bad one before it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as kd from '../../src/kd/index.js';
import type { Batch } from '../../src/data/index.js';

const work = mkdtempSync(join(tmpdir(), 'distill-kd-config-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// The values DEFAULT_TRAIN held as a hand-written object before the schema replaced it: the
// results in docs/ were trained with them, so they must not move.
const PINNED = {
  epochs: 10, lr: 1e-3, optimizer: 'adam', momentum: 0.9, weightDecay: 0, schedule: 'constant', warmupSteps: 0,
  gradAccumulation: 1, clipGradNorm: 0, labelSmoothing: 0, mixup: 0, viewEpochs: 0, ema: 0, seed: 0, checkpointEvery: 1, patience: 0, logEvery: 50,
};

test('the schema\'s defaults are the pinned ones; DEFAULT_TRAIN is them, read-only', () => {
  assert.deepEqual(kd.trainConfigSchema.parse({}), PINNED);
  assert.deepEqual(kd.trainConfig(), PINNED);
  assert.deepEqual({ ...kd.DEFAULT_TRAIN }, PINNED);
  assert.ok(Object.isFrozen(kd.DEFAULT_TRAIN));
  assert.deepEqual(kd.trainConfig({ epochs: 3, optimizer: 'sgd' }), { ...PINNED, epochs: 3, optimizer: 'sgd' });
});

test('a bad key or value is one ConfigError naming the key', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ lr: -1 }, 'train config: lr: Too small: expected number to be >0'],
    [{ epochs: 2.5 }, 'train config: epochs: Invalid input: expected int, received number'],
    [{ viewEpochs: -1 }, 'train config: viewEpochs: Too small: expected number to be >=0'],
    [{ ema: 1 }, 'train config: ema: Too big: expected number to be <1'],
    [{ optimizer: 'adagrad' }, 'train config: optimizer: Invalid option: expected one of "adam"|"adamw"|"sgd"'],
    [{ batchSize: 32 }, 'train config: (top level): Unrecognized key: "batchSize"'],
  ];
  for (const [c, message] of cases)
    assert.throws(() => kd.trainConfig(c as kd.TrainConfigInput), (e: unknown) => e instanceof torch.ConfigError && e.message === message, JSON.stringify(c));
});

/** n rows of 4 features, one batch of all of them. */
function source(n: number): kd.BatchSource {
  const rows = Array.from({ length: n }, (_, i) => i);
  return {
    numBatches: 1,
    setEpoch: () => {},
    *[Symbol.iterator](): Iterator<Batch> {
      const batch = { x: torch.randn([n, 4]), y: torch.tensor(rows.map((i) => i % 3), { dtype: 'int64' }), index: torch.tensor(rows, { dtype: 'int64' }) };
      yield batch;
      for (const t of Object.values(batch)) t.dispose();
    },
  };
}

test('kd.train takes a partial config (or none) and fills in the defaults', () => {
  torch.manualSeed(0);
  const model = new nn.Linear(4, 3);
  const dir = join(work, 'partial');
  const r = kd.train({ model, train: source(8), config: { epochs: 2, logEvery: 1 }, runDir: dir });
  assert.deepEqual(r.history.map((e) => e.epoch), [0, 1]);
  // The default lr (1e-3, constant schedule) is what the optimizer ran with.
  assert.deepEqual(r.history.map((e) => e.lr), [1e-3, 1e-3]);
  const none = kd.train({ model: new nn.Linear(4, 3), train: source(8), runDir: join(work, 'none') });
  assert.equal(none.history.length, PINNED.epochs);
  const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
  assert.equal(steps.length, 2);
  model.dispose();
});

test('kd.train refuses a bad config before it makes the run folder', () => {
  const dir = join(work, 'bad');
  assert.throws(() => kd.train({ model: new nn.Linear(4, 3), train: source(4), config: { gradAccumulation: 0 }, runDir: dir }),
    (e: unknown) => e instanceof torch.ConfigError && e.message === 'train config: gradAccumulation: Too small: expected number to be >0');
  assert.equal(existsSync(dir), false);
});

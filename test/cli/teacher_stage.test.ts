// teacherStage's cache: a recipe that leaves the keys added later (train.ema, augment.flip)
// unset keeps the key earlier versions gave it, so their cached teachers stay valid; and
// teacher.augment.flip trains on mirrored views under a key of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type * as nn from '../../src/nn/index.js';
import { loadExperiment } from '../../src/cli/experiment.js';
import { prepareData, teacherStage } from '../../src/cli/pipeline.js';
import { makeReporter } from '../../src/cli/progress.js';

const work = mkdtempSync(join(tmpdir(), 'distill-teacher-stage-'));
process.env.DISTILL_CACHE = join(work, 'cache');
test.after(() => rmSync(work, { recursive: true, force: true }));
const rep = makeReporter({ quiet: true });
const exp = (augment: Record<string, unknown> = {}) =>
  loadExperiment(undefined, { name: 't', runsDir: join(work, 'runs'), data: { dataset: 'mnist-digits' }, teacher: { arch: 'mlp:32', augment, train: { epochs: 1 } } });
const d = prepareData(exp(), rep);
const weights = (m: nn.Module) => Object.values(m.stateDict()).map((t) => Array.from(t.dataSync() as Float32Array));

test('teacher cache: the key of a recipe without the later keys is the one earlier versions computed', () => {
  const e = exp();
  const { ema, ...train } = e.teacher.train; // earlier versions had no train.ema and no augment.flip
  assert.equal(ema, 0);
  const before = createHash('sha256')
    .update(JSON.stringify({ arch: 'mlp:32', dropout: e.teacher.dropout, augment: { shift: 0 }, train, seed: e.seed, data: d.name, n: d.train.y.shape[0], val: e.data.valFraction }))
    .digest('hex').slice(0, 16);
  assert.equal(basename(teacherStage(e, d, rep).dir), `${d.name}-mlp_32-${before}`);
});

test('teacher.augment.flip: another cache key, and other weights from the same start and order', () => {
  const plain = teacherStage(exp(), d, rep);
  const flipped = teacherStage(exp({ flip: true }), d, rep);
  assert.equal(plain.reused, true);
  assert.equal(flipped.reused, false);
  assert.notEqual(flipped.dir, plain.dir);
  assert.notDeepEqual(weights(flipped.model), weights(plain.model));
});

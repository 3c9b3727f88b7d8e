// One config source (issue #21 §3): an experiment's `train:`, `kd.mixup`, `kd.viewEpochs` and
// `seed` keys are the library's training config (kd/config.ts), with its defaults and bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { loadExperiment } from '../../src/cli/experiment.js';

// The built-in recipe as it parsed before the schemas were shared, key order included: the
// results in docs/ used these values, and the teacher's cache key (cli/pipeline.ts) hashes
// teacher.train as JSON, so a moved key would retrain every cached teacher.
const PINNED =
  '{"name":"demo","seed":0,"runsDir":"runs","data":{"dataset":"auto","valFraction":0.1,"transfer":{"omitClasses":[],"subset":0}},' +
  '"teacher":{"arch":"cnn","dropout":0.3,"augment":{"shift":0,"flip":false},"train":{"epochs":10,"lr":0.001,"batchSize":128,"optimizer":"adam","momentum":0.9,"weightDecay":0,"schedule":"constant","warmupSteps":0,"gradAccumulation":1,"clipGradNorm":0,"labelSmoothing":0,"patience":0,"ema":0,"checkpointEvery":1,"logEvery":50}},' +
  '"student":{"arch":"mlp:128,128","dropout":0,"train":{"epochs":20,"lr":0.001,"batchSize":128,"optimizer":"adam","momentum":0.9,"weightDecay":0,"schedule":"constant","warmupSteps":0,"gradAccumulation":1,"clipGradNorm":0,"labelSmoothing":0,"patience":0,"ema":0,"checkpointEvery":1,"logEvery":50}},' +
  '"kd":{"loss":"hinton","T":4,"alpha":0.1,"teacher":"cached","topK":0,"augment":{"shift":0,"flip":false},"mixup":0,"viewEpochs":0}}';

test('the built-in experiment parses to the pinned values, in the pinned key order', () => {
  assert.equal(JSON.stringify(loadExperiment()), PINNED);
});

test('every key of the library\'s training config is set from the experiment', () => {
  const exp = loadExperiment();
  const train = Object.keys(exp.student.train);
  assert.deepEqual(train.filter((k) => !(k in kd.trainConfigSchema.shape)), ['batchSize'], 'the loader\'s batch size is the only experiment-only key');
  const fromElsewhere = { mixup: exp.kd.mixup, viewEpochs: exp.kd.viewEpochs, seed: exp.seed };
  assert.deepEqual(Object.keys(kd.DEFAULT_TRAIN).filter((k) => !train.includes(k)).sort(), Object.keys(fromElsewhere).sort());
  // With the student's own epochs (20), the experiment's defaults are the library's.
  const { batchSize: _, ...rest } = exp.student.train;
  assert.deepEqual({ ...rest, ...fromElsewhere }, { ...kd.DEFAULT_TRAIN, epochs: 20 });
});

test('a bad value gets the library\'s message, prefixed with the file and key', () => {
  const cases: [Record<string, unknown>, string, Record<string, unknown>][] = [
    [{ student: { train: { lr: -1 } } }, 'student.train.lr', { lr: -1 }],
    [{ teacher: { train: { epochs: 0 } } }, 'teacher.train.epochs', { epochs: 0 }],
    [{ student: { train: { momentum: 2 } } }, 'student.train.momentum', { momentum: 2 }],
    [{ student: { train: { ema: 1 } } }, 'student.train.ema', { ema: 1 }],
    [{ student: { train: { schedule: 'step' } } }, 'student.train.schedule', { schedule: 'step' }],
    [{ kd: { teacher: 'consistent', mixup: -1 } }, 'kd.mixup', { mixup: -1 }],
    [{ kd: { teacher: 'consistent', viewEpochs: 1.5 } }, 'kd.viewEpochs', { viewEpochs: 1.5 }],
    [{ seed: -1 }, 'seed', { seed: -1 }],
  ];
  for (const [override, key, library] of cases) {
    let why = '';
    assert.throws(() => kd.trainConfig(library as kd.TrainConfigInput), (e: unknown) => e instanceof torch.ConfigError && !!(why = e.message.split(': ').slice(2).join(': ')));
    assert.ok(why, key);
    assert.throws(() => loadExperiment(undefined, override), (e: unknown) => e instanceof torch.ConfigError && e.message === `<defaults>: ${key}: ${why}`, key);
  }
});

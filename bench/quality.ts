// Quality experiments over seeds, written to docs/results.md (with docs/results.json).
// Usage: node dist/bench/quality.js [--seeds 0,1,2] [--only fmnist,consistent,hinton,no3] [--threads 1]
//          [--consistent-shift 2] [--consistent-flip true] [--consistent-epochs 40] [--consistent-mixup 0.2] [--consistent-T 2]
//          [--consistent-alpha 0] [--consistent-dropout 0] [--consistent-views 0] [--consistent-wd 0]
//          [--consistent-ema 0] [--consistent-lr 0.002] [--consistent-patience 0] [--consistent-sgd false] [--consistent-standardize false] [--consistent-batch 128]
//          [--teacher-shift 0] [--teacher-flip false]
// Results are stored per (experiment, seed) in docs/results.json as they finish, so a
// killed run continues where it stopped.
//   fmnist      the recipe: CNN teacher, MLP 784-128-128 baseline, vanilla KD (T=4, α=0.1)
//   consistent  the same teacher and student, "patient and consistent" KD (Beyer et al. 2022):
//               live teacher on the student's augmented view (shift, flip, mixup), longer schedule
//   hinton      Hinton et al. 2015 on the bundled MNIST digits: 2×1200 teacher (dropout, jitter),
//               2×800 student without regularisation, T=20
//   no3         the same, with no "3" in the transfer set; accuracy on the 3s before and after
//               raising the student's "3" bias by the amount that is best on the validation set
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import * as evaluate from '../src/eval/index.js';
import { writeFileAtomic } from '../src/io/index.js';
import { loadExperiment, type Experiment } from '../src/cli/experiment.js';
import { makeReporter } from '../src/cli/progress.js';
import { prepareData, teacherStage, studentStage, type PreparedData } from '../src/cli/pipeline.js';

const { values: args } = parseArgs({ options: {
  seeds: { type: 'string', default: '0,1,2' },
  only: { type: 'string', default: 'fmnist,consistent,hinton,no3' },
  threads: { type: 'string', default: '1' },
  out: { type: 'string', default: 'docs/results.json' },
  // The consistent-KD view's random shift in pixels; another value is stored as its own experiment.
  'consistent-shift': { type: 'string', default: '2' },
  // Its schedule in epochs ("patient": Beyer et al. train far longer than the baseline); another value is its own experiment too.
  'consistent-epochs': { type: 'string', default: '40' },
  // Its mixup: λ ~ Beta(m, m); 0.2 keeps views near one image, 1 mixes uniformly (wider support for function matching).
  'consistent-mixup': { type: 'string', default: '0.2' },
  // Its random horizontal flip; off by --consistent-flip false (stored as its own experiment).
  'consistent-flip': { type: 'string', default: 'true' },
  // Its temperature; another value is its own experiment.
  'consistent-T': { type: 'string', default: '2' },
  // Its weight on the hard labels, α in α·CE + (1 − α)·T²·KL; another value is its own experiment.
  'consistent-alpha': { type: 'string', default: '0' },
  // Dropout on the student's hidden layers while it is distilled (no parameters: the same student); another value is its own experiment.
  'consistent-dropout': { type: 'string', default: '0' },
  // Replay this many epochs of views, the teacher's logits on them memoised (kd.viewEpochs); 0 = fresh views.
  'consistent-views': { type: 'string', default: '0' },
  // The student's decoupled weight decay (AdamW) while distilled; 0 = Adam without decay.
  'consistent-wd': { type: 'string', default: '0' },
  // Decay of the student's weight average (student.train.ema); 0 = the last weights.
  'consistent-ema': { type: 'string', default: '0' },
  // The student's peak learning rate (cosine schedule) while distilled.
  'consistent-lr': { type: 'string', default: '0.002' },
  // Early-stopping patience in epochs; > 0 also ends the student at its best validation epoch.
  'consistent-patience': { type: 'string', default: '0' },
  // SGD with momentum 0.9 (weight decay then L2, PyTorch's SGD) instead of Adam / AdamW.
  'consistent-sgd': { type: 'string', default: 'false' },
  // Logit standardisation (Sun et al. 2024) in the soft term: the 'hinton' loss's standardize option.
  'consistent-standardize': { type: 'string', default: 'false' },
  // The student's batch size (the views are drawn per batch, so another size is another set of views).
  'consistent-batch': { type: 'string', default: '128' },
  // The consistent experiment's teacher trained with these augmentations (teacher.augment), so it knows those views.
  'teacher-shift': { type: 'string', default: '0' },
  'teacher-flip': { type: 'string', default: 'false' },
} });
const shift = Number(args['consistent-shift']);
const consistentEpochs = Number(args['consistent-epochs']);
const consistentMixup = Number(args['consistent-mixup']);
const consistentFlip = args['consistent-flip'] !== 'false';
const consistentT = Number(args['consistent-T']);
const consistentDropout = Number(args['consistent-dropout']);
const consistentAlpha = Number(args['consistent-alpha']);
const consistentViews = Number(args['consistent-views']);
const consistentWd = Number(args['consistent-wd']);
const consistentEma = Number(args['consistent-ema']);
const consistentLr = Number(args['consistent-lr']);
const consistentPatience = Number(args['consistent-patience']);
const consistentSgd = args['consistent-sgd'] === 'true';
const consistentStandardize = args['consistent-standardize'] === 'true';
const consistentBatch = Number(args['consistent-batch']);
const teacherAugment = { shift: Number(args['teacher-shift']), flip: args['teacher-flip'] === 'true' };
// The experiment's key in docs/results.json: each setting away from its default adds a suffix.
const suffixes: [boolean, string][] = [
  [teacherAugment.shift !== 0, `-tshift${teacherAugment.shift}`],
  [teacherAugment.flip, '-tflip'],
  [shift !== 2, `-shift${shift}`],
  [!consistentFlip, '-noflip'],
  [consistentEpochs !== 40, `-e${consistentEpochs}`],
  [consistentMixup !== 0.2, `-mixup${consistentMixup}`],
  [consistentT !== 2, `-T${consistentT}`],
  [consistentDropout !== 0, `-dropout${consistentDropout}`],
  [consistentAlpha !== 0, `-alpha${consistentAlpha}`],
  [consistentViews !== 0, `-views${consistentViews}`],
  [consistentWd !== 0, `-wd${consistentWd}`],
  [consistentEma !== 0, `-ema${consistentEma}`],
  [consistentLr !== 0.002, `-lr${consistentLr}`],
  [consistentPatience !== 0, `-patience${consistentPatience}`],
  [consistentSgd, '-sgd'],
  [consistentStandardize, '-std'],
  [consistentBatch !== 128, `-b${consistentBatch}`],
];
const consistentName = 'consistent' + suffixes.filter(([on]) => on).map(([, suffix]) => suffix).join('');
const seeds = args.seeds!.split(',').map(Number);
const only = new Set(args.only!.split(','));
torch.setNumThreads(Number(args.threads));
type Results = Record<string, Record<string, number>>;
const results: Results = existsSync(args.out!) ? (JSON.parse(readFileSync(args.out!, 'utf8')) as { runs: Results }).runs : {};
const fresh: Results = {}; // this invocation's results: the only ones it writes
const rep = makeReporter({ quiet: false });
// Re-read before writing and write only what this invocation measured, so invocations sharing
// the file never drop or roll back each other's results.
const save = () => {
  const onDisk = existsSync(args.out!) ? (JSON.parse(readFileSync(args.out!, 'utf8')) as { runs: Results }).runs : {};
  writeFileAtomic(args.out!, JSON.stringify({ runs: { ...onDisk, ...fresh } }, null, 2) + '\n');
};

const acc = (m: nn.Module, d: PreparedData) => evaluate.accuracy(m as evaluate.EvalModel, d.test.x, d.test.y);

function once(key: string, fn: () => Record<string, number>): void {
  if (results[key]) return rep.note(`${key}: done already`);
  results[key] = fresh[key] = fn();
  rep.note(`${key}: ${JSON.stringify(results[key])}`);
  save();
}

function fmnist(seed: number, consistent: boolean): Record<string, number> {
  const exp = loadExperiment(undefined, { name: `quality-fmnist-s${seed}`, seed, runsDir: 'runs', data: { dataset: 'fashion-mnist' }, ...(consistent ? { teacher: { augment: teacherAugment } } : {}) });
  const d = prepareData(exp, rep);
  const teacher = teacherStage(exp, d, rep);
  const dir = join('runs', exp.name);
  if (!consistent) {
    const base = studentStage(exp, d, rep, join(dir, 'baseline'), undefined);
    const kd = studentStage(exp, d, rep, join(dir, 'student'), teacher.model);
    return { teacher: acc(teacher.model, d), baseline: acc(base.model, d), kd: acc(kd.model, d) };
  }
  const views = shift || consistentFlip || consistentMixup;
  const e: Experiment = { ...exp, student: { ...exp.student, dropout: consistentDropout, train: { ...exp.student.train, epochs: consistentEpochs, schedule: 'cosine', lr: consistentLr, ema: consistentEma, patience: consistentPatience, batchSize: consistentBatch,
    ...(consistentSgd ? { optimizer: 'sgd' as const, weightDecay: consistentWd } : consistentWd ? { optimizer: 'adamw' as const, weightDecay: consistentWd } : {}) } },
    // Without any view (no shift, flip or mixup) the live teacher's logits are the cached ones: cache them, same result, far faster.
    kd: { ...exp.kd, ...(consistentStandardize ? { loss: [{ name: 'hinton' as const, standardize: true }] } : {}), teacher: views ? 'consistent' : 'cached', T: consistentT, alpha: consistentAlpha, augment: { shift, flip: consistentFlip }, mixup: consistentMixup, viewEpochs: views ? consistentViews : 0 } };
  const s = studentStage(e, d, rep, join(dir, consistentName), teacher.model);
  return { teacher: acc(teacher.model, d), consistent: acc(s.model, d) };
}

/** Hinton et al. 2015 §3 on the bundled digits; with `omit3`, the transfer set has no 3s. */
function hinton(seed: number, omit3: boolean): Record<string, number> {
  const exp = loadExperiment(undefined, {
    name: `quality-hinton${omit3 ? '-no3' : ''}-s${seed}`, seed, data: { dataset: 'mnist-digits', transfer: { omitClasses: omit3 ? [3] : [] } },
    teacher: { arch: 'mlp:1200,1200', dropout: 0.5, augment: { shift: 2 }, train: { epochs: 40, lr: 1e-3 } },
    student: { arch: 'mlp:800,800', dropout: 0, train: { epochs: 40, lr: 1e-3 } },
    kd: { T: 20, alpha: 0.1 },
  });
  const d = prepareData(exp, rep);
  const teacher = teacherStage(exp, d, rep);
  const dir = join('runs', exp.name);
  const kdStudent = studentStage(exp, d, rep, join(dir, 'student'), teacher.model);
  if (!omit3) {
    const base = studentStage(exp, d, rep, join(dir, 'baseline'), undefined);
    const n = d.test.y.shape[0];
    const errors = (m: nn.Module) => Math.round((1 - acc(m, d)) * n);
    return { test: n, teacherErrors: errors(teacher.model), baselineErrors: errors(base.model), kdErrors: errors(kdStudent.model) };
  }
  // Accuracy on the test 3s, then after adding δ to the "3" logit's bias, δ chosen on the validation set.
  const on3 = (m: nn.Module, ds: { x: torch.Tensor; y: torch.Tensor }) => torch.tidy(() => {
    const pred = evaluate.predict(m as evaluate.EvalModel, ds.x).argmax(1);
    const is3 = ds.y.eq(3);
    const n3 = is3.sum().item();
    return { acc3: pred.eq(3).logicalAnd(is3).sum().item() / n3, acc: pred.eq(ds.y).toDtype('float32').mean().item() };
  });
  const before = on3(kdStudent.model, d.test);
  const last = kdStudent.model.at(-1) as nn.Linear;
  const bias = last.bias!;
  let best = { delta: 0, acc: -1 };
  for (let delta = 0; delta <= 10; delta += 0.25) {
    const shift = (v: number) => torch.noGrad(() => torch.tidy(() => { bias.narrow(0, 3, 1).add_(v); }));
    shift(delta);
    const v = on3(kdStudent.model, d.val).acc;
    shift(-delta);
    if (v > best.acc) best = { delta, acc: v };
  }
  torch.noGrad(() => torch.tidy(() => { bias.narrow(0, 3, 1).add_(best.delta); }));
  const after = on3(kdStudent.model, d.test);
  return { acc3Before: before.acc3, accBefore: before.acc, biasDelta: best.delta, acc3After: after.acc3, accAfter: after.acc };
}

for (const seed of seeds) {
  if (only.has('fmnist')) once(`fmnist/s${seed}`, () => fmnist(seed, false));
  if (only.has('consistent')) once(`${consistentName}/s${seed}`, () => fmnist(seed, true));
  if (only.has('hinton')) once(`hinton/s${seed}`, () => hinton(seed, false));
  if (only.has('no3')) once(`no3/s${seed}`, () => hinton(seed, true));
}
rep.stop();
console.log(JSON.stringify(fresh));

// The stages every command is made of: prepare the data, train (or reuse) a teacher,
// train a student with or without distillation, and measure them side by side.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import * as data from '../data/index.js';
import * as kd from '../kd/index.js';
import * as evaluate from '../eval/index.js';
import { loadSafetensors, writeFileAtomic } from '../io/index.js';
import type { Experiment } from './experiment.js';
import { cacheDir } from './cache.js';
import type { Reporter } from './progress.js';
import { teacherOnViews, viewReport, type View } from './view_check.js';

export const runDir = (exp: Experiment) => resolve(exp.runsDir, exp.name);

/** Intra-op threads: the config's, else this machine's cores shared among its `localRanks` processes. */
export function applyThreads(exp: Experiment, localRanks = 1): number {
  const n = exp.threads ?? Math.max(1, Math.floor(availableParallelism() / localRanks));
  torch.setNumThreads(n);
  return n;
}

export interface PreparedData {
  name: string;
  train: data.Dataset; // teacher training set (train minus validation)
  transfer: data.Dataset; // what students learn from (train, minus omitted classes, subset)
  val: data.Dataset;
  test: data.Dataset;
  numClasses: number;
  inputShape: number[];
  classNames?: string[];
}

export function prepareData(exp: Experiment, rep: Reporter): PreparedData {
  const d = exp.data;
  let full: data.Dataset;
  let test: data.Dataset;
  let choice = d.dataset;
  if (choice === 'auto') {
    const dir = d.dir ?? process.env.DISTILL_FASHION_MNIST ?? data.FASHION_MNIST_DIR;
    choice = existsSync(join(dir, 'train-images-idx3-ubyte.gz')) || existsSync(join(dir, 'train-images-idx3-ubyte')) ? 'fashion-mnist' : 'mnist-digits';
    if (choice === 'mnist-digits')
      rep.note(`Fashion-MNIST not found in ${dir} (sudo apt-get install dataset-fashion-mnist); using the bundled MNIST digits instead`);
  }
  if (choice === 'fashion-mnist') {
    full = data.loadFashionMnist({ split: 'train', dir: d.dir });
    test = data.loadFashionMnist({ split: 'test', dir: d.dir });
  } else if (choice === 'mnist-digits') {
    full = data.loadMnistDigits({ split: 'train', seed: exp.seed });
    test = data.loadMnistDigits({ split: 'test', seed: exp.seed });
  } else {
    const all = data.loadTabular(choice);
    const parts = data.splitDataset(all, { fractions: [0.8, 0.2], seed: exp.seed });
    full = parts.train;
    test = parts.val;
  }
  const { train, val } = data.splitDataset(full, { valFraction: d.valFraction, seed: exp.seed });
  const name = full.name, numClasses = full.numClasses, inputShape = [...full.x.shape.slice(1)], classNames = full.classNames;
  data.disposeDataset(full); // the split copied what it needs
  const t = d.transfer;
  const transfer = t.omitClasses.length || t.subset
    ? data.makeTransferSet(train, { omitClasses: t.omitClasses, subset: t.subset || undefined, seed: exp.seed })
    : train;
  rep.note(`data: ${name}: ${train.y.shape[0]} train, ${val.y.shape[0]} val, ${test.y.shape[0]} test` +
    (transfer !== train ? `; transfer set ${transfer.y.shape[0]} (omitting [${t.omitClasses.join(', ')}])` : ''));
  // Refused here, before any training, rather than failing (or swapping) hours in.
  const memo = viewMemoMiB(exp, data.datasetSize(transfer), numClasses);
  if (memo > totalmem() / 2 ** 20 / 2)
    throw new torch.ConfigError(`kd.viewEpochs: the teacher's logits on ${exp.kd.viewEpochs} epochs of views would take ${memo.toFixed(0)} MiB, over half of this machine's ${(totalmem() / 2 ** 30).toFixed(0)} GiB; lower kd.viewEpochs`);
  return { name, train, transfer, val, test, numClasses, inputShape, classNames };
}

/** MiB of teacher logits that kd.viewEpochs = K keeps in memory: K · N · C float32 (kd/trainer.ts). */
const viewMemoMiB = (exp: Experiment, n: number, numClasses: number) => (exp.kd.viewEpochs * n * numClasses * 4) / 2 ** 20;

/**
 * Where the teacher's logits on replayed views are kept across runs. The views are a pure
 * function of the teacher, the transfer set, the seed (data order and mixup pairs), the batch
 * size, the augmentation and mixup settings, and with a process group the rank, so those form
 * the key; the student's recipe (lr, α, T, epochs) does not enter it.
 */
function viewStoreFor(exp: Experiment, teacher: nn.Module, d: PreparedData, dist?: torch.ProcessGroup): kd.ViewLogitsStore {
  const k = exp.kd;
  const views = `views|shift=${k.augment.shift}|flip=${k.augment.flip}|mixup=${k.mixup}|seed=${exp.seed}` +
    `|batch=${exp.student.train.batchSize}|rank=${dist ? `${dist.rank}/${dist.worldSize}` : '0/1'}`;
  return new kd.ViewLogitsStore(join(cacheDir(), 'views'), kd.teacherCacheKey(teacher, d.transfer, views));
}

/** The library's training config from an experiment's `train:` section (less the loader's batch size) and seed. */
function trainConfig(c: Experiment['teacher']['train'], seed: number): kd.TrainConfig {
  const { batchSize: _loader, ...rest } = c;
  return kd.trainConfig({ ...rest, seed });
}

/** With a process group, this rank's shard of every epoch (batchSize per rank, as in PyTorch DDP). */
const loaderFor = (ds: data.Dataset, batchSize: number, seed: number, augment?: data.Augment, dist?: torch.ProcessGroup) =>
  new data.DataLoader(ds, {
    batchSize, shuffle: true, seed, augment,
    sampler: dist && new data.DistributedSampler(data.datasetSize(ds), { rank: dist.rank, worldSize: dist.worldSize, seed }),
  });

const isLead = (dist?: torch.ProcessGroup) => !dist || dist.rank === 0;

/** Loads safetensors weights into a model, naming the file on failure. */
export function loadWeights(model: nn.Module, path: string): void {
  const { tensors } = loadSafetensors(path);
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    throw new torch.ConfigError(`${path}: ${(e as Error).message}`);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

export interface TeacherResult {
  model: nn.Sequential;
  dir: string;
  reused: boolean;
}

/**
 * The teacher: given weights, or trained once per (recipe, data, seed) into the cache, so
 * later runs reuse it. A killed teacher run resumes from its checkpoint.
 */
export function teacherStage(exp: Experiment, d: PreparedData, rep: Reporter, opts: { force?: boolean; dir?: string; dist?: torch.ProcessGroup; zero?: 0 | 1 } = {}): TeacherResult {
  const t = exp.teacher;
  const { dist } = opts;
  const lead = isLead(dist); // with a process group, rank 0 alone writes files
  torch.manualSeed(exp.seed);
  const model = nn.buildArch(t.arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout: t.dropout });
  mkdirSync(runDir(exp), { recursive: true });
  if (t.weights) {
    if (lead) writeFileAtomic(join(runDir(exp), 'teacher.json'), JSON.stringify({ weights: resolve(t.weights), arch: t.arch, dropout: t.dropout }) + '\n');
    loadWeights(model, t.weights);
    rep.note(`teacher: weights from ${t.weights}`);
    return { model, dir: t.weights, reused: true };
  }
  // Recipe keys added later (ema, augment.flip) enter only when set, so teachers cached before them stay valid.
  const train = { ...t.train, ema: t.train.ema || undefined };
  const augmentKey = { ...t.augment, flip: t.augment.flip || undefined };
  const key = createHash('sha256')
    .update(JSON.stringify({ arch: t.arch, dropout: t.dropout, augment: augmentKey, train, seed: exp.seed, data: d.name, n: d.train.y.shape[0], val: exp.data.valFraction }))
    .digest('hex').slice(0, 16);
  // A teacher this run trained with `train-teacher` (same recipe) wins over the shared cache.
  const own = join(runDir(exp), 'teacher');
  const ownMatches = existsSync(join(own, 'model.safetensors')) && existsSync(join(own, 'recipe-key')) && readFileSync(join(own, 'recipe-key'), 'utf8').trim() === key;
  const dir = opts.dir ?? (ownMatches ? own : join(cacheDir(), 'teachers', `${d.name}-${t.arch.replace(/[^\w]/g, '_')}-${key}`));
  const weights = join(dir, 'model.safetensors');
  if (opts.dir && lead) {
    // A folder given by the caller may hold a teacher of another recipe: reuse or resume only on
    // the same key (cache folders carry the key in their name).
    const keyFile = join(dir, 'recipe-key');
    if (!existsSync(keyFile) || readFileSync(keyFile, 'utf8').trim() !== key) {
      rmSync(weights, { force: true });
      rmSync(join(dir, 'checkpoint.safetensors'), { force: true });
    }
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(keyFile, key + '\n');
  }
  if (lead) writeFileAtomic(join(runDir(exp), 'teacher.json'), JSON.stringify({ weights, arch: t.arch, dropout: t.dropout }) + '\n');
  let reuse = existsSync(weights) && !opts.force;
  if (dist) reuse = kd.agree(dist, lead && reuse ? 1 : 0) === 1; // rank 0's cache decides
  if (reuse) {
    if (lead) loadWeights(model, weights);
    if (dist) kd.broadcastState(dist, Object.values(model.stateDict())); // ranks that cannot see rank 0's cache too
    rep.note(`teacher: reusing ${weights}`);
    return { model, dir, reused: true };
  }
  rep.note(`teacher: training ${t.arch} for ${t.train.epochs} epochs into ${dir}`);
  const views = [...(t.augment.shift ? [data.randomShift(t.augment.shift)] : []), ...(t.augment.flip ? [data.randomFlip()] : [])];
  const augment = views.length ? data.composeAugments(...views) : undefined;
  kd.train({
    model, train: loaderFor(d.train, t.train.batchSize, exp.seed, augment, dist), val: d.val, config: trainConfig(t.train, exp.seed),
    runDir: dir, resume: !opts.force, onEvent: rep.trainer('teacher'), dist, zero: opts.zero,
  });
  if (lead) kd.saveWeights(dir, model, 'model.safetensors', { arch: t.arch, dataset: d.name });
  return { model, dir, reused: false };
}

export interface StudentResult {
  model: nn.Sequential;
  dir: string;
  history: kd.EpochRecord[];
}

/** A student trained on hard labels (the baseline) or distilled from `teacher`. */
export function studentStage(exp: Experiment, d: PreparedData, rep: Reporter, dir: string, teacher?: nn.Module, opts: { resume?: boolean; dist?: torch.ProcessGroup; zero?: 0 | 1 } = {}): StudentResult {
  const s = exp.student;
  const { dist } = opts;
  // Baseline and distilled students start from the same initial weights: a fair comparison.
  torch.manualSeed(exp.seed + 1);
  const model = nn.buildArch(s.arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout: s.dropout });
  const config = trainConfig(s.train, exp.seed);
  let setup: kd.KDSetup | undefined;
  let augment: data.Augment | undefined;
  let loss: kd.KDLoss | undefined;
  let viewStore: kd.ViewLogitsStore | undefined;
  if (teacher) {
    const k = exp.kd;
    const specs = (typeof k.loss === 'string' ? [{ name: k.loss }] : k.loss) as kd.LossSpec[];
    const featureNames = featuresNeeded(specs);
    const needFeatures = featureNames.student.length > 0;
    if (needFeatures && k.teacher === 'cached') rep.note('kd: feature losses read the teacher\'s intermediate outputs, so the teacher runs live');
    const live = k.teacher !== 'cached' || needFeatures;
    if (k.teacher === 'consistent') {
      const views: View[] = [];
      if (k.augment.shift) views.push({ name: 'kd.augment.shift', augment: data.randomShift(k.augment.shift) });
      if (k.augment.flip) views.push({ name: 'kd.augment.flip', augment: data.randomFlip() });
      if (views.length) {
        augment = data.composeAugments(...views.map((v) => v.augment));
        if (isLead(dist)) for (const line of viewReport(teacherOnViews(teacher, d.val, views, exp.seed))) rep.note(line);
      }
      config.mixup = k.mixup;
      config.viewEpochs = k.viewEpochs;
      if (k.viewEpochs) {
        const mb = viewMemoMiB(exp, data.datasetSize(d.transfer), d.numClasses);
        const epochs = `${k.viewEpochs} epoch${k.viewEpochs === 1 ? '' : 's'}`;
        viewStore = viewStoreFor(exp, teacher, d, dist);
        const have = Array.from({ length: k.viewEpochs }, (_, e) => existsSync(viewStore!.path(e))).filter(Boolean).length;
        const teacherRuns = have === k.viewEpochs ? `all ${have} are there already: the teacher does not run`
          : have ? `${have} are there already: the teacher labels the other ${k.viewEpochs - have}` : `the teacher runs in the first ${epochs} only`;
        rep.note(`kd: the views of ${epochs} are replayed, the teacher's logits on them kept in memory (${mb.toFixed(1)} MiB) and in ${viewStore.dir}; ${teacherRuns}`);
      }
    }
    const source: kd.Teacher = live
      ? new kd.LiveTeacher(teacher, d.numClasses)
      // With a process group every rank computes its shard of the logits (kd/teacher.ts).
      : kd.CachedTeacher.build(teacher, d.transfer, d.numClasses, { dir: join(cacheDir(), 'logits'), topK: k.topK || undefined, onProgress: rep.counter('caching teacher logits') }, dist);
    if (source instanceof kd.CachedTeacher) rep.note(`teacher logits: ${source.computed ? 'computed and cached' : 'reused'} at ${source.path}`);
    loss = kd.createLoss(specs);
    setup = { teacher: source, loss, T: kd.makeSchedule(k.T, 'kd.T'), alpha: kd.makeSchedule(k.alpha, 'kd.alpha') };
    if (needFeatures)
      setup.features = { student: kd.captureFeatures(model, featureNames.student), teacher: kd.captureFeatures(teacher, featureNames.teacher) };
  }
  const stage = teacher ? 'distill' : 'baseline';
  rep.note(`${stage}: ${s.arch} for ${s.train.epochs} epochs into ${dir}`);
  try {
    // Fresh unless asked: a rerun with a changed config must never pick up an old checkpoint.
    const r = kd.train({
      model, train: loaderFor(d.transfer, s.train.batchSize, exp.seed, augment, dist), val: d.val, config, kd: setup, teacherModel: teacher,
      extraParams: loss?.parameters(), runDir: dir, resume: opts.resume ?? false, onEvent: rep.trainer(stage), dist, zero: opts.zero, viewStore,
    });
    if (isLead(dist)) kd.saveWeights(dir, model, 'model.safetensors', { arch: s.arch, dataset: d.name, kind: stage });
    return { model, dir, history: r.history };
  } finally {
    setup?.teacher.dispose();
    setup?.features?.student.remove();
    setup?.features?.teacher.remove();
    loss?.dispose();
  }
}

/** The module names that the feature losses ('hint', 'attention') read, on each side. */
function featuresNeeded(specs: kd.LossSpec[]): { student: string[]; teacher: string[] } {
  const student = new Set<string>(), teacher = new Set<string>();
  for (const s of specs as unknown as Record<string, unknown>[]) {
    if (s.name === 'hint') {
      student.add(String(s.student));
      teacher.add(String(s.teacher));
    } else if (s.name === 'attention') {
      for (const [a, b] of s.pairs as [string, string][]) {
        student.add(a);
        teacher.add(b);
      }
    }
  }
  return { student: [...student], teacher: [...teacher] };
}

/** Measures the models on the test set and writes comparison.md / comparison.json into `dir`. */
export function compareStage(entries: { name: string; role: string; model: nn.Module }[], d: PreparedData, dir: string, rep: Reporter): evaluate.ComparisonRow[] {
  rep.note(`measuring ${entries.length} models on ${d.test.y.shape[0]} test samples`);
  const rows = evaluate.compareModels(entries as { name: string; role: string; model: evaluate.EvalModel }[], { x: d.test.x, y: d.test.y }, {
    inputShape: d.inputShape, onProgress: (m) => { if (m.endsWith(': accuracy')) rep.note(`  ${m.replace(/: accuracy$/, '')}`); },
  });
  mkdirSync(dir, { recursive: true });
  evaluate.writeComparison(dir, rows);
  return rows;
}

export function writeResolvedConfig(dir: string, exp: Experiment): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(exp, null, 2) + '\n');
}

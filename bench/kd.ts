// KD speed benchmark. Usage: npm run bench:kd -- [--json] [--epochs N] [--threads N] [--rounds N]
// Last line: {"kd_epoch_vs_plain_ratio", "ours_vs_torch_ratio", …}
//   kd_epoch_vs_plain_ratio  a distillation epoch with a cached teacher / a plain student epoch (ours)
//   ours_vs_torch_ratio      our vanilla-KD run end to end (cache the teacher's logits, distill
//                            N epochs) / bench/kd_torch.py --mode speed doing the same work
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import * as data from '../src/data/index.js';
import * as kd from '../src/kd/index.js';
import { median } from './stats.js';
import { peerEnv } from './peer.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    epochs: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:kd -- [--json] [--epochs N=3] [--threads N=2] [--rounds N=3]   (needs Fashion-MNIST and python3-torch)');
  process.exit(0);
}
const epochs = Number(args.epochs), threads = Number(args.threads), rounds = Math.max(1, Number(args.rounds));
const log = (m: string) => { if (!args.json) console.log(m); };
const PEER = fileURLToPath(new URL('../../bench/kd_torch.py', import.meta.url));
torch.setNumThreads(threads);

const full = data.loadFashionMnist({ split: 'train' });
const { train } = data.splitDataset(full, { valFraction: 0.1, seed: 0 });
const inputShape = [1, 28, 28];
const config = (): kd.TrainConfig => ({ ...kd.DEFAULT_TRAIN, epochs, logEvery: 1000 });

function student() {
  torch.manualSeed(1);
  return nn.mlp([128, 128], { inputShape, numClasses: 10 });
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, (performance.now() - t0) / 1000];
}

const dir = mkdtempSync(join(tmpdir(), 'distill-bench-kd-'));
try {
  // 1. Our end-to-end vanilla KD: cache the (random-weight) teacher's logits, then distill.
  torch.manualSeed(0);
  const teacherNet = nn.cnn({ inputShape, numClasses: 10, dropout: 0.3 });
  const kdRun = (cached: kd.CachedTeacher, tag: string) => kd.train({
    model: student(), train: new data.DataLoader(train, { batchSize: 128, seed: 0 }), config: config(), runDir: join(dir, tag),
    kd: { teacher: cached, loss: kd.createLoss({ name: 'hinton' }), T: () => 4, alpha: () => 0.1 },
  });
  // 1 and 2 alternate for `rounds` rounds (each in a fresh cache folder), so that drift on a
  // shared machine hits both sides alike; the ratio is of the medians.
  const oursRuns: number[] = [], torchRuns: number[] = [];
  let cached: kd.CachedTeacher | null = null;
  for (let round = 0; round < rounds; round++) {
    cached?.dispose();
    const [c, seconds] = timed(() => {
      const c = kd.CachedTeacher.build(teacherNet, train, 10, { dir: join(dir, `cache${round}`) });
      kdRun(c, `kd-e2e${round}`);
      return c;
    });
    cached = c;
    oursRuns.push(seconds);
    log(`ours: cache + ${epochs} KD epochs in ${seconds.toFixed(2)} s`);

    // 2. PyTorch doing the same work, same threads.
    const peer = JSON.parse(execFileSync('/usr/bin/python3', [PEER, '--mode', 'speed', '--epochs', String(epochs), '--threads', String(threads)], { encoding: 'utf8', env: peerEnv(threads) })) as { seconds: number };
    torchRuns.push(peer.seconds);
    log(`PyTorch: cache + ${epochs} KD epochs in ${peer.seconds.toFixed(2)} s`);
  }
  const oursSeconds = median(oursRuns), torchSeconds = median(torchRuns);

  // 3. A plain student epoch vs a KD epoch with the cached teacher: plain and KD runs
  //    alternate three times, so that drift on a shared machine hits both alike; medians
  //    over all their epochs.
  const plainEpochs: number[] = [], kdEpochs: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const plain = kd.train({ model: student(), train: new data.DataLoader(train, { batchSize: 128, seed: 0 }), config: config(), runDir: join(dir, `plain${rep}`) });
    plainEpochs.push(...plain.history.map((h) => h.seconds));
    kdEpochs.push(...kdRun(cached!, `kd${rep}`).history.map((h) => h.seconds));
  }
  cached!.dispose();
  const plainEpoch = median(plainEpochs);
  const kdEpoch = median(kdEpochs);
  log(`epoch: plain ${plainEpoch.toFixed(2)} s, KD with cached teacher ${kdEpoch.toFixed(2)} s`);

  console.log(JSON.stringify({
    kd_epoch_vs_plain_ratio: +(kdEpoch / plainEpoch).toFixed(3),
    ours_vs_torch_ratio: +(oursSeconds / torchSeconds).toFixed(3),
    ours_seconds: +oursSeconds.toFixed(2), torch_seconds: +torchSeconds.toFixed(2), rounds,
    plain_epoch_s: +plainEpoch.toFixed(3), kd_epoch_s: +kdEpoch.toFixed(3), epochs, threads,
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

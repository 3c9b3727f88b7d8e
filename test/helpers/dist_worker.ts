// One rank of a test's process group, started by test/helpers/dist.ts with torchrun's
// variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). argv[2] is a JSON job:
//   { mode: 'collectives' }               allreduce/broadcast/allgather/reduceScatter/barrier; prints the results
//   { mode: 'loop', timeoutMs }           allreduces until a peer fails; prints the error
//   { mode: 'train', ... }                kd.train on a synthetic set; writes final weights
//   { mode: 'cache', dir, out, topK? }    CachedTeacher.build split among the ranks; writes the logits
//   { mode: 'lora', out, rows, zero? }    a LoRA'd CausalLM trained by the Trainer on this rank's rows; writes its state
//   { mode: 'zero', out, rows, zero, bucket?, ckpt?, resume?, maxSteps? }
//                                         a CausalLM fully trained (AdamW in two groups, StepLR, clipping) with ZeRO stage `zero`
// Each prints one JSON line on stdout as its result.
import { writeFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import * as data from '../../src/data/index.js';
import * as kd from '../../src/kd/index.js';
import * as optim from '../../src/optim/index.js';
import { Trainer } from '../../src/train/index.js';
import { CausalLM, applyLora, loraParameters } from '../../src/lm/index.js';

const job = JSON.parse(process.argv[2]) as Record<string, unknown>;
const env = torch.distOptionsFromEnv()!;
torch.setNumThreads(1);
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

function collectives(pg: torch.ProcessGroup) {
  const r = pg.rank;
  const f = torch.tensor([r + 1, 10 * (r + 1)]);
  const m = torch.tensor([[r, r], [r, r]]); // same dtype: joins f's bucket
  const d = torch.tensor([0.5 * r], { dtype: 'float64' }); // a second bucket
  const i = torch.tensor([r], { dtype: 'int64' });
  pg.allreduce([f, m, d, i]);
  const b = torch.tensor([r, r, r]);
  pg.broadcast([b], pg.worldSize - 1);
  // Past one 25 MiB bucket: three 12 MB float32 tensors (one a transposed view) and a bfloat16
  // one, allreduced in two float32 buckets through one reused buffer; each element must be the sum.
  const big = [0, 1, 2].map((k) => torch.full([1000, 3000], (r + 1) * (k + 1)));
  const view = big[1].transpose(0, 1); // non-contiguous: copied into the bucket and back
  const half = torch.full([5], 0.25 * (r + 1), 'bfloat16');
  pg.allreduce([big[0], view, big[2], half]);
  const bigErr = big.map((t, k) => t.sub(3 * (k + 1)).abs().max().item()); // Σ over 2 ranks of (r+1)(k+1)
  const halfSum = half.toDtype('float32').toArray();
  // allgather: every rank's part, in rank order; reduceScatter: rank r's slice of the sum.
  const part = torch.tensor([[r + 1, 10 * (r + 1)], [100 * (r + 1), -(r + 1)]]);
  const whole = torch.zeros([pg.worldSize * 4]);
  pg.allgather(whole, part);
  const wide = torch.tensor([0, 1, 2, 3, 4, 5], { dtype: 'float64' }).mul(r + 1); // (worldSize · 3) on 2 ranks
  const mine = torch.zeros([3], 'float64');
  pg.reduceScatter(mine, wide);
  let badShape = '';
  try {
    pg.allgather(torch.zeros([5]), part);
  } catch (e) {
    badShape = (e as Error).name;
  }
  pg.barrier();
  out({ rank: r, bigErr, halfSum, f: f.toArray(), m: m.toArray(), d: d.toArray(), i: i.toArray(), b: b.toArray(), whole: whole.toArray(), mine: mine.toArray(), wide: wide.toArray(), badShape });
}

function loop(pg: torch.ProcessGroup) {
  const t = torch.ones([1000]);
  out({ ready: true });
  for (;;) {
    try {
      pg.allreduce([t]);
    } catch (e) {
      const err = e as torch.DistError;
      out({ error: err.code, name: err.name, message: err.message });
      process.exit(3);
    }
    t.fill_(1);
  }
}

/** kd.train on a learnable synthetic set, this rank's shard by DistributedSampler. */
function trainJob(pg: torch.ProcessGroup | undefined) {
  const n = job.n as number, batchSize = job.batchSize as number;
  torch.manualSeed(5);
  const x = torch.randn([n, 6]);
  const w = torch.randn([6, 3]);
  const labels = Int32Array.from(x.matmul(w).argmax(1).dataSync() as BigInt64Array, Number);
  const ds = data.datasetFromArrays({ name: 'synthetic', source: 'dist_worker', x: x.dataSync() as Float32Array, featureShape: [6], labels, numClasses: 3 });
  const sampler = new data.DistributedSampler(n, { rank: pg?.rank ?? 0, worldSize: pg?.worldSize ?? 1, seed: 3 });
  const loader = new data.DataLoader(ds, { batchSize, sampler });
  // Different on every rank: only the broadcast makes the replicas start equal.
  torch.manualSeed(100 + (pg?.rank ?? 0));
  const model = new nn.Sequential(new nn.Linear(6, 16), new nn.Tanh(), new nn.Linear(16, 3));
  const dieAt = job.dieAt as { epoch: number; step: number } | undefined;
  kd.train({
    model, train: loader, runDir: job.runDir as string, resume: !!job.resume, dist: pg,
    config: { ...kd.DEFAULT_TRAIN, optimizer: 'sgd', lr: 0.1, momentum: 0.9, epochs: job.epochs as number, logEvery: 1, seed: 3 },
    onEvent: (e) => {
      // A rank that dies mid-epoch, after the previous epoch's checkpoint.
      if (dieAt && e.type === 'step' && e.epoch === dieAt.epoch && e.stepInEpoch === dieAt.step && pg?.rank === 1) process.kill(process.pid, 'SIGKILL');
    },
  });
  const weights = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.dataSync() as Float32Array)]));
  writeFileSync(`${job.out as string}.${pg?.rank ?? 0}.json`, JSON.stringify(weights));
  out({ rank: pg?.rank ?? 0, done: true });
}

/** A teacher cache over 101 rows (uneven shards), built by every rank together. */
function cacheJob(pg: torch.ProcessGroup | undefined) {
  torch.manualSeed(9);
  const x = torch.randn([101, 6]);
  const teacher = new nn.Sequential(new nn.Linear(6, 32), new nn.ReLU(), new nn.Linear(32, 5));
  const c = kd.CachedTeacher.build(teacher, { name: 'synthetic', x, y: torch.zeros([101], 'int64') }, 5,
    { dir: job.dir as string, topK: job.topK as number | undefined, batchSize: 16 }, pg);
  const all = c.logits({ x, index: torch.arange(0, 101) });
  const flat = (t: torch.Tensor) => Array.from(t.toDtype('float32').dataSync() as Float32Array);
  const got = all instanceof torch.Tensor ? { logits: flat(all) } : { indices: flat(all.indices), logits: flat(all.logits), logZ: flat(all.logZ) };
  writeFileSync(`${job.out as string}.${pg?.rank ?? 0}.json`, JSON.stringify(got));
  out({ rank: pg?.rank ?? 0, computed: c.computed, path: c.path });
  c.dispose();
}

/**
 * A tiny CausalLM with LoRA (the same on every rank), 4 AdamW steps; each step's batch is `rows`
 * sequences of which this rank takes every worldSize-th. Writes the whole state and whether any
 * frozen parameter got a gradient (one all-reduced would have: allreduceGradients fills missing ones).
 */
function loraJob(pg: torch.ProcessGroup | undefined) {
  const rank = pg?.rank ?? 0, world = pg?.worldSize ?? 1, rows = job.rows as number;
  torch.manualSeed(5);
  const model = new CausalLM({ vocabSize: 30, dim: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 16 });
  applyLora(model, { r: 2, alpha: 4, targets: ['q_proj', 'v_proj', 'down_proj'] }, 6);
  const seqs = torch.randint(0, 30, [4 * rows, 9]);
  const opt = new optim.AdamW(loraParameters(model), { lr: 0.05 });
  new Trainer<torch.Tensor>({
    model, optimizer: opt, epochs: 1, dist: pg, zero: job.zero as 0 | 1 | undefined,
    data: {
      batchesPerEpoch: 4,
      *batches(_e: number, start: number) {
        for (let b = start; b < 4; b++) yield seqs.narrow(0, b * rows, rows).indexSelect(0, torch.arange(rank, rows, world, 'int64'));
      },
    },
    computeLoss: (x) => {
      const T = x.shape[1] - 1;
      const logits = model.call(x.narrow(1, 0, T)); // (b, T, V)
      const loss = torch.crossEntropy(logits.reshape([-1, 30]), x.narrow(1, 1, T).reshape([-1]));
      return { loss, weight: x.shape[0] }; // weighted by rows: the global mean over ranks
    },
  }).fit();
  const frozenGrads = model.parameters().filter((p) => !p.requiresGrad && p.grad !== null).length;
  const state = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.dataSync() as Float32Array)]));
  writeFileSync(`${job.out as string}.${rank}.json`, JSON.stringify({ state, frozenGrads }));
  out({ rank, done: true });
}

/**
 * A tiny CausalLM, every parameter trained: AdamW in two groups (decay on matrices only), StepLR,
 * clipping by the global norm; 6 steps of `rows` sequences, this rank taking every worldSize-th.
 * Writes the final weights and the optimizer-state bytes this rank held.
 */
function zeroJob(pg: torch.ProcessGroup | undefined) {
  const rank = pg?.rank ?? 0, world = pg?.worldSize ?? 1, rows = job.rows as number;
  torch.manualSeed(5);
  const model = new CausalLM({ vocabSize: 30, dim: 16, nLayers: 2, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 16 });
  const seqs = torch.randint(0, 30, [6 * rows, 9]);
  // A loss-owned parameter of 7 elements makes N odd, so the last shard is padded.
  const extra = torch.randn([7]).requiresGrad_(true);
  const ps = [...model.parameters(), extra];
  const opt = new optim.AdamW([{ params: ps.filter((p) => p.ndim >= 2), weightDecay: 0.1 }, { params: ps.filter((p) => p.ndim < 2), weightDecay: 0 }], { lr: 0.02 });
  const sched = new optim.StepLR(opt, { stepSize: 2, gamma: 0.5 });
  const res = new Trainer<torch.Tensor>({
    model, extraParams: [extra], optimizer: opt, scheduler: sched, epochs: 1, dist: pg, zero: job.zero as 0 | 1, zeroBucketElements: job.bucket as number | undefined, clipGradNorm: 0.05,
    maxSteps: job.maxSteps as number | undefined,
    checkpoint: job.ckpt ? { path: job.ckpt as string } : undefined, resume: !!job.resume,
    data: {
      batchesPerEpoch: 6,
      *batches(_e: number, start: number) {
        for (let b = start; b < 6; b++) yield seqs.narrow(0, b * rows, rows).indexSelect(0, torch.arange(rank, rows, world, 'int64'));
      },
    },
    computeLoss: (x) => {
      const T = x.shape[1] - 1;
      const logits = model.call(x.narrow(1, 0, T)); // (b, T, V)
      const ce = torch.crossEntropy(logits.reshape([-1, 30]), x.narrow(1, 1, T).reshape([-1]));
      return { loss: ce.add(extra.mul(extra).sum().mul(0.01).mul(ce)), weight: x.shape[0] };
    },
  }).fit();
  const state = Object.fromEntries(Object.entries({ ...model.stateDict(), extra }).map(([k, t]) => [k, Array.from(t.dataSync() as Float32Array)]));
  writeFileSync(`${job.out as string}.${rank}.json`, JSON.stringify({ state, stateBytes: res.optimizerStateBytes, step: res.step, numel: ps.reduce((s, p) => s + p.numel, 0) }));
  out({ rank, done: true });
}

let pg: torch.ProcessGroup | undefined;
try {
  pg = env.worldSize > 1 || (job.mode !== 'train' && job.mode !== 'cache' && job.mode !== 'lora' && job.mode !== 'zero') ? torch.ProcessGroup.create({ ...env, timeoutMs: (job.timeoutMs as number) ?? 20_000 }) : undefined;
  if (job.mode === 'collectives') collectives(pg!);
  else if (job.mode === 'loop') loop(pg!);
  else if (job.mode === 'cache') cacheJob(pg);
  else if (job.mode === 'lora') loraJob(pg);
  else if (job.mode === 'zero') zeroJob(pg);
  else trainJob(pg);
} catch (e) {
  const err = e as torch.DistError;
  out({ error: err.code, name: err.name, message: err.message });
  process.exitCode = 3;
} finally {
  pg?.dispose();
}

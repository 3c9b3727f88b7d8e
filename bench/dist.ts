// Data-parallel scaling, 1 → 2 processes on this machine. Usage:
//   npm run bench:dist -- [--json] [--steps N=150] [--batch B=128] [--rounds R=3]
// Last line: {"scaling_efficiency", …}
//   scaling_efficiency   samples/s with 2 ranks ÷ (2 × samples/s with 1 rank), each rank one
//                        thread (libtorch and OpenBLAS) and batch B (weak scaling, as DDP is
//                        used: the global batch grows with the ranks)
//   allreduce_ms         median time of the step's one bucketed allreduce (gradients + count),
//                        including waiting for the slower rank to get there
//   allreduce_only_ms    the same allreduce alone, the ranks lined up by a barrier first:
//                        the transfer itself (loopback TCP through Gloo)
// The step is the trainer's (kd/trainer.ts with `dist`): forward, mean CE × b, backward, one
// allreduce of every gradient plus the sample count, divide, Adam step. Model: the MLP
// student 784-128-128-10 on Fashion-MNIST. Rounds alternate 1 and 2 ranks; medians.
import { spawn } from 'node:child_process';
import { loadavg, availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer } from 'node:net';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    steps: { type: 'string', default: '150' },
    batch: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '3' },
    worker: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:dist -- [--json] [--steps N=150] [--batch B=128] [--rounds R=3]   (needs Fashion-MNIST)');
  process.exit(0);
}
const steps = Number(args.steps), batch = Number(args.batch), WARMUP = 10;

interface WorkerResult { rank: number; stepMs: number[]; allreduceMs: number[]; onlyMs: number[]; paramBytes: number }

async function worker(): Promise<void> {
  const torch = await import('../src/torch/index.js');
  const nn = await import('../src/nn/index.js');
  const data = await import('../src/data/index.js');
  const kd = await import('../src/kd/index.js');
  const { Adam } = await import('../src/optim/index.js');
  torch.setNumThreads(1);
  const env = torch.distOptionsFromEnv()!;
  const pg = env.worldSize > 1 ? torch.ProcessGroup.create(env) : null;
  const train = data.loadFashionMnist({ split: 'train' });
  const sampler = new data.DistributedSampler(data.datasetSize(train), { rank: env.rank, worldSize: env.worldSize, seed: 0 });
  const loader = new data.DataLoader(train, { batchSize: batch, sampler, dropLast: true });
  torch.manualSeed(1);
  const model = nn.mlp([128, 128], { inputShape: [1, 28, 28], numClasses: 10 });
  const params = model.parameters();
  const opt = new Adam(params, { lr: 1e-3 });
  if (pg) kd.broadcastState(pg, params);
  const stepMs: number[] = [], allreduceMs: number[] = [];
  let done = 0;
  for (let epoch = 0; done < steps + WARMUP; epoch++) {
    loader.setEpoch(epoch);
    for (const b of loader) {
      if (done++ >= steps + WARMUP) break;
      const t0 = performance.now();
      let ar = 0;
      torch.tidy(() => {
        const n = b.y.shape[0];
        torch.crossEntropy(model.call(b.x), b.y).mul(n).backward();
        const a0 = performance.now();
        const total = pg ? kd.allreduceGradients(pg, params, n) : n;
        ar = performance.now() - a0;
        torch.noGrad(() => params.forEach((p) => p.grad?.mul_(1 / total)));
        opt.step();
        opt.zeroGrad();
      });
      if (done > WARMUP) {
        stepMs.push(performance.now() - t0);
        allreduceMs.push(ar);
      }
    }
  }
  const paramBytes = params.reduce((s, p) => s + p.numel * 4, 0);
  const onlyMs: number[] = [];
  for (let i = 0; pg && i < 50; i++) {
    pg.barrier();
    const a0 = performance.now();
    kd.allreduceGradients(pg, params, 0);
    onlyMs.push(performance.now() - a0);
  }
  pg?.dispose();
  process.stdout.write(JSON.stringify({ rank: env.rank, stepMs, allreduceMs, onlyMs, paramBytes } satisfies WorkerResult) + '\n');
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One run of `world` ranks; each rank's step times. */
async function run(world: number): Promise<WorkerResult[]> {
  const port = await freePort();
  const self = fileURLToPath(import.meta.url);
  return Promise.all(Array.from({ length: world }, (_, rank) => new Promise<WorkerResult>((resolve, reject) => {
    const child = spawn(process.execPath, [self, '--worker', '--steps', String(steps), '--batch', String(batch)], {
      // One thread per rank, OpenBLAS's pool included (torchrun's OMP_NUM_THREADS=1 default).
      env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`rank ${rank} of ${world} exited with ${code}`))));
  })));
}

async function main(): Promise<void> {
  const log = (m: string) => { if (!args.json) console.log(m); };
  const load0 = loadavg()[0];
  const one: number[] = [], two: number[] = [], ar: number[] = [], ar1: number[] = [], only: number[] = [];
  const compute: number[][] = [[], [], []]; // ms per step outside the allreduce: 1 rank, then rank 0 and 1 of 2
  const computeOf = (x: WorkerResult) => median(x.stepMs.map((t, i) => t - x.allreduceMs[i]));
  let paramBytes = 0;
  for (let r = 0; r < Number(args.rounds); r++) {
    const a = await run(1);
    const b = await run(2);
    paramBytes = a[0].paramBytes;
    // A 2-rank step lasts as long as its slowest rank; the allreduce makes them equal anyway.
    const s1 = median(a[0].stepMs), s2 = Math.max(...b.map((x) => median(x.stepMs)));
    one.push((batch * 1000) / s1);
    two.push((2 * batch * 1000) / s2);
    ar.push(median(b[0].allreduceMs));
    ar1.push(median(b[1].allreduceMs));
    only.push(median(b[0].onlyMs));
    [a[0], ...b].forEach((x, i) => compute[i].push(computeOf(x)));
    log(`round ${r + 1}: 1 rank ${s1.toFixed(2)} ms/step, 2 ranks ${s2.toFixed(2)} ms/step (allreduce in the step ${ar.at(-1)!.toFixed(2)} ms, alone ${only.at(-1)!.toFixed(2)} ms)`);
  }
  const t1 = median(one), t2 = median(two);
  const arMs = median(ar), onlyMs = median(only);
  console.log(JSON.stringify({
    scaling_efficiency: +(t2 / (2 * t1)).toFixed(3),
    samples_per_s_1: Math.round(t1), samples_per_s_2: Math.round(t2),
    ms_per_step_1: +((batch * 1000) / t1).toFixed(3), ms_per_step_2: +((2 * batch * 1000) / t2).toFixed(3),
    allreduce_ms: +arMs.toFixed(3), allreduce_ms_rank1: +median(ar1).toFixed(3), allreduce_only_ms: +onlyMs.toFixed(3),
    // Forward + backward + step, outside the allreduce: unequal ranks mean one waits for the other.
    compute_ms_1: +median(compute[0]).toFixed(3), compute_ms_2: compute.slice(1).map((c) => +median(c).toFixed(3)),
    // NCCL-tests' "bus bandwidth": ring all-reduce moves 2(N−1)/N × the buffer per rank; N = 2 → the buffer once.
    allreduce_bus_gb_per_s: +((paramBytes * 2 * (2 - 1)) / 2 / (onlyMs / 1000) / 1e9).toFixed(3),
    param_bytes: paramBytes, batch_per_rank: batch, steps, rounds: Number(args.rounds),
    cores: availableParallelism(), loadavg_before: +load0.toFixed(2), loadavg_after: +loadavg()[0].toFixed(2),
  }));
}

await (args.worker ? worker() : main());

// A synchronous gradient allreduce between 2 processes on this machine: its time and the
// resident memory it leaves. Usage:
//   node dist/bench/allreduce.js [--elements N=25600000] [--tensors K=20] [--reps R=12]
// Prints rank 0's median ms over R allreduces (each after a barrier) and its resident memory
// after them (rss_mb). Used to
// compare the bucketed collectives (≤ 25 MiB, native/dist.cc) with the one-buffer build before.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { median } from './stats.js';

const { values: args } = parseArgs({ options: { elements: { type: 'string', default: '25600000' }, tensors: { type: 'string', default: '20' }, reps: { type: 'string', default: '12' } } });
const n = Number(args.elements), k = Number(args.tensors), reps = Number(args.reps);

if (!process.env.RANK) {
  const port = String(29000 + Math.floor(Math.random() * 1000));
  const ranks = [0, 1].map((r) => spawn(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    env: { ...process.env, RANK: String(r), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port }, stdio: ['ignore', 'inherit', 'inherit'],
  }));
  const codes = await Promise.all(ranks.map((p) => new Promise<number | null>((done) => p.on('exit', done))));
  if (codes.some((c) => c !== 0)) process.exit(1);
} else {
  torch.setNumThreads(1);
  const pg = torch.ProcessGroup.create(torch.distOptionsFromEnv()!);
  const grads = Array.from({ length: k }, () => torch.ones([Math.ceil(n / k)]));
  const count = torch.ones([1]);
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    pg.barrier();
    const t0 = performance.now();
    pg.allreduce([...grads, count]);
    ms.push(performance.now() - t0);
  }
  if (pg.rank === 0) console.log(JSON.stringify({ elements: n, tensors: k, median_ms: +median(ms).toFixed(1), rss_mb: Math.round(process.memoryUsage().rss / 1e6) }));
  pg.dispose();
}

// Data-parallel launching, torchrun-style.
//
//   --nproc N                       start N ranks of one group on this machine (this process
//                                   only supervises; it never loads libtorch)
//   --rank R --world-size W         join a group as rank R of W (one process per call), or with
//   --master-addr H --master-port P --nproc N: start ranks R..R+N-1 of W here
//   --zero 1                        ZeRO stage 1: each rank keeps the optimizer state of its
//                                   1/W shard of the parameters (optim/zero.ts); needs W ≥ 2
//
// Each rank is the same `distill` command with torchrun's variables set (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, LOCAL_RANK, LOCAL_WORLD_SIZE), so a rank can also be started
// by hand or by any launcher that sets them. Rank 0's stdout is the command's stdout (the
// --json line); the other ranks' stderr is shown prefixed with their rank. When a rank
// fails, the others notice at their next collective and stop with their own ERR_DIST_*
// message; whatever still runs after a grace period is stopped (as torchrun does), and the
// launcher exits with the first failure's code. The run's checkpoint (written by rank 0,
// atomically) is where `--resume` picks up.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { ConfigError } from '../torch/errors.js';

export interface DistFlags {
  nproc?: string;
  rank?: string;
  worldSize?: string;
  masterAddr?: string;
  masterPort?: string;
  distTimeout?: string;
  zero?: number | string;
}

/** How long the other ranks get to stop on their own (with their own error) after one fails. */
const GRACE_MS = 10_000;

const FLAGS = ['--nproc', '--rank', '--world-size', '--master-addr', '--master-port'];

function int(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag} must be an integer >= ${min}, got '${v}'`);
  return n;
}

/** The command line without the launch flags (the ranks get them as variables instead). */
export function stripLaunchFlags(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (FLAGS.includes(a)) i++;
    else if (!FLAGS.some((f) => a.startsWith(f + '='))) out.push(a);
  }
  return out;
}

/**
 * Puts --rank/--world-size/--master-* into torchrun's variables for this process (a rank
 * joined by hand); checked here so a typo fails before any data is loaded.
 */
export function applyJoinFlags(o: DistFlags): void {
  const world = int(o.worldSize, '--world-size', 1);
  const rank = int(o.rank, '--rank', 0);
  const port = int(o.masterPort, '--master-port', 1);
  if ((rank === undefined) !== (world === undefined)) throw new ConfigError('--rank and --world-size go together');
  if (world !== undefined && rank! >= world) throw new ConfigError(`--rank must be below --world-size (${world}), got ${rank}`);
  if (world !== undefined) {
    process.env.RANK = String(rank);
    process.env.WORLD_SIZE = String(world);
  }
  if (o.masterAddr) process.env.MASTER_ADDR = o.masterAddr;
  if (port !== undefined) process.env.MASTER_PORT = String(port);
  if (o.distTimeout !== undefined) {
    const s = Number(o.distTimeout);
    if (!(s > 0)) throw new ConfigError(`--dist-timeout must be a positive number of seconds, got '${o.distTimeout}'`);
    process.env.DISTILL_DIST_TIMEOUT = String(s);
  }
}

/**
 * `--zero 1` shards the optimizer state over the data-parallel ranks: with one rank there is
 * nothing to shard over, so it is refused (one ConfigError) rather than silently ignored.
 * Ranks started by --nproc see the group in WORLD_SIZE.
 */
export function checkZeroFlag(o: DistFlags, env: NodeJS.ProcessEnv = process.env): void {
  if (o.zero === undefined || Number(o.zero) === 0) return;
  const world = int(o.worldSize, '--world-size', 1) ?? int(o.nproc, '--nproc', 1) ?? (Number(env.WORLD_SIZE) || 1);
  if (world < 2)
    throw new ConfigError(`--zero ${o.zero} shards the optimizer state over data-parallel ranks, so it needs at least 2 of them: add --nproc N (N ≥ 2) or --world-size N (N ≥ 2), or leave --zero out for one process`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts the local ranks and waits for them; returns the exit code of the command. */
export async function launchLocal(o: DistFlags, argv = process.argv): Promise<number> {
  const nproc = int(o.nproc, '--nproc', 1)!;
  const world = int(o.worldSize, '--world-size', 1) ?? nproc;
  const base = int(o.rank, '--rank', 0) ?? 0;
  if (base + nproc > world) throw new ConfigError(`--nproc ${nproc} from --rank ${base} needs --world-size >= ${base + nproc}, got ${world}`);
  const addr = o.masterAddr ?? '127.0.0.1';
  // One machine alone: any free port; several machines must agree on one (torchrun's default).
  const port = int(o.masterPort, '--master-port', 1) ?? (world === nproc ? await freePort() : 29500);
  if (o.distTimeout !== undefined) applyJoinFlags({ distTimeout: o.distTimeout });
  const args = stripLaunchFlags(argv.slice(1));
  const children: ChildProcess[] = [];
  let failed: { rank: number; code: number } | null = null;
  const stopAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onSignal = (s: NodeJS.Signals) => stopAll(s);
  let grace: NodeJS.Timeout | undefined;
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const exits = Array.from({ length: nproc }, (_, local) => {
    const rank = base + local;
    const child = spawn(process.execPath, args, {
      env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: addr, MASTER_PORT: String(port), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(nproc) },
      stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', rank === 0 ? 'inherit' : 'pipe'],
    });
    children.push(child);
    if (child.stderr) {
      let buf = '';
      child.stderr.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) process.stderr.write(`[rank ${rank}] ${l}\n`);
      });
      child.stderr.on('end', () => buf && process.stderr.write(`[rank ${rank}] ${buf}\n`));
    }
    return new Promise<number>((resolve) => {
      child.on('close', (code, signal) => {
        const c = code ?? 128 + (signal ? constants.signals[signal] : 0);
        if (c !== 0 && !failed) {
          failed = { rank, code: c };
          process.stderr.write(`distill: rank ${rank} ${signal ? `was killed (${signal})` : `exited with code ${code}`}; the other ranks stop too\n`);
          grace = setTimeout(() => stopAll('SIGTERM'), GRACE_MS);
        }
        resolve(c);
      });
    });
  });
  try {
    await Promise.all(exits);
  } finally {
    clearTimeout(grace);
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  return failed ? (failed as { code: number }).code : 0;
}

// Loads the libtorch addon. Failing to load prints one line that names the fix.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { makeNativeError } from './errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Native = Record<string, (...args: any[]) => any>;

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const FIX_HINT =
  'install libtorch with `sudo apt-get install -y libtorch-dev libopenblas0-pthread` (or set LIBTORCH=/path/to/libtorch) and run `npm run setup`';

// libtorch's intra-op threads (libgomp) and OpenBLAS's pthreads share the cores. By
// default an idle OpenMP worker spins after each parallel region, and that spinning steals
// the core an OpenBLAS thread is computing on: on 2 cores an MLP training step took
// 3.9 ms instead of 1.6 ms (docs/benchmarks.md). libgomp reads its wait policy once, when
// it is loaded with the addon, so passive waiting is chosen here, before the load, unless
// the user chose a policy. Child processes (peers, workers) inherit it.
export function preferPassiveOpenMP(env: NodeJS.ProcessEnv = process.env): void {
  if (env.OMP_WAIT_POLICY === undefined && env.GOMP_SPINCOUNT === undefined) env.OMP_WAIT_POLICY = 'PASSIVE';
}

function load(): Native {
  preferPassiveOpenMP();
  const path = join(findRoot(), 'build', 'Release', 'torch_addon.node');
  try {
    const addon = createRequire(import.meta.url)(path) as Native;
    addon.init(makeNativeError);
    return addon;
  } catch (e) {
    const why = existsSync(path) ? (e as Error).message.split('\n')[0] : 'the native addon is not built';
    const err = new Error(`distill: cannot load libtorch (${why}); ${FIX_HINT}`);
    (err as Error & { code: string }).code = 'ERR_NO_LIBTORCH';
    throw err;
  }
}

export const native: Native = load();

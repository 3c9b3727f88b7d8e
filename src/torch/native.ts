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

function load(): Native {
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

// The cache folder: trained teachers, teacher logits and the logits on replayed views.
// Everything in it is rebuilt on demand, so it is safe to delete.
import { readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const cacheDir = () => resolve(process.env.DISTILL_CACHE ?? join(homedir(), '.cache', 'distill'));

/** Bytes under `path` (0 when it does not exist). */
function bytesUnder(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesUnder(join(path, name)), 0);
}

/** The cache's size by top-level folder (teachers, logits, views, …), largest first. */
export function cacheUsage(): { dir: string; total: number; parts: { name: string; bytes: number }[] } {
  const dir = cacheDir();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // no cache yet
  }
  const parts = names.map((name) => ({ name, bytes: bytesUnder(join(dir, name)) })).sort((a, b) => b.bytes - a.bytes);
  return { dir, total: parts.reduce((s, p) => s + p.bytes, 0), parts };
}

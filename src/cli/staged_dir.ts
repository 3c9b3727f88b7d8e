// Output folders written whole or not at all: the folder form of io/atomic.ts's rule.
// `distill export` writes every file into a hidden staging folder beside the target
// (`.<name>.<pid>.<random>.tmp`, same parent, so the final rename stays on one filesystem),
// and only when everything is written renames it to the target. A failure midway (a full
// disk, a model llama.cpp refuses, Ctrl-C) removes the staging folder and leaves the target
// as it was: absent, or the complete earlier export.
//
// Replacing an earlier export: rename(2) cannot put a folder over a non-empty one, so the old
// folder is first renamed aside, the new one into place, then the old one removed. A reader
// sees the old folder, then (for the moment between two renames) none, then the new one; never
// a mix. Because the whole folder is replaced, a folder is only replaced when it is empty or
// was written by export (it holds the marker file), or when it is the command's own default
// location: `--out ~/models` never deletes someone's other files.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { ConfigError } from '../torch/errors.js';
import { fsyncDir, isProcessAlive, isTempFileFor, tempPathFor } from '../io/atomic.js';

/** Written into every staged folder: what marks a folder as an earlier export that may be replaced. */
export const EXPORT_MARKER = '.distill-export';

export interface OutputDir {
  /** The folder the user asked for (absolute). */
  target: string;
  /** The flag that named it, for messages ('--out'). */
  flag: string;
  /** The command's own default location: replaced even without the marker (exports made before it existed). */
  isDefault: boolean;
}

export interface StagedDir {
  /** Where to write now. */
  readonly dir: string;
  /** Where the files will be once committed. */
  readonly target: string;
  /** The final path of a path written under `dir`. */
  final(path: string): string;
  /** Moves the staged folder to the target (replacing an earlier export). */
  commit(): void;
  /** Removes the staged folder; the target is untouched. */
  abort(): void;
}

/** Refuses a target that is a file, under a file, or a folder of other files; no side effects. */
export function checkOutputDir(o: OutputDir): void {
  const where = `${o.flag} ${o.target}`;
  // The nearest existing ancestor must be a folder (a file there is what made mkdir fail with EEXIST/ENOTDIR).
  for (let p = dirname(o.target); ; p = dirname(p)) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) throw new ConfigError(`${where}: ${p} is a file, not a folder`);
    if (st || dirname(p) === p) break;
  }
  const st = statSync(o.target, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) throw new ConfigError(`${where} is a file; export writes a folder: give a new folder's path (or an earlier export to replace)`);
  const names = readdirSync(o.target);
  if (names.length && !o.isDefault && !names.includes(EXPORT_MARKER))
    throw new ConfigError(`${where} holds other files (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}); ` +
      'export replaces its folder as a whole, so give a new or empty folder, or an earlier export');
}

/** Staging folders that a killed export left beside `target` (their process is gone). */
function removeStaleStaging(target: string): void {
  for (const name of readdirSync(dirname(target))) {
    if (!isTempFileFor(name, target)) continue;
    const pid = Number(name.slice(basename(target).length + 2).split('.')[0]);
    if (pid !== process.pid && !isProcessAlive(pid)) rmSync(join(dirname(target), name), { recursive: true, force: true });
  }
}

/** Checks the target, then creates an empty staging folder beside it. */
export function stageDir(o: OutputDir): StagedDir {
  const target = resolve(o.target);
  checkOutputDir({ ...o, target });
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  removeStaleStaging(target);
  const dir = tempPathFor(target);
  mkdirSync(dir);
  writeFileSync(join(dir, EXPORT_MARKER), 'written by `distill export`; the whole folder is replaced by the next export to it\n');
  let done = false;
  return {
    dir, target,
    final: (p) => join(target, relative(dir, p)),
    commit() {
      if (done) return;
      checkOutputDir({ ...o, target }); // it may have changed while the export ran
      const old = existsSync(target) ? tempPathFor(target) : null;
      if (old) renameSync(target, old);
      try {
        renameSync(dir, target);
      } catch (e) {
        if (old) renameSync(old, target); // put the earlier export back
        throw e;
      }
      done = true;
      fsyncDir(parent);
      if (old) rmSync(old, { recursive: true, force: true });
    },
    abort() {
      if (done) return;
      done = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Atomic file replacement, the rule every output file of the project follows
// (docs/architecture.md, "Reliability rules": write to a temp file, fsync, rename).
//
// Why each step:
//  1. The temp file lives in the target's own directory: rename(2) is only atomic within
//     one filesystem, and the same directory guarantees that.
//  2. fsync(temp) before the rename: otherwise a crash after the rename can leave the new
//     name pointing at a file whose data blocks were never written (the classic ext4
//     zero-length-file-after-crash problem).
//  3. rename(temp, target) replaces the target in one step: a reader (or a resumed run)
//     sees either the complete old file or the complete new file, never a mix.
//  4. fsync(directory): makes the rename itself durable, so after power loss the name
//     does not silently revert to the old file.
// On any failure before the rename the temp file is removed and the old target is untouched.
//
// `fs` is used through its default export (not named imports) so a test can inject a fault
// by replacing e.g. `fs.renameSync` for one call; the named ESM bindings cannot be patched.
import fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** What `writeFileAtomic` accepts: a string (UTF-8), bytes, or a list of byte chunks written in order. */
export type AtomicData = string | Uint8Array | readonly Uint8Array[];

/** Temp files are named `.<target name>.<pid>.<random>.tmp`, so a stale one (left by a killed process) is recognisable. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** True when `name` (a bare file name) is a temp file that `writeFileAtomic` makes for `target`. */
export function isTempFileFor(name: string, target: string): boolean {
  const prefix = `.${basename(target)}.`;
  return name.startsWith(prefix) && /^\d+\.[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length));
}

/** Whether process `pid` exists (signal 0 probes without signalling; EPERM: it exists, owned by another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes temp files that a killed process left beside `target` (a SIGKILL gives no chance to
 * clean up). Files of live processes are kept: they may be writing right now. Returns the names removed.
 */
export function removeStaleTempFiles(target: string): string[] {
  const dir = dirname(target);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!isTempFileFor(name, target)) continue;
    const pid = Number(name.slice(basename(target).length + 2).split('.')[0]);
    // Our own pid is skipped too: a worker thread of this process may be mid-write.
    if (pid === process.pid || isProcessAlive(pid)) continue;
    try {
      fs.unlinkSync(join(dir, name));
      removed.push(name);
    } catch { /* raced with another cleaner */ }
  }
  return removed;
}

function writeAll(fd: number, chunk: Uint8Array): void {
  // writeSync may write less than asked (large buffers, signals); loop until done.
  let off = 0;
  while (off < chunk.byteLength) off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
}

// Directory fsync is not supported everywhere (Windows: EPERM/EISDIR; some FUSE/network
// filesystems: EINVAL). Those mean "cannot make the rename durable here", not failure.
const DIR_SYNC_UNSUPPORTED = new Set(['EPERM', 'EISDIR', 'EINVAL', 'ENOTSUP', 'EBADF', 'EACCES']);

/**
 * Makes the names in `dir` (a rename, a new file) durable: fsync of the directory itself. Where
 * the filesystem cannot do that (the codes above) it does nothing; any other error is thrown.
 */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Replaces `path` with `data` atomically and durably: temp file in the same directory,
 * fsync, rename over the target, fsync the directory. On failure the previous file (if any)
 * is left intact, no temp file remains, and the error (with the errno `code` of the cause)
 * names the target path.
 */
export function writeFileAtomic(path: string, data: AtomicData): void {
  const chunks: readonly Uint8Array[] =
    typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  let renamed = false;
  try {
    // 'wx': fail rather than follow or clobber anything already at the temp name.
    fd = fs.openSync(tmp, 'wx', 0o666);
    for (const c of chunks) {
      if (!(c instanceof Uint8Array)) throw new TypeError(`data chunks must be Uint8Arrays, got ${typeof c}`);
      writeAll(fd, c);
    }
    fs.fsyncSync(fd);
    const f = fd;
    fd = undefined; // close releases the descriptor even when it reports an error: never close twice
    fs.closeSync(f);
    fs.renameSync(tmp, path);
    renamed = true;
    fsyncDir(dirname(path));
  } catch (e) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing; the original error matters */ }
    }
    if (!renamed) {
      try { fs.unlinkSync(tmp); } catch { /* never created, or already gone */ }
    }
    const cause = e as NodeJS.ErrnoException;
    const err = new Error(`cannot write ${path}: ${cause.message}`, { cause }) as NodeJS.ErrnoException;
    if (cause.code) err.code = cause.code;
    throw err;
  }
}

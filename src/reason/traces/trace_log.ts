// traces.jsonl as an append-only log: the resume key of a trace-generation job.
//
// Why append + fsync per line rather than the project's write-temp-and-rename: each line is a
// paid teacher answer, written the moment it arrives; rewriting a growing file per answer
// would be quadratic. Appending one line with one write(2) and fdatasync'ing it means a kill -9
// leaves at worst one torn last line, which `open` cuts away; every complete line survives.
// A failed write (ENOSPC, EIO, …) is cut back to the last complete line before the error
// is raised, so the file never holds half a record.
//
// `fs` is used through its default export so a test can inject a write fault (see atomic.ts).
import fs from 'node:fs';
import { dirname } from 'node:path';
import { DistillError, FormatError } from '../../torch/errors.js';
import type { Trace } from '../types.js';
import { fsyncDir } from '../../io/atomic.js';

/** A write to the trace file failed; what was written before is intact. */
export class TraceWriteError extends DistillError {
  readonly errno?: string;
  constructor(message: string, errno?: string) {
    super('ERR_TRACE_WRITE', message);
    this.errno = errno;
  }
}

const CHUNK = 1 << 20;

export class TraceLog {
  readonly path: string;
  /** Ids of every complete trace in the file. */
  readonly ids = new Set<string>();
  /** Complete lines found on open. */
  readonly existing: number;
  /** Bytes of a torn last line cut away on open (a kill mid-write), 0 normally. */
  readonly tornBytes: number;
  #fd: number;
  #size: number;
  #written = 0;

  private constructor(path: string, fd: number, size: number, existing: number, tornBytes: number, ids: Set<string>) {
    this.path = path;
    this.#fd = fd;
    this.#size = size;
    this.existing = existing;
    this.tornBytes = tornBytes;
    this.ids = ids;
  }

  /** Opens (creating) the file, reads the ids already answered and cuts a torn last line. */
  static open(path: string): TraceLog {
    fs.mkdirSync(dirname(path), { recursive: true });
    const created = !fs.existsSync(path);
    const fd = fs.openSync(path, 'a+');
    try {
      const { ids, lines, end, size } = scan(fd, path);
      if (end < size) fs.ftruncateSync(fd, end);
      if (created) fsyncDir(dirname(path)); // the new name itself must survive a crash
      return new TraceLog(path, fd, end, lines, size - end, ids);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Lines appended by this process. */
  get written(): number {
    return this.#written;
  }

  /** Appends one trace as one line and makes it durable before returning. */
  append(trace: Trace): void {
    const line = Buffer.from(JSON.stringify(trace) + '\n', 'utf8');
    try {
      let off = 0;
      while (off < line.length) off += fs.writeSync(this.#fd, line, off, line.length - off);
      fs.fdatasyncSync(this.#fd);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      try {
        fs.ftruncateSync(this.#fd, this.#size); // drop a partial line so the file stays whole
      } catch {
        /* the cut itself failed; `open` will still cut the torn line on the next run */
      }
      const what = code === 'ENOSPC' ? 'the disk is full (ENOSPC)' : `${code ?? 'error'}: ${(e as Error).message}`;
      throw new TraceWriteError(
        `cannot write ${this.path}: ${what}. The ${this.existing + this.#written} traces already in the file are intact; ` +
          'fix the cause and rerun the same command to resume.', code);
    }
    this.#size += line.length;
    this.#written++;
    this.ids.add(trace.id);
  }

  close(): void {
    if (this.#fd < 0) return;
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** The id of one traces file line; a line this tool did not write is a FormatError naming it. */
export function traceIdOf(text: string, path: string, lineNo: number): string {
  let id: unknown;
  try {
    id = (JSON.parse(text) as { id?: unknown }).id;
  } catch {
    throw new FormatError(`${path}: line ${lineNo} is not JSON; it was not written by this tool. Move it aside or fix it, then rerun.`);
  }
  if (typeof id !== 'string') throw new FormatError(`${path}: line ${lineNo} has no trace id. Move it aside or fix it, then rerun.`);
  return id;
}

/**
 * The complete (newline-ended) lines of `fd` between byte offsets `from` and `to`, read in
 * chunks (the file may be larger than a JS string can hold): each line's trimmed text and
 * the offset just past its newline. A torn last line without its newline is not yielded.
 */
export function* completeLines(fd: number, from: number, to: number): Generator<{ text: string; end: number }> {
  const buf = Buffer.alloc(CHUNK);
  let carry: Buffer = Buffer.alloc(0);
  let end = from;
  for (let pos = from; pos < to;) {
    const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, to - pos), pos);
    if (n === 0) break;
    pos += n;
    let data = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
    let nl: number;
    while ((nl = data.indexOf(0x0a)) !== -1) {
      end += nl + 1;
      yield { text: data.subarray(0, nl).toString('utf8').trim(), end };
      data = data.subarray(nl + 1);
    }
    carry = Buffer.from(data); // a copy: `buf` is reused for the next chunk
  }
}

/** The ids, trace count and end of the last complete line of a traces file. */
function scan(fd: number, path: string): { ids: Set<string>; lines: number; end: number; size: number } {
  const size = fs.fstatSync(fd).size;
  const ids = new Set<string>();
  let lines = 0; // non-blank lines: traces
  let lineNo = 0;
  let end = 0; // offset just past the last complete line
  for (const line of completeLines(fd, 0, size)) {
    lineNo++;
    end = line.end;
    if (!line.text) continue;
    lines++;
    ids.add(traceIdOf(line.text, path, lineNo));
  }
  return { ids, lines, end, size };
}

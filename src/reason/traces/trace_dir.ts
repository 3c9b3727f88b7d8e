// A traces folder as several append-only files: `traces.jsonl` (a single-process run) and one
// `traces.<worker>.jsonl` per worker of a shared run (lease.ts). Each file has exactly one
// writer; readers take the union. A trace's id is the hash of its request, so the union is
// deduplicated by id: a request answered twice (a worker whose lease was taken over finished
// it anyway) counts once, and the first file in name order (traces.jsonl first) wins.
import fs from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../torch/errors.js';
import { completeLines, traceIdOf } from './trace_log.js';
import { readTracesFile } from '../files.js';
import type { Trace } from '../types.js';

// Worker names have no dots, so `traces.<worker>.jsonl` always parses back to one name.
const WORKER = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const FILE = /^traces(?:\.([A-Za-z0-9][A-Za-z0-9_-]{0,63}))?\.jsonl$/;

export function checkWorkerName(worker: string): string {
  if (!WORKER.test(worker)) throw new ConfigError(`worker name must be 1–64 letters, digits, '-' or '_' (starting with a letter or digit); got ${JSON.stringify(worker)}`);
  return worker;
}

/** The file a worker (or, without one, a single-process run) appends to. */
export function traceFile(dir: string, worker?: string): string {
  return join(dir, worker === undefined ? 'traces.jsonl' : `traces.${checkWorkerName(worker)}.jsonl`);
}

/** Every traces file in `dir`: traces.jsonl first, then the workers' files by name. */
export function traceFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => FILE.test(n)).sort((a, b) => (a === 'traces.jsonl' ? -1 : b === 'traces.jsonl' ? 1 : a < b ? -1 : a > b ? 1 : 0)).map((n) => join(dir, n));
}

/** The union of every traces file in `dir`, each id once. A torn last line (a killed writer) is left out. */
export function mergeTraces(dir: string): Trace[] {
  const seen = new Set<string>();
  const out: Trace[] = [];
  for (const f of traceFiles(dir))
    for (const t of readTracesFile(f)) {
      if (seen.has(t.id)) continue;
      seen.add(t.id);
      out.push(t);
    }
  return out;
}

/**
 * The ids in every traces file of a folder, read incrementally: each refresh reads only the
 * bytes appended since the last one, and only up to the last newline — another process may
 * be in the middle of writing a line, and a killed one leaves a torn tail that is never read.
 */
export class TraceDirReader {
  readonly ids = new Set<string>();
  readonly #files = new Map<string, { offset: number; lines: number }>();

  constructor(readonly dir: string, readonly onNew?: (id: string, file: string) => void) {}

  refresh(): Set<string> {
    for (const f of traceFiles(this.dir)) this.#read(f);
    return this.ids;
  }

  #read(path: string): void {
    const at = this.#files.get(path) ?? { offset: 0, lines: 0 };
    this.#files.set(path, at);
    let fd: number;
    try {
      fd = fs.openSync(path, 'r'); // opened per refresh: NFS revalidates a file on open (close-to-open)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < at.offset) {
        // Only a restarted writer cutting its own torn tail shrinks a file, and never below a newline we read past.
        at.offset = size;
        return;
      }
      for (const line of completeLines(fd, at.offset, size)) {
        at.offset = line.end;
        at.lines++;
        if (line.text) this.#line(line.text, path, at.lines);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  #line(text: string, path: string, lineNo: number): void {
    const id = traceIdOf(text, path, lineNo);
    if (this.ids.has(id)) return;
    this.ids.add(id);
    this.onNew?.(id, path);
  }
}

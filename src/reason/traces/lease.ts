// Several trace-generation processes sharing one problem set, on one machine or many with a
// shared filesystem, without a coordination server: leases are files in <out>/leases/.
//
// The plan (every (problem, sample) request, in problem order) is cut into chunks of
// `chunkSize`. A worker claims chunk K by creating `chunk-K.<gen>.lease` with O_EXCL ('wx'):
// of any number of processes racing for the same name exactly one succeeds, locally and on
// NFSv3+. The file holds the holder's name and an expiry, renewed every ttl/3 (write a temp
// file, rename it over the holder's own lease: only the holder ever writes that name).
//
// Taking over an expired lease (its holder was killed, or stalled past its ttl) is the same
// O_EXCL create, of the next generation: gen+1 exists at most once, so two thieves cannot
// both win, and nothing is ever overwritten or deleted while the chunk is open — which is why
// generations are separate files rather than one file rewritten (no compare-and-swap needed).
// The holder of a chunk is its highest generation; a worker that finds gen+1 next to its own
// lease has lost the chunk and starts nothing more from it (what it had in flight may still be
// written: the merge deduplicates by trace id). A finished chunk gets `chunk-K.done`, after
// which its lease files are removed.
//
// Expiry compares the lease's wall-clock time with the reader's: machines sharing a folder
// need clocks in step (NTP) to well within the ttl (default 60 s).
import fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../torch/errors.js';

export interface LeaseRecord {
  worker: string;
  host: string;
  pid: number;
  gen: number;
  /** Epoch ms; 0 for a lease given back. */
  expiresAt: number;
}

export interface PlanRecord {
  /** Requests in the whole plan. */
  planned: number;
  chunkSize: number;
  /** sha256 over the plan's trace ids in order: every worker must be cutting the same list. */
  digest: string;
}

export interface LeaseDirOptions {
  worker: string;
  /** How long a lease lives without renewal (default 60 s). */
  ttlMs?: number;
  log?: (line: string) => void;
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Creates `path` with `text` unless it exists; true when this call created it. */
function createExclusive(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

export class LeaseDir {
  readonly ttlMs: number;
  readonly #held = new Set<Lease>();

  private constructor(readonly dir: string, readonly worker: string, readonly plan: PlanRecord, ttlMs: number, readonly log?: (line: string) => void) {
    this.ttlMs = ttlMs;
  }

  /** Opens (creating) the folder; the first worker records the plan, the others must match it. */
  static open(dir: string, plan: PlanRecord, o: LeaseDirOptions): LeaseDir {
    fs.mkdirSync(dir, { recursive: true });
    const path = join(dir, 'plan.json');
    if (!createExclusive(path, JSON.stringify(plan) + '\n')) {
      let found: PlanRecord | undefined;
      // A worker that created the file may not have written it yet: a short wait, then a clear error.
      for (let i = 0; i < 50 && !found; i++) {
        try {
          found = JSON.parse(fs.readFileSync(path, 'utf8')) as PlanRecord;
        } catch {
          sleepSync(20);
        }
      }
      if (!found || found.planned !== plan.planned || found.chunkSize !== plan.chunkSize || found.digest !== plan.digest)
        throw new ConfigError(
          `${path} was made for another plan (${found ? `${found.planned} requests in chunks of ${found.chunkSize}` : 'unreadable'}; this worker has ` +
            `${plan.planned} in chunks of ${plan.chunkSize}). Every worker must use the same problems, samples, preset, seed, max tokens and chunk size; ` +
            `to change the plan, remove ${dir} (the traces stay, and no answered request is sent again).`);
    }
    return new LeaseDir(dir, o.worker, plan, o.ttlMs ?? 60_000, o.log);
  }

  get chunks(): number {
    return Math.ceil(this.plan.planned / this.plan.chunkSize);
  }

  isDone(chunk: number): boolean {
    return fs.existsSync(join(this.dir, `chunk-${chunk}.done`));
  }

  /** Records chunk K as finished (whoever finished it) and removes its lease files. */
  markDone(chunk: number): void {
    createExclusive(join(this.dir, `chunk-${chunk}.done`), JSON.stringify({ worker: this.worker, at: new Date().toISOString() }) + '\n');
    this.removeLeases(`chunk-${chunk}`);
  }

  /** Deletes a key's lease files, once nobody needs them (a done chunk, a worker's clean exit). */
  removeLeases(key: string): void {
    for (let gen = 0; ; gen++) {
      try {
        fs.unlinkSync(this.#path(key, gen));
      } catch {
        break; // generations are contiguous: the first missing one ends them
      }
    }
  }

  /**
   * Takes `key` (`chunk-K`, or `worker-NAME` for the one-process-per-name guard) when it is
   * free or its lease has expired; null when a live lease holds it or another worker won the race.
   */
  claim(key: string): Lease | null {
    let gen = 0;
    let from: LeaseRecord | null = null;
    while (fs.existsSync(this.#path(key, gen))) gen++;
    if (gen > 0) {
      from = this.read(key, gen - 1);
      if (from && from.expiresAt > Date.now()) return null;
    }
    const rec = this.#record(gen);
    if (!createExclusive(this.#path(key, gen), JSON.stringify(rec) + '\n')) return null;
    const lease = new Lease(this, key, gen, from);
    this.#held.add(lease);
    if (from) this.log?.(`worker ${this.worker}: took over ${key} from ${from.worker}@${from.host}, whose lease ${from.expiresAt ? 'expired' : 'was given back'}`);
    return lease;
  }

  /** A lease's record, or null when missing; an unreadable one (created, not yet written) expires ttl after its mtime. */
  read(key: string, gen: number): LeaseRecord | null {
    const path = this.#path(key, gen);
    try {
      const text = fs.readFileSync(path, 'utf8');
      try {
        return JSON.parse(text) as LeaseRecord;
      } catch {
        return { worker: '?', host: '?', pid: 0, gen, expiresAt: fs.statSync(path).mtimeMs + this.ttlMs };
      }
    } catch {
      return null;
    }
  }

  /** Who holds `key` now (its highest generation), or null. */
  holder(key: string): LeaseRecord | null {
    let gen = 0;
    while (fs.existsSync(this.#path(key, gen))) gen++;
    return gen ? this.read(key, gen - 1) : null;
  }

  /** Gives back every lease this process still holds (a clean stop: others may take them at once). */
  releaseAll(): void {
    for (const l of [...this.#held]) l.release();
  }

  /** @internal */
  forget(l: Lease): void {
    this.#held.delete(l);
  }

  /** @internal */
  path(key: string, gen: number): string {
    return this.#path(key, gen);
  }

  /** @internal */
  record(gen: number, expired = false): LeaseRecord {
    return this.#record(gen, expired);
  }

  #path(key: string, gen: number): string {
    return join(this.dir, `${key}.${gen}.lease`);
  }

  #record(gen: number, expired = false): LeaseRecord {
    return { worker: this.worker, host: hostname(), pid: process.pid, gen, expiresAt: expired ? 0 : Date.now() + this.ttlMs };
  }
}

export class Lease {
  /** True once another worker has taken the key over: start nothing more under it. */
  lost = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly dir: LeaseDir, readonly key: string, readonly gen: number, readonly takenFrom: LeaseRecord | null) {
    // Renew at a third of the ttl: two renewals can fail or be late before the lease lapses.
    this.#timer = setInterval(() => this.renew(), Math.max(10, Math.floor(dir.ttlMs / 3)));
    this.#timer.unref();
  }

  /** Pushes the expiry out by a ttl, unless the lease was lost. */
  renew(): void {
    if (this.#check()) this.#write(this.dir.record(this.gen));
  }

  /** Gives the lease back now (expiry 0), so another worker can take the key without waiting. */
  release(): void {
    if (this.#check()) this.#write(this.dir.record(this.gen, true));
    this.#stop();
  }

  /** The chunk is finished: record it done and remove its leases. */
  finish(chunk: number): void {
    this.#stop();
    this.dir.markDone(chunk);
  }

  /** A clean exit under a key nobody else wants now (the worker-name guard): remove its files. */
  drop(): void {
    if (this.#check()) {
      this.#stop();
      this.dir.removeLeases(this.key);
    }
  }

  #check(): boolean {
    if (this.lost || !this.#timer) return false;
    if (fs.existsSync(this.dir.path(this.key, this.gen + 1))) {
      this.lost = true;
      this.dir.log?.(`worker ${this.dir.worker}: lost ${this.key} to ${this.dir.read(this.key, this.gen + 1)?.worker ?? 'another worker'} (this lease lapsed)`);
      this.#stop();
      return false;
    }
    return true;
  }

  #write(rec: LeaseRecord): void {
    const path = this.dir.path(this.key, this.gen);
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(rec) + '\n');
      fs.renameSync(tmp, path);
    } catch (e) {
      // A missed renewal is survivable (the next one comes at ttl/3); say so and go on.
      this.dir.log?.(`worker ${this.dir.worker}: could not renew ${this.key}: ${(e as Error).message}`);
      try {
        fs.unlinkSync(tmp);
      } catch {
        /* never created */
      }
    }
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.dir.forget(this);
  }
}

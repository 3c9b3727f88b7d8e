// Where a worker of a shared run (lease.ts) gets its next request: the plan is cut into
// chunks; the feeder claims one chunk at a time as its queue runs dry — so a worker's request
// slots stay busy across chunk boundaries instead of draining at each one — and finishes a
// chunk (done marker) once every request of it is answered. It never repeats a paid request:
// before queueing a claimed chunk it rereads every traces file in the folder and leaves out
// ids already answered there, by any worker.
//
// A chunk held by another live worker is passed over, then looked at again while this worker
// waits ('wait'): done by its holder, or taken over once the holder's lease lapses. A chunk
// with a failed request (onError 'skip') is given back for another worker or a later run;
// this process does not try it twice. The run ends for this worker when every chunk is done
// or was tried here.
import { createHash } from 'node:crypto';
import { DistillError } from '../../torch/errors.js';
import { LeaseDir, type Lease } from './lease.js';

export interface JobSource<J> {
  /** The next job; 'wait' when others hold the rest (ask again shortly); undefined when nothing is left. */
  next(): J | 'wait' | undefined;
  /** A job ended: its trace is written (ok) or it failed or was cancelled. */
  settled?(job: J, ok: boolean): void;
  /** The run is over (finished, stopped or failed): give back what is still held. */
  close?(): void;
}

interface Held {
  lease: Lease;
  outstanding: number;
  failed: boolean;
}

export class ChunkFeeder<J extends { id: string }> implements JobSource<J> {
  /** Chunks this worker took over from a lapsed lease. */
  stolen = 0;
  /** Chunks this worker claimed. */
  claimed = 0;
  readonly #queue: J[] = [];
  readonly #held = new Map<number, Held>();
  readonly #chunkOf = new Map<string, number>();
  /** Chunks another worker held when last looked at: revisited while waiting. */
  readonly #elsewhere = new Set<number>();
  #cursor = 0;
  #lastLook = 0;

  constructor(readonly plan: readonly J[], readonly leases: LeaseDir, readonly known: () => ReadonlySet<string>, readonly pollMs = 1000) {
    const size = leases.plan.chunkSize;
    plan.forEach((j, i) => this.#chunkOf.set(j.id, Math.floor(i / size)));
  }

  get chunks(): number {
    return Math.ceil(this.plan.length / this.leases.plan.chunkSize);
  }

  next(): J | 'wait' | undefined {
    while (this.#queue.length) {
      const job = this.#queue.shift()!;
      if (!this.#held.get(this.#chunkOf.get(job.id)!)?.lease.lost) return job;
      this.settled(job, false); // taken over by another worker: leave it to them
    }
    while (this.#cursor < this.chunks) if (this.#take(this.#cursor++, true)) return this.#queue.shift();
    if (!this.#elsewhere.size) return undefined;
    // Every request slot asks while waiting: look at others' chunks once per poll, not once per slot.
    if (Date.now() - this.#lastLook < this.pollMs / 2) return 'wait';
    this.#lastLook = Date.now();
    for (const k of [...this.#elsewhere]) if (this.#take(k, false)) return this.#queue.shift();
    return 'wait';
  }

  settled(job: J, ok: boolean): void {
    const k = this.#chunkOf.get(job.id)!;
    const h = this.#held.get(k);
    if (!h) return;
    if (!ok) h.failed = true;
    if (--h.outstanding > 0) return;
    this.#held.delete(k);
    if (h.failed && h.lease.lost) this.#elsewhere.add(k); // its new holder may still die: keep watching
    else if (h.failed) h.lease.release();
    else h.lease.finish(k); // every request answered (here or found answered): done, whoever holds it
  }

  close(): void {
    for (const h of this.#held.values()) h.lease.release();
    this.#held.clear();
    this.#queue.length = 0;
  }

  /** Chunks with a done marker now. */
  doneCount(): number {
    let n = 0;
    for (let k = 0; k < this.chunks; k++) if (this.leases.isDone(k)) n++;
    return n;
  }

  /**
   * Claims chunk k and queues its unanswered requests; false when it is done, held elsewhere, or
   * lost in a race. On the first look (`precheck`) a chunk already answered is marked done without
   * a lease (a resumed run creates no lease files); a revisit goes straight to the cheap claim.
   */
  #take(k: number, precheck: boolean): boolean {
    if (this.leases.isDone(k)) {
      this.#elsewhere.delete(k);
      return false;
    }
    if (precheck && !this.#missing(k).length) {
      this.leases.markDone(k); // answered already (a worker died after its last write, before its marker)
      this.#elsewhere.delete(k);
      return false;
    }
    const lease = this.leases.claim(`chunk-${k}`);
    if (!lease) {
      this.#elsewhere.add(k);
      return false;
    }
    this.#elsewhere.delete(k);
    this.claimed++;
    if (lease.takenFrom) this.stolen++;
    // Another worker may have finished it between the look and the claim: look again, holding it.
    const jobs = this.leases.isDone(k) ? [] : this.#missing(k);
    if (!jobs.length) {
      lease.finish(k);
      return false;
    }
    this.#held.set(k, { lease, outstanding: jobs.length, failed: false });
    this.#queue.push(...jobs);
    return true;
  }

  #missing(k: number): J[] {
    const size = this.leases.plan.chunkSize;
    const known = this.known();
    return this.plan.slice(k * size, (k + 1) * size).filter((j) => !known.has(j.id));
  }
}

/**
 * A worker's side of a shared run: the lease folder for this plan (refused when other workers
 * cut a different one), this worker's name held by lease, and the feeder over the plan.
 */
export function openShared<J extends { id: string }>(
  plan: readonly J[], dir: string, known: () => ReadonlySet<string>,
  o: { worker: string; chunkSize?: number; leaseTtlMs?: number; pollMs?: number; log?: (line: string) => void },
): { feeder: ChunkFeeder<J>; workerLease: Lease } {
  const chunkSize = o.chunkSize ?? 32;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new DistillError('ERR_CONFIG', `chunkSize must be a positive integer, got ${chunkSize}`);
  const digest = createHash('sha256').update(plan.map((j) => j.id).join('\n')).digest('hex');
  const leases = LeaseDir.open(dir, { planned: plan.length, chunkSize, digest }, { worker: o.worker, ttlMs: o.leaseTtlMs, log: o.log });
  // Two live processes under one name would be two writers on one file: refuse the second.
  const workerLease = leases.claim(`worker-${o.worker}`);
  if (!workerLease) {
    const h = leases.holder(`worker-${o.worker}`);
    throw new DistillError('ERR_CONFIG', `worker ${o.worker} is already running (pid ${h?.pid} on ${h?.host}, lease until ${new Date(h?.expiresAt ?? 0).toISOString()}); ` +
      'give each process its own worker name, or, if that process was killed, rerun after its lease lapses');
  }
  return { feeder: new ChunkFeeder(plan, leases, known, o.pollMs), workerLease };
}

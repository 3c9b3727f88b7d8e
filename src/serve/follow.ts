// Follows one stage's metrics.jsonl as the trainer appends to it, like `tail -F`.
//
// Why the directory is watched, not the file: the trainer replaces metrics.jsonl atomically
// (temp file + rename) when a run starts fresh or resumes, which gives it a new inode; a
// watch on the file would keep watching the old, unlinked one. Watching the folder also sees
// model.safetensors appear, which is how a stage announces it has finished.
// Why a polling fallback too: fs.watch is best-effort (network and FUSE filesystems, some
// containers, coalesced events), so a slow interval re-checks whatever it may have missed.
import { closeSync, fstatSync, openSync, readSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { parseLine, stageStatus, type MetricLine, type StagePaths, type StageStatus } from './runs.js';

export interface FollowHandlers {
  line(l: MetricLine): void;
  /** The file was rewritten (resume or fresh restart): everything sent so far is void; lines follow from the start. */
  reset(): void;
  status(s: StageStatus): void;
  /** The stage wrote its final weights; the follower has stopped itself. */
  done(): void;
}

export interface FollowOptions {
  pollMs?: number;
  staleMs?: number;
  /** false: polling only (where fs.watch is known not to work; also how the fallback is tested). */
  watch?: boolean;
  /** Called with +1 when a follower starts watching and -1 when it stops (the server's leak counter). */
  count?: (delta: number) => void;
}

const FINGERPRINT = 64; // bytes compared at the start of the file and just before our offset
const MAX_READ = 4 * 1024 * 1024;

export class MetricsFollower {
  private offset = 0;
  private ino = -1;
  private head: Buffer = Buffer.alloc(0); // first bytes as read
  private tail: Buffer = Buffer.alloc(0); // bytes just before `offset` as read
  private partial: Buffer = Buffer.alloc(0); // an unterminated last line, held until its newline arrives
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastStatus: StageStatus | null = null;
  private closed = false;
  private checking = false;

  constructor(private readonly p: Pick<StagePaths, 'metrics' | 'model'>, private readonly h: FollowHandlers, private readonly o: FollowOptions = {}) {}

  /** Sends the existing lines, then follows. */
  start(): void {
    this.o.count?.(1);
    if (this.o.watch !== false) {
      try {
        this.watcher = watch(dirname(this.p.metrics), { persistent: false }, () => this.check());
        this.watcher.on('error', () => this.dropWatch()); // e.g. the folder was deleted: polling carries on
      } catch {
        this.watcher = null; // fs.watch unsupported here: polling alone
      }
    }
    this.timer = setInterval(() => this.check(), this.o.pollMs ?? 1000);
    this.timer.unref();
    this.check();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropWatch();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.o.count?.(-1);
  }

  private dropWatch(): void {
    try { this.watcher?.close(); } catch { /* already closed */ }
    this.watcher = null;
  }

  /** Reads whatever is new; detects rewrites; reports status changes and the end. Never throws. */
  check(): void {
    if (this.closed || this.checking) return;
    this.checking = true;
    try {
      this.readNew();
      const { status } = stageStatus(this.p, this.o.staleMs);
      if (status !== this.lastStatus) {
        this.lastStatus = status;
        this.h.status(status);
      }
      if (status === 'finished') {
        this.readNew(); // the last lines may have landed between the read and the stat
        this.close();
        this.h.done();
      }
    } catch { /* a transient fs error: the next poll retries */ } finally {
      this.checking = false;
    }
  }

  private readNew(): void {
    let fd: number;
    try {
      fd = openSync(this.p.metrics, 'r');
    } catch {
      return; // between a rename's unlink and link, or not created yet
    }
    try {
      const st = fstatSync(fd);
      if (this.rewritten(fd, st.ino, st.size)) {
        this.offset = 0;
        this.partial = Buffer.alloc(0);
        this.head = Buffer.alloc(0);
        this.h.reset();
      }
      this.ino = st.ino;
      while (this.offset < st.size && !this.closed) {
        const buf = Buffer.alloc(Math.min(MAX_READ, st.size - this.offset));
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.consume(buf.subarray(0, n));
        this.offset += n;
      }
      if (this.head.length < FINGERPRINT) this.head = readAt(fd, 0, Math.min(FINGERPRINT, this.offset));
      this.tail = readAt(fd, Math.max(0, this.offset - FINGERPRINT), Math.min(FINGERPRINT, this.offset));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * A rewrite shows as a new inode (atomic replace), a shorter file (truncation), or, for an
   * in-place rewrite that has already grown past our offset, different bytes where we had read.
   */
  private rewritten(fd: number, ino: number, size: number): boolean {
    if (this.ino === -1) return false;
    if (ino !== this.ino || size < this.offset) return true;
    if (this.offset === 0) return false;
    return !readAt(fd, 0, this.head.length).equals(this.head)
      || !readAt(fd, this.offset - this.tail.length, this.tail.length).equals(this.tail);
  }

  private consume(chunk: Buffer): void {
    let data = this.partial.length ? Buffer.concat([this.partial, chunk]) : chunk;
    let nl: number;
    while ((nl = data.indexOf(0x0a)) !== -1) {
      const l = parseLine(data.subarray(0, nl).toString('utf8')); // malformed lines are skipped
      if (l) this.h.line(l);
      data = data.subarray(nl + 1);
    }
    this.partial = Buffer.from(data); // a copy, so the read buffer can be dropped
  }
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = len > 0 ? readSync(fd, b, 0, len, pos) : 0;
  return b.subarray(0, n);
}


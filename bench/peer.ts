// Peers of the benchmarks: PyTorch processes run beside ours with the same settings.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

// The environment of a PyTorch peer process, so that "the same threads" holds on both
// sides: our setNumThreads also sizes OpenBLAS's own pool, torch.set_num_threads does not,
// so a "1-thread" PyTorch would still run its matrix products on every core (it made the
// MLP step look 1.3x faster than ours at 1 thread). OpenBLAS reads this when it loads.
// The same malloc settings as our addon's (native/threads.cc tune_malloc: blocks below
// 32 MiB from the heap, never trimmed), read by glibc at the peer's start: without them the
// peer page-faults on every step's temporaries and lands in a slow or a fast mode by chance
// (docs/benchmarks.md, "Bimodal step times"). 18446744073709551615 = SIZE_MAX = mallopt's
// -1 (never trim). (Our cache of larger blocks, native/cpu_alloc.cc, has no PyTorch
// counterpart on the CPU; it is our engine's, like PyTorch's own CUDA caching allocator.)
export const PEER_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: '18446744073709551615' };

// DISTILL_MALLOC_DEFAULTS=1 keeps glibc's defaults on both sides (for before/after runs).
export function peerEnv(threads: number): NodeJS.ProcessEnv {
  const malloc = process.env.DISTILL_MALLOC_DEFAULTS ? {} : PEER_MALLOC_ENV;
  return { ...process.env, ...malloc, OPENBLAS_NUM_THREADS: String(threads) };
}

/**
 * A long-lived peer process that times steps on request, so a benchmark can alternate many
 * short rounds (ours, peer, ours, …) without paying Python's start-up each round. The
 * protocol (bench/peer_loop.py): we write one JSON line {"steps": n}, it answers one JSON
 * line {"step_ms": [...]} after running n timed steps; its set-up (model, warm-up) happens
 * before its first answer, {"ready": true, ...facts}. It waits blocked on its stdin while we
 * run, so the two never compete for the cores.
 */
export class PeerProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';

  constructor(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
    this.#child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (b: Buffer) => { this.#stderr = (this.#stderr + b.toString()).slice(-4000); });
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  /** The next JSON line the peer prints; its stderr in the error when it died instead. */
  async next<T = Record<string, unknown>>(): Promise<T> {
    const r = await this.#lines.next();
    if (r.done) throw new Error(`peer ${this.#child.spawnargs.join(' ')} exited:\n${this.#stderr}`);
    return JSON.parse(r.value) as T;
  }

  /** Minor page faults per step in the peer's last round. */
  faultsPerStep = 0;

  /** Runs `steps` timed steps in the peer; their times in ms. */
  async time(steps: number): Promise<number[]> {
    this.#child.stdin.write(JSON.stringify({ steps }) + '\n');
    const r = await this.next<{ step_ms: number[]; faults: number }>();
    this.faultsPerStep = r.faults / steps;
    return r.step_ms;
  }

  /** Ends the peer (it exits at end of input) and returns its last line, if any (e.g. its peak RSS). */
  async close<T = Record<string, unknown>>(): Promise<T | null> {
    this.#child.stdin.end();
    const r = await this.#lines.next();
    await new Promise((res) => (this.#child.exitCode !== null ? res(null) : this.#child.once('exit', res)));
    return r.done ? null : (JSON.parse(r.value) as T);
  }
}

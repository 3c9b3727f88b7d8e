// Process groups over libtorch's own c10d (native/dist.cc): a TCPStore rendezvous hosted by
// rank 0 and a Gloo group over TCP, as `torch.distributed.init_process_group('gloo')` makes.
//
//   const pg = ProcessGroup.create({ rank, worldSize, masterAddr, masterPort });
//   pg.broadcast(model.parameters());   // every rank starts from rank 0's weights
//   pg.allreduce(grads);                // in-place SUM over ranks, in flat buffers per dtype (≤ 25 MiB each)
//   pg.allgather(whole, part);          // whole = cat(part of every rank), rank order
//   pg.dispose();
//
// Synchronous methods block the JS thread (the trainer is synchronous) but never hang: every
// collective ends within `timeoutMs` with a DistError, at once when a peer's connection
// drops. The `…Async` variants run the wait off the JS thread and return a Promise; they are
// enqueued in call order, and the tensors must not be touched until the promise settles.
import { native } from './native.js';
import { ConfigError, DistError } from './errors.js';
import type { Tensor } from './tensor.js';
import { noGrad } from './autograd.js';
import { tidy } from './scope.js';

export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** Where rank 0 hosts the rendezvous store; default 127.0.0.1. */
  masterAddr?: string;
  /** Default 29500 (torchrun's). */
  masterPort?: number;
  /** Rendezvous and per-collective timeout; default 300 s (a dropped peer is detected at once). */
  timeoutMs?: number;
  /**
   * Gloo's transport address: a hostname or address to bind, 'if:<name>' for an interface, ''
   * for this host's name. Default: 127.0.0.1 when the master is on loopback, else
   * `if:$GLOO_SOCKET_IFNAME` when set (PyTorch's variable), else ''.
   */
  device?: string;
}

export const DEFAULT_MASTER_PORT = 29500;
export const DEFAULT_DIST_TIMEOUT_MS = 300_000;

const isLoopback = (host: string) => host === 'localhost' || /^127\./.test(host) || host === '::1';

function checkOptions(o: ProcessGroupOptions): Required<ProcessGroupOptions> {
  const { rank, worldSize } = o;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigError(`dist: worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigError(`dist: rank must be an integer in 0..${worldSize - 1}, got ${rank}`);
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort ?? DEFAULT_MASTER_PORT;
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) throw new ConfigError(`dist: masterPort must be in 1..65535, got ${masterPort}`);
  const timeoutMs = o.timeoutMs ?? DEFAULT_DIST_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) throw new ConfigError(`dist: timeoutMs must be positive, got ${timeoutMs}`);
  const iface = process.env.GLOO_SOCKET_IFNAME;
  const device = o.device ?? (isLoopback(masterAddr) ? '127.0.0.1' : iface ? `if:${iface}` : '');
  return { rank, worldSize, masterAddr, masterPort, timeoutMs: Math.round(timeoutMs), device };
}

const HINTS: Record<string, string> = {
  ERR_DIST_TIMEOUT: 'no answer from a peer within the timeout: a rank is hung, crashed, or was never started',
  ERR_DIST_PEER: 'a peer rank went away (crashed or was killed)',
  ERR_DIST_CLOSED: 'the process group was destroyed',
};

export class ProcessGroup implements Disposable {
  readonly rank: number;
  readonly worldSize: number;
  readonly timeoutMs: number;
  #store: object | null;
  #group: object | null;

  private constructor(o: Required<ProcessGroupOptions>, store: object, group: object) {
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.timeoutMs = o.timeoutMs;
    this.#store = store;
    this.#group = group;
  }

  /** Joins the group: blocks until every rank has arrived (or the timeout). */
  static create(opts: ProcessGroupOptions): ProcessGroup {
    const o = checkOptions(opts);
    const where = `rank ${o.rank}/${o.worldSize} (master ${o.masterAddr}:${o.masterPort})`;
    const store = explain(where, () => native.distStore(o.masterAddr, o.masterPort, o.worldSize, o.rank === 0, o.timeoutMs, false));
    try {
      const group = explain(where, () => native.distGroup(store, o.rank, o.worldSize, o.timeoutMs, o.device, false));
      return new ProcessGroup(o, store, group);
    } catch (e) {
      native.distDestroy(store);
      throw e;
    }
  }

  /** As create, with the rendezvous off the JS thread (several ranks can then live in one process, as in tests). */
  static async createAsync(opts: ProcessGroupOptions): Promise<ProcessGroup> {
    const o = checkOptions(opts);
    const where = `rank ${o.rank}/${o.worldSize} (master ${o.masterAddr}:${o.masterPort})`;
    const store: object = await explainAsync(where, () => native.distStore(o.masterAddr, o.masterPort, o.worldSize, o.rank === 0, o.timeoutMs, true));
    try {
      const group: object = await explainAsync(where, () => native.distGroup(store, o.rank, o.worldSize, o.timeoutMs, o.device, true));
      return new ProcessGroup(o, store, group);
    } catch (e) {
      native.distDestroy(store);
      throw e;
    }
  }

  get disposed(): boolean {
    return this.#group === null;
  }

  /** In-place SUM over all ranks. The tensors of one call travel in flat buffers per dtype of at most 25 MiB each. */
  allreduce(tensors: Tensor[]): void {
    if (tensors.length) explain(this.#where, () => native.distAllreduce(this.#g(), tensors.map((t) => t.handle), false));
  }
  allreduceAsync(tensors: Tensor[]): Promise<void> {
    return tensors.length ? explainAsync(this.#where, () => native.distAllreduce(this.#g(), tensors.map((t) => t.handle), true)) : Promise.resolve();
  }

  /** Every rank's tensors become rank `src`'s (in place; same shapes and dtypes on every rank). */
  broadcast(tensors: Tensor[], src = 0): void {
    if (tensors.length) explain(this.#where, () => native.distBroadcast(this.#g(), tensors.map((t) => t.handle), src, false));
  }
  broadcastAsync(tensors: Tensor[], src = 0): Promise<void> {
    return tensors.length ? explainAsync(this.#where, () => native.distBroadcast(this.#g(), tensors.map((t) => t.handle), src, true)) : Promise.resolve();
  }

  /**
   * `output` = the concatenation of every rank's `input`, in rank order (PyTorch's
   * all_gather_into_tensor): output.numel = worldSize × input.numel, one dtype, output contiguous.
   */
  allgather(output: Tensor, input: Tensor): void {
    checkGather(output, input, this.worldSize);
    explain(this.#where, () => native.distAllgather(this.#g(), output.handle, input.handle, false));
  }
  allgatherAsync(output: Tensor, input: Tensor): Promise<void> {
    checkGather(output, input, this.worldSize);
    return explainAsync(this.#where, () => native.distAllgather(this.#g(), output.handle, input.handle, true));
  }

  /**
   * `output` = this rank's part of the SUM over ranks of `input` (PyTorch's
   * reduce_scatter_tensor): input.numel = worldSize × output.numel, rank r gets elements
   * [r·n, (r+1)·n). Gloo in libtorch 1.13 has no reduce_scatter ("ProcessGroupGloo does not
   * support reduce_scatter"), so this is an allreduce of a copy of `input` followed by the
   * rank's slice: the result is the same, the traffic is an allreduce's (about 2× a true
   * reduce-scatter's). `input` is left as it was.
   */
  reduceScatter(output: Tensor, input: Tensor): void {
    checkGather(input, output, this.worldSize);
    const sum = input.detach().clone();
    try {
      this.allreduce([sum]);
      takeSlice(output, sum, this.rank);
    } finally {
      sum.dispose();
    }
  }
  async reduceScatterAsync(output: Tensor, input: Tensor): Promise<void> {
    checkGather(input, output, this.worldSize);
    const sum = input.detach().clone();
    try {
      await this.allreduceAsync([sum]);
      takeSlice(output, sum, this.rank);
    } finally {
      sum.dispose();
    }
  }

  /** Returns once every rank has called barrier. */
  barrier(): void {
    explain(this.#where, () => native.distBarrier(this.#g(), false));
  }
  barrierAsync(): Promise<void> {
    return explainAsync(this.#where, () => native.distBarrier(this.#g(), true));
  }

  /** Leaves the group (joins Gloo's threads) and closes the store; idempotent. */
  dispose(): void {
    if (this.#group) native.distDestroy(this.#group);
    if (this.#store) native.distDestroy(this.#store);
    this.#group = this.#store = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  get #where(): string {
    return `rank ${this.rank}/${this.worldSize}`;
  }
  #g(): object {
    if (!this.#group) throw new DistError('ERR_DIST_CLOSED', 'dist', HINTS.ERR_DIST_CLOSED, '');
    return this.#group;
  }
}

/** The sizes allgather(whole, part) and reduceScatter(part, whole) need; a ConfigError before any traffic (contiguity is checked natively). */
function checkGather(whole: Tensor, part: Tensor, worldSize: number): void {
  if (whole.dtype !== part.dtype) throw new ConfigError(`dist: the gathered and the per-rank tensor must have one dtype, got ${whole.dtype} and ${part.dtype}`);
  if (whole.numel !== worldSize * part.numel)
    throw new ConfigError(`dist: the gathered tensor must hold worldSize (${worldSize}) × ${part.numel} = ${worldSize * part.numel} elements, got ${whole.numel}`);
}

/** output ← rank `rank`'s slice of the flat `sum` (no autograd: a collective's result). */
function takeSlice(output: Tensor, sum: Tensor, rank: number): void {
  const n = output.numel;
  noGrad(() => tidy(() => output.copy_(sum.reshape([-1]).narrow(0, rank * n, n).view([...output.shape]))));
}

/** Adds the rank and a plain-words reason to a native DistError. */
function reword(where: string, e: unknown): unknown {
  if (!(e instanceof DistError) || e.op.startsWith('rank ')) return e;
  const hint = HINTS[e.code];
  const detail = e.message.slice(e.op.length + 2).replace(/ \(inputs: .*\)$/s, '');
  return new DistError(e.code, `${where} ${e.op}`, hint ? `${hint} (${detail})` : detail, '');
}
function explain<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw reword(where, e);
  }
}
async function explainAsync<T>(where: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw reword(where, e);
  }
}

/**
 * The group a launcher asked for through torchrun's variables (RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT), or null when WORLD_SIZE is unset: a single-process run.
 */
export function distOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ProcessGroupOptions | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const num = (k: string) => {
    const v = Number(env[k]);
    if (!Number.isInteger(v)) throw new ConfigError(`dist: ${k} must be an integer, got '${env[k]}'`);
    return v;
  };
  return {
    rank: env.RANK === undefined ? 0 : num('RANK'),
    worldSize: num('WORLD_SIZE'),
    masterAddr: env.MASTER_ADDR || undefined,
    masterPort: env.MASTER_PORT ? num('MASTER_PORT') : undefined,
    timeoutMs: env.DISTILL_DIST_TIMEOUT ? Number(env.DISTILL_DIST_TIMEOUT) * 1000 : undefined,
  };
}


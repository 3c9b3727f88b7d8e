// ZeRO stage 1 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
// Trillion Parameter Models"): optimizer-state sharding over the ranks of a data-parallel group.
//
// Every optimized parameter is laid out, in the optimizer's global order, in one virtual flat
// buffer of N elements, cut into W equal shards of S = ⌈N/W⌉ (the last one shorter): rank r
// owns elements [r·S, min((r+1)·S, N)). This is DeepSpeed's flat partition; PyTorch's
// ZeroRedundancyOptimizer assigns whole parameters instead, which balances badly when one
// embedding matrix is a third of the model. A parameter that straddles a shard boundary is
// split: each rank optimizes its piece, a flat view into the parameter's own storage.
//
// A step, after the gradients have been summed over ranks (the trainer's allreduce):
//   1. each rank runs the wrapped optimizer's update rule on its pieces only, so the moments
//      (Adam's m and v, SGD's momentum) exist for S elements per rank, not N;
//   2. an allgather of the W updated shards gives every rank every updated parameter.
// The update rules are elementwise, so a piece's new values are bit-for-bit those the
// unsharded optimizer computes for the same elements (tested against it).
//
// Communication: a true ZeRO-1 reduce-scatters the gradients. Gloo in libtorch 1.13 has no
// reduce_scatter, so the gradients are all-reduced (as plain data parallel does) and each
// rank reads its slice: the saving here is the optimizer state's memory; the traffic is an
// allreduce plus an allgather of the parameters. A welcome side effect: every rank holds the
// whole reduced gradient, so clipping by the global norm is the unsharded computation.
//
// The wrapped optimizer keeps the parameter groups and hyper-parameters (schedulers keep
// driving its learning rates) but holds no state; stateDict() gathers the full state in its
// own format (a collective: every rank must call it), so a checkpoint resumes with any number
// of ranks, sharded or not.
import { ConfigError, ITEM_SIZE, cat, keep, noGrad, tensor, tidy, zeros, type ProcessGroup, type Tensor } from '../torch/index.js';
import { stateKey, type GroupOptions, type Optimizer, type OptimizerMeta, type OptimizerStateDict } from './optimizer.js';

/** Elements per allgather: bounds the step's extra memory to a few buckets' worth (DeepSpeed's allgather_bucket_size). */
export const DEFAULT_BUCKET_ELEMENTS = 1 << 20;

/** One parameter's slice of this rank's shard. */
interface Piece {
  /** Index of the parameter in the optimizer's global order. */
  param: number;
  /** Element offset of the slice within the parameter, its length, and its offset within the shard. */
  start: number;
  length: number;
  local: number;
  /** A flat view of those elements of the parameter (a leaf the inner optimizer updates in place). */
  view: Tensor;
}

type AnyOptimizer = Optimizer<GroupOptions>;
type OptimizerClass = new (params: { params: Tensor[] }[]) => AnyOptimizer;

export class ZeroRedundancyOptimizer implements Disposable {
  readonly group: ProcessGroup;
  /** The wrapped optimizer: parameter groups and hyper-parameters, no state. */
  readonly optimizer: AnyOptimizer;
  /** Elements in all optimized parameters (N) and in each rank's shard (S = ⌈N/W⌉). */
  readonly numel: number;
  readonly shardSize: number;
  readonly #params: Tensor[];
  readonly #offsets: number[];
  /** Each parameter as a flat view of its storage, without autograd (where gathered values land). */
  readonly #flat: Tensor[];
  readonly #pieces: Piece[];
  readonly #bucket: number;
  /** The same optimizer class over this rank's pieces: it holds the sharded state. */
  readonly #inner: AnyOptimizer;

  /**
   * `optimizer`: its class must be constructible from parameter groups alone (SGD, Adam, AdamW
   * are). `bucketElements`: elements of each rank's shard sent per allgather (default 2²⁰ = 4 MB of float32).
   */
  constructor(optimizer: Optimizer<GroupOptions>, group: ProcessGroup, opts: { bucketElements?: number } = {}) {
    this.optimizer = optimizer;
    this.group = group;
    this.#bucket = opts.bucketElements ?? DEFAULT_BUCKET_ELEMENTS;
    if (!Number.isInteger(this.#bucket) || this.#bucket < 1) throw new ConfigError(`ZeRO-1: bucketElements must be a positive integer, got ${this.#bucket}`);
    const params = (this.#params = optimizer.params);
    const dtype = params[0].dtype;
    if (params.some((p) => p.dtype !== dtype))
      throw new ConfigError(`ZeRO-1 shards one flat buffer, so every optimized parameter must have one dtype; got ${[...new Set(params.map((p) => p.dtype))].join(', ')}`);
    let n = 0;
    this.#offsets = params.map((p) => ((n += p.numel), n - p.numel));
    this.numel = n;
    this.shardSize = Math.ceil(n / group.worldSize);
    const lo = group.rank * this.shardSize, hi = Math.min(n, lo + this.shardSize);
    // detach(): the same storage without autograd, so views are leaves the optimizer accepts and writes need no grad mode.
    this.#flat = params.map((p) => keep(noGrad(() => p.detach().reshape([-1]))));

    // This rank's pieces, group by group, in global order.
    this.#pieces = [];
    const groups = optimizer.paramGroups.map((g) => {
      const { params: ps, ...hyper } = g;
      const views: Tensor[] = [];
      for (const p of ps) {
        const i = params.indexOf(p);
        const a = Math.max(lo, this.#offsets[i]), b = Math.min(hi, this.#offsets[i] + p.numel);
        if (b <= a) continue;
        const view = keep(this.#flat[i].narrow(0, a - this.#offsets[i], b - a));
        this.#pieces.push({ param: i, start: a - this.#offsets[i], length: b - a, local: a - lo, view });
        views.push(view);
      }
      return { ...structuredClone(hyper), params: views };
    });
    this.#inner = new (optimizer.constructor as OptimizerClass)(groups);
    // State the wrapped optimizer already has (a resumed run) is sharded, then dropped there.
    if (optimizer.stateTensorCount > 0) this.#takeShard();
  }

  /** This rank's element range [start, end) of the flat buffer. */
  get shard(): { start: number; end: number } {
    const start = Math.min(this.numel, this.group.rank * this.shardSize);
    return { start, end: Math.min(this.numel, start + this.shardSize) };
  }

  /** Bytes of optimizer state this rank holds (≈ 1/W of the unsharded optimizer's). */
  get stateBytes(): number {
    let bytes = 0;
    for (const t of Object.values(this.#inner.stateDict().tensors)) bytes += t.numel * ITEM_SIZE[t.dtype];
    return bytes;
  }

  /**
   * One step. Every parameter's `.grad` must already be the full (summed, scaled, clipped)
   * gradient, the same on every rank; a collective: every rank must call it.
   */
  step(): void {
    this.#syncHyper();
    noGrad(() =>
      tidy(() => {
        for (const pc of this.#pieces) {
          const g = this.#params[pc.param].grad;
          pc.view.grad = g ? g.reshape([-1]).narrow(0, pc.start, pc.length) : null;
        }
      }),
    );
    this.#inner.step();
    this.#inner.zeroGrad();
    // Every rank's updated shard, gathered bucket by bucket into every rank's parameters.
    this.#gather((pc) => pc.view, (start, values) => this.#scatterInto(this.#flat, start, values));
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    this.optimizer.zeroGrad();
    this.#inner.zeroGrad();
  }

  /**
   * The full state in the wrapped optimizer's own format, as if it had run unsharded: a
   * collective (every rank must call it). With `root`, only that rank keeps the tensors (the
   * others get the meta and no tensors: the checkpoint's writer alone pays the memory). The
   * tensors are the caller's to dispose (disposeStateDict).
   */
  stateDict(root?: number): OptimizerStateDict & { meta: OptimizerMeta } {
    const meta = this.optimizer.stateDict().meta; // groups, hyper-parameters and shapes; no state
    const inner = this.#inner.stateDict();
    // The buffer names the class may hold (protected in Optimizer; read here, where the layout is built).
    const names = (this.#inner as unknown as { bufferNames: readonly string[] }).bufferNames;
    // Step count and buffer presence per parameter, reported by the rank holding its first
    // element (the others send 0), summed over ranks: (P, 1 + B) float64.
    const info = tidy(() => {
      const rows: number[] = new Array(this.#params.length * (1 + names.length)).fill(0);
      this.#pieces.forEach((pc, k) => {
        const st = inner.meta.state[String(k)];
        if (pc.start !== 0 || !st) return;
        rows[pc.param * (1 + names.length)] = st.step;
        names.forEach((nm, j) => (rows[pc.param * (1 + names.length) + 1 + j] = st.buffers.includes(nm) ? 1 : 0));
      });
      const t = tensor(rows, { dtype: 'float64' });
      this.group.allreduce([t]);
      return Array.from(t.dataSync() as Float64Array);
    });
    const tensors: Record<string, Tensor> = {};
    const keepHere = root === undefined || root === this.group.rank;
    names.forEach((name, j) => {
      const has = this.#params.map((_, i) => info[i * (1 + names.length) + 1 + j] > 0);
      if (!has.some(Boolean)) return;
      // Where the gathered values land: a flat view of each full buffer (none for params without it, or off root).
      const full = this.#params.map((p, i) => (keepHere && has[i] ? keep(zeros([...p.shape], p.dtype)) : null));
      full.forEach((t, i) => t && (tensors[stateKey(i, name)] = t));
      const flat = full.map((t) => (t ? keep(t.reshape([-1])) : null));
      try {
        this.#gather((_, k) => inner.tensors[stateKey(k, name)] ?? null, (start, values) => keepHere && this.#scatterInto(flat, start, values));
      } finally {
        flat.forEach((t) => t?.dispose());
      }
    });
    this.#params.forEach((_, i) => {
      const row = info.slice(i * (1 + names.length), (i + 1) * (1 + names.length));
      const buffers = names.filter((_, j) => row[1 + j] > 0);
      if (buffers.length || row[0] > 0) meta.state[String(i)] = { step: row[0], buffers };
    });
    return { tensors, meta };
  }

  /**
   * Restores from a full (unsharded-format) state dict, keeping this rank's shard; validated
   * by the wrapped optimizer first, so a mismatch throws ConfigError and nothing changes.
   * Not a collective.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    this.optimizer.loadStateDict(sd);
    this.#takeShard();
  }

  /** Frees the shard's state. */
  dispose(): void {
    this.#inner.dispose();
    for (const t of [...this.#pieces.map((pc) => pc.view), ...this.#flat]) t.dispose();
    this.#pieces.length = this.#flat.length = 0;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Moves the wrapped optimizer's (full) state and hyper-parameters into the shard, then frees it there. */
  #takeShard(): void {
    const full = this.optimizer.stateDict();
    const inner = this.#inner.stateDict().meta;
    const tensors: Record<string, Tensor> = {};
    const state: OptimizerMeta['state'] = {};
    tidy(() => {
      this.#pieces.forEach((pc, k) => {
        const st = full.meta.state[String(pc.param)];
        if (!st) return;
        state[String(k)] = { step: st.step, buffers: st.buffers };
        for (const name of st.buffers) tensors[stateKey(k, name)] = full.tensors[stateKey(pc.param, name)].reshape([-1]).narrow(0, pc.start, pc.length);
      });
      this.#inner.loadStateDict({ tensors, meta: { ...inner, state } }); // copies
    });
    this.#syncHyper();
    this.optimizer.dispose(); // its state now lives in the shards
  }

  /** The wrapped optimizer's hyper-parameters (a scheduler's lr, a loaded checkpoint's) onto the shard's. */
  #syncHyper(): void {
    this.optimizer.paramGroups.forEach((g, gi) => {
      const dst = this.#inner.paramGroups[gi] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(g)) if (k !== 'params') dst[k] = typeof v === 'object' && v !== null ? structuredClone(v) : v;
    });
  }

  /**
   * Allgathers every rank's shard (S elements, zero-padded at the end) built from the pieces'
   * tensors (zeros where `of` gives null), in buckets of at most `bucketElements` per rank, so
   * the extra memory is a few buckets, not the model. Each bucket's values from rank r, which
   * start at flat element r·S + b, go to take(r·S + b, values).
   */
  #gather(of: (pc: Piece, k: number) => Tensor | null, take: (start: number, values: Tensor) => void): void {
    const S = this.shardSize, W = this.group.worldSize, dtype = this.#params[0].dtype;
    for (let b = 0; b < S; b += this.#bucket) {
      const len = Math.min(this.#bucket, S - b);
      noGrad(() =>
        tidy(() => {
          // This rank's elements [b, b + len) of its shard: (len)
          const parts: Tensor[] = [];
          let at = b;
          this.#pieces.forEach((pc, k) => {
            const from = Math.max(b, pc.local), to = Math.min(b + len, pc.local + pc.length);
            if (to <= from) return;
            const src = of(pc, k);
            parts.push(src ? src.narrow(0, from - pc.local, to - from) : zeros([to - from], dtype));
            at = to;
          });
          if (at < b + len) parts.push(zeros([b + len - at], dtype)); // the last shard's padding
          const mine = parts.length === 1 ? parts[0].contiguous() : cat(parts, 0);
          const whole = zeros([W * len], dtype); // (W·len): rank r's bucket at r·len
          this.group.allgather(whole, mine);
          for (let r = 0; r < W; r++) take(r * S + b, whole.narrow(0, r * len, len));
        }),
      );
    }
  }

  /** Copies `values`, which hold flat elements [start, start + n), into the parameters' flat tensors they overlap (null: skipped). */
  #scatterInto(flat: (Tensor | null)[], start: number, values: Tensor): void {
    const end = start + values.numel;
    this.#params.forEach((p, i) => {
      const t = flat[i];
      const from = Math.max(start, this.#offsets[i]), to = Math.min(end, this.#offsets[i] + p.numel);
      if (t && to > from) t.narrow(0, from - this.#offsets[i], to - from).copy_(values.narrow(0, from - start, to - from));
    });
  }
}

/** Frees the tensors of a state dict returned by ZeroRedundancyOptimizer.stateDict. */
export function disposeStateDict(sd: OptimizerStateDict): void {
  for (const t of Object.values(sd.tensors)) t.dispose();
}

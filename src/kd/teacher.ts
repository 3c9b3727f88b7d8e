// Teachers: where the student's soft targets come from.
//   LiveTeacher    the frozen teacher model, in eval mode, run under noGrad on each batch.
//                  With augmentation or mixup the trainer feeds it the same view as the
//                  student ("consistent" teaching, Beyer et al. 2022, "Knowledge
//                  distillation: A good teacher is patient and consistent").
//   CachedTeacher  the teacher's logits on the whole transfer set, computed once and
//                  stored on disk; later students pay nothing for the teacher. Exact (all
//                  C logits) or sparse top-k (k logits + logZ, so the tail mass is known).
//                  The file name is a key hashed from the teacher's weights, the data and
//                  the transform, so a stale cache is never used silently.
//                  Data parallel: each rank computes the logits of its contiguous shard
//                  and writes them as a shard file; every rank then reads all shards (the
//                  teacher's inference is split N ways), rank 0 joins them into the one
//                  cache file any later run reuses, and removes the shards.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { encodeSafetensors, loadSafetensors, saveSafetensors } from '../io/index.js';
import { agree, shardRange } from '../train/index.js';
import type { SparseTeacher } from './sparse.js';

export interface TeacherBatch {
  x: Tensor;
  index: Tensor; // (B,) int64 positions in the transfer set
}

export interface Teacher {
  readonly kind: 'live' | 'cached';
  readonly numClasses: number;
  /** Teacher outputs for a batch, without grad: (B, C) logits or sparse top-k. */
  logits(batch: TeacherBatch): Tensor | SparseTeacher;
  dispose(): void;
}

export class LiveTeacher implements Teacher {
  readonly kind = 'live';
  constructor(readonly model: Module, readonly numClasses: number) {
    model.eval();
    for (const p of model.parameters()) p.requiresGrad_(false);
  }
  logits(batch: TeacherBatch): Tensor {
    return torch.noGrad(() => this.model.call(batch.x));
  }
  dispose(): void {}
}

export interface CacheOptions {
  dir: string;
  /** Keep only the k largest logits per sample (plus logZ); all C when omitted. */
  topK?: number;
  /** Describes the inputs the teacher saw (e.g. 'none'); part of the key. */
  transform?: string;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

interface DatasetLike {
  name: string;
  x: Tensor;
  y: Tensor;
}

const CACHE_FORMAT = 'distill-teacher-cache/1';

/** sha256 over the teacher weights, the data and the transform: the cache's identity. */
export function teacherCacheKey(model: Module, data: DatasetLike, transform: string, topK?: number): string {
  const h = createHash('sha256');
  h.update(CACHE_FORMAT);
  h.update(encodeSafetensors(model.stateDict()));
  h.update(`${data.name}|${data.x.shape.join('x')}|${transform}|${topK ?? 'all'}`);
  h.update(data.x.bytes());
  h.update(data.y.bytes());
  return h.digest('hex').slice(0, 24);
}

export class CachedTeacher implements Teacher {
  readonly kind = 'cached';
  private constructor(
    readonly numClasses: number,
    readonly path: string,
    private readonly full: Tensor | null, // (N, C)
    private readonly sparse: SparseTeacher | null, // (N, k) each
    /** True when this call computed the cache, false when it was read from disk. */
    readonly computed: boolean,
  ) {}

  /**
   * Loads the cache for (teacher, data, transform) or computes and stores it. With a process
   * group (every rank calls this), the computation is split among the ranks by shard files in
   * `o.dir`, which must then be a folder every rank shares; a rank that cannot see another's
   * shard computes that shard itself.
   */
  static build(model: Module, data: DatasetLike, numClasses: number, o: CacheOptions, dist?: torch.ProcessGroup): CachedTeacher {
    const transform = o.transform ?? 'none';
    const key = teacherCacheKey(model, data, transform, o.topK);
    const path = join(o.dir, `teacher-logits-${key}.safetensors`);
    const metadata = { format: CACHE_FORMAT, key, dataset: data.name, transform, topK: String(o.topK ?? 'all') };
    const readable = existsSync(path);
    // Rank 0's file decides, so the ranks never split between reading and computing.
    const have = dist ? agree(dist, dist.rank === 0 && readable ? 1 : 0) === 1 : readable;
    const found = have && readable ? readCache(path, key) : null;
    if (found) return CachedTeacher.#from(numClasses, path, found, false);
    const sparseK = o.topK && o.topK < numClasses ? o.topK : undefined;
    const compute = (start: number, end: number): Record<string, Tensor> => {
      const logits = computeLogits(model, data.x.narrow(0, start, end - start), o.batchSize ?? 512, o.onProgress); // (n, C)
      if (logits.shape[1] !== numClasses)
        throw new torch.ConfigError(`teacher has ${logits.shape[1]} outputs but the data has ${numClasses} classes`);
      if (!sparseK) return { logits };
      const { values, indices } = torch.topk(logits, sparseK, 1);
      return { indices, logits: values, logZ: logits.logsumexp(1) };
    };
    mkdirSync(o.dir, { recursive: true });
    const n = data.x.shape[0];
    let tensors: Record<string, Tensor>;
    // Alone, or rank 0 has a cache this rank cannot read: compute it all here, with no collective.
    if (!dist || dist.worldSize === 1 || have) {
      tensors = torch.tidy(() => compute(0, n));
    } else {
      const W = dist.worldSize;
      const shardPath = (r: number) => path.replace(/\.safetensors$/, `.shard-${r}-of-${W}.safetensors`);
      const mine = shardRange(n, dist.rank, W);
      const own = torch.tidy(() => compute(mine.start, mine.end));
      saveSafetensors(shardPath(dist.rank), own, { ...metadata, shard: `${dist.rank}/${W}` });
      dist.barrier(); // every shard is on disk
      const parts = Array.from({ length: W }, (_, r) => {
        if (r === dist.rank) return own;
        const { start, end } = shardRange(n, r, W);
        return (existsSync(shardPath(r)) && readCache(shardPath(r), key)) || torch.keep(torch.tidy(() => compute(start, end)));
      });
      tensors = Object.fromEntries(Object.keys(own).map((k) => [k, torch.cat(parts.map((p) => p[k]), 0)])); // (N, …)
      for (const p of parts) for (const t of Object.values(p)) t.dispose();
      dist.barrier(); // every rank has read every shard
      rmSync(shardPath(dist.rank), { force: true });
    }
    if (!dist || dist.rank === 0 || have) saveSafetensors(path, tensors, metadata);
    for (const t of Object.values(tensors)) torch.keep(t);
    return CachedTeacher.#from(numClasses, path, tensors, true);
  }

  static #from(numClasses: number, path: string, t: Record<string, Tensor>, computed: boolean): CachedTeacher {
    const sparse = t.indices ? { indices: t.indices, logits: t.logits, logZ: t.logZ } : null;
    return new CachedTeacher(numClasses, path, sparse ? null : t.logits, sparse, computed);
  }

  logits(batch: TeacherBatch): Tensor | SparseTeacher {
    if (this.full) return this.full.indexSelect(0, batch.index);
    const s = this.sparse!;
    return { indices: s.indices.indexSelect(0, batch.index), logits: s.logits.indexSelect(0, batch.index), logZ: s.logZ.indexSelect(0, batch.index) };
  }

  dispose(): void {
    this.full?.dispose();
    if (this.sparse) for (const t of Object.values(this.sparse)) t.dispose();
  }
}

/** The tensors of a cache file of `key` (kept out of every scope), or null for a foreign file under that name. */
function readCache(path: string, key: string): Record<string, Tensor> | null {
  const { tensors, metadata } = loadSafetensors(path);
  if (metadata.format === CACHE_FORMAT && metadata.key === key) {
    for (const t of Object.values(tensors)) torch.keep(t);
    return tensors;
  }
  for (const t of Object.values(tensors)) t.dispose();
  return null;
}

/** The model's logits over all of x, in eval mode under noGrad, batch by batch. */
export function computeLogits(model: Module, x: Tensor, batchSize: number, onProgress?: (done: number, total: number) => void): Tensor {
  const wasTraining = model.training;
  model.eval();
  try {
    const n = x.shape[0];
    const parts: Tensor[] = [];
    torch.noGrad(() => {
      for (let s = 0; s < n; s += batchSize) {
        parts.push(torch.tidy(() => model.call(x.narrow(0, s, Math.min(batchSize, n - s)))));
        onProgress?.(Math.min(s + batchSize, n), n);
      }
    });
    const all = torch.cat(parts, 0); // owned by the caller's scope, like any op's result
    for (const p of parts) p.dispose();
    return all;
  } finally {
    model.train(wasTraining);
  }
}

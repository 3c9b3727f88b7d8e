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
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { encodeSafetensors, loadSafetensors, saveSafetensors } from '../io/index.js';

/** Top-k teacher logits: p_i = exp(logits_i − logZ) exactly at T = 1; the rest is the tail. */
export interface SparseLogits {
  indices: Tensor; // (B, k) int64
  logits: Tensor; // (B, k) float32
  logZ: Tensor; // (B,) float32, logsumexp of all C teacher logits
}

export interface TeacherBatch {
  x: Tensor;
  index: Tensor; // (B,) int64 positions in the transfer set
}

export interface Teacher {
  readonly kind: 'live' | 'cached';
  readonly numClasses: number;
  /** Teacher outputs for a batch, without grad: (B, C) logits or sparse top-k. */
  logits(batch: TeacherBatch): Tensor | SparseLogits;
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
    private readonly sparse: SparseLogits | null, // (N, k) each
    /** True when this call computed the cache, false when it was read from disk. */
    readonly computed: boolean,
  ) {}

  /** Loads the cache for (teacher, data, transform) or computes and stores it. */
  static build(model: Module, data: DatasetLike, numClasses: number, o: CacheOptions): CachedTeacher {
    const transform = o.transform ?? 'none';
    const key = teacherCacheKey(model, data, transform, o.topK);
    const path = join(o.dir, `teacher-logits-${key}.safetensors`);
    if (existsSync(path)) {
      const { tensors, metadata } = loadSafetensors(path);
      if (metadata.format === CACHE_FORMAT && metadata.key === key) {
        for (const t of Object.values(tensors)) torch.keep(t);
        const sparse = tensors.indices ? { indices: tensors.indices, logits: tensors.logits, logZ: tensors.logZ } : null;
        return new CachedTeacher(numClasses, path, sparse ? null : tensors.logits, sparse, false);
      }
      for (const t of Object.values(tensors)) t.dispose(); // a foreign file under our name: rebuild it
    }
    const logits = torch.keep(computeLogits(model, data.x, o.batchSize ?? 512, o.onProgress)); // (N, C)
    if (logits.shape[1] !== numClasses)
      throw new torch.ConfigError(`teacher has ${logits.shape[1]} outputs but the data has ${numClasses} classes`);
    mkdirSync(o.dir, { recursive: true });
    const metadata = { format: CACHE_FORMAT, key, dataset: data.name, transform, topK: String(o.topK ?? 'all') };
    if (!o.topK || o.topK >= numClasses) {
      saveSafetensors(path, { logits }, metadata);
      return new CachedTeacher(numClasses, path, logits, null, true);
    }
    const sparse = torch.tidy(() => {
      const { values, indices } = torch.topk(logits, o.topK!, 1);
      return { indices, logits: values, logZ: logits.logsumexp(1) };
    });
    logits.dispose();
    for (const t of Object.values(sparse)) torch.keep(t);
    saveSafetensors(path, { ...sparse }, metadata);
    return new CachedTeacher(numClasses, path, null, sparse, true);
  }

  logits(batch: TeacherBatch): Tensor | SparseLogits {
    if (this.full) return this.full.indexSelect(0, batch.index);
    const s = this.sparse!;
    return { indices: s.indices.indexSelect(0, batch.index), logits: s.logits.indexSelect(0, batch.index), logZ: s.logZ.indexSelect(0, batch.index) };
  }

  dispose(): void {
    this.full?.dispose();
    if (this.sparse) for (const t of Object.values(this.sparse)) t.dispose();
  }
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

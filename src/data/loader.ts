// Mini-batches over an in-memory Dataset.
//
// Design choices and why:
//  - The order of epoch e is a pure function of (seed, e) (data/rng.ts), so a run resumed at
//    (epoch, batch) replays the exact batches without saving any RNG state: setEpoch(e) and
//    iterate(fromBatch).
//  - A batch is built with ONE indexSelect on the dataset tensors (x, y) from an int64 index
//    tensor, plus the optional augmentation; no per-sample tensor op.
//  - `index` (the sample indices into the dataset) travels with the batch, so a trainer can
//    look up teacher logits cached per sample (offline distillation) for exactly these rows.
//  - Lifetime: batch(b) returns tensors the caller owns (they join the caller's open tidy
//    scope). The iterator additionally frees each batch when the next one is requested and
//    when the loop ends, so `for (const b of loader) tidy(() => step(b))` stays flat in memory
//    even though the iterator creates the batch outside the step's scope. Clone what must
//    outlive its iteration step, or pass retainBatches: true to own every batch yourself.
import * as torch from '../torch/index.js';
import { ConfigError, type Tensor } from '../torch/index.js';
import { datasetSize, indexTensor, type Dataset } from './dataset.js';
import type { Augment } from './augment.js';
import { checkSeed, permutation } from './rng.js';
import { SHUFFLE_SALT, type Sampler } from './sampler.js';

export interface Batch {
  /** (B, ...featureShape) float32, augmented if the loader has an augment. */
  x: Tensor;
  /** (B,) int64 labels. */
  y: Tensor;
  /** (B,) int64 indices of these samples in the loader's dataset. */
  index: Tensor;
}

export interface DataLoaderOptions {
  batchSize: number;
  /** Default true. */
  shuffle?: boolean;
  /** Default 0. */
  seed?: number;
  /** Drop the last, smaller batch; default false. */
  dropLast?: boolean;
  augment?: Augment;
  /** Iterators never free batches; the caller disposes every one. Default false. */
  retainBatches?: boolean;
  /** Visits the sampler's rows instead (e.g. a DistributedSampler's shard); `shuffle` is then ignored. */
  sampler?: Sampler;
}

/** Frees a batch's tensors (idempotent). */
export function disposeBatch(b: Batch): void {
  b.x.dispose();
  b.y.dispose();
  b.index.dispose();
}

export class DataLoader implements Iterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly augment: Augment | undefined;
  readonly retainBatches: boolean;
  readonly sampler: Sampler | undefined;
  #epoch = 0;
  #order: { epoch: number; order: Int32Array } | undefined;

  constructor(ds: Dataset, opts: DataLoaderOptions) {
    const { batchSize } = opts ?? ({} as DataLoaderOptions);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (ds.x.shape[0] !== ds.y.shape[0])
      throw new ConfigError(`DataLoader: dataset ${ds.name} has x [${ds.x.shape.join(', ')}] but y [${ds.y.shape.join(', ')}]`);
    const n = datasetSize(ds);
    if (n === 0) throw new ConfigError(`DataLoader: dataset ${ds.name} is empty`);
    this.dataset = ds;
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.seed = checkSeed(opts.seed ?? 0);
    this.dropLast = opts.dropLast ?? false;
    this.augment = opts.augment;
    this.retainBatches = opts.retainBatches ?? false;
    this.sampler = opts.sampler;
    if (this.numBatches === 0)
      throw new ConfigError(`DataLoader: dropLast with batchSize ${batchSize} and only ${n} samples in ${ds.name} gives no batches`);
  }

  get size(): number {
    return datasetSize(this.dataset);
  }
  get epoch(): number {
    return this.#epoch;
  }
  /** Selects the epoch whose order (and augmentation) the next iteration uses. */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ConfigError(`DataLoader.setEpoch: epoch must be a non-negative integer, got ${epoch}`);
    this.#epoch = epoch;
  }
  /** Rows visited per epoch: the dataset's, or the sampler's. */
  get samplesPerEpoch(): number {
    return this.sampler ? this.sampler.numSamples : this.size;
  }
  get numBatches(): number {
    const n = this.samplesPerEpoch;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of `epoch`: a permutation of 0..N-1 (the identity without shuffle), or the sampler's rows. */
  order(epoch = this.#epoch): Int32Array {
    if (this.#order?.epoch !== epoch) {
      const n = this.size;
      const order = this.sampler ? this.sampler.indices(epoch)
        : this.shuffle ? permutation(n, this.seed, epoch, SHUFFLE_SALT) : Int32Array.from({ length: n }, (_, i) => i);
      this.#order = { epoch, order };
    }
    return this.#order.order;
  }

  /** Dataset indices of batch `b` of `epoch`. */
  batchIndices(b: number, epoch = this.#epoch): Int32Array {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBatches)
      throw new ConfigError(`DataLoader: batch ${b} is out of range (0..${this.numBatches - 1})`);
    return this.order(epoch).subarray(b * this.batchSize, Math.min(this.samplesPerEpoch, (b + 1) * this.batchSize));
  }

  /** Batch `b` of `epoch` (default: the current epoch); the caller owns its tensors. */
  batch(b: number, epoch = this.#epoch): Batch {
    const idx = this.batchIndices(b, epoch);
    return torch.tidy(() => {
      const index = indexTensor(idx);
      let x = torch.indexSelect(this.dataset.x, 0, index);
      // Whatever the augment makes besides its result (and the pre-augment x) is freed by the scope.
      if (this.augment) x = this.augment(x, { epoch, batch: b, seed: this.seed });
      return { x, y: torch.indexSelect(this.dataset.y, 0, index), index };
    });
  }

  /**
   * The batches of the current epoch from `fromBatch` on (resuming mid-epoch gives exactly
   * the batches an uninterrupted run would have seen). The epoch is fixed when iterate is called.
   */
  iterate(fromBatch = 0): IterableIterator<Batch> {
    if (!Number.isInteger(fromBatch) || fromBatch < 0 || fromBatch > this.numBatches)
      throw new ConfigError(`DataLoader.iterate: fromBatch must be an integer in 0..${this.numBatches}, got ${fromBatch}`);
    return this.#run(fromBatch, this.#epoch);
  }

  *#run(fromBatch: number, epoch: number): IterableIterator<Batch> {
    let prev: Batch | undefined;
    try {
      for (let b = fromBatch; b < this.numBatches; b++) {
        if (prev && !this.retainBatches) disposeBatch(prev);
        prev = this.batch(b, epoch);
        yield prev;
      }
    } finally {
      if (prev && !this.retainBatches) disposeBatch(prev);
    }
  }

  [Symbol.iterator](): IterableIterator<Batch> {
    return this.iterate(0);
  }
}

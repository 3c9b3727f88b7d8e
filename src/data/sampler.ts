// Samplers: which dataset rows a DataLoader visits in an epoch, and in what order.
//
// DistributedSampler is PyTorch's (torch.utils.data.DistributedSampler), with the order a
// pure function of (seed, epoch) as everywhere in the data layer:
//  - every rank draws the SAME permutation of 0..N-1 for the epoch, then takes every
//    worldSize-th entry from position `rank` (indices[rank::worldSize]), so the shards are
//    disjoint and together cover the epoch;
//  - N is made a multiple of worldSize so every rank runs the same number of steps (a rank
//    with one step more would wait forever in its extra allreduce): by default the
//    permutation is padded by repeating its first entries, with dropLast the tail is cut.
//  - Strided shards make data parallelism exact: at step k, rank r's batch of B is positions
//    r, r+W, … of block [kWB, (k+1)WB) of the permutation, so the W batches together are
//    exactly the batch of W·B that one process would take at step k.
// With worldSize 1 it visits the DataLoader's own shuffled order (same salt).
import { ConfigError } from '../torch/index.js';
import { checkSeed, permutation } from './rng.js';

export const SHUFFLE_SALT = 0x10ad;

/** What a DataLoader needs to visit rows in a custom order. */
export interface Sampler {
  /** Rows per epoch. */
  readonly numSamples: number;
  /** The dataset rows of `epoch`, in visiting order (numSamples of them). */
  indices(epoch: number): Int32Array;
}

export interface DistributedSamplerOptions {
  rank: number;
  worldSize: number;
  /** Default true. */
  shuffle?: boolean;
  /** Default 0; must be the same on every rank. */
  seed?: number;
  /** Cut the tail instead of padding to a multiple of worldSize; default false. */
  dropLast?: boolean;
}

export class DistributedSampler implements Sampler {
  readonly size: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly numSamples: number;

  constructor(datasetSize: number, o: DistributedSamplerOptions) {
    const { rank, worldSize } = o;
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigError(`DistributedSampler: worldSize must be a positive integer, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigError(`DistributedSampler: rank must be in 0..${worldSize - 1}, got ${rank}`);
    if (!Number.isInteger(datasetSize) || datasetSize < 1) throw new ConfigError(`DistributedSampler: the dataset is empty`);
    this.size = datasetSize;
    this.rank = rank;
    this.worldSize = worldSize;
    this.shuffle = o.shuffle ?? true;
    this.seed = checkSeed(o.seed ?? 0);
    this.dropLast = o.dropLast ?? false;
    this.numSamples = this.dropLast ? Math.floor(datasetSize / worldSize) : Math.ceil(datasetSize / worldSize);
    if (this.numSamples === 0) throw new ConfigError(`DistributedSampler: dropLast with ${datasetSize} samples and ${worldSize} ranks leaves no samples`);
  }

  indices(epoch: number): Int32Array {
    const n = this.size;
    const order = this.shuffle ? permutation(n, this.seed, epoch, SHUFFLE_SALT) : Int32Array.from({ length: n }, (_, i) => i);
    const out = new Int32Array(this.numSamples);
    // Position rank + i·W of the padded (cyclically repeated) or cut order.
    for (let i = 0; i < this.numSamples; i++) out[i] = order[(this.rank + i * this.worldSize) % n];
    return out;
  }
}

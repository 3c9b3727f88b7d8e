// Normalisation layers: BatchNorm1d/2d (Ioffe & Szegedy 2015), LayerNorm (Ba et al. 2016)
// and RMSNorm (Zhang & Sennrich 2019), with PyTorch's defaults and state_dict names.
import * as torch from '../torch/index.js';
import type { Tensor, DType } from '../torch/index.js';
import { Module } from './module.js';
import * as init from './init.js';
import { checkInt, py } from './util.js';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the newest batch in the running averages; null = cumulative average 1/n. */
  momentum?: number | null;
  /** Learnable per-channel scale (weight) and shift (bias). */
  affine?: boolean;
  /** Keep running mean/var for eval; without them eval normalises with batch statistics. */
  trackRunningStats?: boolean;
}

/**
 * y = (x − E[x]) / √(Var[x] + eps) · weight + bias, statistics per channel (dim 1).
 * Training uses the batch's statistics and updates the running ones:
 * running = (1 − momentum) · running + momentum · batch (the variance unbiased).
 * Eval uses the running statistics.
 */
abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  /** (C) or null */
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  /** (C) or null */
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  /** int64 scalar: training batches seen. */
  readonly numBatchesTracked: Tensor | null;

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    this.numFeatures = checkInt(this.constructor.name, 'numFeatures', numFeatures);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.weight = this.affine ? this.registerParameter('weight', torch.empty([numFeatures])) : null;
    this.bias = this.affine ? this.registerParameter('bias', torch.empty([numFeatures])) : null;
    const track = this.trackRunningStats;
    this.runningMean = track ? this.registerBuffer('running_mean', torch.zeros([numFeatures])) : null;
    this.runningVar = track ? this.registerBuffer('running_var', torch.ones([numFeatures])) : null;
    this.numBatchesTracked = track ? this.registerBuffer('num_batches_tracked', torch.zeros([], 'int64')) : null;
    this.resetParameters();
  }

  /** Zero mean, unit variance, no batches seen. */
  resetRunningStats(): void {
    torch.noGrad(() => {
      this.runningMean?.zero_();
      this.runningVar?.fill_(1);
      this.numBatchesTracked?.zero_();
    });
  }

  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) init.ones_(this.weight);
    if (this.bias) init.zeros_(this.bias);
  }

  protected abstract checkInputDim(x: Tensor): void;

  forward(x: Tensor): Tensor {
    this.checkInputDim(x);
    let factor = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      torch.noGrad(() => this.numBatchesTracked!.add_(1));
      if (this.momentum === null) factor = 1 / this.numBatchesTracked.item();
    }
    // Batch statistics in training, and in eval when there are no running ones.
    // (torch.batchNorm refuses one value per channel here, as PyTorch's _verify_batch_size.)
    const bnTraining = this.training || (this.runningMean === null && this.runningVar === null);
    // libtorch updates the running buffers in place when it is given them in training.
    const useBuffers = !this.training || this.trackRunningStats;
    return torch.batchNorm(x, useBuffers ? this.runningMean : null, useBuffers ? this.runningVar : null,
      this.weight, this.bias, bnTraining, factor, this.eps);
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${py(this.eps)}, momentum=${py(this.momentum)}, affine=${py(this.affine)}, track_running_stats=${py(this.trackRunningStats)}`;
  }
}

function dimError(layer: string, want: string, x: Tensor): never {
  throw new torch.ShapeError('ERR_SHAPE', layer, `expected ${want} input (got ${x.ndim}D input)`, `[${x.shape.join(', ')}]`);
}

/** BatchNorm over (B, C) or (B, C, L). */
export class BatchNorm1d extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) dimError('BatchNorm1d', '2D or 3D', x);
  }
}

/** BatchNorm over (B, C, H, W). */
export class BatchNorm2d extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 4) dimError('BatchNorm2d', '4D', x);
  }
}

const shapeOf = (s: number | readonly number[]) => (typeof s === 'number' ? [s] : [...s]);

export interface LayerNormOptions {
  eps?: number;
  /** Learnable weight (ones) and bias (zeros) of normalizedShape. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, whether to learn a bias too. */
  bias?: boolean;
}

/**
 * y = (x − E[x]) / √(Var[x] + eps) · weight + bias, statistics over the last
 * normalizedShape.length dimensions (the biased variance).
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], opts: LayerNormOptions = {}) {
    super();
    this.normalizedShape = shapeOf(normalizedShape).map((s) => checkInt('LayerNorm', 'normalizedShape', s));
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter('weight', torch.ones(this.normalizedShape)) : null;
    this.bias = affine && (opts.bias ?? true) ? this.registerParameter('bias', torch.zeros(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    return torch.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')}${this.normalizedShape.length === 1 ? ',' : ''}), eps=${py(this.eps)}, elementwise_affine=${py(this.weight !== null)}`;
  }
}

/** The machine epsilon of a float dtype, PyTorch's torch.finfo(dtype).eps. */
const FINFO_EPS: Partial<Record<DType, number>> = {
  float32: 2 ** -23, float64: 2 ** -52, float16: 2 ** -10, bfloat16: 2 ** -7,
};

export interface RMSNormOptions {
  /** Added to the mean square; defaults to the machine epsilon of the input's dtype, as PyTorch. */
  eps?: number | null;
  /** Learnable weight (ones) of normalizedShape. */
  elementwiseAffine?: boolean;
}

/**
 * y = x · rsqrt(mean(x², over the last normalizedShape.length dims) + eps) · weight
 * (Zhang & Sennrich 2019). No mean subtraction and no bias: the Llama norm.
 */
export class RMSNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number | null;
  readonly weight: Tensor | null;

  constructor(normalizedShape: number | readonly number[], opts: RMSNormOptions = {}) {
    super();
    this.normalizedShape = shapeOf(normalizedShape).map((s) => checkInt('RMSNorm', 'normalizedShape', s));
    this.eps = opts.eps ?? null;
    this.weight = opts.elementwiseAffine ?? true ? this.registerParameter('weight', torch.ones(this.normalizedShape)) : null;
  }

  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.ndim - k);
    if (x.ndim < k || tail.some((s, i) => s !== this.normalizedShape[i]))
      throw new torch.ShapeError('ERR_SHAPE', 'RMSNorm', `expected input ending in [${this.normalizedShape.join(', ')}]`, `[${x.shape.join(', ')}]`);
    const eps = this.eps ?? FINFO_EPS[x.dtype] ?? FINFO_EPS.float32!;
    const dims = Array.from({ length: k }, (_, i) => i - k); // the last k dims: [−k, …, −1]
    return torch.tidy(() => {
      const ms = x.pow(2).mean(dims, true); // (…, 1, …, 1)
      const y = x.mul(ms.add(eps).rsqrt());
      return this.weight ? y.mul(this.weight) : y;
    });
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')}${this.normalizedShape.length === 1 ? ',' : ''}), eps=${py(this.eps)}, elementwise_affine=${py(this.weight !== null)}`;
  }
}

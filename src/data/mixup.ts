// mixup (Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond Empirical Risk Minimization"):
//   λ ~ Beta(α, α),   x̃ = λ·x + (1 − λ)·x[perm],   loss = λ·L(y) + (1 − λ)·L(y[perm])
// with one λ per batch and perm a random permutation of the batch.
//
// For distillation, Beyer et al. 2022 ("Knowledge distillation: A good teacher is patient and
// consistent") feed the *same* mixed x̃ to teacher and student ("consistent teaching"): the KD
// loss then needs no labels at all, and the teacher's soft targets on x̃ replace the mixed
// labels. That is why mixup returns the mixed batch and the permutation rather than a loss.
import * as torch from '../torch/index.js';
import { ConfigError, type Tensor } from '../torch/index.js';
import { indexTensor } from './dataset.js';
import { Rng, checkSeed } from './rng.js';

const MIXUP_SALT = 0x3195;

export interface MixupOptions {
  /** Beta(α, α) concentration; α → 0 gives λ near 0 or 1 (little mixing), α = 1 uniform λ. */
  alpha: number;
  /** Key of this batch's draw; derive it from (seed, epoch, batch) with hashSeed for resumable runs. */
  seed: number;
}

export interface MixupResult {
  /** λ·x + (1 − λ)·x[perm], same shape as x. */
  x: Tensor;
  /** (B,) int64: sample i was mixed with sample perm[i]. */
  perm: Tensor;
  lambda: number;
  /** y[perm] when y was given: the second label of each mixed sample. */
  yPerm?: Tensor;
}

/** The λ and permutation mixup draws for a batch of `batchSize` under `seed` (pure function). */
export function mixupDraw(batchSize: number, alpha: number, seed: number): { lambda: number; perm: Int32Array } {
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new ConfigError(`mixup: alpha must be a finite number > 0, got ${alpha}`);
  const rng = new Rng(checkSeed(seed, 'mixup seed'), MIXUP_SALT);
  const lambda = rng.beta(alpha, alpha);
  const perm = new Int32Array(batchSize);
  for (let i = 0; i < batchSize; i++) perm[i] = i;
  rng.shuffle(perm);
  return { lambda, perm };
}

/** Mixes a batch: `mixup(x, y?, { alpha, seed })` or `mixup(x, { alpha, seed })`. */
export function mixup(x: Tensor, y: Tensor | null | undefined | MixupOptions, opts?: MixupOptions): MixupResult {
  let labels: Tensor | undefined;
  if (y instanceof torch.Tensor) labels = y;
  else if (y && !opts) opts = y as MixupOptions;
  if (!opts) throw new ConfigError('mixup: options { alpha, seed } are required');
  if (x.ndim < 1 || x.shape[0] < 1) throw new ConfigError(`mixup: x must be a non-empty batch (B, ...), got [${x.shape.join(', ')}]`);
  if (!(x.dtype === 'float32' || x.dtype === 'float64')) throw new ConfigError(`mixup: x must be floating point, got ${x.dtype}`);
  const B = x.shape[0];
  if (labels && labels.shape[0] !== B) throw new ConfigError(`mixup: y has ${labels.shape[0]} rows, x has ${B}`);
  const { lambda, perm } = mixupDraw(B, opts.alpha, opts.seed);
  return torch.tidy(() => {
    const p = indexTensor(perm);
    // x.mul(λ).add(x[perm], 1 − λ): two kernels, the intermediate freed by the scope.
    const mixed = x.mul(lambda).add(torch.indexSelect(x, 0, p), 1 - lambda);
    const out: MixupResult = { x: mixed, perm: p, lambda };
    if (labels) out.yPerm = torch.indexSelect(labels, 0, p);
    return out;
  });
}

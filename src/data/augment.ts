// Batch-level data augmentation, deterministic from (seed, epoch, batch).
//
// Why batch-level and keyed by context rather than drawing from a running generator: a run
// resumed at batch b of epoch e must see exactly the augmentation an uninterrupted run saw
// there, with no RNG state saved. So every augment draws from Rng(seed, epoch, batch, salt).
//
// Why plain JS arrays: one batch of 128×784 floats is 400 KB; copying it out of libtorch,
// moving pixels in a tight loop and copying it back costs well under a millisecond, while
// per-sample tensor ops (slice, pad, cat per image) would cost hundreds of native calls per
// batch. Built-in augments carry an `arrayOp`, so composeAugments makes one round trip for
// the whole chain.
import * as torch from '../torch/index.js';
import { ConfigError, type Tensor } from '../torch/index.js';
import { Rng, hashSeed } from './rng.js';

export interface AugmentContext {
  epoch: number;
  batch: number;
  seed: number;
}

/** Maps a batch x (B, ...) to an augmented batch of the same shape; must be deterministic from ctx. */
export type Augment = (x: Tensor, ctx: AugmentContext) => Tensor;

/** An augmentation on a JS copy of the batch: may modify `data` in place and return it, or return a new array. */
export type ArrayOp = (data: Float32Array, shape: readonly number[], rng: Rng) => Float32Array;

/** An Augment that also exposes its array form (so compositions can share one copy). */
export interface ArrayAugment extends Augment {
  arrayOp: ArrayOp;
  salt: number;
}

function checkFloat(x: Tensor, what: string): void {
  if (x.dtype !== 'float32') throw new ConfigError(`${what}: expects a float32 batch, got ${x.dtype}`);
}

const rngFor = (ctx: AugmentContext, salt: number) => new Rng(ctx.seed, ctx.epoch, ctx.batch, salt);

/** Wraps an array op as a tensor Augment (one copy out, one copy in). */
export function arrayAugment(name: string, salt: number, op: ArrayOp): ArrayAugment {
  const aug = ((x: Tensor, ctx: AugmentContext) => {
    checkFloat(x, name);
    const out = op(x.dataSync() as Float32Array, x.shape, rngFor(ctx, salt));
    return torch.tensor(out, { shape: x.shape });
  }) as ArrayAugment;
  aug.arrayOp = op;
  aug.salt = salt;
  Object.defineProperty(aug, 'name', { value: name });
  return aug;
}

/** (B, C, H, W) from a batch shape whose last two dims are the image; C is the product of the rest. */
function imageDims(shape: readonly number[], what: string): [number, number, number, number] {
  if (shape.length < 3) throw new ConfigError(`${what}: needs image batches (B, C, H, W) or (B, H, W), got [${shape.join(', ')}]`);
  const B = shape[0];
  const H = shape[shape.length - 2];
  const W = shape[shape.length - 1];
  let C = 1;
  for (let i = 1; i < shape.length - 2; i++) C *= shape[i];
  return [B, C, H, W];
}

/**
 * Per-sample random translation by up to `maxPixels` in x and y (integers, uniform), with zero
 * fill: the "jitter" of Hinton et al. 2012/2015 on MNIST (shifts of up to two pixels), which
 * adds translated copies the model must agree on.
 */
export function randomShift(maxPixels: number): ArrayAugment {
  if (!Number.isInteger(maxPixels) || maxPixels < 0) throw new ConfigError(`randomShift: maxPixels must be a non-negative integer, got ${maxPixels}`);
  const m = maxPixels;
  return arrayAugment('randomShift', 0x5a1f7, (src, shape, rng) => {
    const [B, C, H, W] = imageDims(shape, 'randomShift');
    const out = new Float32Array(src.length); // zero fill for the uncovered border
    const plane = H * W;
    for (let b = 0; b < B; b++) {
      const dy = rng.int(2 * m + 1) - m;
      const dx = rng.int(2 * m + 1) - m;
      // out[i][j] = src[i - dy][j - dx] where that lies inside the image.
      const i0 = Math.max(0, dy), i1 = Math.min(H, H + dy);
      const j0 = Math.max(0, dx), j1 = Math.min(W, W + dx);
      for (let c = 0; c < C; c++) {
        const base = (b * C + c) * plane;
        for (let i = i0; i < i1; i++) {
          const o = base + i * W;
          const s = base + (i - dy) * W - dx;
          for (let j = j0; j < j1; j++) out[o + j] = src[s + j];
        }
      }
    }
    return out;
  });
}

/** Per-sample horizontal flip with probability p (mirror along the width). */
export function randomFlip(p = 0.5): ArrayAugment {
  if (!(p >= 0 && p <= 1)) throw new ConfigError(`randomFlip: p must be in [0, 1], got ${p}`);
  return arrayAugment('randomFlip', 0xf11b, (data, shape, rng) => {
    const [B, C, H, W] = imageDims(shape, 'randomFlip');
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < p)) continue;
      for (let r = b * C * H; r < (b + 1) * C * H; r++) {
        const row = r * W;
        for (let j = 0, k = W - 1; j < k; j++, k--) {
          const t = data[row + j];
          data[row + j] = data[row + k];
          data[row + k] = t;
        }
      }
    }
    return data;
  });
}

/** Adds independent N(0, std²) noise to every value (no clamping: the model sees the noise as is). */
export function gaussianJitter(std: number): ArrayAugment {
  if (!(std >= 0) || !Number.isFinite(std)) throw new ConfigError(`gaussianJitter: std must be a finite number >= 0, got ${std}`);
  return arrayAugment('gaussianJitter', 0x6a55, (data, _shape, rng) => {
    if (std > 0) rng.addNormal(data, std);
    return data;
  });
}

/**
 * Applies augments left to right. Each step gets its own random stream (its position is
 * mixed into the seed), so two identical augments in a chain draw different numbers.
 * When every step is a built-in array augment the chain makes one copy out and one in.
 */
export function composeAugments(...augments: Augment[]): Augment {
  const ctxAt = (ctx: AugmentContext, i: number): AugmentContext => ({ ...ctx, seed: hashSeed(ctx.seed, 0xc0, i) });
  const arrays = augments.every((a) => typeof (a as ArrayAugment).arrayOp === 'function');
  if (arrays) {
    const parts = augments as ArrayAugment[];
    const composed: Augment = (x, ctx) => {
      checkFloat(x, 'composeAugments');
      let data = x.dataSync() as Float32Array;
      parts.forEach((a, i) => {
        data = a.arrayOp(data, x.shape, rngFor(ctxAt(ctx, i), a.salt));
      });
      return torch.tensor(data, { shape: x.shape });
    };
    return composed;
  }
  return (x, ctx) => {
    let cur = x;
    augments.forEach((a, i) => {
      const next = a(cur, ctxAt(ctx, i));
      if (cur !== x && cur !== next) cur.dispose(); // free intermediates, never the caller's input
      cur = next;
    });
    return cur;
  };
}

// What every measurement shares: the kind of model measured, running it in eval mode
// without autograd, and the seeded random inputs that timing and memory runs feed it.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';

/** A classifier: one input tensor (B, …) in, logits (B, C) out. */
export type EvalModel = Module<[Tensor], Tensor>;

/** How timing and memory runs get their input batch. */
export interface InputOptions {
  /** Seed for the random input (default 0). The caller's RNG stream is left as it was. */
  seed?: number;
  /**
   * Builds the input batch instead of `randn([batch, ...inputShape])` (e.g. integer token
   * ids for a language model). It runs under the seed above; the tensor it returns is
   * freed by the measurement.
   */
  makeInput?: (batch: number) => Tensor;
}

/**
 * Runs `fn` with the whole module tree in eval mode and gradient tracking off, then puts
 * back every module's own `training` flag. Saving each flag (not just the root's) matters:
 * a caller may have frozen part of a model in eval mode while training the rest, and a
 * measurement must not change that.
 */
export function inEvalMode<T>(model: EvalModel, fn: () => T): T {
  const saved = model.modules().map((m) => [m, m.training] as const);
  model.eval();
  try {
    return torch.noGrad(fn);
  } finally {
    for (const [m, mode] of saved) m.training = mode;
  }
}

/**
 * Runs `fn` with libtorch's generator seeded, then restores the generator's previous
 * state, so a measurement in the middle of a training run does not shift its random stream.
 */
export function withSeed<T>(seed: number, fn: () => T): T {
  const saved = torch.getRngState();
  try {
    torch.manualSeed(seed);
    return fn();
  } finally {
    torch.setRngState(saved);
    saved.dispose();
  }
}

/** The input batch (batch, ...inputShape) for a timing or memory run; the caller frees it. */
export function makeBatch(inputShape: readonly number[], batch: number, opts: InputOptions = {}): Tensor {
  checkCount('batch', batch, 1);
  for (const s of inputShape) checkCount('inputShape entry', s, 1);
  // tidy frees whatever makeInput made on the way; keep takes the batch out of the
  // caller's scopes because the measurement disposes it itself.
  return torch.keep(torch.tidy(() => withSeed(opts.seed ?? 0, () =>
    opts.makeInput ? opts.makeInput(batch) : torch.randn([batch, ...inputShape]))));
}

/** Throws a ConfigError unless `v` is an integer ≥ `min`. */
export function checkCount(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new torch.ConfigError(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

// Process-wide settings and facts: seeds, RNG state, threads, memory counters, build.
import { native } from './native.js';
import { Tensor, wrap } from './tensor.js';

/** Seeds libtorch's default CPU generator, the same generator PyTorch's torch.manual_seed seeds. */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
/** The generator's full state as a uint8 tensor (for checkpoints). */
export const getRngState = (): Tensor => wrap(native.getRngState());
export const setRngState = (state: Tensor): void => native.setRngState(state.handle);

/** Intra-op threads of libtorch (OpenBLAS keeps its own pool). */
export const setNumThreads = (n: number): void => native.setNumThreads(n);
export const getNumThreads = (): number => native.getNumThreads();

let flushing = false;
/**
 * Flush denormal floats to zero (FTZ/DAZ), as PyTorch's torch.set_flush_denormal; returns
 * whether the CPU supports it. Off by default, as in PyTorch (conversions such as float32 →
 * bfloat16 keep denormals exact); our trainers (kd.train, trainLm) turn it on for their run:
 * training pushes some values (Adam's squared gradients, far-tail probabilities) below
 * float32's normal range (~1.2e-38), where x86 arithmetic is up to 100x slower, and such
 * values are zero for every purpose there. Applies to libtorch's threads (this one and its
 * intra-op workers), not to OpenBLAS's own pool.
 */
export function setFlushDenormal(on: boolean): boolean {
  flushing = on;
  return native.setFlushDenormal(on);
}
/** Whether denormals are being flushed (see setFlushDenormal). */
export const flushDenormal = (): boolean => flushing;

/** Runs `fn` with denormals flushed to zero, then restores the previous setting. */
export function withFlushDenormal<T>(fn: () => T): T {
  const before = flushing;
  setFlushDenormal(true);
  try {
    return fn();
  } finally {
    setFlushDenormal(before);
  }
}

export interface MemoryStats {
  liveTensors: number;
  peakTensors: number;
  nativeBytes: number;
  /** Highest nativeBytes since start or the last resetPeak (tensor data held by JS handles). */
  peakNativeBytes: number;
}
/** Live and peak counts of tensors held by JS handles, and the bytes reported to V8. */
export const memory = (): MemoryStats => native.memoryStats();
/** Resets both peaks (tensor count and native bytes) to the current values. */
export const resetPeakTensors = (): void => native.resetPeak();

export interface BuildInfo {
  version: string;
  cuda: boolean;
  config: string;
  parallel: string;
}
export const buildInfo = (): BuildInfo => native.buildInfo();
export const cudaIsAvailable = (): boolean => buildInfo().cuda;

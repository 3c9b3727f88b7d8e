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

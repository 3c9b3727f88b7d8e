// Autocast (automatic mixed precision) scopes, as PyTorch's `torch.autocast(device, dtype)`.
// libtorch keeps, per thread and per device, an "enabled" flag and a lower-precision dtype;
// while enabled, the ops on its lower-precision list (linear, matmul, mm, bmm, addmm, conv*)
// cast their floating inputs to that dtype and return it, the ops on its float32 list cast
// up, and every other op runs in its inputs' dtypes (ATen/autocast_mode.cpp). Parameters
// keep their float32 storage: the casts of leaf tensors that require grad are cached for
// the outermost scope, and the gradients flow back to the float32 leaves through the casts.
//
// Like noGrad, a scope holds for one synchronous function and restores the previous state
// even when it throws; nesting is counted, and the outermost exit clears the cast cache
// (PyTorch's autocast.__exit__ does the same), so no bfloat16 copy of a weight outlives it.
import { native } from './native.js';
import { dtypeCode, dtypeName, type DType } from './dtype.js';
import { ConfigError } from './errors.js';

export type AutocastDType = 'bfloat16' | 'float16';
export type AutocastDevice = 'cpu' | 'cuda';

export interface AutocastOptions {
  /** false runs `fn` with autocast off (PyTorch's `enabled=False`), e.g. a backward pass inside a scope. Default true. */
  enabled?: boolean;
  /** The device whose autocast state is set. Default 'cpu'. */
  device?: AutocastDevice;
}

/** The autocast state of one device on this thread. */
export interface AutocastState {
  enabled: boolean;
  dtype: DType;
}

export function autocastState(device: AutocastDevice = 'cpu'): AutocastState {
  return { enabled: native.autocastIsEnabled(device) as boolean, dtype: dtypeName(native.autocastGetDtype(device) as number) };
}

export const isAutocastEnabled = (device: AutocastDevice = 'cpu'): boolean => native.autocastIsEnabled(device) as boolean;

/**
 * Runs `fn` with autocast to `dtype` on `o.device` (default CPU), as
 * `with torch.autocast('cpu', dtype=torch.bfloat16): fn()`. Synchronous functions only:
 * the state is thread-local and is restored when `fn` returns.
 * libtorch 1.13's CPU autocast supports bfloat16 only (PyTorch warns and disables it for
 * float16); here float16 on the CPU is a ConfigError rather than a silent float32 run.
 */
export function autocast<T>(dtype: AutocastDType, fn: () => T, o: AutocastOptions = {}): T {
  const device = o.device ?? 'cpu';
  const enabled = o.enabled ?? true;
  if (device !== 'cpu' && device !== 'cuda') throw new ConfigError(`autocast: device must be 'cpu' or 'cuda', got '${String(device)}'`);
  if (dtype !== 'bfloat16' && dtype !== 'float16') throw new ConfigError(`autocast: dtype must be 'bfloat16' or 'float16', got '${String(dtype)}'`);
  if (enabled && device === 'cpu' && dtype !== 'bfloat16') throw new ConfigError(`autocast: CPU autocast supports bfloat16 only (libtorch 1.13), got ${dtype}`);
  const prev = autocastState(device);
  native.autocastSetEnabled(enabled, device);
  native.autocastSetDtype(dtypeCode(dtype, 'autocast'), device);
  native.autocastIncrementNesting();
  try {
    return fn();
  } finally {
    if ((native.autocastDecrementNesting() as number) === 0) native.autocastClearCache();
    native.autocastSetEnabled(prev.enabled, device);
    native.autocastSetDtype(dtypeCode(prev.dtype, 'autocast'), device);
  }
}

/**
 * Runs `fn` under a state read earlier by autocastState (what torch.utils.checkpoint does
 * when it recomputes a block: the same autocast state as the forward it repeats).
 */
export function withAutocastState<T>(s: AutocastState, fn: () => T, device: AutocastDevice = 'cpu'): T {
  const now = autocastState(device);
  if (now.enabled === s.enabled && (!s.enabled || now.dtype === s.dtype)) return fn();
  if (!s.enabled) return autocast('bfloat16', fn, { enabled: false, device });
  return autocast(s.dtype as AutocastDType, fn, { device });
}

/** Runs `fn` with CPU autocast off (a backward pass, a loss kept in float32), restoring the state after. */
export const noAutocast = <T>(fn: () => T): T => (isAutocastEnabled() ? autocast('bfloat16', fn, { enabled: false }) : fn());

/**
 * Drops the cached low-precision casts of weights (PyTorch's torch.clear_autocast_cache()).
 * Casts made under noGrad are cached without a graph: a recomputation with grad in the same
 * scope (activation checkpointing) must clear them first, or its weights get no gradient.
 */
export const clearAutocastCache = (): void => native.autocastClearCache();

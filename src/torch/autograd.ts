// Grad-mode scopes. libtorch's grad mode is a thread-local flag; these set it for the
// duration of a synchronous function and restore it even when the function throws.
import { native } from './native.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = native.isGradEnabled() as boolean;
  native.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs `fn` with gradient tracking off (PyTorch's `torch.no_grad()`). */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, fn);
/** Runs `fn` with gradient tracking on, even inside noGrad. */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, fn);
export const isGradEnabled = (): boolean => native.isGradEnabled();
export const setGradEnabled = (enabled: boolean): void => native.setGradEnabled(enabled);

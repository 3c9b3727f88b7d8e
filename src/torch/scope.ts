// Scope-based freeing, the main way tensors are released (as tfjs's tidy and
// TorchSharp's DisposeScope): every tensor created while a scope is open belongs to it,
// and closing the scope disposes all of them except the ones returned or kept.

export const TRACKED = Symbol('distill.tracked');
export interface Tracked {
  readonly [TRACKED]: true;
  dispose(): void;
}

const stack: Set<Tracked>[] = [];

/** Called by every new tensor: it joins the innermost open scope, if any. */
export function track(t: Tracked): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

/** Takes a tensor (or everything tracked inside a value) out of all open scopes, so no scope frees it. */
export function keep<T>(value: T): T {
  for (const t of collect(value)) for (const s of stack) s.delete(t);
  return value;
}

/**
 * Runs `fn` in a new scope and disposes every tensor it created, except those in its
 * return value (a tensor, or arrays and plain objects holding tensors), which move to
 * the enclosing scope. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tracked>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy(fn): fn must be synchronous; await outside the scope and tidy the synchronous parts');
  }
  const returned = collect(result);
  for (const t of scope) {
    if (returned.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/** Alias with PyTorch-flavoured naming. */
export const scope = tidy;

/** Number of open scopes (for tests and diagnostics). */
export const scopeDepth = () => stack.length;

function collect(value: unknown, out = new Set<Tracked>(), depth = 0): Set<Tracked> {
  if (value === null || typeof value !== 'object' || depth > 8) return out;
  if ((value as Tracked)[TRACKED]) {
    out.add(value as Tracked);
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
  return out;
}

// Scope-based freeing, the main way tensors are released (as tfjs's tidy and
// TorchSharp's DisposeScope): every tensor created while a scope is open belongs to it,
// and closing the scope disposes all of them except the ones returned or kept.
//
// Synchronous scopes (tidy) form a stack. Asynchronous scopes (tidyAsync) cannot: while
// one awaits, others run, so "the innermost open scope" depends on which async call is
// running. Each async scope is therefore carried by AsyncLocalStorage, which follows the
// call through its awaits; a tensor joins the scope of the code that created it.
import { AsyncLocalStorage } from 'node:async_hooks';

export const TRACKED = Symbol('distill.tracked');
export interface Tracked {
  readonly [TRACKED]: true;
  dispose(): void;
}

interface Scope {
  tensors: Set<Tracked>;
  /** The scope that was current when this one opened: returned tensors move there. */
  parent: Scope | undefined;
  /** For a synchronous scope: the async scope current when it opened. */
  owner: Scope | undefined;
  closed: boolean;
}

const stack: Scope[] = []; // open synchronous scopes, innermost last
const asyncScopes = new AsyncLocalStorage<Scope>();
let openAsync = 0; // async scopes not yet closed, anywhere (0: the fast, stack-only path)

/** The scope a tensor created now belongs to. */
function current(): Scope | undefined {
  const top = stack[stack.length - 1];
  if (openAsync === 0) return top;
  let a = asyncScopes.getStore();
  // A sync scope opened by this async call is innermost while it is open. Sync scopes of
  // another owner belong to the caller that started this async scope (its code before the
  // first await runs inside the caller's tidy): this async scope is innermost then.
  if (top && (top.owner === a || a === undefined)) return top;
  // A callback that outlives its scope (a timer set inside it) falls back to an open one.
  while (a && a.closed) a = a.parent;
  return a ?? top;
}

function open(): Scope {
  const parent = current();
  return { tensors: new Set(), parent, owner: openAsync ? asyncScopes.getStore() : undefined, closed: false };
}

/** Disposes a scope's tensors except `returned`, which move to the nearest open enclosing scope. */
function close(scope: Scope, returned: Set<Tracked>): void {
  scope.closed = true;
  let to = scope.parent;
  while (to && to.closed) to = to.parent;
  for (const t of scope.tensors) {
    if (returned.has(t)) to?.tensors.add(t);
    else t.dispose();
  }
  scope.tensors.clear();
}

/** Called by every new tensor: it joins the innermost open scope of the running code, if any. */
export function track(t: Tracked): void {
  current()?.tensors.add(t);
}

/** Takes a tensor (or everything tracked inside a value) out of all open scopes, so no scope frees it. */
export function keep<T>(value: T): T {
  const kept = collect(value);
  for (let s = current(); s; s = s.parent) for (const t of kept) s.tensors.delete(t);
  return value;
}

/**
 * Runs `fn` in a new scope and disposes every tensor it created, except those in its
 * return value (a tensor, or arrays and plain objects holding tensors), which move to
 * the enclosing scope. `fn` must be synchronous; use tidyAsync for async functions.
 */
export function tidy<T>(fn: () => T): T {
  const scope = open();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    close(scope, new Set());
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    close(scope, new Set());
    throw new TypeError('tidy(fn): fn must be synchronous; use tidyAsync(fn) for an async function');
  }
  close(scope, collect(result));
  return result;
}

/**
 * tidy for async functions: every tensor created by `fn` — before and after its awaits,
 * and in the async calls it awaits — is disposed when its promise settles, except those in
 * its resolved value, which move to the enclosing scope. Concurrent calls each keep
 * their own tensors: a tensor belongs to the scope of the call that created it.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = open();
  openAsync++;
  let result: T;
  try {
    result = await asyncScopes.run(scope, fn);
  } catch (e) {
    close(scope, new Set());
    throw e;
  } finally {
    openAsync--;
  }
  close(scope, collect(result));
  return result;
}

/** Aliases with PyTorch-flavoured naming. */
export const scope = tidy;
export const scopeAsync = tidyAsync;

/** Number of open scopes around the running code (for tests and diagnostics). */
export function scopeDepth(): number {
  let n = 0;
  for (let s = current(); s; s = s.parent) if (!s.closed) n++;
  return n;
}

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

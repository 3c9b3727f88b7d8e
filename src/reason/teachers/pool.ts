// One teacher over several endpoints serving the same model (vLLM, Ollama, llama.cpp, `serve`
// instances): requests are spread by weight, a failing endpoint is taken out of rotation and
// tried again later, and a request that hit a dead endpoint is sent to a live one.
//
// Balancing is smooth weighted round-robin (nginx's algorithm): each pick adds every live
// endpoint's weight to its score, takes the highest score and subtracts the total. Over any
// window of Σweights picks each endpoint gets exactly its weight, interleaved (2,1,1 → a b a c),
// so the weights are honoured as stated and no endpoint gets a burst. Least-in-flight was the
// alternative; it follows speed, not the weights, and each HttpTeacher already caps what one
// endpoint holds at once (its concurrency), so a slow endpoint queues inside its own client.
//
// Health is a circuit breaker per endpoint:
//   up ──retryable failure──▶ down (cool-down base·2^k, capped) ──cool-down over──▶ half-open
//   half-open: exactly one real request (the probe) goes through; success → up, failure → down
//   with the next, doubled cool-down. Failures of requests that were already in flight when the
//   endpoint went down are counted but do not escalate the cool-down (one outage, one step).
// Non-retryable errors (400, 401, 404, a body over the size limit, a local ConfigError) are the
// request's or the configuration's fault: they fail the request at once and leave health alone.
// When no endpoint is usable the request waits for the earliest cool-down (or a probe's result)
// and tries again, until its deadline; then one error lists every endpoint's last error.
import { ConfigError } from '../../torch/errors.js';
import type { ChatRequest, Completion, ReasoningTeacher } from '../types.js';
import { HttpTeacher, type HttpTeacherOptions } from './http.js';
import type { TokenScore, TokenScorer } from './scorer.js';
import { TeacherError, abortError } from './retry.js';

export interface PoolEndpoint {
  teacher: ReasoningTeacher;
  /** Share of requests (default 1); a positive number. */
  weight?: number;
  /** How the endpoint is named in stats and errors; defaults to its baseURL (HttpTeacher) or name. Never holds a key. */
  label?: string;
}

export interface TeacherPoolOptions {
  endpoints: PoolEndpoint[];
  /** The pool's name, part of every trace id; defaults to the endpoints' common name (required when they differ). */
  name?: string;
  /** First cool-down after a failure (default 1 s); doubles per failed probe. */
  cooldownMs?: number;
  /** Longest cool-down (default 60 s). */
  maxCooldownMs?: number;
  /** Bound on one request across all its failovers and waits (default 15 min). */
  deadlineMs?: number;
  /** One line per state change (never contains a key). */
  log?: (line: string) => void;
}

export type EndpointState = 'up' | 'down' | 'half-open';

export interface EndpointStats {
  label: string;
  weight: number;
  state: EndpointState;
  /** Requests sent to this endpoint (each may be several HTTP attempts inside its client). */
  requests: number;
  completions: number;
  failures: number;
  inFlight: number;
  /** Failed probes in a row; the cool-down is base·2^(this − 1). */
  consecutiveFailures: number;
  /** Epoch ms when a down endpoint may be probed again. */
  downUntil?: number;
  lastError?: string;
}

export interface PoolStats {
  endpoints: EndpointStats[];
  /** Requests sent again to another endpoint after a retryable failure. */
  failovers: number;
  /** Times a request waited because no endpoint was usable. */
  waits: number;
}

/** Every endpoint failed until the request's deadline; `endpoints` says how each one last failed. */
export class PoolExhaustedError extends TeacherError {
  readonly endpoints: EndpointStats[];
  constructor(message: string, endpoints: EndpointStats[]) {
    super(message, { kind: 'connection', retryable: true });
    this.endpoints = endpoints;
  }
}

interface Endpoint extends EndpointStats {
  teacher: ReasoningTeacher;
  /** Smooth weighted round-robin score. */
  current: number;
  probing: boolean;
}

export class TeacherPool implements ReasoningTeacher, TokenScorer {
  readonly name: string;
  readonly #eps: Endpoint[];
  readonly #o: Required<Pick<TeacherPoolOptions, 'cooldownMs' | 'maxCooldownMs' | 'deadlineMs'>> & TeacherPoolOptions;
  #failovers = 0;
  #waits = 0;
  /** Wakes requests waiting for an endpoint when any endpoint's state changes. */
  #wake: (() => void)[] = [];

  constructor(o: TeacherPoolOptions) {
    if (!o.endpoints.length) throw new ConfigError('a teacher pool needs at least one endpoint');
    const names = [...new Set(o.endpoints.map((e) => e.teacher.name))];
    if (!o.name && names.length > 1)
      throw new ConfigError(`the pool's endpoints serve different model names (${names.join(', ')}); give the pool a name (it is part of every trace id)`);
    this.name = o.name ?? names[0];
    this.#o = { cooldownMs: 1000, maxCooldownMs: 60_000, deadlineMs: 15 * 60_000, ...o };
    this.#eps = o.endpoints.map((e, i) => {
      const weight = e.weight ?? 1;
      if (!(weight > 0 && Number.isFinite(weight))) throw new ConfigError(`endpoint ${i + 1}: weight must be a positive number, got ${weight}`);
      const desc = (e.teacher as { describe?: () => { baseURL?: string } }).describe?.();
      return {
        teacher: e.teacher, weight, label: e.label ?? desc?.baseURL ?? e.teacher.name, state: 'up', requests: 0, completions: 0,
        failures: 0, inFlight: 0, consecutiveFailures: 0, current: 0, probing: false,
      };
    });
  }

  /**
   * HttpTeachers over `endpoints`, sharing `common` options. Each retries once (maxRetries 1) and
   * obeys a Retry-After of at most 2 s itself, so a failing endpoint hands its request to another
   * quickly; a longer Retry-After becomes that endpoint's cool-down instead. The first endpoint's
   * model names the pool (and so the traces) unless `pool.name` says otherwise.
   */
  static http(
    endpoints: { baseURL: string; model: string; weight?: number }[],
    common: Omit<HttpTeacherOptions, 'baseURL' | 'model'> = {},
    pool: Omit<TeacherPoolOptions, 'endpoints'> = {},
  ): TeacherPool {
    const name = pool.name ?? common.name ?? endpoints[0]?.model;
    return new TeacherPool({
      ...pool, name,
      endpoints: endpoints.map((e) => ({ teacher: new HttpTeacher({
        maxRetries: 1, ...common, backoff: { maxRetryAfterMs: 2000, ...common.backoff }, baseURL: e.baseURL, model: e.model,
      }), weight: e.weight })),
    });
  }

  /** The endpoints' teachers, in the order given. */
  get teachers(): ReasoningTeacher[] {
    return this.#eps.map((e) => e.teacher);
  }

  stats(): PoolStats {
    return { endpoints: this.#eps.map((e) => publicStats(e)), failovers: this.#failovers, waits: this.#waits };
  }

  describe(): { type: 'pool'; name: string; endpoints: { weight: number; teacher: unknown }[] } {
    return {
      type: 'pool', name: this.name,
      endpoints: this.#eps.map((e) => ({ weight: e.weight, teacher: (e.teacher as { describe?: () => unknown }).describe?.() ?? { name: e.teacher.name } })),
    };
  }

  toJSON(): ReturnType<TeacherPool['describe']> {
    return this.describe();
  }

  /**
   * Disposes every endpoint's teacher (the pool owns them) and resolves once all of them are
   * done: a GGUF teacher's model is freed by then. Every member is disposed even when one fails;
   * the failures are rethrown afterwards (one as itself, several as an AggregateError), so no
   * disposal is left running or its error unobserved. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const results = await Promise.allSettled(this.#eps.map((e) => disposeTeacher(e.teacher)));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, `teacher pool ${this.name}: ${errors.length} endpoints failed to close`);
    })();
    return this.#closing;
  }
  #closing?: Promise<void>;

  /** `await using pool = …`: the same as close(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  complete(req: ChatRequest, signal?: AbortSignal): Promise<Completion> {
    return this.#route((t) => t.complete(req, signal), signal);
  }

  /**
   * Grades given tokens (TokenScorer) on one endpoint, with the same balancing and failover as
   * complete(); every endpoint must be a scorer (an HttpTeacher, a LocalTeacher).
   */
  scoreTokens(prompts: number[][], k: number, signal?: AbortSignal): Promise<TokenScore[]> {
    return this.#route((t) => {
      if (typeof (t as Partial<TokenScorer>).scoreTokens !== 'function') throw new ConfigError(`teacher ${t.name} cannot grade given tokens (no scoreTokens)`);
      return (t as unknown as TokenScorer).scoreTokens(prompts, k, signal);
    }, signal);
  }

  /** Runs `call` on a picked endpoint until one answers, failing over and waiting out cool-downs (see the file comment). */
  async #route<T>(call: (t: ReasoningTeacher) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const deadline = Date.now() + this.#o.deadlineMs;
    let failed = false;
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const ep = this.#pick();
      if (!ep) {
        if (Date.now() >= deadline) throw this.#exhausted();
        this.#waits++;
        await this.#waitForChange(deadline, signal);
        continue;
      }
      if (failed) this.#failovers++;
      const probe = ep.state === 'half-open';
      if (probe) ep.probing = true;
      ep.requests++;
      ep.inFlight++;
      try {
        const c = await call(ep.teacher);
        ep.completions++;
        if (probe) this.#set(ep, 'up', 'answered its probe; back in rotation');
        if (ep.state === 'up') ep.consecutiveFailures = 0;
        return c;
      } catch (e) {
        // Cancelled by the caller: not the endpoint's failure.
        if (signal?.aborted) throw e instanceof TeacherError && e.kind === 'aborted' ? e : abortError(signal);
        ep.failures++;
        ep.lastError = (e as Error).message;
        const retryable = e instanceof TeacherError && e.retryable;
        if (!retryable) {
          if (probe) this.#set(ep, 'half-open', 'probe ended with a non-retryable error'); // let another request probe
          throw e;
        }
        // Only a failure seen while up, or a failed probe, moves the breaker; stragglers of an outage do not.
        if (ep.state === 'up' || probe) this.#down(ep, (e as TeacherError).retryAfterMs);
        failed = true;
        if (Date.now() >= deadline) throw this.#exhausted();
      } finally {
        ep.inFlight--;
        if (probe) ep.probing = false;
      }
    }
  }

  /** Smooth weighted round-robin over usable endpoints; a half-open one is taken for its probe first. */
  #pick(): Endpoint | undefined {
    const now = Date.now();
    for (const e of this.#eps)
      if (e.state === 'down' && (e.downUntil ?? 0) <= now) this.#set(e, 'half-open', 'cool-down over; the next request probes it');
    const probe = this.#eps.find((e) => e.state === 'half-open' && !e.probing);
    if (probe) return probe;
    const live = this.#eps.filter((e) => e.state === 'up');
    if (!live.length) return undefined;
    let total = 0;
    let best = live[0];
    for (const e of live) {
      e.current += e.weight;
      total += e.weight;
      if (e.current > best.current) best = e;
    }
    best.current -= total;
    return best;
  }

  /** Out of rotation for base·2^k, or the server's Retry-After when longer; both capped. */
  #down(ep: Endpoint, retryAfterMs = 0): void {
    ep.consecutiveFailures++;
    const ms = Math.min(this.#o.maxCooldownMs, Math.max(retryAfterMs, this.#o.cooldownMs * 2 ** (ep.consecutiveFailures - 1)));
    ep.downUntil = Date.now() + ms;
    ep.current = 0;
    this.#set(ep, 'down', `out of rotation for ${(ms / 1000).toFixed(1)} s after: ${ep.lastError}`);
  }

  #set(ep: Endpoint, state: EndpointState, why: string): void {
    if (state !== 'down') ep.downUntil = state === 'up' ? undefined : ep.downUntil;
    const changed = ep.state !== state;
    ep.state = state;
    if (changed) this.#o.log?.(`teacher pool ${this.name}: ${ep.label} ${state}: ${why}`);
    for (const w of this.#wake.splice(0)) w();
  }

  /** Sleeps until the earliest cool-down ends, any state changes, the deadline, or an abort. */
  #waitForChange(deadline: number, signal?: AbortSignal): Promise<void> {
    const downs = this.#eps.filter((e) => e.state === 'down').map((e) => e.downUntil ?? 0);
    const until = Math.min(deadline, ...(downs.length ? downs : [deadline]));
    return new Promise<void>((ok, fail) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        const i = this.#wake.indexOf(done);
        if (i >= 0) this.#wake.splice(i, 1);
        ok();
      };
      const onAbort = () => {
        done();
        fail(abortError(signal));
      };
      const t = setTimeout(done, Math.max(0, until - Date.now()));
      this.#wake.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #exhausted(): PoolExhaustedError {
    const eps = this.#eps.map((e) => publicStats(e));
    const lines = eps.map((e) => `  ${e.label} (${e.state}, ${e.failures} failures): ${e.lastError ?? 'no error recorded'}`);
    return new PoolExhaustedError(
      `no endpoint of teacher pool ${this.name} answered within ${(this.#o.deadlineMs / 1000).toFixed(1)} s; last error per endpoint:\n${lines.join('\n')}`, eps);
  }
}

/**
 * Ends a teacher by the common lifecycle: `[Symbol.asyncDispose]` (HTTP, GGUF, local, a pool),
 * else `[Symbol.dispose]`, else a `close()` (awaited whether or not it returns a promise).
 * A teacher with none of them holds nothing to free.
 */
export async function disposeTeacher(t: ReasoningTeacher): Promise<void> {
  const d = t as Partial<AsyncDisposable & Disposable> & { close?: () => unknown };
  if (typeof d[Symbol.asyncDispose] === 'function') await d[Symbol.asyncDispose]!();
  else if (typeof d[Symbol.dispose] === 'function') d[Symbol.dispose]!();
  else if (typeof d.close === 'function') await d.close();
}

function publicStats(e: Endpoint): EndpointStats {
  const s: EndpointStats = {
    label: e.label, weight: e.weight, state: e.state, requests: e.requests, completions: e.completions, failures: e.failures,
    inFlight: e.inFlight, consecutiveFailures: e.consecutiveFailures,
  };
  if (e.downUntil !== undefined) s.downUntil = e.downUntil;
  if (e.lastError !== undefined) s.lastError = e.lastError;
  return s;
}

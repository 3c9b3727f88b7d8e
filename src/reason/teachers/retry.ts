// When and how long to retry a teacher request, and the one error type a teacher throws.
//
// Retryable: connection failures (refused, reset, "socket hang up", DNS hiccups), our own
// timeout, a body that is not the JSON we expect ('bad-response'), and the statuses a server
// uses for "try again": 408, 409 (OpenAI: lock conflict), 429 and every 5xx. Any other 4xx is
// the caller's fault (bad model name, bad key, bad parameter) and repeating it only costs money.
//
// Backoff is exponential with "full jitter" (sleep = random(0, min(cap, base·2^attempt)),
// Brooks/AWS Architecture Blog 2015): many clients retrying a rate-limited endpoint spread out
// instead of coming back in lock-step. A server's Retry-After wins over our own guess.
import { DistillError } from '../../torch/errors.js';

export type TeacherErrorKind = 'http' | 'connection' | 'timeout' | 'bad-response' | 'aborted';

export interface TeacherErrorInit {
  kind: TeacherErrorKind;
  status?: number;
  retryable: boolean;
  retryAfterMs?: number;
  /** The node error code (ECONNREFUSED, …) for connection failures. */
  cause?: string;
}

/** Every failure of a remote teacher. `code` is 'ERR_TEACHER' (or 'ABORT_ERR' for an abort). */
export class TeacherError extends DistillError {
  readonly kind: TeacherErrorKind;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly errno?: string;
  /** Attempts made before giving up (set when the error leaves the teacher). */
  attempts = 1;
  constructor(message: string, init: TeacherErrorInit) {
    super(init.kind === 'aborted' ? 'ABORT_ERR' : 'ERR_TEACHER', message);
    this.kind = init.kind;
    this.status = init.status;
    this.retryable = init.retryable;
    this.retryAfterMs = init.retryAfterMs;
    this.errno = init.cause;
  }
}

export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500;

// Errors node:http raises when the peer or the network fails; all of them are worth another try.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Wraps a node network error; `where` is the endpoint (never a URL with credentials in it). */
export function connectionError(e: unknown, where: string): TeacherError {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  // ENOTFOUND can be a typo, but it is also what a flaky resolver says; retries are cheap here.
  const retryable = CONNECTION_CODES.has(code) || /socket hang up|aborted|closed/i.test(err?.message ?? '');
  return new TeacherError(`connection to ${where} failed: ${code ? `${code} ` : ''}${err?.message ?? String(e)}`, {
    kind: 'connection', retryable, cause: code || undefined,
  });
}

/**
 * Retry-After in ms from response headers: `retry-after-ms` (OpenAI), else `Retry-After` as
 * delay-seconds or an HTTP date (RFC 9110 §10.2.3). Undefined when absent or unparseable.
 */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.trim();
  const ms = one(headers['retry-after-ms']);
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const ra = one(headers['retry-after']);
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.ceil(Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface BackoffOptions {
  /** First retry's ceiling (default 1000 ms); doubles each attempt. */
  baseMs?: number;
  /** Ceiling for our own backoff (default 60 s). */
  maxMs?: number;
  /** Longest Retry-After we obey (default 10 min); a longer one is clipped to this. */
  maxRetryAfterMs?: number;
}

/** Delay before retry number `attempt` (0 = first retry). */
export function backoffMs(attempt: number, err: TeacherError, o: BackoffOptions = {}, random = Math.random): number {
  if (err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, o.maxRetryAfterMs ?? 600_000);
  const cap = Math.min(o.maxMs ?? 60_000, (o.baseMs ?? 1000) * 2 ** attempt);
  return Math.floor(random() * cap);
}

export function abortError(signal?: AbortSignal): TeacherError {
  const why = signal?.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new TeacherError(`request aborted${why}`, { kind: 'aborted', retryable: false });
}

/** Resolves after `ms`, or rejects at once with an abort error when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      fail(abortError(signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Replaces every occurrence of `secret` in `text` (a server may echo the key back in its error). */
export function redact(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('***') : text;
}

// A teacher behind any OpenAI-compatible chat-completions endpoint: DeepSeek, OpenAI, vLLM,
// llama.cpp's server, Ollama, or the project's own `serve`.
//
// Why node:http rather than fetch: a reasoning model can think for many minutes before the
// first byte of a non-streaming answer, and undici (fetch) gives up on headers after 300 s by
// default. Here one timer bounds the whole attempt (timeoutMs, 10 min by default) and nothing else.
//
// The API key is read from the environment (apiKeyEnv) at each request and held nowhere:
// not on the object (so inspect/JSON.stringify cannot show it), not in `describe()` (what
// configs save), and every error or log text a server could have echoed it into is redacted.
import http from 'node:http';
import https from 'node:https';
import type { ChatRequest, Completion, ReasoningTeacher } from '../types.js';
import type { TokenScore, TokenScorer } from './scorer.js';
import { parseScoreBody, scoreRequestBody, SCORE_FEATURE } from './score_parse.js';
import { ConfigError } from '../../torch/errors.js';
import { TokenBucket, Semaphore } from './rate_limit.js';
import {
  TeacherError, abortError, backoffMs, connectionError, isRetryableStatus, parseRetryAfter, redact, sleep,
  type BackoffOptions,
} from './retry.js';
import { parseChatBody, requestBody, serverMessage } from './chat_parse.js';

export interface HttpTeacherOptions {
  /** The API root, e.g. `https://api.deepseek.com/v1` or `http://127.0.0.1:8000/v1`; `/chat/completions` is appended. */
  baseURL: string;
  model: string;
  /** Environment variable holding the key (default OPENAI_API_KEY). Unset: no Authorization header (local servers). */
  apiKeyEnv?: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  requestsPerMinute?: number;
  /** Token budget per minute; a request reserves (prompt estimate + maxTokens) until its usage is known. */
  tokensPerMinute?: number;
  /** Bound on one whole attempt, connect to last byte (default 10 min: reasoning models are slow). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  backoff?: BackoffOptions;
  /** USD per million tokens, for the running cost. */
  prices?: { inputPerMTok: number; outputPerMTok: number };
  /** Defaults to the model name; it is part of every trace id, so keep it stable across runs. */
  name?: string;
  /** Receives one line per retry (never contains the key). */
  log?: (line: string) => void;
  /** Largest response body accepted (default 64 MiB). */
  maxResponseBytes?: number;
  /** Completion budget assumed for the token bucket when a request sets no maxTokens (default 4096). */
  defaultMaxTokens?: number;
  /** Prompts per scoring request (scoreTokens; default 8). */
  scoreBatch?: number;
  /** `max_tokens` of a scoring request (default 0; 1 for a server that refuses 0: the extra token is ignored). */
  scoreMaxTokens?: number;
}

export interface TeacherStats {
  /** HTTP attempts sent, retries included. */
  requests: number;
  retries: number;
  completions: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  inFlight: number;
}

/** What may be saved in a run's config: everything but secrets (the key's variable name only). */
export interface HttpTeacherDescription {
  type: 'http';
  baseURL: string;
  model: string;
  apiKeyEnv: string;
  concurrency: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  timeoutMs: number;
  maxRetries: number;
}

export class HttpTeacher implements ReasoningTeacher, TokenScorer {
  readonly name: string;
  readonly model: string;
  readonly #o: Required<Pick<HttpTeacherOptions, 'apiKeyEnv' | 'timeoutMs' | 'maxRetries' | 'maxResponseBytes' | 'defaultMaxTokens'>> & HttpTeacherOptions;
  readonly #url: URL;
  /** `/completions` beside `/chat/completions`: where given tokens are graded (scoreTokens). */
  readonly #scoreUrl: URL;
  readonly #agent: http.Agent;
  readonly #slots: Semaphore;
  readonly #rpm?: TokenBucket;
  readonly #tpm?: TokenBucket;
  readonly #stats: Omit<TeacherStats, 'inFlight'> = { requests: 0, retries: 0, completions: 0, failures: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };

  constructor(o: HttpTeacherOptions) {
    let base: URL;
    try {
      base = new URL(o.baseURL);
    } catch {
      throw new ConfigError(`teacher baseURL is not a URL: ${JSON.stringify(o.baseURL)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ConfigError(`teacher baseURL must be http(s), got ${base.protocol}`);
    if (!o.model) throw new ConfigError('teacher model is required');
    this.#url = new URL(base.pathname.replace(/\/+$/, '') + '/chat/completions', base);
    this.#scoreUrl = new URL(base.pathname.replace(/\/+$/, '') + '/completions', base);
    this.#o = { apiKeyEnv: 'OPENAI_API_KEY', timeoutMs: 600_000, maxRetries: 5, maxResponseBytes: 64 << 20, defaultMaxTokens: 4096, ...o };
    this.model = o.model;
    this.name = o.name ?? o.model;
    const concurrency = o.concurrency ?? 4;
    this.#slots = new Semaphore(concurrency);
    const Agent = base.protocol === 'https:' ? https.Agent : http.Agent;
    this.#agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    if (o.requestsPerMinute) this.#rpm = new TokenBucket(o.requestsPerMinute);
    if (o.tokensPerMinute) this.#tpm = new TokenBucket(o.tokensPerMinute);
  }

  stats(): TeacherStats {
    return { ...this.#stats, inFlight: this.#slots.inFlight };
  }

  describe(): HttpTeacherDescription {
    const o = this.#o;
    return {
      type: 'http', baseURL: `${this.#url.origin}${this.#url.pathname.replace(/\/chat\/completions$/, '')}`, model: this.model,
      apiKeyEnv: o.apiKeyEnv, concurrency: this.#slots.limit, requestsPerMinute: o.requestsPerMinute,
      tokensPerMinute: o.tokensPerMinute, timeoutMs: o.timeoutMs, maxRetries: o.maxRetries,
    };
  }

  toJSON(): HttpTeacherDescription {
    return this.describe();
  }

  /** Closes idle keep-alive sockets (a process otherwise exits on its own: idle sockets are unref'd). */
  close(): void {
    this.#agent.destroy();
  }

  /** The teachers' common lifecycle (`await using`, TeacherPool): the same as close(). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  async complete(req: ChatRequest, signal?: AbortSignal): Promise<Completion> {
    const body = JSON.stringify(requestBody(this.model, req));
    const c = await this.#send(this.#url, body, this.#estimate(req), (text) => parseChatBody(text, this.model), (c) => c.usage, signal);
    this.#stats.completions++;
    return c;
  }

  /**
   * Grades given tokens (TokenScorer) through the server's `/v1/completions`: batches of
   * `scoreBatch` prompts, each request retried and rate-limited like a chat request. A server
   * without prompt log-probabilities fails with one non-retryable error naming the feature.
   */
  async scoreTokens(prompts: number[][], k: number, signal?: AbortSignal): Promise<TokenScore[]> {
    if (!Number.isInteger(k) || k < 0) throw new ConfigError(`scoreTokens: k must be an integer ≥ 0, got ${k}`);
    prompts.forEach((p, i) => {
      if (!Array.isArray(p) || p.length === 0 || !p.every((id) => Number.isInteger(id) && id >= 0)) throw new ConfigError(`scoreTokens: prompt ${i} must be a non-empty array of token ids`);
    });
    const size = this.#o.scoreBatch ?? 8;
    const where = `${this.#scoreUrl.origin}${this.#scoreUrl.pathname}`;
    const batches: Promise<TokenScore[]>[] = [];
    for (let s = 0; s < prompts.length; s += size) {
      const part = prompts.slice(s, s + size);
      const body = JSON.stringify(scoreRequestBody(this.model, part, k, this.#o.scoreMaxTokens ?? 0));
      const tokens = part.reduce((n, p) => n + p.length, 0);
      batches.push(this.#send(this.#scoreUrl, body, tokens, (text) => parseScoreBody(text, part, k, where), () => ({ promptTokens: tokens, completionTokens: 0 }), signal));
    }
    return (await Promise.all(batches)).flat();
  }

  /** One request with retries: a slot, the rate limits, attempts with backoff; `usage` settles the token bucket. */
  async #send<T>(url: URL, body: string, estimate: number, parse: (text: string) => T, usage: (v: T) => { promptTokens: number; completionTokens: number }, signal?: AbortSignal): Promise<T> {
    const release = await this.#slots.acquire(signal);
    try {
      for (let attempt = 0; ; attempt++) {
        await this.#rpm?.take(1, signal);
        await this.#tpm?.take(estimate, signal);
        this.#stats.requests++;
        try {
          const v = await this.#attempt(url, body, parse, signal);
          this.#account(usage(v), estimate);
          return v;
        } catch (e) {
          // Providers do not bill a refused or failed request: give its token reservation back.
          this.#tpm?.settle(estimate);
          const err = e instanceof TeacherError ? e : connectionError(e, `${url.origin}${url.pathname}`);
          if (!err.retryable || attempt >= this.#o.maxRetries) {
            err.attempts = attempt + 1;
            if (err.retryable) err.message += ` (gave up after ${attempt + 1} attempts)`;
            this.#stats.failures++;
            throw err;
          }
          const wait = backoffMs(attempt, err, this.#o.backoff);
          this.#stats.retries++;
          this.#o.log?.(`teacher ${this.name}: ${err.message}; retry ${attempt + 1}/${this.#o.maxRetries} in ${(wait / 1000).toFixed(1)} s`);
          await sleep(wait, signal);
        }
      }
    } finally {
      release();
    }
  }

  /** Prompt tokens ≈ UTF-8 bytes / 3 (about right for Chinese, generous for English) plus the completion budget. */
  #estimate(req: ChatRequest): number {
    const bytes = req.messages.reduce((n, m) => n + Buffer.byteLength(m.content) + 16, 0);
    return Math.ceil(bytes / 3) + (req.maxTokens ?? this.#o.defaultMaxTokens);
  }

  #account(u: { promptTokens: number; completionTokens: number }, estimate: number): void {
    const s = this.#stats;
    s.promptTokens += u.promptTokens;
    s.completionTokens += u.completionTokens;
    const used = u.promptTokens + u.completionTokens;
    if (used > 0) this.#tpm?.settle(estimate - used);
    const p = this.#o.prices;
    if (p) s.costUsd += (u.promptTokens * p.inputPerMTok + u.completionTokens * p.outputPerMTok) / 1e6;
  }

  /** One HTTP attempt; every failure comes out as a TeacherError with redacted text. */
  #attempt<T>(url: URL, body: string, parse: (text: string) => T, signal?: AbortSignal): Promise<T> {
    const where = `${url.origin}${url.pathname}`;
    const key = process.env[this.#o.apiKeyEnv]?.trim() || undefined;
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body),
    };
    if (key) headers.Authorization = `Bearer ${key}`;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      let settled = false;
      const finish = (err: TeacherError | null, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          req.destroy();
          const clean = redact(err.message, key);
          if (clean !== err.message) err.message = clean;
          reject(err);
        } else resolve(value!);
      };
      const timer = setTimeout(() => finish(new TeacherError(`no complete answer from ${where} within ${this.#o.timeoutMs} ms`, { kind: 'timeout', retryable: true })), this.#o.timeoutMs);
      const onAbort = () => finish(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });

      const req = lib.request(url, { method: 'POST', headers, agent: this.#agent });
      req.on('error', (e) => finish(connectionError(e, where)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > this.#o.maxResponseBytes) finish(new TeacherError(`bad response: body over ${this.#o.maxResponseBytes} bytes from ${where}`, { kind: 'bad-response', retryable: false }));
          else chunks.push(d);
        });
        res.on('error', (e) => finish(connectionError(e, where)));
        res.on('close', () => {
          if (!res.complete) finish(connectionError(Object.assign(new Error('connection closed mid-response'), { code: 'ECONNRESET' }), where));
        });
        res.on('end', () => {
          const text = redact(Buffer.concat(chunks).toString('utf8'), key);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            try {
              finish(null, parse(text));
            } catch (e) {
              finish(e as TeacherError);
            }
            return;
          }
          finish(this.#statusError(where, url === this.#scoreUrl, status, res.statusMessage ?? '', text, res.headers, key));
        });
      });
      req.end(body);
    });
  }

  #statusError(where: string, scoring: boolean, status: number, statusText: string, text: string, headers: http.IncomingHttpHeaders, key: string | undefined): TeacherError {
    let msg = `${where} answered ${status}${statusText ? ` ${statusText}` : ''}: ${serverMessage(text)}`;
    if (status === 401 || status === 403) msg += ` (API key from $${this.#o.apiKeyEnv}${key ? '' : ', which is not set'})`;
    if (status === 404) msg += ` (model ${JSON.stringify(this.model)})`;
    // A refused scoring request is most often a server without the feature: say which one.
    if (scoring && [400, 404, 405, 422, 501].includes(status))
      msg += `; a scoring teacher needs ${SCORE_FEATURE}${this.#o.scoreMaxTokens ? '' : ' (a server that refuses max_tokens 0 may take scoreMaxTokens: 1)'}`;
    return new TeacherError(msg, { kind: 'http', status, retryable: isRetryableStatus(status), retryAfterMs: parseRetryAfter(headers) });
  }
}

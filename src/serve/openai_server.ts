// An OpenAI-compatible chat server over ChatBackends (node:http, no framework):
//   GET  /v1/models, /v1/models/:id
//   POST /v1/chat/completions     non-streaming, or `stream: true` as SSE `data: {chunk}` … `data: [DONE]`
//   POST /v1/completions          the legacy route (completions_wire.ts): raw prompts or token ids, and the
//                                 prompt's own log-probabilities (`echo` + `logprobs`, vLLM's `prompt_logprobs`)
//                                 so that a client can grade given tokens; backends with `tokens` only
// with `reasoning_content` in message and delta (DeepSeek's field), logprobs/top_logprobs and usage.
// The official `openai` npm client works against it unchanged (tested).
//
// Reliability rules: the shared HTTP layer (io/http.ts) binds 127.0.0.1 unless told otherwise
// and then refuses a foreign Host header (DNS rebinding), checks the optional Bearer key (401),
// limits the body (413) and turns malformed JSON into a 400; fields are validated here (400
// naming the field), an unknown model or route is a 404, and a prompt longer than the model's
// context a 400 `context_length_exceeded` (as OpenAI answers; clients do not retry it).
// Requests for one backend run one at a time through a queue: the model is single-threaded.
// A client that goes away (closed socket) aborts its request, queued or running.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChatBackend, ChatDelta } from './chat_backend.js';
import { SerialQueue } from './chat_backend.js';
import { readJson, sendJson, startHttpServer } from '../io/http.js';
import {
  WireError, parseChatBody, newId, completionObject, chunkObject, deltaObject, wireUsage, errorObject, type ParsedChat,
} from './openai_wire.js';
import { StreamedText } from './streamed_text.js';
import { parseCompletionBody, newCompletionId, textCompletionObject, type ChoiceParts } from './completions_wire.js';

export interface OpenAIServerOptions {
  backends: ChatBackend | ChatBackend[];
  /** Interface to bind; 127.0.0.1 by default. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Largest request body (default 4 MiB). */
  maxBodyBytes?: number;
  /** Requests allowed to wait per backend while it is busy; more get 429 with Retry-After (default 64), which clients retry. 0: none wait. */
  maxQueue?: number;
  /** SSE comment interval while a streamed request waits or thinks, so proxies keep the connection (default 15 s). */
  heartbeatMs?: number;
  /** One line per failed request (never contains the key: the server does not log headers). */
  log?: (line: string) => void;
}

export interface OpenAIServerStats {
  /** Every HTTP request received, refused ones included. */
  requests: number;
  /** Completions (chat and legacy) that ran to the end. */
  completions: number;
  /** Completion requests open now (queued, running or still being read), and the most at any moment. */
  inFlight: number;
  peakInFlight: number;
  queued: number;
  running: number;
}

export interface OpenAIServerHandle {
  /** The API root clients take as baseURL, e.g. `http://127.0.0.1:41234/v1`. */
  baseURL: string;
  port: number;
  stats(): OpenAIServerStats;
  close(): Promise<void>;
}

/** Default body limit: a long multi-turn chat fits many times over. */
export const DEFAULT_MAX_BODY_BYTES = 4 << 20;
/** Default requests allowed to wait per backend. */
export const DEFAULT_MAX_QUEUE = 64;

/**
 * A backend error the client caused: a ConfigError (code ERR_CONFIG, src/torch/errors.ts) is
 * bad input, e.g. a prompt over a model's context that the backend itself found. It is a 400,
 * not a 500, so a client does not retry what can never succeed.
 */
function clientFault(e: unknown): WireError | null {
  if (e instanceof WireError) return e;
  if ((e as { code?: unknown } | null)?.code === 'ERR_CONFIG') return new WireError(400, (e as Error).message);
  return null;
}

export async function startOpenAIServer(o: OpenAIServerOptions): Promise<OpenAIServerHandle> {
  const backends = new Map<string, { backend: ChatBackend; queue: SerialQueue }>();
  for (const b of Array.isArray(o.backends) ? o.backends : [o.backends]) {
    if (backends.has(b.id)) throw new Error(`two backends share the model id ${JSON.stringify(b.id)}`);
    backends.set(b.id, { backend: b, queue: new SerialQueue(b.maxConcurrency ?? 1) });
  }
  const limit = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxQueue = o.maxQueue ?? DEFAULT_MAX_QUEUE;
  if (!(Number.isInteger(limit) && limit > 0)) throw new Error(`maxBodyBytes must be a positive integer, got ${limit}`);
  if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new Error(`maxQueue must be an integer ≥ 0, got ${maxQueue}`);
  const created = Math.floor(Date.now() / 1000);
  const live = new Set<() => void>(); // aborts for running requests, fired on close()
  const stats = { requests: 0, completions: 0, inFlight: 0, peakInFlight: 0 };
  const modelObject = (id: string) => ({ id, object: 'model', created, owned_by: 'distill' });

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const p = parseChatBody(await readJson(req, limit));
    const entry = backends.get(p.model);
    if (!entry) throw new WireError(404, `The model ${JSON.stringify(p.model)} does not exist`, 'model', 'invalid_request_error', 'model_not_found');
    const { backend, queue } = entry;
    // OpenAI's check and wording; before queueing, so a streamed request gets the 400 too.
    if (backend.contextLength !== undefined && backend.countPromptTokens) {
      const n = backend.countPromptTokens(p.req);
      if (n >= backend.contextLength)
        throw new WireError(400, `This model's maximum context length is ${backend.contextLength} tokens. However, your messages resulted in ${n} tokens. Please reduce the length of the messages.`,
          'messages', 'invalid_request_error', 'context_length_exceeded');
    }
    const { signal, done } = admit(p.model, queue, res);
    try {
      if (p.stream) await streamChat(res, p, entry, signal);
      else {
        let c;
        try {
          c = await queue.run(() => backend.complete(p.req, undefined, signal), signal);
        } catch (e) {
          throw clientFault(e) ?? e;
        }
        stats.completions++;
        sendJson(res, 200, completionObject(newId(), Math.floor(Date.now() / 1000), p.model, c, p.logprobs));
      }
    } finally {
      done();
    }
  }

  /**
   * Admits a request to a model's queue (429 when its waiting line is full) and gives it an abort
   * signal, fired when the client goes away or the server closes; `done` unregisters it.
   */
  function admit(model: string, queue: SerialQueue, res: ServerResponse): { signal: AbortSignal; done: () => void } {
    if (queue.running >= queue.limit && queue.waiting >= maxQueue)
      throw new WireError(429, `model ${model} is busy: ${queue.waiting} requests waiting`, null, 'rate_limit_error', 'queue_full', { 'Retry-After': '1' });
    const ac = new AbortController();
    const abort = () => ac.abort(new Error('client went away'));
    res.on('close', () => {
      if (!res.writableFinished) abort();
    });
    live.add(abort);
    return { signal: ac.signal, done: () => live.delete(abort) };
  }

  /** `POST /v1/completions`: score the prompts when their log-probabilities are asked, then continue each. */
  async function completions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const p = parseCompletionBody(await readJson(req, limit));
    const entry = backends.get(p.model);
    if (!entry) throw new WireError(404, `The model ${JSON.stringify(p.model)} does not exist`, 'model', 'invalid_request_error', 'model_not_found');
    const { backend, queue } = entry;
    const tb = backend.tokens;
    if (!tb) throw new WireError(400, `model ${p.model} serves chat only: /v1/completions needs a model the server runs itself`, 'model', 'invalid_request_error', 'unsupported_model');
    const prompts = p.prompts.map((q) => (typeof q === 'string' ? tb.encode(q) : q));
    prompts.forEach((ids, i) => {
      const at = prompts.length > 1 ? `prompt[${i}]` : 'prompt';
      if (ids.length === 0) throw new WireError(400, `${at} is empty: there is nothing to score or continue`, 'prompt');
      const bad = ids.find((id) => id >= tb.vocabSize);
      if (bad !== undefined) throw new WireError(400, `${at} holds token id ${bad}; the vocabulary has ${tb.vocabSize} tokens`, 'prompt');
      // OpenAI's check for this route: the prompt and the completion it asks for must fit together.
      if (ids.length + p.maxTokens > tb.contextLength)
        throw new WireError(400, `This model's maximum context length is ${tb.contextLength} tokens, however you requested ${ids.length + p.maxTokens} tokens (${ids.length} in your prompt; ${p.maxTokens} for the completion). Please reduce your prompt; or completion length.`,
          'prompt', 'invalid_request_error', 'context_length_exceeded');
    });
    const k = Math.max(p.echo && p.logprobs !== null ? p.logprobs : -1, p.promptLogprobs ?? -1);
    if (k > tb.vocabSize) throw new WireError(400, `logprobs ${k} is more than the vocabulary's ${tb.vocabSize} tokens`, p.promptLogprobs === k ? 'prompt_logprobs' : 'logprobs');
    const { signal, done } = admit(p.model, queue, res);
    try {
      const parts = await queue.run(async (): Promise<ChoiceParts[]> => {
        const scores = k >= 0 ? await tb.score(prompts, k, signal) : null;
        const gen = p.maxTokens > 0
          ? await Promise.all(prompts.map((ids) => tb.continue(ids, {
            maxTokens: p.maxTokens, temperature: p.temperature, topP: p.topP, topK: p.topK, seed: p.seed, stop: p.stop,
            topLogprobs: p.logprobs ?? undefined,
          }, signal)))
          : null;
        return prompts.map((ids, i) => ({ prompt: ids, score: scores?.[i] ?? null, completion: gen?.[i] ?? null }));
      }, signal).catch((e) => {
        throw clientFault(e) ?? e;
      });
      stats.completions++;
      sendJson(res, 200, textCompletionObject(newCompletionId(), Math.floor(Date.now() / 1000), p, tb, parts));
    } finally {
      done();
    }
  }

  async function streamChat(res: ServerResponse, p: ParsedChat, entry: { backend: ChatBackend; queue: SerialQueue }, signal: AbortSignal): Promise<void> {
    const id = newId();
    const at = Math.floor(Date.now() / 1000);
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    const send = (obj: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(obj)}\n\n`);
    };
    const heartbeat = setInterval(() => !res.writableEnded && res.write(': keep-alive\n\n'), o.heartbeatMs ?? 15_000);
    let streamed = false;
    // The streamed text must add up to the non-streamed message: see streamed_text.ts.
    const text = { reasoning: new StreamedText(), content: new StreamedText() };
    const onDelta = (d: ChatDelta) => {
      streamed = true;
      const out: ChatDelta = {};
      const r = text.reasoning.push(d.reasoning ?? '');
      const c = text.content.push(d.content ?? '');
      if (r) out.reasoning = r;
      if (c) out.content = c;
      if (r || c || (p.logprobs && d.logprob))
        send(chunkObject(id, at, p.model, { delta: deltaObject(out), logprobs: p.logprobs && d.logprob ? [d.logprob] : null }));
    };
    try {
      send(chunkObject(id, at, p.model, { delta: { role: 'assistant', content: '' } }));
      const c = await entry.queue.run(() => entry.backend.complete(p.req, onDelta, signal), signal);
      stats.completions++;
      // A backend that cannot stream answered all at once: send its text as one chunk each.
      if (!streamed) {
        if (c.reasoning) send(chunkObject(id, at, p.model, { delta: { reasoning_content: c.reasoning } }));
        send(chunkObject(id, at, p.model, { delta: { content: c.content }, logprobs: p.logprobs ? c.logprobs ?? null : null }));
      } else {
        // What the final text has beyond the streamed prefix: a tail the backend or the server held back.
        const rest: Record<string, string> = {};
        const r = text.reasoning.finish(c.reasoning);
        const t = text.content.finish(c.content);
        if (r) rest.reasoning_content = r;
        if (t) rest.content = t;
        if (Object.keys(rest).length) send(chunkObject(id, at, p.model, { delta: rest }));
      }
      send(chunkObject(id, at, p.model, { delta: {}, finish: c.finishReason }));
      if (p.includeUsage) send(chunkObject(id, at, p.model, null, wireUsage(c)));
      if (!res.writableEnded) res.end('data: [DONE]\n\n');
    } catch (e) {
      // Headers are gone: the error travels as a data event (the openai client raises it), then the stream ends.
      if (!signal.aborted) {
        const fault = clientFault(e);
        if (!fault) o.log?.(`chat stream failed: ${(e as Error).message}`);
        send(errorObject((e as Error).message, fault?.type ?? 'server_error', fault?.param ?? null, fault?.code ?? null));
      }
      if (!res.writableEnded) res.end();
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    if (path === '/v1/models') {
      if (req.method !== 'GET') throw new WireError(405, `${req.method} not allowed`, null, undefined, 'method_not_allowed', { Allow: 'GET' });
      return sendJson(res, 200, { object: 'list', data: [...backends.keys()].map(modelObject) });
    }
    if (path.startsWith('/v1/models/')) {
      let id: string;
      try {
        id = decodeURIComponent(path.slice('/v1/models/'.length));
      } catch {
        throw new WireError(400, 'malformed URL encoding');
      }
      if (!backends.has(id)) throw new WireError(404, `The model ${JSON.stringify(id)} does not exist`, 'model', 'invalid_request_error', 'model_not_found');
      return sendJson(res, 200, modelObject(id));
    }
    if (path === '/v1/chat/completions' || path === '/v1/completions') {
      if (req.method !== 'POST') throw new WireError(405, `${req.method} not allowed`, null, undefined, 'method_not_allowed', { Allow: 'POST' });
      stats.peakInFlight = Math.max(stats.peakInFlight, ++stats.inFlight);
      try {
        return await (path === '/v1/completions' ? completions(req, res) : chat(req, res));
      } finally {
        stats.inFlight--;
      }
    }
    throw new WireError(404, `no route ${req.method} ${path || '/'}`, null, 'invalid_request_error', 'not_found');
  }

  // The 401/403/413/400 refusals and the 500 for a failing backend come from startHttpServer.
  const http = await startHttpServer(handle, { host: o.host, port: o.port, apiKey: o.apiKey, onRequest: () => void stats.requests++, log: o.log && ((l) => o.log!(`chat ${l}`)) });
  return {
    baseURL: `${http.origin}/v1`,
    port: http.port,
    stats: () => {
      let queued = 0;
      let running = 0;
      for (const { queue } of backends.values()) {
        queued += queue.waiting;
        running += queue.running;
      }
      return { ...stats, queued, running };
    },
    close: () => {
      for (const abort of [...live]) abort();
      return http.close();
    },
  };
}

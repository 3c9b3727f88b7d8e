// An OpenAI-compatible chat server over ChatBackends (node:http, no framework):
//   GET  /v1/models, /v1/models/:id
//   POST /v1/chat/completions     non-streaming, or `stream: true` as SSE `data: {chunk}` … `data: [DONE]`
// with `reasoning_content` in message and delta (DeepSeek's field), logprobs/top_logprobs and usage.
// The official `openai` npm client works against it unchanged (tested).
//
// Reliability rules (DESIGN.md): binds 127.0.0.1 unless told otherwise and then refuses a
// foreign Host header (DNS rebinding); an optional Bearer key (401); a body limit (413);
// malformed JSON or fields → 400 with an OpenAI error object; unknown model or route → 404.
// Requests for one backend run one at a time through a queue: the model is single-threaded.
// A client that goes away (closed socket) aborts its request, queued or running.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ChatBackend, ChatDelta } from './chat_backend.js';
import { SerialQueue } from './chat_backend.js';
import { listen } from './listen.js';
import {
  WireError, parseChatBody, newId, completionObject, chunkObject, deltaObject, wireUsage, errorObject, type ParsedChat,
} from './openai_wire.js';

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
  /** Requests allowed to wait per backend; more get 429 with Retry-After (default 64), which clients retry. */
  maxQueue?: number;
  /** SSE comment interval while a streamed request waits or thinks, so proxies keep the connection (default 15 s). */
  heartbeatMs?: number;
  /** One line per failed request (never contains the key: the server does not log headers). */
  log?: (line: string) => void;
}

export interface OpenAIServerStats {
  /** Every HTTP request received, refused ones included. */
  requests: number;
  /** Chat completions that ran to the end. */
  completions: number;
  /** Chat requests open now (queued, running or still being read), and the most at any moment. */
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

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const hostName = (h: string | undefined) => (!h ? '' : h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0].toLowerCase());
const digest = (s: string) => createHash('sha256').update(s).digest();

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

const sendError = (res: ServerResponse, e: WireError, headers: Record<string, string> = {}) =>
  sendJson(res, e.status, errorObject(e.message, e.type, e.param, e.code), headers);

/** Reads the body up to `limit` bytes; over the limit → WireError 413 (the rest is drained, not stored). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((ok, fail) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return fail(new WireError(413, `request body over ${limit} bytes`, null, 'invalid_request_error', 'request_too_large'));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= limit) chunks.push(d);
    });
    req.on('end', () => (size > limit ? fail(new WireError(413, `request body over ${limit} bytes`, null, 'invalid_request_error', 'request_too_large')) : ok(Buffer.concat(chunks))));
    req.on('error', fail);
  });
}

export async function startOpenAIServer(o: OpenAIServerOptions): Promise<OpenAIServerHandle> {
  const backends = new Map<string, { backend: ChatBackend; queue: SerialQueue }>();
  for (const b of Array.isArray(o.backends) ? o.backends : [o.backends]) {
    if (backends.has(b.id)) throw new Error(`two backends share the model id ${JSON.stringify(b.id)}`);
    backends.set(b.id, { backend: b, queue: new SerialQueue(b.maxConcurrency ?? 1) });
  }
  const host = o.host ?? '127.0.0.1';
  const limit = o.maxBodyBytes ?? 4 << 20;
  const keyDigest = o.apiKey ? digest(o.apiKey) : null;
  const created = Math.floor(Date.now() / 1000);
  const live = new Set<() => void>(); // aborts for running requests, fired on close()
  const stats = { requests: 0, completions: 0, inFlight: 0, peakInFlight: 0 };

  const authorized = (req: IncomingMessage) => {
    if (!keyDigest) return true;
    const auth = req.headers.authorization ?? '';
    return auth.startsWith('Bearer ') && timingSafeEqual(digest(auth.slice(7)), keyDigest);
  };
  const modelObject = (id: string) => ({ id, object: 'model', created, owned_by: 'distill' });

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readBody(req, limit);
    } catch (e) {
      if (e instanceof WireError) return sendError(res, e, { Connection: 'close' });
      throw e;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new WireError(400, `malformed JSON body: ${(e as Error).message}`);
    }
    const p = parseChatBody(body);
    const entry = backends.get(p.model);
    if (!entry) throw new WireError(404, `The model ${JSON.stringify(p.model)} does not exist`, 'model', 'invalid_request_error', 'model_not_found');

    if (entry.queue.waiting >= (o.maxQueue ?? 64))
      throw Object.assign(new WireError(429, `model ${p.model} is busy: ${entry.queue.waiting} requests waiting`, null, 'rate_limit_error', 'queue_full'), { retryAfter: '1' });
    const ac = new AbortController();
    const abort = () => ac.abort(new Error('client went away'));
    res.on('close', () => {
      if (!res.writableFinished) abort();
    });
    live.add(abort);
    try {
      if (p.stream) await streamChat(res, p, entry, ac.signal);
      else {
        const c = await entry.queue.run(() => entry.backend.complete(p.req, undefined, ac.signal), ac.signal);
        stats.completions++;
        sendJson(res, 200, completionObject(newId(), Math.floor(Date.now() / 1000), p.model, c, p.logprobs));
      }
    } finally {
      live.delete(abort);
    }
  }

  async function streamChat(res: ServerResponse, p: ParsedChat, entry: { backend: ChatBackend; queue: SerialQueue }, signal: AbortSignal): Promise<void> {
    const id = newId();
    const at = Math.floor(Date.now() / 1000);
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    const send = (obj: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(obj)}\n\n`);
    };
    const heartbeat = setInterval(() => !res.writableEnded && res.write(': keep-alive\n\n'), o.heartbeatMs ?? 15_000);
    let streamed = false;
    const sent = { reasoning: '', content: '' };
    const onDelta = (d: ChatDelta) => {
      streamed = true;
      sent.reasoning += d.reasoning ?? '';
      sent.content += d.content ?? '';
      send(chunkObject(id, at, p.model, { delta: deltaObject(d), logprobs: p.logprobs && d.logprob ? [d.logprob] : null }));
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
        // A backend may hold back a tail while streaming (half a UTF-8 character, a partial tag) and
        // never send it: flush what the final text has beyond the streamed prefix, so both modes agree.
        const rest: Record<string, string> = {};
        if (c.reasoning.length > sent.reasoning.length && c.reasoning.startsWith(sent.reasoning)) rest.reasoning_content = c.reasoning.slice(sent.reasoning.length);
        if (c.content.length > sent.content.length && c.content.startsWith(sent.content)) rest.content = c.content.slice(sent.content.length);
        if (Object.keys(rest).length) send(chunkObject(id, at, p.model, { delta: rest }));
      }
      send(chunkObject(id, at, p.model, { delta: {}, finish: c.finishReason }));
      if (p.includeUsage) send(chunkObject(id, at, p.model, null, wireUsage(c)));
      if (!res.writableEnded) res.end('data: [DONE]\n\n');
    } catch (e) {
      // Headers are gone: the error travels as a data event (the openai client raises it), then the stream ends.
      if (!signal.aborted) {
        o.log?.(`chat stream failed: ${(e as Error).message}`);
        send(errorObject((e as Error).message, 'server_error'));
      }
      if (!res.writableEnded) res.end();
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requests++;
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    if (LOOPBACK.has(host) && !LOOPBACK.has(hostName(req.headers.host))) throw new WireError(403, 'unexpected Host header');
    if (!authorized(req)) throw Object.assign(new WireError(401, 'missing or wrong API key (Authorization: Bearer …)', null, 'invalid_request_error', 'invalid_api_key'), { auth: true });
    if (path === '/v1/models') {
      if (req.method !== 'GET') throw new WireError(405, `${req.method} not allowed`);
      return sendJson(res, 200, { object: 'list', data: [...backends.keys()].map(modelObject) });
    }
    if (path.startsWith('/v1/models/')) {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (!backends.has(id)) throw new WireError(404, `The model ${JSON.stringify(id)} does not exist`, 'model', 'invalid_request_error', 'model_not_found');
      return sendJson(res, 200, modelObject(id));
    }
    if (path === '/v1/chat/completions') {
      if (req.method !== 'POST') throw new WireError(405, `${req.method} not allowed`);
      stats.peakInFlight = Math.max(stats.peakInFlight, ++stats.inFlight);
      try {
        return await chat(req, res);
      } finally {
        stats.inFlight--;
      }
    }
    throw new WireError(404, `no route ${req.method} ${path || '/'}`, null, 'invalid_request_error', 'not_found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof WireError) {
        req.resume(); // a refused request's body is drained so the connection stays usable
        const x = e as WireError & { auth?: boolean; retryAfter?: string };
        return sendError(res, e, x.auth ? { 'WWW-Authenticate': 'Bearer' } : x.retryAfter ? { 'Retry-After': x.retryAfter } : {});
      }
      if (res.destroyed) return; // the client left; nobody to answer
      o.log?.(`chat failed: ${(e as Error).message}`);
      sendJson(res, 500, errorObject((e as Error).message, 'server_error'));
    });
  });
  const { port, urlHost } = await listen(server, host, o.port ?? 0);
  return {
    baseURL: `http://${urlHost}:${port}/v1`,
    port,
    stats: () => {
      let queued = 0;
      let running = 0;
      for (const { queue } of backends.values()) {
        queued += queue.waiting;
        running += queue.running;
      }
      return { ...stats, queued, running };
    },
    close: () => new Promise<void>((ok) => {
      for (const abort of [...live]) abort();
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

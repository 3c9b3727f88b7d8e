// The one hardened HTTP layer every server of the project goes through: the live dashboard
// (serve/server.ts), the OpenAI-compatible API (serve/openai_server.ts), the fault proxy
// (serve/fault_proxy.ts) and the export's static page server (export/serve_static.ts).
// It owns what they must all get right the same way:
//   - bind 127.0.0.1 unless told otherwise, and on a loopback bind refuse a foreign Host header
//     (403): a DNS-rebinding page in the user's browser must not reach a local server;
//   - an optional API key, `Authorization: Bearer <key>` with the scheme matched case-insensitively
//     (RFC 7235 §2.1), compared in constant time (digests of equal length, timingSafeEqual);
//   - security headers on every answer (nosniff, no-referrer, no-store, no framing, and a
//     deny-all CSP that a page replaces with its own);
//   - request-body limits (413) and JSON bodies that fail to parse (400);
//   - errors as JSON in OpenAI's shape `{error: {message, type, param, code}}`, so one client
//     parser reads them all; an unexpected exception is a 500 and the server stays up.
//
// Why io/: serve/ and export/ both need it, and neither may import the other (they sit in
// different layers above io/). io/ is the lowest layer both may import and already holds the
// project's byte-level I/O; this file imports node built-ins only, so a server that uses it
// (the dashboard, its worker thread) never loads libtorch.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';

/** Host names that mean "this machine only". */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export const isLoopback = (host: string): boolean => LOOPBACK.has(host.toLowerCase());

/** The name part of a Host header, without the port; IPv6 keeps its brackets. */
export function hostHeaderName(h: string | undefined): string {
  if (!h) return '';
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.split(':')[0].toLowerCase();
}

/**
 * DNS-rebinding defence: a server bound to loopback answers only requests addressed to a
 * loopback name. One bound elsewhere was exposed on purpose (and should require a key).
 */
export const hostAllowed = (bindHost: string, hostHeader: string | undefined): boolean =>
  !isLoopback(bindHost) || isLoopback(hostHeaderName(hostHeader));

/** The token of `Authorization: Bearer <token>`; the scheme is case-insensitive. null when absent. */
export function bearerToken(authorization: string | undefined): string | null {
  const m = /^bearer[ \t]+(\S.*?)[ \t]*$/i.exec(authorization ?? '');
  return m ? m[1] : null;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * A constant-time check against `key`. Comparing SHA-256 digests makes both sides 32 bytes,
 * so neither the content nor the length of the key leaks through timing.
 */
export function keyMatcher(key: string): (given: string | null | undefined) => boolean {
  const want = digest(key);
  return (given) => typeof given === 'string' && timingSafeEqual(digest(given), want);
}

/** `'sha256-…'` of an inline script or style, for a Content-Security-Policy. */
export const cspHash = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** Sent with every answer. A page replaces the CSP with one that allows what it needs. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** An answer other than 2xx, as OpenAI shapes it; `param` names the offending field. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error',
    /** Extra response headers (Retry-After, WWW-Authenticate, Allow). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** `{error:{message,type,param,code}}`, the shape OpenAI clients parse. */
export const errorBody = (message: string, type: string, param: string | null = null, code: string | null = null) =>
  ({ error: { message, type, param, code } });

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export const sendError = (res: ServerResponse, e: HttpError): void =>
  sendJson(res, e.status, errorBody(e.message, e.type, e.param, e.code), e.headers);

const tooLarge = (limit: number) =>
  new HttpError(413, `request body over ${limit} bytes`, 'request_too_large', null, 'invalid_request_error', { Connection: 'close' });

/** Reads the body up to `limit` bytes; more → HttpError 413 (the rest is drained, never stored). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((ok, fail) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return fail(tooLarge(limit));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= limit) chunks.push(d);
    });
    req.on('end', () => (size > limit ? fail(tooLarge(limit)) : ok(Buffer.concat(chunks))));
    req.on('error', fail);
  });
}

/** Reads and parses a JSON body: over the limit → 413, not JSON → 400. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBody(req, limit);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `malformed JSON body: ${(e as Error).message}`, 'invalid_json');
  }
}

/** For servers that take no bodies (every route a GET): any body → 413. */
export function refuseBody(req: IncomingMessage): void {
  if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding']) throw tooLarge(0);
}

export interface HttpServerOptions {
  /** Interface to bind; 127.0.0.1 by default. Anything else exposes the server to the network. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <key>` (401 otherwise). */
  apiKey?: string;
  /** Also accept `?key=<key>` (the dashboard: EventSource cannot send headers). */
  keyInQuery?: boolean;
  /** Called for every request received, before any check (a server's request count). */
  onRequest?: () => void;
  /** One line per request that failed with a 500 (never holds headers, so never the key). */
  log?: (line: string) => void;
}

export interface HttpServerHandle {
  server: Server;
  port: number;
  /** `http://host:port` to put in a URL: IPv6 in brackets, 127.0.0.1 for a server on every interface. */
  origin: string;
  /** Stops listening and closes every connection, open streams and hung requests included. */
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * Starts a server whose `handler` sees only requests that passed the Host and key checks,
 * with the security headers already set. A HttpError thrown (or rejected) by the handler
 * becomes its JSON answer; anything else a 500.
 */
export async function startHttpServer(handler: Handler, o: HttpServerOptions = {}): Promise<HttpServerHandle> {
  const host = o.host ?? '127.0.0.1';
  const keyOk = o.apiKey ? keyMatcher(o.apiKey) : null;

  const fail = (req: IncomingMessage, res: ServerResponse, e: unknown) => {
    if (res.headersSent) return void res.destroy(); // mid-stream: all that can be done is to cut it
    if (e instanceof HttpError) {
      req.resume(); // a refused request's body is drained so a keep-alive connection stays usable
      return sendError(res, e);
    }
    if (res.destroyed) return; // the client left; nobody to answer
    o.log?.(`${req.method} ${(req.url ?? '/').split('?')[0]} failed: ${(e as Error).message}`);
    sendJson(res, 500, errorBody((e as Error).message, 'server_error'));
  };

  const server = createServer((req, res) => {
    o.onRequest?.();
    try {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      if (!hostAllowed(host, req.headers.host)) throw new HttpError(403, 'unexpected Host header', 'host_not_allowed');
      if (keyOk) {
        let given = bearerToken(req.headers.authorization);
        if (given === null && o.keyInQuery) given = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('key');
        if (!keyOk(given))
          throw new HttpError(401, 'missing or wrong API key (Authorization: Bearer …)', 'invalid_api_key', null, 'invalid_request_error', { 'WWW-Authenticate': 'Bearer' });
      }
      const done = handler(req, res);
      if (done) done.catch((e: unknown) => fail(req, res, e));
    } catch (e) {
      fail(req, res, e);
    }
  });
  // A malformed request line or header never reaches the handler: cut the connection.
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((ok, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      ok();
    });
  });
  const port = (server.address() as { port: number }).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    server,
    port,
    origin: `http://${urlHost}:${port}`,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

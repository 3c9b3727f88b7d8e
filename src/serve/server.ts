// The live dashboard's HTTP server (node:http, no framework): the page, a JSON API over the
// run folders, and Server-Sent Events that follow a stage's metrics.jsonl while it trains.
//
// Reliability rules (DESIGN.md): binds 127.0.0.1 unless told otherwise; an optional API key
// is checked on every request; request bodies are refused (every route is a GET); path
// parameters are validated and must name a run/stage that exists; errors are JSON; a
// malformed metrics line is skipped, never fatal.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { resolve } from 'node:path';
import { listRuns, resolveStage, readTailLines, stageStatus, DEFAULT_STALE_MS } from './runs.js';
import { streamStage } from './sse.js';
import { renderPage } from './page.js';
import { listen } from './listen.js';

export interface DashboardOptions {
  runsDir: string;
  /** Interface to bind; 127.0.0.1 by default. Anything else exposes the runs to the network. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <key>` or `?key=<key>` (EventSource cannot send headers). */
  apiKey?: string;
  /** How long an unfinished stage's metrics may sit unchanged before it shows as stale. */
  staleMs?: number;
  /** Polling fallback interval for the file watchers. */
  pollMs?: number;
  heartbeatMs?: number;
}

export interface DashboardHandle {
  url: string;
  port: number;
  /** Open SSE streams and live file watchers: both return to 0 when clients go away (no leaks). */
  stats(): { streams: number; watchers: number };
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

function sendJson(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const error = (res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}) => {
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  sendJson(res, status, { error: message, status });
};

// Comparing digests keeps the comparison constant-time whatever the lengths.
const digest = (s: string) => createHash('sha256').update(s).digest();

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The Host header's name without port, so a DNS-rebinding page cannot talk to a loopback server. */
function hostName(h: string | undefined): string {
  if (!h) return '';
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.split(':')[0].toLowerCase();
}

export async function startDashboard(o: DashboardOptions): Promise<DashboardHandle> {
  const runsDir = resolve(o.runsDir);
  const host = o.host ?? '127.0.0.1';
  const staleMs = o.staleMs ?? DEFAULT_STALE_MS;
  const keyDigest = o.apiKey ? digest(o.apiKey) : null;
  const page = renderPage();
  const streams = new Set<() => void>();
  let watchers = 0;
  const follow = { pollMs: o.pollMs, staleMs, heartbeatMs: o.heartbeatMs, count: (d: number) => { watchers += d; } };

  const authorized = (req: IncomingMessage, query: URLSearchParams): boolean => {
    if (!keyDigest) return true;
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : query.get('key');
    return given !== null && timingSafeEqual(digest(given), keyDigest);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    if (LOOPBACK.has(host) && !LOOPBACK.has(hostName(req.headers.host))) return error(res, 403, 'unexpected Host header');
    if (!authorized(req, query)) return error(res, 401, 'missing or wrong API key', { 'WWW-Authenticate': 'Bearer' });
    if (req.method !== 'GET') return error(res, 405, `${req.method} not allowed`, { Allow: 'GET' });
    if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'])
      return error(res, 413, 'request bodies are not accepted');

    // Split the raw path before decoding, so an encoded '/' or '..' stays inside one segment and fails validation.
    let seg: string[];
    try {
      seg = path.split('/').slice(1).map(decodeURIComponent);
    } catch {
      return error(res, 400, 'malformed URL encoding');
    }
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': page.csp, 'X-Frame-Options': 'DENY' });
      return res.end(page.html);
    }
    if (seg[0] !== 'api' || seg[1] !== 'runs') return error(res, 404, `no route ${path}`);
    if (seg.length === 2 || (seg.length === 3 && seg[2] === '')) return sendJson(res, 200, { runsDir, runs: listRuns(runsDir, staleMs) });
    // /api/runs/:run/:stage/:action, the stage either encoded ('h64%2Fstudent') or as two segments.
    if (seg.length !== 5 && seg.length !== 6) return error(res, 404, `no route ${path}`);
    const action = seg[seg.length - 1];
    const run = seg[2];
    const stage = seg.slice(3, -1).join('/');
    if (action !== 'metrics' && action !== 'stream') return error(res, 404, `no route ${path}`);
    const p = resolveStage(runsDir, run, stage);
    if ('error' in p) return error(res, p.error, p.message);
    if (action === 'metrics') {
      const { status } = stageStatus(p, staleMs);
      return sendJson(res, 200, { run, stage, status, lines: readTailLines(p.metrics, Infinity) });
    }
    const end = streamStage(req, res, { run, stage }, p, follow);
    streams.add(end);
    res.on('close', () => streams.delete(end));
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      // A bug or an fs surprise answers 500 for this request and leaves the server up.
      if (!res.headersSent) error(res, 500, (e as Error).message);
      else res.destroy();
    }
  });
  const { port, urlHost } = await listen(server, host, o.port ?? 0);
  return {
    url: `http://${urlHost}:${port}/`,
    port,
    stats: () => ({ streams: streams.size, watchers }),
    close: () => new Promise<void>((ok) => {
      for (const end of [...streams]) end(); // SSE responses never end on their own
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

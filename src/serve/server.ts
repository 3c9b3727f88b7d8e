// The live dashboard's HTTP server (node:http, no framework): the page, a JSON API over the
// run folders, and Server-Sent Events that follow a stage's metrics.jsonl while it trains.
//
// Reliability rules: the shared HTTP layer (io/http.ts) binds 127.0.0.1 unless
// told otherwise, refuses a foreign Host header, checks the optional API key (Bearer header or
// ?key=) and sends the security headers; here request bodies are refused (every route is a
// GET), path parameters are validated and must name a run/stage that exists, errors are JSON,
// and a malformed metrics line is skipped, never fatal.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { HttpError, refuseBody, sendJson, startHttpServer } from '../io/http.js';
import { listRuns, resolveStage, readTailLines, stageStatus, DEFAULT_STALE_MS } from './runs.js';
import { streamStage } from './sse.js';
import { renderPage } from './page.js';

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

export async function startDashboard(o: DashboardOptions): Promise<DashboardHandle> {
  const runsDir = resolve(o.runsDir);
  const staleMs = o.staleMs ?? DEFAULT_STALE_MS;
  const page = renderPage();
  const streams = new Set<() => void>();
  let watchers = 0;
  const follow = { pollMs: o.pollMs, staleMs, heartbeatMs: o.heartbeatMs, count: (d: number) => { watchers += d; } };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    if (req.method !== 'GET') throw new HttpError(405, `${req.method} not allowed`, 'method_not_allowed', null, undefined, { Allow: 'GET' });
    refuseBody(req);

    // Split the raw path before decoding, so an encoded '/' or '..' stays inside one segment and fails validation.
    let seg: string[];
    try {
      seg = path.split('/').slice(1).map(decodeURIComponent);
    } catch {
      throw new HttpError(400, 'malformed URL encoding');
    }
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': page.csp });
      res.end(page.html);
      return;
    }
    const noRoute = () => new HttpError(404, `no route ${path}`, 'not_found');
    if (seg[0] !== 'api' || seg[1] !== 'runs') throw noRoute();
    if (seg.length === 2 || (seg.length === 3 && seg[2] === '')) return sendJson(res, 200, { runsDir, runs: listRuns(runsDir, staleMs) });
    // /api/runs/:run/:stage/:action, the stage either encoded ('h64%2Fstudent') or as two segments.
    if (seg.length !== 5 && seg.length !== 6) throw noRoute();
    const action = seg[seg.length - 1];
    const run = seg[2];
    const stage = seg.slice(3, -1).join('/');
    if (action !== 'metrics' && action !== 'stream') throw noRoute();
    const p = resolveStage(runsDir, run, stage);
    if ('error' in p) throw new HttpError(p.error, p.message, p.error === 404 ? 'not_found' : null);
    if (action === 'metrics') {
      const { status } = stageStatus(p, staleMs);
      return sendJson(res, 200, { run, stage, status, lines: readTailLines(p.metrics, Infinity) });
    }
    const end = streamStage(req, res, { run, stage }, p, follow);
    streams.add(end);
    res.on('close', () => streams.delete(end));
  };

  // A bug or an fs surprise answers 500 for this request and leaves the server up (startHttpServer).
  const http = await startHttpServer(handle, { host: o.host, port: o.port, apiKey: o.apiKey, keyInQuery: true });
  return {
    url: `${http.origin}/`,
    port: http.port,
    stats: () => ({ streams: streams.size, watchers }),
    close: () => {
      for (const end of [...streams]) end(); // SSE responses never end on their own
      return http.close();
    },
  };
}

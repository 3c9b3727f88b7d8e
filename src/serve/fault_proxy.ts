// A real HTTP proxy that misbehaves on purpose, placed in front of any server so that a
// client's retry paths and a generator's resume paths are tested against real sockets:
//   pass           forward to the target unchanged
//   429            answer 429 with Retry-After (the target never sees the request)
//   500            answer 500 with an OpenAI-style error
//   hang           accept the request and never answer (until the client gives up or close())
//   garbage        answer 200 with a body that is not JSON
//   drop           destroy the connection without a response
//   drop-mid-body  forward, then cut the connection halfway through the target's answer
//   blank-lines    forward, with blank keep-alive lines before the body (as DeepSeek sends)
// Faults come from a schedule (the i-th request gets schedule[i], then 'pass'), else from
// seeded probabilities, else 'pass'.
// Like every server here it goes through io/http.ts: 127.0.0.1 by default with the Host check,
// an optional key of its own, the security headers and a body limit (a request over it is
// answered 413 by the proxy and never forwarded).
import { mulberry32 } from '../torch/prng.js';
import { request, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { HttpError, errorBody, readBody, sendJson, startHttpServer } from '../io/http.js';

export type Fault = 'pass' | '429' | '500' | 'hang' | 'garbage' | 'drop' | 'drop-mid-body' | 'blank-lines';

export interface FaultProxyOptions {
  /** The upstream server's root, e.g. a server's baseURL `http://127.0.0.1:4100/v1`; its path is kept in the proxy's baseURL. */
  target: string;
  schedule?: Fault[];
  /** Chance per request of each fault once the schedule is used up; the rest pass. */
  probabilities?: Partial<Record<Exclude<Fault, 'pass'>, number>>;
  /** Seed for the probabilities, so a failing run can be repeated (default 1). */
  seed?: number;
  /** The Retry-After header sent with 429 (seconds or an HTTP date; default '1'). */
  retryAfter?: string;
  host?: string;
  port?: number;
  /** When set, the proxy itself requires `Authorization: Bearer <key>` (and forwards the header). */
  apiKey?: string;
  /** Largest request body forwarded (default 4 MiB, the OpenAI server's default). */
  maxBodyBytes?: number;
}

export interface FaultProxyHandle {
  /** The proxy's root with the target's path, for clients' baseURL. */
  baseURL: string;
  port: number;
  /** One entry per request received, in order. */
  readonly log: { fault: Fault; method: string; path: string; at: number }[];
  /** Replaces what is left of the schedule. */
  setSchedule(s: Fault[]): void;
  close(): Promise<void>;
}


const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxyHandle> {
  const target = new URL(o.target);
  let schedule = [...(o.schedule ?? [])];
  const random = mulberry32(o.seed ?? 1);
  const log: FaultProxyHandle['log'] = [];
  const agent = new Agent({ keepAlive: true });

  const pick = (): Fault => {
    const next = schedule.shift();
    if (next) return next;
    let u = random();
    for (const [fault, p] of Object.entries(o.probabilities ?? {}) as [Fault, number][]) {
      if (u < p) return fault;
      u -= p;
    }
    return 'pass';
  };

  const json = sendJson;

  /** Sends the request upstream and hands back the whole answer. */
  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }>((ok, fail) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
      headers.host = target.host;
      headers['content-length'] = String(body.length);
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('end', () => {
          const h: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'content-length') h[k] = v;
          ok({ status: r.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
        });
        r.on('error', fail);
      });
      up.on('error', fail);
      up.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse, fault: Fault) => {
    const body = await readBody(req, o.maxBodyBytes ?? 4 << 20);
    switch (fault) {
      case '429':
        return json(res, 429, errorBody('Rate limit reached (fault proxy)', 'rate_limit_error', null, 'rate_limit_exceeded'),
          { 'Retry-After': o.retryAfter ?? '1' });
      case '500':
        return json(res, 500, errorBody('internal error (fault proxy)', 'server_error'));
      case 'garbage':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end('<html><body>502 Bad Gateway</body></html>\n\u0000\u00ff garbage');
      case 'drop':
        return req.socket.destroy();
      case 'hang':
        return; // the socket stays open; close() closes every connection
      default: {
        const up = await forward(req, body);
        if (fault === 'drop-mid-body') {
          res.writeHead(up.status, { ...up.headers, 'Content-Length': up.body.length });
          res.write(up.body.subarray(0, Math.floor(up.body.length / 2)));
          return void setTimeout(() => req.socket.destroy(), 20); // let the half reach the client first
        }
        const pad = fault === 'blank-lines' ? Buffer.from('\n\n  \n\n') : Buffer.alloc(0);
        res.writeHead(up.status, { ...up.headers, 'Content-Length': pad.length + up.body.length });
        res.end(Buffer.concat([pad, up.body]));
      }
    }
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const fault = pick();
    log.push({ fault, method: req.method ?? '', path: req.url ?? '', at: Date.now() });
    try {
      await handle(req, res, fault);
    } catch (e) {
      if (e instanceof HttpError) throw e; // a refusal of the shared layer (413): its own JSON answer
      if (!res.headersSent) json(res, 502, errorBody(`fault proxy: upstream failed: ${(e as Error).message}`, 'server_error'));
      else res.destroy();
    }
  };
  const http = await startHttpServer(handler, { host: o.host, port: o.port, apiKey: o.apiKey });
  return {
    baseURL: `${http.origin}${target.pathname.replace(/\/+$/, '')}`,
    port: http.port,
    log,
    setSchedule: (s) => {
      schedule = [...s];
    },
    close: async () => {
      await http.close();
      agent.destroy();
    },
  };
}

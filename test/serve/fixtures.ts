// Helpers for the dashboard tests: run folders written the way the trainer writes them,
// and a minimal Server-Sent Events client over node:http (a real HTTP client, no mocks).
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request, type IncomingMessage, type ClientRequest } from 'node:http';

export const stepLine = (epoch: number, stepInEpoch: number, stepsPerEpoch = 10, loss = 1 / (1 + epoch * stepsPerEpoch + stepInEpoch)) => ({
  type: 'step', epoch, step: epoch * stepsPerEpoch + stepInEpoch, stepInEpoch, stepsPerEpoch, loss, parts: { ce: loss * 0.4, kl: loss * 0.6 },
  lr: 0.001, samplesPerSec: 1000, T: 4, alpha: 0.1,
});
export const epochLine = (epoch: number, valAccuracy = 0.5 + epoch / 100) => ({
  type: 'epoch', epoch, loss: 0.5, parts: { ce: 0.2, kl: 0.3 }, valAccuracy, teacherAgreement: 0.9, lr: 0.001, T: 4, alpha: 0.1, seconds: 1,
});
export const jsonl = (lines: (object | string)[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)) + '\n').join('');

/** A run's config.json with the keys the dashboard reads. */
export function writeConfig(runDir: string, epochs: number, batchSize = 32): void {
  mkdirSync(runDir, { recursive: true });
  const train = { epochs, batchSize, gradAccumulation: 1 };
  writeFileSync(join(runDir, 'config.json'), JSON.stringify({ name: 'x', teacher: { train }, student: { train } }));
}

/** Replaces a file the way the trainer does on resume: temp file + rename (a new inode). */
export function replaceAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-test`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: IncomingMessage['headers'] }> {
  const r = await fetch(url, { headers });
  return { status: r.status, body: (await r.json()) as Record<string, unknown>, headers: Object.fromEntries(r.headers) };
}

export interface SseEvent {
  event: string;
  data: unknown;
}

export interface SseClient {
  status: number;
  events: SseEvent[];
  comments: number;
  /** Resolves with the first event (from index `from`) matching; rejects after timeoutMs. */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number, from?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((ok, fail) => {
    const req: ClientRequest = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const waiters = new Set<() => void>();
      let buf = '';
      let endedResolve!: () => void;
      const ended = new Promise<void>((r) => (endedResolve = r));
      const client: SseClient = {
        status: res.statusCode ?? 0,
        events,
        comments: 0,
        ended,
        close: () => req.destroy(),
        waitFor(pred, timeoutMs = 5000, from = 0) {
          return new Promise((resolve, reject) => {
            const check = () => {
              const hit = events.slice(from).find(pred);
              if (hit) {
                waiters.delete(check);
                clearTimeout(t);
                resolve(hit);
              }
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              reject(new Error(`timed out; events so far: ${events.map((e) => e.event).join(',')}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) client.comments++;
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) events.push({ event, data: JSON.parse(data.join('\n')) });
        }
        for (const w of [...waiters]) w();
      });
      res.on('end', endedResolve);
      res.on('close', endedResolve);
      res.on('error', endedResolve);
      ok(client);
    });
    req.on('error', fail);
    req.end();
  });
}

/** Polls `fn` until it returns true (or throws after timeoutMs). */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Launches the ranks of a test's process group as real processes over loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./dist_worker.js', import.meta.url));

/** A port the kernel just handed out (a tiny race with other programs is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Rank {
  child: ChildProcess;
  /** Every JSON line the rank printed. */
  lines: Record<string, unknown>[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `worldSize` workers on `job`; each gets torchrun's variables. */
export async function launch(worldSize: number, job: object, opts: { port?: number } = {}): Promise<Rank[]> {
  const port = opts.port ?? (await freePort());
  return Array.from({ length: worldSize }, (_, rank) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(job)], {
      env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r: Rank = { child, lines: [], stderr: '', exited: null! };
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        r.lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (r.stderr += d.toString()));
    r.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, at: Date.now() })));
    return r;
  });
}

/** Resolves once `pred` holds (polled), or rejects after `ms`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

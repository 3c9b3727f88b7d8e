// `distill dashboard [runsDir]`: a live view of the run folders in the browser, and
// `attachDashboard` for `--ui`, which serves the same page from a worker thread while a
// training command runs. Neither loads libtorch.
import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { startDashboard, type DashboardOptions } from '../serve/index.js';
import { ConfigError } from '../torch/errors.js';

export interface DashboardCliOptions {
  host?: string;
  port?: string | number;
  /**
   * The environment variable holding the API key (`--api-key-env NAME`, as `distill serve`);
   * without it DISTILL_API_KEY is used when set. The key never travels on the command line,
   * where `ps` and shell history would keep it, and is never printed.
   */
  apiKeyEnv?: string;
  /** Stops the server (tests; the CLI stops on SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** attachDashboard only: print nothing. */
  quiet?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The key held in the variable `--api-key-env` names (`distill serve` and `dashboard`); unset or empty is an error. */
export function keyFromEnv(name: unknown): string {
  const key = process.env[String(name)]?.trim();
  if (!key) throw new ConfigError(`--api-key-env ${String(name)}: that environment variable is not set or empty`);
  return key;
}

/** Validated server options from the command line and the environment. */
function serverOptions(runsDir: string | undefined, o: DashboardCliOptions & { apiKey?: unknown }): DashboardOptions {
  if (o.apiKey !== undefined) throw new ConfigError('--api-key puts the key where `ps` and shell history keep it: put it in an environment variable and pass --api-key-env NAME');
  const port = o.port === undefined ? 0 : Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port expects an integer 0-65535 (0 picks a free port), got '${o.port}'`);
  const apiKey = o.apiKeyEnv !== undefined ? keyFromEnv(o.apiKeyEnv) : process.env.DISTILL_API_KEY?.trim() || undefined;
  return { runsDir: resolve(runsDir ?? 'runs'), host: o.host ?? '127.0.0.1', port, apiKey };
}

/** What to tell the user besides the URL; the key itself is never printed. */
function notes(s: DashboardOptions): string[] {
  const out: string[] = [];
  if (s.apiKey) out.push('dashboard: an API key is required: open the URL with ?key=<your key> (the page passes it on)');
  if (!LOOPBACK.has(s.host!)) {
    out.push(s.apiKey
      ? `dashboard: listening on ${s.host}: reachable from the network (API key required)`
      : `dashboard: listening on ${s.host} WITHOUT an API key: anyone who can reach this machine can read your runs (pass --api-key-env NAME)`);
  }
  if (!existsSync(s.runsDir)) out.push(`dashboard: ${s.runsDir} does not exist yet; runs appear as they start`);
  return out;
}

/** Serves the dashboard until SIGINT/SIGTERM (or opts.signal), then closes every stream and exits 0. */
export async function runDashboard(runsDir: string | undefined, opts: DashboardCliOptions = {}): Promise<number> {
  const s = serverOptions(runsDir, opts);
  const h = await startDashboard(s);
  console.log(`dashboard: ${h.url}`);
  for (const n of notes(s)) console.error(n);
  console.error(`dashboard: watching ${s.runsDir}; Ctrl-C to stop`);
  await new Promise<void>((ok) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      opts.signal?.removeEventListener('abort', stop);
      ok();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener('abort', stop);
  });
  await h.close();
  return 0;
}

export interface AttachedDashboard {
  url: string;
  /** Ends every stream and stops the worker. Optional: the worker never keeps the process alive. */
  close(): Promise<void>;
}

/**
 * Serves the dashboard from a worker thread, so it stays responsive while the calling
 * thread is busy training (kd.train is synchronous). Resolves once it listens and prints
 * `dashboard: URL` on stderr (stdout stays clean for --json). The worker is unref'd: when
 * the command finishes, the process exits and the dashboard goes with it.
 */
export async function attachDashboard(runsDir: string | undefined, opts: DashboardCliOptions = {}): Promise<AttachedDashboard> {
  const s = serverOptions(runsDir, opts);
  const worker = new Worker(new URL('../serve/worker.js', import.meta.url), { workerData: s });
  const url = await new Promise<string>((ok, fail) => {
    worker.once('message', (m: { type: string; url?: string; message?: string }) =>
      m.type === 'listening' ? ok(m.url!) : fail(new Error(`dashboard: ${m.message}`)));
    worker.once('error', fail);
    worker.once('exit', (code) => fail(new Error(`dashboard: the server thread exited (${code}) before listening`)));
  });
  worker.unref();
  if (!opts.quiet) {
    process.stderr.write(`dashboard: ${url}\n`);
    for (const n of notes(s)) process.stderr.write(n + '\n');
  }
  let closing: Promise<void> | null = null;
  return {
    url,
    close: () => (closing ??= new Promise<void>((ok) => {
      const done = () => {
        clearTimeout(timer);
        void worker.terminate().then(() => ok());
      };
      const timer = setTimeout(done, 2000); // a wedged server must not hold up the command
      worker.on('message', (m: { type: string }) => { if (m.type === 'closed') done(); });
      worker.postMessage('close');
    })),
  };
}

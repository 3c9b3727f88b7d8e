// `distill serve <lm-dir…>`: the OpenAI-compatible chat server over LM folders (LocalTeacher,
// streaming) or GGUF files (GgufTeacher), until SIGINT/SIGTERM. With --faults, a fault-injecting
// proxy sits in front and its URL is the one printed, so clients and `reason traces` meet real
// 429s, 500s, hangs and garbage over real sockets.
// stdout carries exactly one line, the base URL (`URL=$(distill serve … | head -1)`); the rest
// goes to stderr. The API key is read from the environment (--api-key-env NAME) and printed nowhere.
import { statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ConfigError } from '../torch/errors.js';
import { checkLmDtype } from '../lm/dtype.js';
import { startOpenAIServer, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_QUEUE } from '../serve/openai_server.js';
import { startFaultProxy, type Fault, type FaultProxyHandle } from '../serve/fault_proxy.js';
import { teacherBackend, withContextLength, type ChatBackend } from '../serve/chat_backend.js';
import { intFlag } from './cmd_reason.js';
import { keyFromEnv } from './cmd_dashboard.js';

type Opts = Record<string, unknown>;
const say = (s: string) => process.stderr.write(s + '\n');
const FAULTS: Exclude<Fault, 'pass'>[] = ['429', '500', 'hang', 'garbage', 'drop', 'drop-mid-body', 'blank-lines'];

/** `--faults a,b` at `--fault-rate p`: each request draws a fault with probability p, the kind uniformly among those listed. */
export function faultProbabilities(list: string, rate: number): Partial<Record<Exclude<Fault, 'pass'>, number>> {
  const kinds = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (kinds.length === 0) throw new ConfigError(`--faults needs one or more of ${FAULTS.join(', ')}`);
  for (const k of kinds) if (!FAULTS.includes(k as never)) throw new ConfigError(`--faults: unknown fault '${k}' (known: ${FAULTS.join(', ')})`);
  if (!(rate >= 0 && rate <= 1)) throw new ConfigError(`--fault-rate must be a probability in [0, 1], got ${rate}`);
  return Object.fromEntries([...new Set(kinds)].map((k, _, all) => [k, rate / all.length]));
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** A size flag: bytes, or with a binary unit (`512k`, `4M`, `1GiB`); 1 byte to 1 GiB. */
export function byteSizeFlag(o: Opts, key: string, flag: string, fallback: number): number {
  const v = o[key];
  if (v === undefined) return fallback;
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(String(v));
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  const n = m && unit ? Number(m[1]) * unit : NaN;
  if (!(n >= 1 && n <= 1 << 30)) throw new ConfigError(`${flag} must be a size from 1 byte to 1 GiB, as bytes or with a unit (512k, 4M), got '${String(v)}'`);
  return n;
}

export interface ServeSettings {
  host: string;
  port: number;
  apiKey?: string;
  maxQueue: number;
  maxBodyBytes: number;
  faults?: Partial<Record<Exclude<Fault, 'pass'>, number>>;
  faultSeed: number;
}

/** Validates every flag before a model loads: a typo fails at once, with nothing bound. */
export function serveSettings(o: Opts): ServeSettings {
  const port = intFlag(o, 'port', '--port', 0)!;
  if (port > 65535) throw new ConfigError(`--port must be at most 65535, got ${port}`);
  return {
    host: (o.host as string | undefined) ?? '127.0.0.1',
    port,
    apiKey: o.apiKeyEnv === undefined ? undefined : keyFromEnv(o.apiKeyEnv),
    maxQueue: intFlag(o, 'maxQueue', '--max-queue', DEFAULT_MAX_QUEUE)!,
    maxBodyBytes: byteSizeFlag(o, 'maxBody', '--max-body', DEFAULT_MAX_BODY_BYTES),
    faults: o.faults === undefined ? undefined : faultProbabilities(String(o.faults), o.faultRate === undefined ? 1 : Number(o.faultRate)),
    faultSeed: intFlag(o, 'faultSeed', '--fault-seed', 1)!,
  };
}

export async function runServe(paths: string[], o: Opts): Promise<number> {
  const { host, port, apiKey, maxQueue, maxBodyBytes, faults, faultSeed } = serveSettings(o);
  if (paths.length === 0) throw new ConfigError('give one or more LM folders (holding lm.json), Hugging Face folders or .gguf files to serve');
  const dtype = checkLmDtype(o.dtype ?? 'float32', '--dtype');

  // Load every model before listening: a bad folder fails here, with nothing bound.
  const backends: ChatBackend[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  try {
    for (const p of paths) {
      const isGguf = /\.gguf$/i.test(p) && statSync(p, { throwIfNoEntry: false })?.isFile() !== false;
      if (isGguf) {
        const { GgufTeacher } = await import('../reason/teachers/gguf.js');
        const t = await GgufTeacher.load(p);
        backends.push(teacherBackend(t));
        closers.push(() => t.close());
      } else {
        const { LocalTeacher } = await import('../reason/teachers/local.js');
        const t = LocalTeacher.load(p, basename(resolve(p)), { dtype });
        // The server refuses a prompt over the context before queueing it (400 context_length_exceeded).
        backends.push(withContextLength(t.backend(), t.model.cfg.maxSeqLen, (r) => t.tokenizer.chatPrompt(r.messages).length));
        closers.push(() => t.model.dispose());
      }
    }
    const ids = backends.map((b) => b.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new ConfigError(`two models would both be served as '${dup}'; rename one folder or file`);
  } catch (e) {
    for (const c of closers) await c();
    throw e;
  }

  const server = await startOpenAIServer({ backends, host, port, apiKey, maxQueue, maxBodyBytes, log: (l) => say(`serve: ${l}`) });
  let proxy: FaultProxyHandle | undefined;
  if (faults) proxy = await startFaultProxy({ target: server.baseURL, probabilities: faults, seed: faultSeed, host, apiKey, maxBodyBytes });
  const url = proxy?.baseURL ?? server.baseURL;
  console.log(url);
  say(`serving ${backends.map((b) => b.id).join(', ')} at ${url}${apiKey ? ` (API key from $${String(o.apiKeyEnv)})` : ''}; Ctrl-C to stop`);
  if (proxy) say(`  fault proxy in front of ${server.baseURL}: ${Object.entries(faults!).map(([k, p]) => `${k} ${(p * 100).toFixed(0)}%`).join(', ')} of requests`);

  const signal = await new Promise<string>((ok) => {
    process.once('SIGINT', () => ok('SIGINT'));
    process.once('SIGTERM', () => ok('SIGTERM'));
  });
  say(`serve: ${signal}, closing`);
  await proxy?.close();
  await server.close();
  for (const c of closers) await c();
  return 0;
}

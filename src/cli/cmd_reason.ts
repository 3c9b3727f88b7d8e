// `distill reason …`: the reasoning-distillation pipeline from the shell.
//   problems  built-in seeded problems (or an imported GSM8K / MATH / JSONL file) → problems.jsonl
//   traces    a teacher (OpenAI-compatible URL, an LM folder or a GGUF file) answers each problem
//             N times → <out>/traces.jsonl (append-only, resumable) + card.md / card.json
//   export    the kept traces → messages / ShareGPT / Alpaca JSONL, refused if they overlap an eval set
// Teachers load lazily: the HTTP path never loads libtorch or llama.cpp.
import { statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { ConfigError } from '../torch/errors.js';
import { checkLmDtype } from '../lm/dtype.js';
import { int } from './flags.js';
import type { Problem, ReasoningTeacher } from '../reason/types.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { generateProblems } from '../reason/problems/generate.js';
import { importProblems, type ImportFormat } from '../reason/problems/importers.js';
import { readProblemsFile, readTracesFile, writeProblemsFile } from '../reason/files.js';
import { generateTraces, PRESETS, type GenerateProgress, type PresetName } from '../reason/traces/generate.js';
import { datasetCard, type TokenPrice } from '../reason/traces/card.js';
import { writeTraces, type ReasoningPlacement, type TraceFormat } from '../reason/traces/formats.js';
import { assertNoOverlap } from '../reason/traces/overlap.js';
import { checkWorkerName, mergeTraces } from '../reason/traces/trace_dir.js';

type Opts = Record<string, unknown>;
const say = (s: string) => process.stderr.write(s + '\n');

/**
 * A whole number ≥ min from a flag, or `fallback` when the flag is absent. The flags defined in
 * main.ts arrive parsed by flags.int already; this checks the same way for callers that pass text.
 */
export function intFlag(o: Opts, key: string, flag: string, fallback: number | undefined, min = 0): number | undefined {
  const v = o[key];
  if (v === undefined) return fallback;
  try {
    return int(min)(String(v));
  } catch (e) {
    throw new ConfigError(`${flag} must be ${(e as Error).message.replace(/^Expected /, '').replace(/\.$/, '')}, got '${String(v)}'`);
  }
}

function oneOf<T extends string>(o: Opts, key: string, flag: string, allowed: readonly T[], fallback: T): T {
  const v = (o[key] as string | undefined) ?? fallback;
  if (!allowed.includes(v as T)) throw new ConfigError(`${flag} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v as T;
}

function needed(o: Opts, key: string, flag: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${flag} is required`);
  return v;
}

const tally = (xs: readonly string[]) => Object.entries(xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {}));

// ── problems ────────────────────────────────────────────────────────────────────────

export async function runProblems(o: Opts): Promise<number> {
  const out = needed(o, 'out', '--out');
  let problems: Problem[];
  let source: string;
  const n = intFlag(o, 'n', '--n', undefined, 1);
  if (o.import !== undefined) {
    const format = oneOf<ImportFormat>(o, 'import', '--import', ['gsm8k', 'math', 'jsonl'], 'jsonl');
    const file = needed(o, 'in', '--in (the file to import)');
    problems = importProblems(file, format);
    if (n !== undefined) problems = problems.slice(0, n);
    source = `${format} file ${file}`;
  } else {
    if (o.in !== undefined) throw new ConfigError('--in needs --import gsm8k|math|jsonl');
    const families = o.families === undefined ? undefined : String(o.families).split(',').map((s) => s.trim()).filter(Boolean);
    const split = oneOf(o, 'split', '--split', ['train', 'test'] as const, 'train');
    const lang = oneOf(o, 'lang', '--lang', ['en', 'zh', 'both'] as const, 'both');
    const seed = intFlag(o, 'seed', '--seed', 1)!;
    problems = generateProblems({ families, n: n ?? 100, seed, split, lang });
    source = `${split} split, seed ${seed}`;
    if (problems.length < (n ?? 100)) say(`note: the ${split} split of ${families?.join(', ') ?? 'all families'} holds only ${problems.length} problems in ${lang}`);
  }
  writeProblemsFile(out, problems);
  const byFamily = tally(problems.map((p) => p.family)), byLang = tally(problems.map((p) => p.lang));
  if (o.json) console.log(JSON.stringify({ out: resolve(out), problems: problems.length, families: Object.fromEntries(byFamily), langs: Object.fromEntries(byLang) }));
  else console.log(`wrote ${problems.length} problems to ${out} (${source}): ${byFamily.map(([k, v]) => `${k} ${v}`).join(', ')}; ${byLang.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return 0;
}

// ── traces ──────────────────────────────────────────────────────────────────────────

interface OpenTeacher {
  teacher: ReasoningTeacher;
  /** The teacher's [Symbol.asyncDispose]: frees its sockets, model or llama.cpp context. */
  close(): Promise<void>;
  retries?: () => number;
  cost?: () => number;
  /** The teacher's tokenizer where we run it (--lm): its top-k then go to the top-k store, not JSON. */
  tokenizer?: Tokenizer;
  /** More for the progress line (a pool: endpoints up, failovers). */
  extra?: () => string;
  /** Lines for the end of the run (a pool: each endpoint's counts). */
  summary?: () => string[];
}

/** --price 'IN' or 'IN,OUT' (parsed by main.ts's list parser): USD per million prompt and completion tokens. */
function parsePrice(v: unknown): { inputPerMTok: number; outputPerMTok: number } | undefined {
  if (v === undefined) return undefined;
  const parts = v as number[];
  return { inputPerMTok: parts[0], outputPerMTok: parts[1] ?? parts[0] };
}

/** Exactly one of --base-url, --lm, --gguf. */
async function openTeacher(o: Opts, concurrency: number): Promise<OpenTeacher> {
  const given = (['baseUrl', 'lm', 'gguf'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1)
    throw new ConfigError(`give exactly one teacher: --base-url URL --model NAME (an OpenAI-compatible server), --lm DIR (an LM folder) or --gguf FILE${given.length ? `; got ${given.length}` : ''}`);
  if (o.baseUrl !== undefined) {
    const { HttpTeacher } = await import('../reason/teachers/http.js');
    const urls = String(o.baseUrl).split(',').map((s) => s.trim()).filter(Boolean);
    const models = needed(o, 'model', '--model (with --base-url)').split(',').map((s) => s.trim());
    const common = {
      apiKeyEnv: (o.apiKeyEnv as string | undefined) ?? 'OPENAI_API_KEY', concurrency,
      requestsPerMinute: intFlag(o, 'rpm', '--rpm', undefined, 1), tokensPerMinute: intFlag(o, 'tpm', '--tpm', undefined, 1),
      timeoutMs: ((o.timeout as number | undefined) ?? 600) * 1000, prices: parsePrice(o.price), log: say,
    };
    if (urls.length === 1 && o.weights === undefined) {
      const t = new HttpTeacher({ ...common, baseURL: urls[0], model: models[0], maxRetries: intFlag(o, 'maxRetries', '--max-retries', 5) });
      if (models.length > 1) throw new ConfigError('--model lists several names but --base-url has one URL');
      return { teacher: t, close: () => t[Symbol.asyncDispose](), retries: () => t.stats().retries, cost: () => t.stats().costUsd };
    }
    return openPool(o, urls, models, common);
  }
  if (o.rpm !== undefined || o.tpm !== undefined) say('note: --rpm and --tpm limit HTTP teachers only; ignored');
  if (o.lm !== undefined) {
    const { LocalTeacher } = await import('../reason/teachers/local.js');
    const t = LocalTeacher.load(String(o.lm), undefined, { dtype: checkLmDtype(o.dtype ?? 'float32', '--dtype') });
    return { teacher: t, tokenizer: t.tokenizer, close: () => t[Symbol.asyncDispose]() };
  }
  const { GgufTeacher } = await import('../reason/teachers/gguf.js');
  const t = await GgufTeacher.load(String(o.gguf), { threads: intFlag(o, 'threads', '--threads', undefined, 1) });
  return { teacher: t, close: () => t[Symbol.asyncDispose]() };
}

/** Several endpoints (--base-url A,B,C [--weights 2,1,1]) as one TeacherPool; --rpm/--tpm/--concurrency apply per endpoint. */
async function openPool(o: Opts, urls: string[], models: string[], common: Omit<import('../reason/teachers/http.js').HttpTeacherOptions, 'baseURL' | 'model'>): Promise<OpenTeacher> {
  const { TeacherPool } = await import('../reason/teachers/pool.js');
  type HttpTeacher = import('../reason/teachers/http.js').HttpTeacher;
  if (models.length !== 1 && models.length !== urls.length) throw new ConfigError(`--model: give one name, or one per --base-url URL (${urls.length}); got ${models.length}`);
  // Each weight is a positive number already (main.ts's list parser); one per URL is checked here.
  const weights = (o.weights as number[] | undefined) ?? urls.map(() => 1);
  if (weights.length !== urls.length) throw new ConfigError(`--weights must be ${urls.length} positive numbers, one per --base-url URL; got '${weights.join(',')}'`);
  // A failing endpoint should hand its request to another quickly: one retry of its own, not five.
  const maxRetries = intFlag(o, 'maxRetries', '--max-retries', 1);
  // The pool's name is in every trace id: the first model's name, so a list of aliases of one model resumes as one.
  const pool = TeacherPool.http(urls.map((baseURL, i) => ({ baseURL, model: models[models.length === 1 ? 0 : i], weight: weights[i] })),
    { ...common, maxRetries }, { name: models[0], log: say });
  const teachers = pool.teachers as HttpTeacher[];
  const sum = (f: (t: HttpTeacher) => number) => () => teachers.reduce((n, t) => n + f(t), 0);
  return {
    teacher: pool, close: () => pool[Symbol.asyncDispose](), retries: sum((t) => t.stats().retries), cost: sum((t) => t.stats().costUsd),
    extra: () => {
      const s = pool.stats();
      return ` · endpoints up ${s.endpoints.filter((e) => e.state === 'up').length}/${s.endpoints.length}${s.failovers ? ` · failovers ${s.failovers}` : ''}`;
    },
    summary: () => pool.stats().endpoints.map((e) =>
      `endpoint ${e.label} (weight ${e.weight}): ${e.requests} requests, ${e.completions} answered, ${e.failures} failed, ${e.state}${e.lastError && e.failures ? ` (last error: ${e.lastError})` : ''}`),
  };
}

/** A live line on a terminal; elsewhere (logs, CI) a line at most every 5 s. */
function progressPrinter(extra: () => string): { update(p: GenerateProgress): void; done(): void } {
  const tty = process.stderr.isTTY;
  let last = 0, shown = false;
  return {
    update(p) {
      const now = Date.now();
      const done = p.skipped + p.written + (p.byOthers ?? 0);
      const finished = done + p.failed >= p.planned;
      if (!tty && now - last < 5000 && !finished) return;
      last = now;
      const line = `traces ${done}/${p.planned}${p.skipped ? ` (${p.skipped} from earlier runs)` : ''}${p.byOthers ? ` (${p.byOthers} by other workers)` : ''} · kept ${p.kept} · rejected ${p.rejected} · failed ${p.failed} · in flight ${p.inFlight}${extra()}`;
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      else say(line);
      shown = tty;
    },
    done() {
      if (shown) process.stderr.write('\n');
      shown = false;
    },
  };
}

export async function runTraces(o: Opts): Promise<number> {
  const problemsFile = needed(o, 'problems', '--problems');
  const outDir = needed(o, 'out', '--out');
  const samples = intFlag(o, 'samples', '--samples', 1, 1)!;
  const preset = oneOf(o, 'preset', '--preset', Object.keys(PRESETS) as PresetName[], 'deepseek-r1');
  const topLogprobs = intFlag(o, 'topLogprobs', '--top-logprobs', undefined, 1);
  const concurrency = intFlag(o, 'concurrency', '--concurrency', 4, 1)!;
  const maxTokens = intFlag(o, 'maxTokens', '--max-tokens', undefined, 1);
  const seed = intFlag(o, 'seed', '--seed', undefined);
  const onError = oneOf(o, 'onError', '--on-error', ['stop', 'skip'] as const, 'stop');
  const price = parsePrice(o.price);
  const worker = o.worker === undefined ? undefined : checkWorkerName(String(o.worker));
  const chunkSize = intFlag(o, 'chunkSize', '--chunk-size', undefined, 1);
  const leaseTtl = intFlag(o, 'leaseTtl', '--lease-ttl', undefined, 1);
  if (worker === undefined && (chunkSize !== undefined || leaseTtl !== undefined)) throw new ConfigError('--chunk-size and --lease-ttl need --worker NAME');
  const problems = readProblemsFile(problemsFile); // a malformed file fails here, before any request
  const t = await openTeacher(o, concurrency);

  // Ctrl-C: stop sending, let requests in flight be cancelled, keep everything written.
  const ac = new AbortController();
  const stop = () => (ac.signal.aborted ? process.exit(130) : ac.abort(new Error('interrupted')));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const progress = progressPrinter(() => (t.retries?.() ? ` · retries ${t.retries()}` : '') + (t.extra?.() ?? ''));
  let r;
  try {
    r = await generateTraces({
      teacher: t.teacher, problems, samples, out: outDir, preset, maxTokens, topLogprobs, topkTokenizer: t.tokenizer, seed, concurrency, onError,
      onProgress: (p) => !o.json && progress.update(p), signal: ac.signal,
      worker, chunkSize, leaseTtlMs: leaseTtl === undefined ? undefined : leaseTtl * 1000, log: say,
    });
  } finally {
    progress.done();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    for (const line of t.summary?.() ?? []) say(line);
    await t.close();
  }
  if (r.stopped) {
    say(`interrupted: ${r.skipped + r.written} of ${r.planned} traces are in ${r.file}; rerun the same command to resume`);
    return 130;
  }
  // Every traces file in the folder (a shared run's workers, an earlier single run), each trace once.
  const card = datasetCard(mergeTraces(outDir), {
    name: basename(resolve(outDir)), pricePerMTokens: price ? ({ prompt: price.inputPerMTok, completion: price.outputPerMTok } satisfies TokenPrice) : undefined,
  });
  writeFileAtomic(join(outDir, 'card.json'), JSON.stringify(card.json, null, 1) + '\n');
  writeFileAtomic(join(outDir, 'card.md'), card.markdown);
  if (o.json) console.log(JSON.stringify({ ...r, card: card.json }));
  else {
    const why = Object.entries(r.reasons).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log([
      `traces: ${r.planned} planned · ${r.skipped} already in the file · ${r.written} written (${r.kept} kept, ${r.rejected} rejected${why ? `: ${why}` : ''}) · ${r.failed} failed`,
      `tokens this run: ${r.promptTokens.toLocaleString('en-US')} prompt + ${r.completionTokens.toLocaleString('en-US')} completion${t.cost && price ? `; cost $${t.cost().toFixed(4)}` : ''}`,
      `dataset: ${card.json.samples} traces, ${card.json.accepted} accepted (${(card.json.acceptanceRate * 100).toFixed(1)}%) → ${r.shared ? `${outDir}/traces*.jsonl` : r.file}, ${join(outDir, 'card.md')}, card.json`,
      ...(r.shared ? [`shared run: worker ${r.shared.worker} · chunks done ${r.shared.chunksDone}/${r.shared.chunks} (${r.shared.claimed} claimed here, ${r.shared.stolen} taken over from lapsed leases)` +
        `${r.shared.complete ? ' · complete' : ' · incomplete: rerun any worker to finish'}; ${r.byOthers ?? 0} answered by other workers meanwhile`] : []),
    ].join('\n'));
  }
  if (r.failed > 0) say(`${r.failed} requests failed and were skipped (--on-error skip); rerun the same command to retry them`);
  return r.failed > 0 ? 2 : 0;
}

// ── export ──────────────────────────────────────────────────────────────────────────

export async function runReasonExport(o: Opts): Promise<number> {
  const tracesFile = needed(o, 'traces', '--traces');
  const out = needed(o, 'out', '--out');
  const format = oneOf<TraceFormat>(o, 'format', '--format', ['messages', 'sharegpt', 'alpaca'], 'messages');
  const reasoning = oneOf<ReasoningPlacement>(o, 'reasoning', '--reasoning', ['inline', 'field'], 'inline');
  // A folder: every traces file in it (a shared run's workers), each trace once.
  const traces = statSync(tracesFile, { throwIfNoEntry: false })?.isDirectory() ? mergeTraces(tracesFile) : readTracesFile(tracesFile);
  const chosen = o.includeRejected ? traces : traces.filter((t) => t.verdict.ok);
  if (o.eval !== undefined) {
    const evalSet = readProblemsFile(String(o.eval));
    try {
      assertNoOverlap(chosen.map((t) => ({ id: t.problemId, question: t.question })), evalSet.map((p) => ({ id: p.id, question: p.question })));
    } catch (e) {
      throw new ConfigError(`${tracesFile} against ${String(o.eval)}: ${(e as Error).message}`);
    }
  }
  const n = writeTraces(out, chosen, { format, reasoning, system: o.system as string | undefined, includeRejected: true });
  if (n === 0 && traces.length > 0) say(`note: none of the ${traces.length} traces was accepted; ${out} is empty (--include-rejected exports them anyway)`);
  if (o.json) console.log(JSON.stringify({ out: resolve(out), records: n, traces: traces.length, format, reasoning, checkedAgainst: o.eval ?? null }));
  else
    console.log(`wrote ${n} ${format} records to ${out} (reasoning ${reasoning}) from ${traces.length} traces` +
      `${o.includeRejected ? ', rejected ones included' : ` (${traces.length - n} rejected left out)`}${o.eval ? `; no overlap with ${String(o.eval)}` : ''}`);
  return 0;
}

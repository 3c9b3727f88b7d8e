// Trace generation: ask a teacher for N samples per problem, judge each, and append every
// answer to <out>/traces.jsonl — kept and rejected alike, each with its verdict, so the
// rejection rate and its reasons can be studied and nothing paid for is thrown away.
//
// Resume without repeating a paid request: a trace's id is the sha256 of the canonical
// request (model, messages, sampling, sample index). On start the ids already in the file
// are read (a torn last line from a kill is cut away); a request whose id is there is never
// sent again. An answer is appended and fsynced before it counts as done, so a kill -9 at any
// moment loses at most the requests in flight, which were never recorded.
//
// Several processes can share one folder (option `worker`): each appends to its own
// traces.<worker>.jsonl and takes chunks of the plan by lease (lease.ts, chunk_feeder.ts).
// Every run, shared or not, treats a request as answered when its id is in ANY traces*.jsonl
// of the folder; mergeTraces (trace_dir.ts) is the union, each id once.
import { setMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DistillError } from '../../torch/errors.js';
import type { ChatRequest, Completion, Problem, ReasoningTeacher, Trace, Verdict } from '../types.js';
import { checkAnswer } from '../verify.js';
import { filterTrace, type FilterOptions } from '../filters.js';
import { TraceLog } from './trace_log.js';
import { TraceTopkWriter } from './topk_traces.js';
import type { Tokenizer } from '../../lm/tokenizer.js';
import { TraceDirReader, traceFile } from './trace_dir.js';
import type { Lease } from './lease.js';
import { openShared, type ChunkFeeder, type JobSource } from './chunk_feeder.js';
import { sleep } from '../teachers/retry.js';

/** One request of the plan: a sample of a problem, with its trace id. */
interface Job {
  problem: Problem;
  sample: number;
  req: ChatRequest;
  id: string;
}

/** How a problem becomes a request. */
export interface Preset {
  /** A system prompt; DeepSeek advise none for R1 (every instruction goes in the user prompt). */
  system?: string;
  /** Appended to the question, per language: the instruction to reason and box the answer. */
  suffix: { en: string; zh: string };
  temperature: number;
  topP?: number;
  topK?: number;
}

// DeepSeek-R1's usage recommendations (model card): temperature 0.5–0.7 (0.6), top-p 0.95, no
// system prompt, and for maths "Please reason step by step, and put your final answer within
// \boxed{}." The Chinese problems get the same instruction in Chinese: an English instruction
// pulls a Chinese answer towards mixed language, which the filters then reject.
const R1_SUFFIX = {
  en: '\nPlease reason step by step, and put your final answer within \\boxed{}.',
  zh: '\n请逐步推理，并将最终答案写在 \\boxed{} 中。',
};
export const PRESETS = {
  'deepseek-r1': { suffix: R1_SUFFIX, temperature: 0.6, topP: 0.95 },
  /** Temperature 0: one deterministic answer per problem (samples > 1 repeat it on servers without seeds). */
  greedy: { suffix: R1_SUFFIX, temperature: 0 },
  /** R1's sampling on the bare question: for a teacher trained without the instruction, like ours. */
  bare: { suffix: { en: '', zh: '' }, temperature: 0.6, topP: 0.95 },
} as const satisfies Record<string, Preset>;
export type PresetName = keyof typeof PRESETS;

export interface GenerateTracesOptions {
  teacher: ReasoningTeacher;
  problems: readonly Problem[];
  /** Samples per problem. */
  samples: number;
  /** Output folder; the file is `<out>/traces.jsonl`. */
  out: string;
  preset?: PresetName | Preset;
  /** Completion budget per request (default 32768, DeepSeek's evaluation setting); hitting it marks the trace 'truncated'. */
  maxTokens?: number;
  /** Ask for top-k token log-probabilities (for token-level KD) where the teacher gives them. */
  topLogprobs?: number;
  /**
   * The teacher's tokenizer: with topLogprobs, the top-k go to the top-k store `<out>/topk`
   * (topk_traces.ts) instead of JSON in the traces file. Without it they stay JSON.
   */
  topkTokenizer?: Tokenizer;
  /** When set, sample i is sent with seed + i (reproducible on servers that honour seeds). */
  seed?: number;
  /** Requests kept in flight by the generator (default 4); the teacher may cap lower. */
  concurrency?: number;
  /** After a request fails all its retries: 'stop' (default) ends the job with an error, 'skip' goes on. */
  onError?: 'skip' | 'stop';
  filter?: FilterOptions;
  onProgress?: (p: GenerateProgress) => void;
  signal?: AbortSignal;
  /**
   * Run as one of several workers sharing `out` (same problems and settings, any machines with
   * a shared filesystem): this process appends to `traces.<worker>.jsonl` and takes chunks of
   * the plan by lease (lease.ts), so no request is sent by two live workers. Unset: one process.
   */
  worker?: string;
  /** Shared runs: requests per chunk (default 32); every worker must use the same. */
  chunkSize?: number;
  /** Shared runs: a lease lapses this long after its holder stops renewing it (default 60 s). */
  leaseTtlMs?: number;
  /** Shared runs: how often a worker with nothing to claim looks again at others' chunks (default min(1 s, ttl/4)). */
  pollMs?: number;
  /** Shared runs: one line per lease taken over or lost. */
  log?: (line: string) => void;
}

export interface GenerateProgress {
  /** Requests this problem set needs in all. */
  planned: number;
  /** Answered in an earlier run (found in the file). */
  skipped: number;
  written: number;
  kept: number;
  rejected: number;
  failed: number;
  inFlight: number;
  /** Shared runs: answered by other workers while this one ran. */
  byOthers?: number;
}

export interface GenerateTracesResult extends GenerateProgress {
  file: string;
  /** Rejections by verdict reason ('wrong-answer', 'truncated', …). */
  reasons: Record<string, number>;
  /** Bytes of a torn last line cut on start. */
  tornBytes: number;
  promptTokens: number;
  completionTokens: number;
  /** Set when the job ended early: 'aborted' by the caller's signal. */
  stopped?: 'aborted';
  /** Shared runs: the chunks, how many are done (by anyone), how many this worker claimed or took over from a lapsed lease. */
  shared?: { worker: string; chunks: number; chunksDone: number; claimed: number; stolen: number; complete: boolean };
}

/** The job stopped on a teacher failure (onError 'stop'); `result` counts what was done. */
export class GenerateError extends DistillError {
  constructor(message: string, readonly result: GenerateTracesResult, override readonly cause?: unknown) {
    super('ERR_GENERATE', message);
  }
}

export function resolvePreset(p: PresetName | Preset | undefined): Preset {
  if (p === undefined) return PRESETS['deepseek-r1'];
  if (typeof p !== 'string') return p;
  const preset = (PRESETS as Record<string, Preset>)[p];
  if (!preset) throw new DistillError('ERR_CONFIG', `unknown preset ${JSON.stringify(p)}; known: ${Object.keys(PRESETS).join(', ')}`);
  return preset;
}

/** The request for one sample of one problem. */
export function buildRequest(problem: Problem, preset: Preset, o: { maxTokens?: number; topLogprobs?: number; seed?: number }, sample: number): ChatRequest {
  const messages: ChatRequest['messages'] = [];
  if (preset.system) messages.push({ role: 'system', content: preset.system });
  messages.push({ role: 'user', content: problem.question + preset.suffix[problem.lang] });
  const req: ChatRequest = { messages, temperature: preset.temperature };
  if (preset.topP !== undefined) req.topP = preset.topP;
  if (preset.topK !== undefined) req.topK = preset.topK;
  req.maxTokens = o.maxTokens ?? 32768;
  if (o.topLogprobs !== undefined) req.topLogprobs = o.topLogprobs;
  if (o.seed !== undefined) req.seed = o.seed + sample;
  return req;
}

/** JSON with sorted keys and no undefined values: the same request always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** sha256 of (model, request, sample index): the resume key. */
export function traceId(model: string, req: ChatRequest, sample: number): string {
  return createHash('sha256').update(canonical({ model, request: req, sample })).digest('hex');
}

/** Truncated first (no answer to check), then the answer, then the quality filters. */
export function judge(c: Completion, problem: Problem, filter?: FilterOptions): Verdict {
  if (c.finishReason === 'length') return { ok: false, reason: 'truncated', extracted: null };
  const v = checkAnswer(c.content, problem);
  if (!v.ok) return v;
  const why = filterTrace({ reasoning: c.reasoning, content: c.content }, problem.lang, filter);
  return why ? { ok: false, reason: why, extracted: v.extracted } : v;
}

export async function generateTraces(o: GenerateTracesOptions): Promise<GenerateTracesResult> {
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new DistillError('ERR_CONFIG', `samples must be a positive integer, got ${o.samples}`);
  const preset = resolvePreset(o.preset);
  const model = o.teacher.name;

  // The plan: every (problem, sample), in problem order, each id once (a problem listed twice is asked once).
  const plan: Job[] = [];
  const planned = new Set<string>();
  for (const problem of o.problems)
    for (let sample = 0; sample < o.samples; sample++) {
      const req = buildRequest(problem, preset, o, sample);
      const id = traceId(model, req, sample);
      if (planned.has(id)) continue;
      planned.add(id);
      plan.push({ problem, sample, req, id });
    }

  const log = TraceLog.open(traceFile(o.out, o.worker));
  let topk: TraceTopkWriter | undefined;
  try {
    if (o.topkTokenizer && o.topLogprobs) topk = new TraceTopkWriter(o.out, model, o.topkTokenizer, o.topLogprobs);
  } catch (e) {
    log.close();
    throw e;
  }
  let byOthers = 0;
  let started = false; // ids found by the first read were answered before this run
  // Answered requests are those in ANY traces file of the folder: this one, other workers', a single-process run's.
  const reader = new TraceDirReader(o.out, (id, file) => {
    if (started && file !== log.path && planned.has(id)) byOthers++;
  });
  let source: JobSource<Job>;
  let feeder: ChunkFeeder<Job> | undefined;
  let workerLease: Lease | null = null;
  const pollMs = o.pollMs ?? Math.min(1000, (o.leaseTtlMs ?? 60_000) / 4);
  try {
    const known = reader.refresh();
    started = true;
    if (o.worker === undefined) {
      const todo = plan.filter((j) => !known.has(j.id));
      let next = 0;
      source = { next: () => todo[next++] };
    } else {
      ({ feeder, workerLease } = openShared(plan, join(o.out, 'leases'), () => reader.refresh(), { ...o, worker: o.worker, pollMs }));
      source = feeder;
    }
  } catch (e) {
    log.close();
    topk?.close();
    throw e;
  }
  const skipped = plan.filter((j) => reader.ids.has(j.id)).length;
  const r: GenerateTracesResult = {
    file: log.path, planned: plan.length, skipped, written: 0, kept: 0, rejected: 0, failed: 0,
    inFlight: 0, reasons: {}, tornBytes: log.tornBytes, promptTokens: 0, completionTokens: 0,
  };
  const progress = () => o.onProgress?.({
    planned: r.planned, skipped: r.skipped, written: r.written, kept: r.kept, rejected: r.rejected, failed: r.failed, inFlight: r.inFlight,
    ...(feeder ? { byOthers } : {}),
  });

  // One controller for everything in flight: the caller's abort or a write failure cancels it.
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one listener per request in flight: dozens is expected, not a leak
  const onAbort = () => ac.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  let fatal: unknown = null; // a write error: stop at once
  let teacherError: { err: unknown; problemId: string; sample: number } | null = null; // onError 'stop': finish in-flight, start nothing new

  const worker = async () => {
    while (!fatal && !teacherError && !ac.signal.aborted) {
      const job = source.next();
      if (job === undefined) return;
      if (job === 'wait') {
        // Others hold the remaining chunks: look again shortly (they finish them, or their leases lapse).
        await sleep(pollMs, ac.signal).catch(() => undefined);
        continue;
      }
      r.inFlight++;
      let c: Completion;
      try {
        c = await o.teacher.complete(job.req, ac.signal);
      } catch (e) {
        r.inFlight--;
        source.settled?.(job, false);
        if (ac.signal.aborted) return; // cancelled, not failed: the next run sends it
        r.failed++;
        if ((o.onError ?? 'stop') === 'stop' && !teacherError) teacherError = { err: e, problemId: job.problem.id, sample: job.sample };
        progress();
        continue;
      }
      r.inFlight--;
      if (fatal) return; // another worker's write failed: the file is closed to us
      const verdict = judge(c, job.problem, o.filter);
      const trace: Trace = {
        id: job.id, problemId: job.problem.id, sample: job.sample, question: job.problem.question, answer: job.problem.answer,
        reasoning: c.reasoning, content: c.content, finishReason: c.finishReason, usage: c.usage, model: c.model, verdict,
        createdAt: new Date().toISOString(),
      };
      try {
        // The store's record is durable before the line that points at it.
        if (c.logprobs && !topk?.keep(trace, c.logprobs)) trace.logprobs = c.logprobs;
        log.append(trace);
      } catch (e) {
        fatal = e;
        ac.abort(e);
        return;
      }
      r.written++;
      source.settled?.(job, true);
      r.promptTokens += c.usage.promptTokens;
      r.completionTokens += c.usage.completionTokens;
      if (verdict.ok) r.kept++;
      else {
        r.rejected++;
        r.reasons[verdict.reason] = (r.reasons[verdict.reason] ?? 0) + 1;
      }
      progress();
    }
  };

  try {
    progress();
    const n = Math.max(1, Math.min(o.concurrency ?? 4, feeder ? Infinity : r.planned - r.skipped));
    await Promise.all(Array.from({ length: n }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    source.close?.();
    workerLease?.drop();
    log.close();
    topk?.close();
  }
  if (feeder) {
    const chunksDone = feeder.doneCount();
    r.shared = { worker: o.worker!, chunks: feeder.chunks, chunksDone, claimed: feeder.claimed, stolen: feeder.stolen, complete: chunksDone === feeder.chunks };
  }
  if (fatal) throw fatal;
  if (teacherError) {
    const { err, problemId, sample } = teacherError;
    throw new GenerateError(
      `teacher ${model} failed on problem ${problemId} sample ${sample}: ${(err as Error).message}. ` +
        `${reader.refresh().size} traces are in ${feeder ? o.out : log.path}; rerun the same command to resume.`, r, err);
  }
  if (o.signal?.aborted) r.stopped = 'aborted';
  return r;
}

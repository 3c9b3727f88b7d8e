// Trace generation: ask a teacher for N samples per problem, judge each, and append every
// answer to <out>/traces.jsonl — kept and rejected alike, each with its verdict, so the
// rejection rate and its reasons can be studied and nothing paid for is thrown away.
//
// Resume without repeating a paid request: a trace's id is the sha256 of the canonical
// request (model, messages, sampling, sample index). On start the ids already in the file
// are read (a torn last line from a kill is cut away); a request whose id is there is never
// sent again. An answer is appended and fsynced before it counts as done, so a kill -9 at any
// moment loses at most the requests in flight, which were never recorded.
import { setMaxListeners } from 'node:events';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DistillError } from '../../torch/errors.js';
import type { ChatRequest, Completion, Problem, ReasoningTeacher, Trace, Verdict } from '../types.js';
import { checkAnswer } from '../verify.js';
import { filterTrace, type FilterOptions } from '../filters.js';
import { TraceLog } from './trace_log.js';

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
  /** When set, sample i is sent with seed + i (reproducible on servers that honour seeds). */
  seed?: number;
  /** Requests kept in flight by the generator (default 4); the teacher may cap lower. */
  concurrency?: number;
  /** After a request fails all its retries: 'stop' (default) ends the job with an error, 'skip' goes on. */
  onError?: 'skip' | 'stop';
  filter?: FilterOptions;
  onProgress?: (p: GenerateProgress) => void;
  signal?: AbortSignal;
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
  const log = TraceLog.open(join(o.out, 'traces.jsonl'));
  const model = o.teacher.name;

  // The plan: every (problem, sample) not already answered, in problem order.
  const todo: { problem: Problem; sample: number; req: ChatRequest; id: string }[] = [];
  const planned = new Set<string>();
  for (const problem of o.problems)
    for (let sample = 0; sample < o.samples; sample++) {
      const req = buildRequest(problem, preset, o, sample);
      const id = traceId(model, req, sample);
      if (planned.has(id)) continue; // the same problem listed twice
      planned.add(id);
      if (!log.ids.has(id)) todo.push({ problem, sample, req, id });
    }
  const r: GenerateTracesResult = {
    file: log.path, planned: planned.size, skipped: planned.size - todo.length, written: 0, kept: 0, rejected: 0, failed: 0,
    inFlight: 0, reasons: {}, tornBytes: log.tornBytes, promptTokens: 0, completionTokens: 0,
  };
  const progress = () => o.onProgress?.({
    planned: r.planned, skipped: r.skipped, written: r.written, kept: r.kept, rejected: r.rejected, failed: r.failed, inFlight: r.inFlight,
  });

  // One controller for everything in flight: the caller's abort or a write failure cancels it.
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // one listener per request in flight: dozens is expected, not a leak
  const onAbort = () => ac.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  let fatal: unknown = null; // a write error: stop at once
  let teacherError: { err: unknown; problemId: string; sample: number } | null = null; // onError 'stop': finish in-flight, start nothing new
  let next = 0;

  const worker = async () => {
    while (next < todo.length && !fatal && !teacherError && !ac.signal.aborted) {
      const job = todo[next++];
      r.inFlight++;
      let c: Completion;
      try {
        c = await o.teacher.complete(job.req, ac.signal);
      } catch (e) {
        r.inFlight--;
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
      if (c.logprobs) trace.logprobs = c.logprobs;
      try {
        log.append(trace);
      } catch (e) {
        fatal = e;
        ac.abort(e);
        return;
      }
      r.written++;
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
    const n = Math.max(1, Math.min(o.concurrency ?? 4, todo.length));
    await Promise.all(Array.from({ length: n }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    log.close();
  }
  if (fatal) throw fatal;
  if (teacherError) {
    const { err, problemId, sample } = teacherError;
    throw new GenerateError(
      `teacher ${model} failed on problem ${problemId} sample ${sample}: ${(err as Error).message}. ` +
        `${log.existing + r.written} traces are in ${log.path}; rerun the same command to resume.`, r, err);
  }
  if (o.signal?.aborted) r.stopped = 'aborted';
  return r;
}

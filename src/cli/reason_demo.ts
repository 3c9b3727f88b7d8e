// `distill demo reasoning`: R1-style distillation offline, end to end.
//   1. the shipped teacher (a Llama-style LM trained on chickens-and-rabbits solutions)
//      is served by our OpenAI-compatible server on 127.0.0.1;
//   2. the HTTP teacher client samples traces for training problems (with top-k
//      log-probabilities), and the verifier keeps the correct ones;
//   3. the teacher pruned to the student size (src/lm/prune.ts), and three equal students
//      starting from it: (a) answers only, (b) SFT on the traces, (c) SFT + token-level KD;
//   4. pass@1 on held-out problems and the seed's table.
// Every stage resumes: traces by request id, students by checkpoint, finished models by folder.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../torch/index.js';
import { writeFileAtomic } from '../io/index.js';
import { countLmParameters, lmConfig, type CausalLM, type LmConfig } from '../lm/model.js';
import { loadLm, saveLm } from '../lm/checkpoint.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { generateProblems } from '../reason/problems/index.js';
import { assertNoOverlap } from '../reason/traces/overlap.js';
import { generateTraces } from '../reason/traces/generate.js';
import { datasetCard } from '../reason/traces/card.js';
import { HttpTeacher } from '../reason/teachers/http.js';
import { LocalTeacher } from '../reason/teachers/local.js';
import { prunedStudent, type StudentKind } from '../reason/students.js';
import { loadTraces, trainedWith, trainStudent, trainStudentInChild, type StudentJob } from './reason_student.js';
import { evaluateLm, type LmEvaluation } from '../reason/evaluate.js';
import { startOpenAIServer } from '../serve/openai_server.js';
import type { Trace } from '../reason/types.js';
import { formatBytes, formatCount, formatPercent } from '../eval/format.js';
import { REASONING_DEFAULTS } from './reason_defaults.js';

export const SHIPPED_TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));

export interface ReasoningDemoOptions {
  teacher?: string;
  out?: string;
  /** Training problems to sample traces for (both languages count). */
  problems?: number;
  samples?: number;
  /** Held-out problems evaluated (all 322 by default). */
  evalProblems?: number;
  steps?: number;
  batchSize?: number;
  lr?: number;
  alpha?: number;
  T?: number;
  topLogprobs?: number;
  seed?: number;
  student?: Partial<LmConfig>;
  /** 'pruned': the students start as the teacher pruned to their size (Minitron); 'scratch': random init. */
  init?: 'pruned' | 'scratch';
  threads?: number;
  /** Students trained at once, each in its own one-thread process (default: all three). */
  parallel?: number;
  onNote?: (msg: string) => void;
  onProgress?: (label: string, done: number, total: number) => void;
}

/** One model's line of the table: its evaluation (less the answers) and its size. */
export type ReasoningRow = Omit<LmEvaluation, 'answers'> & { model: string; params: number; sizeBytes: number };

/**
 * The students' common start: the teacher pruned to the student's size (prunedStudent).
 * Deterministic, so a resumed run recomputes the same weights. Returns the folder and the
 * exact student config.
 */
function prunedInit(dir: string, teacherDir: string, teacher: CausalLM, tok: Tokenizer, traces: readonly Trace[], size: LmConfig): { init: string; config: LmConfig } {
  const { model, importance, sequences, residual } = prunedStudent(teacher, traces, tok, size);
  const init = join(dir, 'student-init');
  try {
    saveLm(init, model, tok, { info: { prunedFrom: teacherDir, residual, calibrationSequences: sequences, layerImportance: Array.from(importance.layers) } });
    return { init, config: model.cfg };
  } finally {
    model.dispose();
  }
}

function folderBytes(dir: string): number {
  return statSync(join(dir, 'model.safetensors')).size + statSync(join(dir, 'lm.json')).size;
}

export async function runReasoningDemo(opts: ReasoningDemoOptions): Promise<{ rows: ReasoningRow[]; dir: string; card: unknown }> {
  const o = { ...REASONING_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof REASONING_DEFAULTS & ReasoningDemoOptions;
  const note = o.onNote ?? (() => {});
  const dir = o.out ?? 'runs/reasoning-demo';
  mkdirSync(dir, { recursive: true });
  // One thread by default: the students train one per core in child processes, and batched
  // decoding of these small LMs gains only ~10% from a second thread (teacher: 1,486 →
  // 1,630 tokens/s, measured 2026-11-28), so the other core is left to the server's client.
  torch.setNumThreads(o.threads ?? 1);
  const teacherDir = o.teacher ?? SHIPPED_TEACHER;
  const teacher = LocalTeacher.load(teacherDir, 'teacher');
  const tok = teacher.tokenizer;

  // ── problems: train and test never share a problem (split by id), checked again here ──
  const train = generateProblems({ families: ['chickens-rabbits'], n: o.problems, seed: o.seed, split: 'train', lang: 'both' });
  const test = generateProblems({ families: ['chickens-rabbits'], n: o.evalProblems, seed: o.seed + 1, split: 'test', lang: 'both' });
  assertNoOverlap(train, test);
  note(`problems: ${train.length} for traces, ${test.length} held out`);

  // ── traces through the real server and the HTTP client ──
  const server = await startOpenAIServer({ backends: [teacher.backend()] });
  try {
    const client = new HttpTeacher({ baseURL: server.baseURL, model: 'teacher', concurrency: teacher.maxBatch, apiKeyEnv: 'DISTILL_DEMO_NO_KEY' });
    const res = await generateTraces({
      teacher: client, problems: train, samples: o.samples, out: join(dir, 'traces'), preset: 'bare',
      maxTokens: 256, topLogprobs: o.topLogprobs, seed: o.seed, concurrency: teacher.maxBatch,
      topkTokenizer: tok, // the served teacher is ours: its top-k go to the top-k store traces/topk/
      onProgress: (p) => o.onProgress?.('traces', p.skipped + p.written + p.failed, p.planned),
    });
    note(`traces: ${res.kept} kept of ${res.written + res.skipped} (${res.skipped} from an earlier run)`);
  } finally {
    await server.close();
  }
  const tracesPath = join(dir, 'traces', 'traces.jsonl');
  const traces: Trace[] = loadTraces(tracesPath);
  const card = datasetCard(traces, { name: 'chickens-rabbits traces' });
  writeFileAtomic(join(dir, 'traces', 'card.md'), card.markdown);
  writeFileAtomic(join(dir, 'traces', 'card.json'), JSON.stringify(card.json, null, 1) + '\n');

  // ── three students of one size, the same seed ──
  const size = lmConfig({ ...REASONING_DEFAULTS.student, ...o.student, vocabSize: tok.vocabSize });
  const { init, config: cfg } = o.init === 'pruned' ? prunedInit(dir, teacherDir, teacher.model, tok, traces, size) : { init: undefined, config: size };
  if (init) note(`students start from the teacher pruned to ${formatCount(countLmParameters(cfg))} parameters (${init})`);
  const kinds: [StudentKind, string][] = [['answer-only', 'student-a-answers'], ['sft', 'student-b-sft'], ['sft+kd', 'student-c-sft-kd']];
  const studentDirs: Record<string, string> = {};
  const jobs: StudentJob[] = [];
  for (const [kind, name] of kinds) {
    const out = join(dir, name);
    studentDirs[name] = out;
    const job: StudentJob = { kind, traces: tracesPath, out, config: cfg, init, tokenizer: tok.toJSON(), steps: o.steps, batchSize: o.batchSize, groupByLength: o.groupByLength, lr: o.lr, alpha: o.alpha, T: o.T, seed: o.seed, threads: 1, restartStale: true };
    if (existsSync(join(out, 'lm.json'))) {
      if (trainedWith(out, job)) {
        note(`${name}: reusing ${out}`);
        continue;
      }
      // A finished student of another recipe (other steps, α, T …) is stale: train anew.
      note(`${name}: ${out} was trained with other options; training it again`);
      rmSync(out, { recursive: true, force: true });
      rmSync(`${out}.ckpt`, { force: true });
    }
    jobs.push(job);
  }
  // The students are independent: each trains in its own process on one thread, all at once
  // by default. On 2 cores that beats two at a time, since (a)'s answer-only sequences are
  // about half as long: (1 + 1 + ½) / 2 = 1¼ of a (b) run, against 1 + ½.
  const parallel = Math.max(1, Math.min(o.parallel ?? jobs.length, jobs.length));
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const name = job.out.split('/').pop()!;
      const onStep = (step: number, steps: number, loss: number) => o.onProgress?.(`${name} (loss ${loss.toFixed(3)})`, step, steps);
      if (parallel === 1) trainStudent(job, onStep);
      else await trainStudentInChild(job, onStep);
    }
  }));

  // ── evaluation: pass@1 on held-out problems, and the table ──
  const rows: ReasoningRow[] = [];
  const entries: [string, string][] = [['teacher', teacherDir], ...kinds.map(([, n]) => [n, studentDirs[n]] as [string, string])];
  for (const [name, d] of entries) {
    const { model, tokenizer } = name === 'teacher' ? { model: teacher.model, tokenizer: tok } : loadLm(d);
    const ev: LmEvaluation = evaluateLm(model, tokenizer, test, { onProgress: (a, b) => o.onProgress?.(`eval ${name}`, a, b) });
    writeFileAtomic(join(dir, `eval-${name}.json`), JSON.stringify(ev.answers, null, 1) + '\n');
    const { answers: _answers, ...measured } = ev;
    rows.push({ model: name, params: countLmParameters(model.cfg), sizeBytes: folderBytes(d), ...measured });
    note(`${name}: pass@1 ${formatPercent(ev.accuracy)} (${ev.correct}/${ev.total})`);
  }
  writeFileAtomic(join(dir, 'results.json'), JSON.stringify({ options: { ...o, onNote: undefined, onProgress: undefined }, rows, card: card.json }, null, 1) + '\n');
  writeFileAtomic(join(dir, 'results.md'), reasoningTable(rows) + '\n');
  return { rows, dir, card: card.json };
}

export function reasoningTable(rows: readonly ReasoningRow[]): string {
  const teacher = rows.find((r) => r.model === 'teacher');
  const head = '| model | params | size | pass@1 | of teacher | tokens/s (batch 64) | tokens/s (batch 1) | peak memory |\n|---|---:|---:|---:|---:|---:|---:|---:|';
  const body = rows.map((r) =>
    `| ${r.model} | ${formatCount(r.params)} | ${formatBytes(r.sizeBytes)} | ${formatPercent(r.accuracy)} (${r.correct}/${r.total}) | ${teacher && teacher.accuracy > 0 ? `${((r.accuracy / teacher.accuracy) * 100).toFixed(0)}%` : '—'} | ${r.tokensPerSecond.toFixed(0)} | ${r.tokensPerSecondBatch1.toFixed(0)} | ${formatBytes(r.peakBytes)} |`);
  return [head, ...body].join('\n');
}

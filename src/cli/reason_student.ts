// One student of the reasoning demo, trained from the traces file: a job that runs in this
// process or, to use every core, in a child process (`node reason_student.js JOB_JSON`,
// progress back over IPC). The demo's students are independent and each trains fastest on
// one thread, so two of them on two cores take the wall time of one.
import { fork } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../torch/index.js';
import { CausalLM, type LmConfig } from '../lm/model.js';
import { loadLm, saveLm } from '../lm/checkpoint.js';
import { loadAnyLm } from '../lm/load.js';
import { ByteTokenizer, tokenizerFromJSON } from '../lm/tokenizer.js';
import { studentExamples, type StudentKind } from '../reason/students.js';
import { checkpointHasRecipe, trainLm } from '../reason/sft.js';
import type { Trace } from '../reason/types.js';
import { readTracesFile } from '../reason/files.js';
import { mergeTraces } from '../reason/traces/trace_dir.js';

export interface StudentJob {
  kind: StudentKind;
  /** traces.jsonl */
  traces: string;
  /** LM folder to write; its checkpoint sits beside it as `<out>.ckpt`. */
  out: string;
  config: LmConfig;
  /** LM folder the student starts from (the teacher pruned to its size); absent = random init. */
  init?: string;
  tokenizer: unknown;
  steps: number;
  batchSize: number;
  /** Batch traces of similar length (trainLm's groupByLength). */
  groupByLength: boolean;
  lr: number;
  alpha: number;
  T: number;
  seed: number;
  threads: number;
  /** A checkpoint left by a run with other options is deleted (the demo owns its folder) rather than refused. */
  restartStale?: boolean;
}

export type StudentProgress = (step: number, steps: number, loss: number) => void;

/** Traces from a traces.jsonl, checked line by line, or from a (shared) traces folder: each trace once. */
export function loadTraces(path: string): Trace[] {
  if (!existsSync(path)) throw new torch.ConfigError(`${path}: no such traces file or folder`);
  return statSync(path).isDirectory() ? mergeTraces(path) : readTracesFile(path);
}

export function trainStudent(job: StudentJob, onStep?: StudentProgress): void {
  torch.setNumThreads(job.threads);
  const tok = job.tokenizer ? tokenizerFromJSON(job.tokenizer) : new ByteTokenizer();
  const examples = studentExamples(loadTraces(job.traces), tok, job.kind);
  torch.manualSeed(job.seed);
  const model = job.init ? initialModel(job.init, job.config) : new CausalLM(job.config);
  const kd = job.kind === 'sft+kd';
  // The recipe goes into the checkpoint (a resume with other options is refused) and the LM folder.
  const recipe = { kind: job.kind, steps: job.steps, alpha: kd ? job.alpha : 1, T: job.T, lr: job.lr, batchSize: job.batchSize, groupByLength: job.groupByLength, seed: job.seed, init: job.init ?? null, examples: examples.length };
  const checkpoint = `${job.out}.ckpt`, checkpointRecipe = { ...recipe, config: job.config };
  if (job.restartStale && existsSync(checkpoint) && !checkpointHasRecipe(checkpoint, checkpointRecipe)) rmSync(checkpoint);
  trainLm({
    model, examples, steps: job.steps, batchSize: job.batchSize, groupByLength: job.groupByLength, lr: job.lr, seed: job.seed, padId: tok.eosId,
    alpha: recipe.alpha, T: job.T, checkpoint, checkpointEvery: 50, recipe: checkpointRecipe,
    onStep: (s) => onStep?.(s.step, s.steps, s.loss),
  });
  saveLm(job.out, model, tok, { info: recipe });
  model.dispose();
}

/** Whether the LM folder `dir` holds a student trained with this job's recipe (as its lm.json records it). */
export function trainedWith(dir: string, job: StudentJob): boolean {
  try {
    const desc = JSON.parse(readFileSync(join(dir, 'lm.json'), 'utf8')) as { config: LmConfig; info: Record<string, unknown> };
    const i = desc.info;
    const kd = job.kind === 'sft+kd';
    return i.kind === job.kind && i.steps === job.steps && (i.init ?? null) === (job.init ?? null) && i.seed === job.seed && i.alpha === (kd ? job.alpha : 1) && i.T === job.T &&
      i.lr === job.lr && i.batchSize === job.batchSize && (i.groupByLength ?? false) === job.groupByLength && JSON.stringify(desc.config) === JSON.stringify(job.config);
  } catch {
    return false;
  }
}

/** The starting weights in `dir` (an LM or Hugging Face folder), which must have the job's config. */
function initialModel(dir: string, config: LmConfig): CausalLM {
  const { model } = loadAnyLm(dir);
  if (JSON.stringify(model.cfg) !== JSON.stringify(config)) {
    model.dispose();
    throw new torch.ConfigError(`${dir}: the initial weights have config ${JSON.stringify(model.cfg)}, but the student's is ${JSON.stringify(config)}`);
  }
  return model.train();
}

/** Runs a job in a child process; resolves when its LM folder is written. */
export function trainStudentInChild(job: StudentJob, onStep?: StudentProgress): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (m: { step: number; steps: number; loss: number }) => onStep?.(m.step, m.steps, m.loss));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0 && existsSync(join(job.out, 'lm.json'))) resolve();
      else reject(new Error(`training ${job.kind} student failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`));
    });
  });
}

// As a child: train the job given on the command line, report steps to the parent.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  try {
    trainStudent(JSON.parse(process.argv[2]) as StudentJob, (step, steps, loss) => process.send!({ step, steps, loss }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

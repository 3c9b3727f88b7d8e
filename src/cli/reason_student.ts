// One student of the reasoning demo, trained from the traces file: a job that runs in this
// process or, to use every core, in a child process (`node reason_student.js JOB_JSON`,
// progress back over IPC). The demo's students are independent and each trains fastest on
// one thread, so two of them on two cores take the wall time of one.
import { fork } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../torch/index.js';
import { CausalLM, type LmConfig } from '../lm/model.js';
import { loadLm, saveLm } from '../lm/checkpoint.js';
import { loadAnyLm } from '../lm/load.js';
import type { LmDtype } from '../lm/dtype.js';
import { ByteTokenizer, HfTokenizer, tokenizerFromJSON, type Tokenizer } from '../lm/tokenizer.js';
import { readJson, saveHfFolder } from '../lm/hf_folder.js';
import { formatLoraConfig, mergeLora, resolveLoraConfig, sameLoraConfig, type LoraConfig } from '../lm/lora.js';
import { saveLoraAdapter } from '../lm/peft.js';
import { readCheckpointInfo } from '../io/index.js';
import { studentExamples, type StudentKind } from '../reason/students.js';
import { chatFormatOf, type ChatFormat } from '../reason/student_chat.js';
import { chatTemplateFile } from '../lm/chat_template.js';
import { checkpointHasRecipe, trainLm, type Precision } from '../reason/sft.js';
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
  /** LoRA adapters on the --init model (only they train); null/absent = full fine-tuning. */
  lora?: LoraConfig | null;
  /** The LM head's loss over chunks of tokens (sft.ts). */
  chunkedLoss?: boolean;
  /** Recompute block activations in the backward pass. */
  checkpointing?: boolean;
  /** Pack each step's traces into shared rows of maxSeqLen tokens. */
  pack?: boolean;
  /** Tokens per sequence (prompt + completion); default: the model's context. */
  maxSeqLen?: number;
  /** 'bf16': the forward under bfloat16 autocast, float32 master weights (sft.ts); default fp32. */
  precision?: Precision;
  /**
   * Data parallel: 1 = ZeRO stage 1 (the optimizer state sharded over the ranks). Not in the
   * recipe: the checkpoint holds the full state either way, so a run resumes with or without it.
   */
  zero?: 0 | 1;
}

/** The adapter folder (PEFT layout) inside a LoRA student's output. */
export const ADAPTER_DIR = 'adapter';
/** The recipe record of a student written as a Hugging Face folder (an LM folder keeps it in lm.json's info). */
export const STUDENT_INFO = 'distill_student.json';

/** What a job asked for, as its checkpoint and output record it; the issue-19 options appear only when used, so older recipes compare equal. */
export function jobRecipe(job: StudentJob, examples: number): Record<string, unknown> {
  const kd = job.kind === 'sft+kd';
  return {
    kind: job.kind, steps: job.steps, alpha: kd ? job.alpha : 1, T: job.T, lr: job.lr, batchSize: job.batchSize, groupByLength: job.groupByLength, seed: job.seed, init: job.init ?? null, examples,
    ...(job.lora ? { lora: resolveLoraConfig(job.lora) } : {}),
    ...(job.chunkedLoss ? { chunkedLoss: true } : {}),
    ...(job.checkpointing ? { checkpointing: true } : {}),
    ...(job.pack ? { pack: true } : {}),
    ...(job.maxSeqLen !== undefined ? { maxSeqLen: job.maxSeqLen } : {}),
    ...(job.precision === 'bf16' ? { precision: 'bf16' } : {}),
  };
}

/** `--lora` as the user writes it, every setting spelled out: r=16,alpha=32,dropout=0,targets=q_proj+v_proj[,rslora]. */
export function loraFlag(c: LoraConfig): string {
  const r = resolveLoraConfig(c);
  return `r=${r.r},alpha=${r.alpha},dropout=${r.dropout},targets=${r.targets.join('+')}${r.rslora ? ',rslora' : ''}`;
}

/**
 * How the job's traces are rendered: the --init model's chat template, where it came from, and
 * where the reasoning goes. Saved beside the recipe (not in it: it follows from --init, so a
 * resume or rerun compares equal without it).
 */
export function studentChatFormat(job: Pick<StudentJob, 'init' | 'tokenizer'>): ChatFormat {
  const tok = job.tokenizer ? tokenizerFromJSON(job.tokenizer) : new ByteTokenizer();
  const init = job.init;
  const origin = !init ? null : init.endsWith('.gguf') ? 'GGUF metadata' : existsSync(join(init, 'lm.json')) ? 'lm.json' : chatTemplateFile(init);
  return chatFormatOf(tok, origin);
}

export type StudentProgress = (step: number, steps: number, loss: number) => void;

/** Traces from a traces.jsonl, checked line by line, or from a (shared) traces folder: each trace once. */
export function loadTraces(path: string): Trace[] {
  if (!existsSync(path)) throw new torch.ConfigError(`${path}: no such traces file or folder`);
  return statSync(path).isDirectory() ? mergeTraces(path) : readTracesFile(path);
}

/**
 * Trains and saves the student; returns the bytes of optimizer state this rank held (its shard's
 * under ZeRO-1) and the dtype the (frozen, under LoRA) base was held in.
 */
export function trainStudent(job: StudentJob, onStep?: StudentProgress, dist?: torch.ProcessGroup): { optimizerStateBytes: number; baseDtype: torch.DType } {
  torch.setNumThreads(job.threads);
  const tok = job.tokenizer ? tokenizerFromJSON(job.tokenizer) : new ByteTokenizer();
  const examples = studentExamples(loadTraces(job.traces), tok, job.kind);
  torch.manualSeed(job.seed);
  // The recipe goes into the checkpoint (a resume with other options is refused) and the output folder.
  const recipe = jobRecipe(job, examples.length);
  const checkpoint = `${job.out}.ckpt`, checkpointRecipe = { ...recipe, config: job.config };
  if (job.restartStale && existsSync(checkpoint) && !checkpointHasRecipe(checkpoint, checkpointRecipe)) rmSync(checkpoint);
  refuseOtherLora(checkpoint, job.lora ?? null);
  // LoRA under bf16: a bfloat16 --init stays bfloat16 (half the frozen base's memory; the forward
  // runs in bf16 under autocast either way, and the adapters stay float32, as PEFT keeps them).
  // Full fine-tuning keeps float32 master weights.
  const model = job.init ? initialModel(job.init, job.config, job.lora && job.precision === 'bf16' ? 'auto' : 'float32') : new CausalLM(job.config);
  const baseDtype = model.headWeight.dtype;
  try {
    const r = trainLm({
      model, examples, steps: job.steps, batchSize: job.batchSize, groupByLength: job.groupByLength, lr: job.lr, seed: job.seed, padId: tok.eosId,
      alpha: recipe.alpha as number, T: job.T, checkpoint, checkpointEvery: 50, recipe: checkpointRecipe,
      maxLen: job.maxSeqLen !== undefined ? job.maxSeqLen - 1 : undefined,
      lora: job.lora ?? null, chunkedLoss: job.chunkedLoss, checkpointing: job.checkpointing, pack: job.pack, dist, zero: job.zero, precision: job.precision,
      onStep: (s) => onStep?.(s.step, s.steps, s.loss),
    });
    if (!dist || dist.rank === 0) saveStudent(job, model, tok, { ...recipe, chatFormat: studentChatFormat(job) });
    return { optimizerStateBytes: r.optimizerStateBytes, baseDtype };
  } finally {
    model.dispose();
  }
}

/**
 * A resume whose LoRA settings differ from the checkpoint's: refused naming both (the
 * Trainer refuses any changed recipe too; this says which setting and how to resume).
 */
function refuseOtherLora(checkpoint: string, lora: LoraConfig | null): void {
  if (!existsSync(checkpoint)) return;
  let was: LoraConfig | null;
  try {
    was = ((readCheckpointInfo(checkpoint).extra.recipe ?? {}) as { lora?: LoraConfig }).lora ?? null;
  } catch {
    return; // an unreadable checkpoint is the Trainer's to report
  }
  const same = was && lora ? sameLoraConfig(was, lora) : was === lora;
  if (!same) {
    const text = (c: LoraConfig | null) => (c ? `LoRA ${formatLoraConfig(c)}` : 'no LoRA (full fine-tuning)');
    throw new torch.ConfigError(`${checkpoint} was written with ${text(was)}, but this run asks for ${text(lora)}; rerun with ${was ? `--lora ${loraFlag(was)}` : 'no --lora'} to resume it, or delete it to start anew`);
  }
}

/**
 * The trained student. Full fine-tuning: an LM folder. LoRA: the adapters in PEFT's layout
 * (<out>/adapter: adapter_model.safetensors + adapter_config.json), then the merged model:
 * a Hugging Face folder when the start was one (or a .gguf), else an LM folder.
 */
function saveStudent(job: StudentJob, model: CausalLM, tok: Tokenizer, info: Record<string, unknown>): void {
  if (!job.lora) {
    saveLm(job.out, model, tok, { info });
    return;
  }
  const hf = job.init!.endsWith('.gguf') || !existsSync(join(job.init!, 'lm.json'));
  // Everything is staged beside <out> (the adapter before the merge removes it), then swapped in.
  const staged = `${job.out}.${process.pid}.tmp`;
  const adapter = `${staged}.adapter`;
  for (const p of [staged, adapter]) rmSync(p, { recursive: true, force: true });
  try {
    saveLoraAdapter(model, adapter, { baseModel: resolve(job.init!) });
    // A bfloat16 base widens exactly first, so the merge is W + s·B·A in float32 as from a float32 base.
    model.float();
    mergeLora(model);
    if (!hf) {
      saveLm(job.out, model, tok, { info });
      rmSync(join(job.out, ADAPTER_DIR), { recursive: true, force: true });
      renameSync(adapter, join(job.out, ADAPTER_DIR));
      return;
    }
    saveHfStudent(staged, job.init!, model, tok, info);
    renameSync(adapter, join(staged, ADAPTER_DIR));
    const old = `${staged}.old`;
    if (existsSync(job.out)) renameSync(job.out, old);
    renameSync(staged, job.out);
    if (existsSync(old)) {
      // What else the old folder held (a rerun's <out>/export/ …) is kept.
      for (const e of readdirSync(old)) if (!existsSync(join(job.out, e))) renameSync(join(old, e), join(job.out, e));
      rmSync(old, { recursive: true, force: true });
    }
  } finally {
    for (const p of [staged, adapter]) rmSync(p, { recursive: true, force: true });
  }
}

/** A Hugging Face folder of the merged student: the start's config, generation config and tokenizer files (from a .gguf: rebuilt). */
function saveHfStudent(out: string, init: string, model: CausalLM, tok: Tokenizer, info: Record<string, unknown>): void {
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  const files: Record<string, string | Uint8Array> = { [STUDENT_INFO]: json({ config: model.cfg, info }) };
  let baseConfig: Record<string, unknown> = {};
  let generationConfig: Record<string, unknown> | undefined;
  if (init.endsWith('.gguf')) {
    const d = tok.toJSON() as { json: unknown; config: Record<string, unknown> };
    files['tokenizer.json'] = json(d.json);
    files['tokenizer_config.json'] = json(d.config);
    const ids = { bos_token_id: tok instanceof HfTokenizer ? tok.bosId : null, eos_token_id: tok.eosId };
    baseConfig = ids;
    generationConfig = ids;
  } else {
    for (const f of HfTokenizer.FILES) if (existsSync(join(init, f))) files[f] = readFileSync(join(init, f));
    baseConfig = readJson(join(init, 'config.json'));
    if (existsSync(join(init, 'generation_config.json'))) generationConfig = readJson(join(init, 'generation_config.json'));
  }
  saveHfFolder(out, model, { baseConfig, generationConfig, files });
}

/** Whether `dir` holds a student trained with this job's recipe (as its lm.json or distill_student.json records it). */
export function trainedWith(dir: string, job: StudentJob): boolean {
  try {
    const file = existsSync(join(dir, 'lm.json')) ? join(dir, 'lm.json') : join(dir, STUDENT_INFO);
    const desc = JSON.parse(readFileSync(file, 'utf8')) as { config: LmConfig; info: Record<string, unknown> };
    const i = desc.info;
    const { examples: _mine, ...want } = jobRecipe(job, 0);
    const { examples: _theirs, chatFormat: _format, ...had } = i;
    // Older folders lack the keys that were later added with their default.
    const norm = (r: Record<string, unknown>) => canonical({ ...r, groupByLength: r.groupByLength ?? false, init: r.init ?? null });
    return norm(had) === norm(want) && JSON.stringify(desc.config) === JSON.stringify(job.config);
  } catch {
    return false;
  }
}

/** JSON with object keys sorted, so key order does not matter. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v ?? null);
}

/** Whether `dir` holds a finished student (an LM folder, or the Hugging Face folder of a LoRA student). */
export function isStudentFolder(dir: string): boolean {
  return existsSync(join(dir, 'lm.json')) || existsSync(join(dir, STUDENT_INFO));
}

/** The starting weights in `dir` (an LM or Hugging Face folder), which must have the job's config. */
function initialModel(dir: string, config: LmConfig, dtype: LmDtype): CausalLM {
  const { model } = loadAnyLm(dir, { dtype });
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

// `distill reason prune` and `distill reason train-student`: the demo's student recipe on
// the user's own teacher and traces.
//   prune          a trained LM folder → a smaller LM folder of the same family (Minitron:
//                  units ranked by their activations on verified traces), the student's start;
//   train-student  verified traces → a student LM folder: answers only, SFT on the replies,
//                  or SFT + token-level KD from the traces' top-k log-probabilities;
//                  resumable (<out>.ckpt), with pass@1 on a problems file when given one.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { countLmParameters, lmConfig, type LmConfig } from '../lm/model.js';
import { loadLm, saveLm } from '../lm/checkpoint.js';
import { loadAnyLm, peekLm } from '../lm/load.js';
import { readGenerationConfig } from '../lm/hf_folder.js';
import { ByteTokenizer, tokenizerFromJSON } from '../lm/tokenizer.js';
import { prunedStudent, studentExamples, type StudentKind } from '../reason/students.js';
import type { PruneTarget } from '../lm/prune.js';
import { readProblemsFile } from '../reason/files.js';
import { evaluateLm } from '../reason/evaluate.js';
import { REASONING_DEFAULTS } from './reason_defaults.js';
import { resumedPrecision, type Precision } from '../reason/sft.js';
import { isStudentFolder, loadTraces, studentChatFormat, trainedWith, trainStudent, ADAPTER_DIR, type StudentJob } from './reason_student.js';
import { describeChatFormat } from '../reason/student_chat.js';
import { formatLoraConfig, parseLoraFlag, resolveLoraConfig } from '../lm/lora.js';
import { makeReporter } from './progress.js';

type Opts = Record<string, unknown>;

/** Flags that commander already checked (src/cli/flags.ts): a number, or the default. */
const num = (o: Opts, key: string, fallback: number): number => (o[key] as number | undefined) ?? fallback;

/** The student sizes from flags, each defaulting to the demo student's (548,832 parameters with a byte vocabulary). */
function sizeFlags(o: Opts, vocabSize: number): LmConfig {
  const d = REASONING_DEFAULTS.student;
  const heads = num(o, 'heads', d.nHeads!);
  return lmConfig({
    dim: num(o, 'dim', d.dim!),
    nLayers: num(o, 'layers', d.nLayers!),
    nHeads: heads,
    nKvHeads: num(o, 'kvHeads', heads),
    hiddenDim: num(o, 'hidden', d.hiddenDim!),
    maxSeqLen: d.maxSeqLen,
    vocabSize,
  });
}

export async function runPrune(o: Opts): Promise<number> {
  // Required options and choices are enforced by commander (main.ts).
  const teacherDir = o.teacher as string;
  const out = o.out as string;
  const tracesPath = o.traces as string;
  const residual = (o.residual as 'channels' | 'pca' | undefined) ?? 'channels';
  const calibration = num(o, 'calibration', 64);
  const traces = loadTraces(tracesPath);
  if (!traces.some((t) => t.verdict.ok)) throw new torch.ConfigError(`${tracesPath}: no verified traces to calibrate on`);
  const { model: teacher, tokenizer: tok } = loadAnyLm(teacherDir);
  const c = teacher.cfg;
  // The target sizes as given: the head size stays the teacher's (prunedConfig checks what pruning can reach).
  const d = REASONING_DEFAULTS.student;
  const heads = num(o, 'heads', d.nHeads!);
  const target: PruneTarget = { dim: num(o, 'dim', d.dim!), nHeads: heads, nKvHeads: num(o, 'kvHeads', heads), hiddenDim: num(o, 'hidden', d.hiddenDim!), nLayers: num(o, 'layers', d.nLayers!) };
  const { model, importance, sequences } = prunedStudent(teacher, traces, tok, target, { calibration, residual });
  saveLm(out, model, tok, { info: { prunedFrom: teacherDir, residual, calibrationSequences: sequences, layerImportance: Array.from(importance.layers) } });
  const summary = { out, teacherParams: countLmParameters(teacher.cfg), params: countLmParameters(model.cfg), config: model.cfg, calibrationSequences: sequences };
  teacher.dispose();
  model.dispose();
  console.log(o.json ? JSON.stringify(summary)
    : `pruned ${teacherDir} (${summary.teacherParams.toLocaleString()} parameters) to ${summary.params.toLocaleString()} (${(summary.teacherParams / summary.params).toFixed(2)}× fewer) in ${out}; calibrated on ${sequences} traces`);
  return 0;
}

/**
 * `--precision`'s default: bf16 where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX:
 * oneDNN's kernels), where a real-size step measured 2.0–2.1× faster than fp32 (quiet machine) and the demo
 * student 1.36× (docs/benchmarks.md, "Mixed precision"); fp32 elsewhere, where oneDNN emulates
 * bfloat16 and OpenBLAS' float32 is the faster.
 */
export function defaultPrecision(): Precision {
  try {
    return /\b(avx512_bf16|amx_bf16)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'bf16' : 'fp32';
  } catch {
    return 'fp32';
  }
}

/** Vocabularies from this size on get the chunked head loss by default: their full logits dominate a step's memory (Qwen: 151,936 columns). */
export const CHUNKED_LOSS_MIN_VOCAB = 32_768;

export async function runTrainStudent(o: Opts): Promise<number> {
  // On-policy distillation has its own runner (owner "gkd"), in one process.
  if (o.kind === 'gkd') {
    if ((torch.distOptionsFromEnv()?.worldSize ?? 1) > 1) throw new torch.ConfigError('--kind gkd does not run data parallel (--nproc / --world-size) yet; run it in one process');
    return (await import('./cmd_reason_gkd.js')).runReasonGkd(o);
  }
  const env = torch.distOptionsFromEnv();
  const lead = !env || env.rank === 0;
  const rep = makeReporter({ json: !!o.json, quiet: !lead });
  const tracesPath = o.traces as string;
  // `--out student/` names the folder `student` (its checkpoint is student.ckpt beside it, not student/.ckpt).
  const out = (o.out as string).replace(/(.)[\\/]+$/, '$1');
  const kind = ((o.kind as string | undefined) ?? 'sft') as StudentKind;
  const init = o.init as string | undefined;
  // The student's size and tokenizer: the --init folder's, or the size flags with a byte tokenizer.
  let config: LmConfig;
  let tokenizer: unknown;
  if (init) {
    // An LM folder, a Hugging Face folder or a .gguf: its architecture and tokenizer (with its chat template), no weights yet.
    const peek = peekLm(init);
    config = peek.config;
    tokenizer = peek.tokenizer.toJSON();
  } else {
    tokenizer = new ByteTokenizer().toJSON();
    config = sizeFlags(o, tokenizerFromJSON(tokenizer).vocabSize);
  }
  // Issue 19's options: LoRA, the chunked loss (automatic for large vocabularies), checkpointing, packing, the sequence length.
  const lora = o.lora !== undefined ? resolveLoraConfig(parseLoraFlag(String(o.lora))) : null; // a rank ≤ 0 … : one ConfigError
  if (lora && !init) throw new torch.ConfigError('--lora trains adapters on a pretrained model: give it one with --init <Hugging Face folder | .gguf | LM folder>');
  const maxSeqLen = o.maxSeqLen as number | undefined;
  const context = (config as { maxSeqLen: number }).maxSeqLen;
  if (maxSeqLen !== undefined && maxSeqLen > context) throw new torch.ConfigError(`--max-seq-len ${maxSeqLen} is longer than the model's context (${context} positions)`);
  const chunkedLoss = (o.chunkedLoss as boolean | undefined) ?? config.vocabSize >= CHUNKED_LOSS_MIN_VOCAB;
  const job: StudentJob = {
    kind, traces: tracesPath, out, config, init, tokenizer,
    steps: num(o, 'steps', REASONING_DEFAULTS.steps),
    batchSize: num(o, 'batchSize', REASONING_DEFAULTS.batchSize),
    groupByLength: o.groupByLength !== false,
    lr: num(o, 'lr', REASONING_DEFAULTS.lr),
    alpha: num(o, 'alpha', REASONING_DEFAULTS.alpha),
    T: num(o, 'temperature', REASONING_DEFAULTS.T),
    seed: num(o, 'seed', 0),
    threads: num(o, 'threads', 1),
    lora, chunkedLoss, checkpointing: !!o.checkpointing, pack: !!o.pack, maxSeqLen,
    zero: o.zero === 1 ? 1 : 0,
    precision: (o.precision as Precision | undefined) ?? resumedPrecision(`${out}.ckpt`) ?? defaultPrecision(),
  };
  // Refuse bad data before any training: no kept trace, or KD traces without log-probabilities.
  const traces = loadTraces(tracesPath);
  const tok = tokenizerFromJSON(tokenizer);
  const examples = studentExamples(traces, tok, kind); // a turn the chat template cannot render: refused here, naming the trace
  if (examples.length === 0) throw new torch.ConfigError(`${tracesPath}: no verified traces to train on`);
  if (kind === 'sft+kd' && !examples.some((e) => e.teacher)) throw new torch.ConfigError(`${tracesPath}: no trace has log-probabilities, so there is nothing for token-level KD; sample traces with --top-logprobs, or use --kind sft`);
  if (job.pack) {
    // Packed rows cannot cut a trace: one longer than a row is refused, naming it.
    const limit = maxSeqLen ?? context;
    const kept = traces.filter((t) => t.verdict.ok);
    const i = examples.findIndex((e) => e.prompt.length + e.completion.length > limit);
    if (i >= 0) throw new torch.ConfigError(`--pack: trace ${kept[i].id.slice(0, 12)} is ${examples[i].prompt.length + examples[i].completion.length} tokens (prompt + completion), longer than --max-seq-len ${limit}; raise --max-seq-len or drop --pack (without it, long traces are cut)`);
  }
  // A finished student is never overwritten by another recipe; the same flags rerun cheaply (resume).
  if (isStudentFolder(out) && !trainedWith(out, job))
    throw new torch.ConfigError(`${out} already holds a student trained with other options (see its ${existsSync(join(out, 'lm.json')) ? 'lm.json' : 'distill_student.json'}); choose another --out, or delete it and ${out}.ckpt to train anew`);
  const evalProblems = o.eval ? readProblemsFile(String(o.eval)) : null;
  const how = [lora ? `LoRA ${formatLoraConfig(lora)}` : 'full fine-tuning', chunkedLoss ? `chunked loss${o.chunkedLoss === undefined ? ` (vocabulary ${config.vocabSize.toLocaleString()} ≥ ${CHUNKED_LOSS_MIN_VOCAB.toLocaleString()})` : ''}` : null,
    job.checkpointing ? 'checkpointing' : null, job.pack ? 'packed' : null, maxSeqLen !== undefined ? `max ${maxSeqLen} tokens` : null].filter(Boolean).join(', ');
  rep.note(`${kind} student: ${countLmParameters(config).toLocaleString()} parameters, ${init ? `from ${init}` : 'random init'} (${how}), ${examples.length} traces, ${job.steps} steps of ${job.batchSize}${env && env.worldSize > 1 ? ` × ${env.worldSize} ranks${job.zero ? ' (ZeRO-1: optimizer state sharded)' : ''}` : ''}${existsSync(`${out}.ckpt`) ? ` (resuming from ${out}.ckpt)` : ''}`);
  const progress = rep.counter('train');
  const dist = env && env.worldSize > 1 ? torch.ProcessGroup.create(env) : undefined;
  let optimizerStateBytes: number, baseDtype: torch.DType;
  try {
    ({ optimizerStateBytes, baseDtype } = trainStudent(job, (step, steps) => progress(step, steps), dist));
  } finally {
    dist?.dispose();
  }
  if (!lead) return 0;
  let evaluation: { accuracy: number; correct: number; total: number } | null = null;
  if (evalProblems) {
    const { model, tokenizer: t, eosIds } = loadAnyLm(out);
    // An LM folder keeps the tokenizer's EOS only: the --init folder's generation_config list stops replies too.
    const initEos = init && !init.endsWith('.gguf') ? (readGenerationConfig(init)?.eosTokenIds ?? []) : [];
    const ev = evaluateLm(model, t, evalProblems, { eosIds: [...eosIds, ...initEos], onProgress: rep.counter('eval') });
    model.dispose();
    evaluation = { accuracy: ev.accuracy, correct: ev.correct, total: ev.total };
  }
  rep.stop();
  const summary = {
    out, kind, params: countLmParameters(config), examples: examples.length, steps: job.steps, evaluation,
    lora, adapter: lora ? join(out, ADAPTER_DIR) : null, chunkedLoss, checkpointing: job.checkpointing, pack: job.pack, maxSeqLen: maxSeqLen ?? null, ranks: env?.worldSize ?? 1,
    chatFormat: studentChatFormat(job),
    // ZeRO stage and the optimizer state rank 0 held (with --zero 1: its shard's, ≈ 1/ranks of the whole).
    zero: job.zero ?? 0, optimizerStateBytes,
    // The dtype the weights were held in while training: bfloat16 for a bfloat16 --init under --lora --precision bf16.
    baseDtype,
  };
  if (o.json) console.log(JSON.stringify(summary));
  else {
    console.log(`student written to ${out}${lora ? ` (merged; the LoRA adapter in PEFT's layout: ${summary.adapter})` : ''}`);
    console.log(`traces rendered with: ${describeChatFormat(summary.chatFormat)}`);
    if (baseDtype !== 'float32') console.log(`the frozen base was held in ${baseDtype}, as ${init} stores it (the adapters in float32)`);
    if (evaluation) console.log(`pass@1 ${(evaluation.accuracy * 100).toFixed(1)}% (${evaluation.correct}/${evaluation.total}) on ${String(o.eval)}`);
  }
  return 0;
}

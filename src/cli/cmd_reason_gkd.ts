// `distill reason train-student --kind gkd`: on-policy distillation (reason/gkd.ts) of a student
// (--init: an LM folder, a Hugging Face folder or a .gguf) from a local teacher (--teacher: any
// model the engine loads) on the prompts of verified traces. The student writes a share λ of the
// completions, the teacher grades every token; resumable from <out>.ckpt, whose sample log
// (<out>.ckpt.samples.jsonl) spares a resumed run the sampling it already paid for.
// With --teacher-url the teacher is a server (our `distill serve`, vLLM) that grades the student's
// tokens through /v1/completions' echoed prompt log-probabilities (HttpTeacher.scoreTokens, run in
// a worker by gkd_scorer.ts' blockingScorer); it is probed once before anything is written.
// A teacher with another tokenizer (--teacher-tokenizer auto finds it; or a tokenizer path for a
// server) grades the completions' text in its own tokens: cross-tokenizer KD (reason/gkd_xtok.ts).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { countLmParameters } from '../lm/model.js';
import { loadLm, saveLm } from '../lm/checkpoint.js';
import { loadAnyLm, peekLm } from '../lm/load.js';
import { checkLmDtype } from '../lm/dtype.js';
import { studentExamples } from '../reason/students.js';
import { readProblemsFile } from '../reason/files.js';
import { evaluateLm } from '../reason/evaluate.js';
import { resumedPrecision, type Precision } from '../reason/sft.js';
import { checkGkdOptions, localTeacher, tokenizerMismatch, trainGkd, type GkdTeacher } from '../reason/gkd.js';
import { blockingScorer, scorerTeacher, type SyncScorer } from '../reason/gkd_scorer.js';
import { XTOK_METHODS, type XtokMethod } from '../reason/gkd_xtok.js';
import { scoreWithModel } from '../reason/teachers/scorer.js';
import { vocabMap } from '../kd/index.js';
import { HfTokenizer, type Tokenizer } from '../lm/index.js';
import { HttpTeacher } from '../reason/teachers/http.js';
import { TOKEN_LOSS_NAMES, type TokenLossName } from '../kd/index.js';
import { REASONING_DEFAULTS } from './reason_defaults.js';
import { loadTraces } from './reason_student.js';
import { makeReporter } from './progress.js';

type Opts = Record<string, unknown>;

const num = (o: Opts, key: string, fallback: number): number => (o[key] as number | undefined) ?? fallback;

export async function runReasonGkd(o: Opts): Promise<number> {
  const rep = makeReporter({ json: !!o.json });
  const tracesPath = o.traces as string;
  const out = o.out as string;
  const teacherPath = o.teacher as string | undefined;
  const teacherUrl = o.teacherUrl as string | undefined;
  const init = o.init as string | undefined;
  if (!teacherPath && !teacherUrl) throw new torch.ConfigError('reason train-student --kind gkd needs --teacher <model> (an LM folder, a Hugging Face folder or a .gguf) or --teacher-url <url> (a server) to grade the student\'s tokens');
  if (teacherPath && teacherUrl) throw new torch.ConfigError('reason train-student --kind gkd: give --teacher <model> or --teacher-url <url>, not both');
  if (!teacherUrl && (o.teacherModel !== undefined || o.apiKeyEnv !== undefined)) throw new torch.ConfigError('--teacher-model and --api-key-env name a served teacher: use them with --teacher-url');
  const topK = o.teacherTopK as number | undefined;
  // The local teacher's weights in memory: float32 (default), bfloat16 (half the memory, ~2× faster
  // matmuls, Hugging Face's bf16 numerics; its logits are upcast to float32 for the loss) or auto.
  const teacherDtype = checkLmDtype(o.teacherDtype ?? 'float32', '--teacher-dtype');
  if (teacherUrl && o.teacherDtype !== undefined) throw new torch.ConfigError('--teacher-dtype sets a local teacher\'s weights (--teacher <model>); a --teacher-url teacher runs on its server');
  if (!init) throw new torch.ConfigError('reason train-student --kind gkd needs --init <model>: on-policy distillation learns from the student\'s own samples, so it starts from a model that already writes (e.g. `distill reason prune` of the teacher)');
  const divergence = (o.divergence as TokenLossName | undefined) ?? 'jsd';
  if (!TOKEN_LOSS_NAMES.includes(divergence)) throw new torch.ConfigError(`--divergence must be one of ${TOKEN_LOSS_NAMES.join(', ')}, got '${divergence}'`);
  const g = {
    lambda: num(o, 'lambda', 0.5),
    beta: num(o, 'beta', 0.5),
    temperature: num(o, 'temperature', 1),
    alpha: num(o, 'alpha', 0),
    maxNewTokens: num(o, 'maxNewTokens', 256),
  };
  checkGkdOptions(g);
  const student = peekLm(init);
  const tokMode = (o.teacherTokenizer as string | undefined) ?? 'auto';
  const method = (o.xtokMethod as XtokMethod | undefined) ?? 'span_kl';
  if (!XTOK_METHODS.includes(method)) throw new torch.ConfigError(`--xtok-method must be ${XTOK_METHODS.join(' or ')}, got '${method}'`);
  // The teacher's tokenizer: a local teacher's own, or a file/folder named by --teacher-tokenizer; a
  // served teacher without one is taken to share the student's (its top-k ids are checked by the probe).
  const teacher = teacherPath ? peekLm(teacherPath) : { tokenizer: student.tokenizer, config: student.config };
  const teacherTok = tokMode === 'auto' || tokMode === 'same' ? teacher.tokenizer : tokenizerAt(tokMode);
  // One tokenizer on both sides, checked from the headers before any weights load; another one
  // means cross-tokenizer KD, unless --teacher-tokenizer same asks for one tokenizer.
  const mismatch = tokenizerMismatch(student.tokenizer, teacherTok);
  if (mismatch && tokMode === 'same')
    throw new torch.ConfigError(`--teacher ${teacherPath ?? teacherUrl} and the student (--init ${init}) have different tokenizers (${mismatch}); on-policy distillation token by token needs one tokenizer. For a teacher with another tokenizer use cross-tokenizer KD (--teacher-tokenizer auto), or --kind sft on its traces`);
  const xtok = mismatch !== null;
  if (xtok && !teacherTok.encodeWithOffsets) throw new torch.ConfigError(`the teacher's tokenizer (${teacherTok.kind}) has no text-offset mapping, so cross-tokenizer KD cannot align it with the student's`);
  if (xtok && o.seqKd) throw new torch.ConfigError('--seq-kd needs a teacher with the student\'s tokenizer (its generations become the student\'s completions)');
  // The same ids; an embedding padded past them (a bigger model of the family) is cut to the student's.
  const [Vs, Vt] = [student.config.vocabSize, teacher.config.vocabSize];
  if (teacherUrl && o.seqKd) throw new torch.ConfigError('--seq-kd needs a teacher that generates locally (--teacher <model>); a --teacher-url teacher only grades');
  if (!xtok && topK !== undefined && topK > Vs) throw new torch.ConfigError(`--teacher-top-k ${topK} exceeds the student's ${Vs} tokens`);
  if (!xtok && Vs > Vt) throw new torch.ConfigError(`the student (--init ${init}) has ${Vs} embedding rows, more than the teacher's ${Vt}; the teacher has no logits for ids ${Vt}…${Vs - 1}`);
  if (!xtok && Vt > Vs && o.seqKd) throw new torch.ConfigError(`--seq-kd: the teacher's ${Vt} embedding rows exceed the student's ${Vs}, so its samples could hold ids the student does not have`);
  const tok = student.tokenizer;
  const traces = loadTraces(tracesPath);
  const examples = studentExamples(traces, tok, 'sft');
  if (examples.length === 0) throw new torch.ConfigError(`${tracesPath}: no verified traces to take prompts from`);
  // The teacher reads each prompt through its own chat template (the same verified traces, in order).
  const teacherPrompts = xtok ? studentExamples(traces, teacherTok, 'sft').map((e) => e.prompt) : [];
  const k = topK ?? (teacherUrl || xtok ? 20 : undefined);
  const teacherModel = teacherUrl ? await servedModel(teacherUrl, o.teacherModel as string | undefined, o.apiKeyEnv as string | undefined) : undefined;
  // fp32 unless asked (or resumed), in which gkd's recorded results were made; bf16 puts a floor
  // under the divergence (a student graded by itself: 0 in fp32, about 4e-8 in bf16).
  const precision: Precision = (o.precision as Precision | undefined) ?? resumedPrecision(`${out}.ckpt`) ?? 'fp32';
  const recipe = {
    kind: 'gkd', teacher: teacherPath ?? `${teacherUrl} (${teacherModel})`, ...(k !== undefined ? { teacherTopK: k } : {}),
    ...(xtok ? { teacherTokenizer: tokMode, crossTokenizer: method } : {}), ...(teacherDtype !== 'float32' ? { teacherDtype } : {}), init, divergence, ...g, seqKd: !!o.seqKd,
    steps: num(o, 'steps', REASONING_DEFAULTS.steps), batchSize: num(o, 'batchSize', REASONING_DEFAULTS.batchSize), lr: num(o, 'lr', REASONING_DEFAULTS.lr),
    seed: num(o, 'seed', 0), examples: examples.length, config: student.config, ...(precision === 'bf16' ? { precision } : {}),
  };
  // A finished student is never overwritten by another recipe; the same flags rerun cheaply (resume).
  if (existsSync(join(out, 'lm.json'))) {
    const info = (JSON.parse(readFileSync(join(out, 'lm.json'), 'utf8')) as { info?: { recipe?: unknown } }).info;
    if (JSON.stringify(info?.recipe) !== JSON.stringify(recipe))
      throw new torch.ConfigError(`${out} already holds a student trained with other options (see its lm.json); choose another --out, or delete it and ${out}.ckpt to train anew`);
  }
  const evalProblems = o.eval ? readProblemsFile(String(o.eval)) : null;
  const remote = teacherUrl ? { baseURL: teacherUrl, model: teacherModel!, ...(o.apiKeyEnv ? { apiKeyEnv: o.apiKeyEnv as string } : {}) } : null;
  // A server without prompt log-probabilities fails here, with HttpTeacher's one message, before
  // anything is written. A resumed run replays its logged grades and asks only for the steps left.
  if (remote && !existsSync(`${out}.ckpt`)) await probeScorer(remote, xtok ? { prompt: teacherPrompts[0], completion: [] } : examples[0], k!, xtok ? null : Vs);
  torch.setNumThreads(num(o, 'threads', 1));
  torch.manualSeed(recipe.seed);
  const { model, eosIds } = loadAnyLm(init);
  // The grading teacher: a server's scoreTokens in a worker, or the local model (its logits, or its scores for another tokenizer).
  let scorer: SyncScorer | null = null, gkdTeacher: GkdTeacher | undefined, release: () => void;
  if (remote) {
    const s = blockingScorer({ module: new URL('../reason/teachers/http.js', import.meta.url).href, export: 'HttpTeacher', args: [remote] });
    scorer = s;
    release = () => s.close();
  } else {
    const t = loadAnyLm(teacherPath!, { dtype: teacherDtype });
    if (xtok) scorer = { scoreTokens: (p, kk) => scoreWithModel(t.model, p, kk) };
    else gkdTeacher = localTeacher(t.model, { vocabSize: Vs, topK: k });
    release = () => t.model.dispose();
  }
  if (scorer && !xtok) gkdTeacher = scorerTeacher(scorer, { vocabSize: Vs, k: k! });
  const crossTokenizer = xtok
    ? { student: tok, teacher: teacherTok, teacherPrompts, scorer: scorer!, k: k!, method, vocab: method === 'span_kl' ? vocabMap(teacherTok, tok) : undefined }
    : undefined;
  const ckpt = `${out}.ckpt`;
  if (xtok) rep.note(`the teacher's tokenizer differs from the student's (${mismatch}): cross-tokenizer KD (${method}) over the completions' text`);
  else if (Vt > Vs) rep.note(`the teacher's ${Vt} logits are cut to the student's ${Vs} ids (its embedding is padded past the shared tokenizer)`);
  const lossName = xtok ? method : divergence;
  rep.note(`gkd student: ${countLmParameters(model.cfg).toLocaleString()} parameters from ${init}, teacher ${recipe.teacher}${k !== undefined ? ` (top-${k})` : ''}, λ ${g.lambda}, ${lossName}${lossName === 'jsd' ? ` β ${g.beta}` : ''}, ${examples.length} prompts, ${recipe.steps} steps of ${recipe.batchSize}${existsSync(ckpt) ? ` (resuming from ${ckpt})` : ''}`);
  const progress = rep.counter('train');
  let r;
  try {
    r = trainGkd({
      model: model.train(), teacher: gkdTeacher, crossTokenizer, examples, steps: recipe.steps, lambda: g.lambda, divergence, beta: g.beta, temperature: g.temperature,
      seqKd: recipe.seqKd, alpha: g.alpha, maxNewTokens: g.maxNewTokens, eosIds: [tok.eosId, ...eosIds.filter((id) => id !== tok.eosId)], padId: tok.eosId,
      vocabLimit: tok.vocabSize < model.cfg.vocabSize ? tok.vocabSize : undefined, // a padded embedding: never sample past the tokenizer
      batchSize: recipe.batchSize, lr: recipe.lr, seed: recipe.seed, precision, checkpoint: ckpt, checkpointEvery: 50, recipe,
      onStep: (s) => progress(s.step, s.steps), onWarn: (w) => rep.note(`warning: ${w}`),
    });
  } finally {
    release();
  }
  const parts = { kd: r.meanKd, ce: r.meanCe, ...(r.oneToOne !== null ? { oneToOne: r.oneToOne } : {}) };
  saveLm(out, model, tok, { info: { recipe, onPolicySteps: r.onPolicySteps, samples: r.samples, skipped: r.skipped, ...parts } });
  model.dispose();
  let evaluation: { accuracy: number; correct: number; total: number } | null = null;
  if (evalProblems) {
    const { model: m, tokenizer } = loadLm(out);
    // The LM folder keeps the tokenizer's EOS only: the --init model's eos list stops replies too.
    const ev = evaluateLm(m, tokenizer, evalProblems, { eosIds, onProgress: rep.counter('eval') });
    m.dispose();
    evaluation = { accuracy: ev.accuracy, correct: ev.correct, total: ev.total };
  }
  rep.stop();
  const summary = { out, kind: 'gkd', params: countLmParameters(student.config), examples: examples.length, steps: recipe.steps, onPolicySteps: r.onPolicySteps, samples: r.samples, skipped: r.skipped, ...parts, evaluation };
  if (o.json) console.log(JSON.stringify(summary));
  else {
    console.log(`student written to ${out}: ${r.onPolicySteps} of ${recipe.steps} steps on-policy (${r.samples} samples${r.skipped ? `, ${r.skipped} empty ones skipped` : ''})`);
    // The parts' magnitudes side by side, so a KD term far smaller than the CE is seen.
    if (r.oneToOne !== null) console.log(`cross-tokenizer alignment: ${(r.oneToOne * 100).toFixed(1)}% of the student's completion tokens matched one-to-one with a teacher token`);
    console.log(`mean ${lossName} ${parts.kd.toExponential(3)}${parts.ce !== null ? `, mean CE ${parts.ce.toExponential(3)} (CE/KD ${(parts.ce / parts.kd).toPrecision(3)})` : ''}`);
    // As weighted in the loss: (1 − α)·KD against α·CE.
    if (parts.ce !== null && g.alpha * parts.ce > 1000 * (1 - g.alpha) * parts.kd)
      console.log('note: the weighted KD term is over 1000× smaller than the CE term, so it barely moves the student; lower --alpha, or use a teacher whose distributions are softer');
    if (evaluation) console.log(`pass@1 ${(evaluation.accuracy * 100).toFixed(1)}% (${evaluation.correct}/${evaluation.total}) on ${String(o.eval)}`);
  }
  return 0;
}

/** The served model to ask: --teacher-model, else the server's only model (GET /models). */
async function servedModel(baseURL: string, name: string | undefined, apiKeyEnv: string | undefined): Promise<string> {
  if (name) return name;
  const key = process.env[apiKeyEnv ?? 'OPENAI_API_KEY']?.trim();
  let ids: string[];
  try {
    const r = await fetch(`${baseURL.replace(/\/+$/, '')}/models`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    ids = ((await r.json()) as { data: { id: string }[] }).data.map((m) => m.id);
  } catch (e) {
    throw new torch.ConfigError(`--teacher-url ${baseURL}: could not list its models (${(e as Error).message}); name the model with --teacher-model`);
  }
  if (ids.length !== 1) throw new torch.ConfigError(`--teacher-url ${baseURL} serves ${ids.length} models (${ids.join(', ')}); choose one with --teacher-model`);
  return ids[0];
}

/** A tokenizer from tokenizer.json, a folder holding it, or a model (LM folder, Hugging Face folder, .gguf). */
function tokenizerAt(path: string): Tokenizer {
  if (!existsSync(path)) throw new torch.ConfigError(`--teacher-tokenizer ${path}: no such file or folder (auto, same, or a tokenizer.json / model folder)`);
  if (path.endsWith('.json')) return HfTokenizer.fromFiles(path, existsSync(join(dirname(path), 'tokenizer_config.json')) ? join(dirname(path), 'tokenizer_config.json') : undefined);
  if (path.endsWith('.gguf') || existsSync(join(path, 'lm.json')) || existsSync(join(path, 'config.json'))) return peekLm(path).tokenizer;
  return HfTokenizer.fromDir(path);
}

/** One scoring request on the first example (prompt + completion), answered in the student's ids (V; null: another tokenizer, not checked). */
async function probeScorer(remote: { baseURL: string; model: string; apiKeyEnv?: string }, e: { prompt: number[]; completion: number[] }, k: number, V: number | null): Promise<void> {
  const http = new HttpTeacher({ ...remote, maxRetries: 2 });
  try {
    const seq = [...e.prompt, ...e.completion].slice(0, 8);
    const [s] = await http.scoreTokens([seq.length >= 2 ? seq : [...seq, seq[0]]], k);
    const bad = V === null ? undefined : s.top.flatMap((t) => t.ids).find((id) => !(id >= 0 && id < V));
    if (bad !== undefined) throw new torch.ConfigError(`--teacher-url ${remote.baseURL} (${remote.model}) graded with token id ${bad}, outside the student's ${V} ids: the served model has another tokenizer`);
  } finally {
    http.close();
  }
}

// `distill reason train-student --kind gkd`: on-policy distillation (reason/gkd.ts) of a student
// (--init: an LM folder, a Hugging Face folder or a .gguf) from a local teacher (--teacher: any
// model the engine loads) on the prompts of verified traces. The student writes a share λ of the
// completions, the teacher grades every token; resumable from <out>.ckpt, whose sample log
// (<out>.ckpt.samples.jsonl) spares a resumed run the sampling it already paid for.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { countLmParameters } from '../lm/model.js';
import { loadLm, saveLm } from '../lm/checkpoint.js';
import { loadAnyLm, peekLm } from '../lm/load.js';
import { studentExamples } from '../reason/students.js';
import { readProblemsFile } from '../reason/files.js';
import { evaluateLm } from '../reason/evaluate.js';
import { checkGkdOptions, localTeacher, tokenizerMismatch, trainGkd } from '../reason/gkd.js';
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
  const init = o.init as string | undefined;
  if (!teacherPath) throw new torch.ConfigError('reason train-student --kind gkd needs --teacher <model> (an LM folder, a Hugging Face folder or a .gguf) to grade the student\'s tokens');
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
  // One tokenizer on both sides, checked from the headers before any weights load.
  const student = peekLm(init), teacher = peekLm(teacherPath);
  const mismatch = tokenizerMismatch(student.tokenizer, teacher.tokenizer);
  if (mismatch)
    throw new torch.ConfigError(`--teacher ${teacherPath} and the student (--init ${init}) have different tokenizers (${mismatch}); on-policy distillation grades token by token and needs one tokenizer. For a teacher with another tokenizer use cross-tokenizer KD, or --kind sft on its traces`);
  // The same ids; an embedding padded past them (a bigger model of the family) is cut to the student's.
  const [Vs, Vt] = [student.config.vocabSize, teacher.config.vocabSize];
  if (Vs > Vt) throw new torch.ConfigError(`the student (--init ${init}) has ${Vs} embedding rows, more than the teacher's ${Vt}; the teacher has no logits for ids ${Vt}…${Vs - 1}`);
  if (Vt > Vs && o.seqKd) throw new torch.ConfigError(`--seq-kd: the teacher's ${Vt} embedding rows exceed the student's ${Vs}, so its samples could hold ids the student does not have`);
  const tok = student.tokenizer;
  const traces = loadTraces(tracesPath);
  const examples = studentExamples(traces, tok, 'sft');
  if (examples.length === 0) throw new torch.ConfigError(`${tracesPath}: no verified traces to take prompts from`);
  const recipe = {
    kind: 'gkd', teacher: teacherPath, init, divergence, ...g, seqKd: !!o.seqKd,
    steps: num(o, 'steps', REASONING_DEFAULTS.steps), batchSize: num(o, 'batchSize', REASONING_DEFAULTS.batchSize), lr: num(o, 'lr', REASONING_DEFAULTS.lr),
    seed: num(o, 'seed', 0), examples: examples.length, config: student.config,
  };
  // A finished student is never overwritten by another recipe; the same flags rerun cheaply (resume).
  if (existsSync(join(out, 'lm.json'))) {
    const info = (JSON.parse(readFileSync(join(out, 'lm.json'), 'utf8')) as { info?: { recipe?: unknown } }).info;
    if (JSON.stringify(info?.recipe) !== JSON.stringify(recipe))
      throw new torch.ConfigError(`${out} already holds a student trained with other options (see its lm.json); choose another --out, or delete it and ${out}.ckpt to train anew`);
  }
  const evalProblems = o.eval ? readProblemsFile(String(o.eval)) : null;
  torch.setNumThreads(num(o, 'threads', 1));
  torch.manualSeed(recipe.seed);
  const { model, eosIds } = loadAnyLm(init);
  const t = loadAnyLm(teacherPath);
  const ckpt = `${out}.ckpt`;
  if (Vt > Vs) rep.note(`the teacher's ${Vt} logits are cut to the student's ${Vs} ids (its embedding is padded past the shared tokenizer)`);
  rep.note(`gkd student: ${countLmParameters(model.cfg).toLocaleString()} parameters from ${init}, teacher ${teacherPath}, λ ${g.lambda}, ${divergence}${divergence === 'jsd' ? ` β ${g.beta}` : ''}, ${examples.length} prompts, ${recipe.steps} steps of ${recipe.batchSize}${existsSync(ckpt) ? ` (resuming from ${ckpt})` : ''}`);
  const progress = rep.counter('train');
  let r;
  try {
    r = trainGkd({
      model: model.train(), teacher: localTeacher(t.model, { vocabSize: Vs }), examples, steps: recipe.steps, lambda: g.lambda, divergence, beta: g.beta, temperature: g.temperature,
      seqKd: recipe.seqKd, alpha: g.alpha, maxNewTokens: g.maxNewTokens, eosIds: [tok.eosId, ...eosIds.filter((id) => id !== tok.eosId)], padId: tok.eosId,
      batchSize: recipe.batchSize, lr: recipe.lr, seed: recipe.seed, checkpoint: ckpt, checkpointEvery: 50, recipe,
      onStep: (s) => progress(s.step, s.steps), onWarn: (w) => rep.note(`warning: ${w}`),
    });
  } finally {
    t.model.dispose();
  }
  const parts = { kd: r.meanKd, ce: r.meanCe };
  saveLm(out, model, tok, { info: { recipe, onPolicySteps: r.onPolicySteps, samples: r.samples, skipped: r.skipped, ...parts } });
  model.dispose();
  let evaluation: { accuracy: number; correct: number; total: number } | null = null;
  if (evalProblems) {
    const { model: m, tokenizer } = loadLm(out);
    const ev = evaluateLm(m, tokenizer, evalProblems, { onProgress: rep.counter('eval') });
    m.dispose();
    evaluation = { accuracy: ev.accuracy, correct: ev.correct, total: ev.total };
  }
  rep.stop();
  const summary = { out, kind: 'gkd', params: countLmParameters(student.config), examples: examples.length, steps: recipe.steps, onPolicySteps: r.onPolicySteps, samples: r.samples, skipped: r.skipped, ...parts, evaluation };
  if (o.json) console.log(JSON.stringify(summary));
  else {
    console.log(`student written to ${out}: ${r.onPolicySteps} of ${recipe.steps} steps on-policy (${r.samples} samples${r.skipped ? `, ${r.skipped} empty ones skipped` : ''})`);
    // The parts' magnitudes side by side, so a KD term far smaller than the CE is seen.
    console.log(`mean ${divergence} ${parts.kd.toExponential(3)}${parts.ce !== null ? `, mean CE ${parts.ce.toExponential(3)} (CE/KD ${(parts.ce / parts.kd).toPrecision(3)})` : ''}`);
    // As weighted in the loss: (1 − α)·KD against α·CE.
    if (parts.ce !== null && g.alpha * parts.ce > 1000 * (1 - g.alpha) * parts.kd)
      console.log('note: the weighted KD term is over 1000× smaller than the CE term, so it barely moves the student; lower --alpha, or use a teacher whose distributions are softer');
    if (evaluation) console.log(`pass@1 ${(evaluation.accuracy * 100).toFixed(1)}% (${evaluation.correct}/${evaluation.total}) on ${String(o.eval)}`);
  }
  return 0;
}

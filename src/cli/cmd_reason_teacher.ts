// `distill reason train-teacher`: trains a reasoning teacher LM with our engine on the
// built-in problem families' reference solutions (the teacher's way: set unknowns, write
// equations, solve, \boxed{}), then measures pass@1 on held-out chickens-and-rabbits
// problems. The recipe is the one that made assets/reasoning-teacher (see
// docs/results.md): 6 layers, d = 192, 4000 steps of 64, AdamW 2e-3, warm-up + cosine.
// Resumable: a checkpoint is written every 50 steps.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { CausalLM, countLmParameters } from '../lm/model.js';
import { ByteTokenizer } from '../lm/tokenizer.js';
import { saveLm } from '../lm/checkpoint.js';
import { FAMILIES, generateProblems } from '../reason/problems/index.js';
import { trainLm } from '../reason/sft.js';
import { evaluateLm } from '../reason/evaluate.js';
import { makeReporter } from './progress.js';
import { TEACHER_RECIPE } from './reason_defaults.js';

export async function runTrainReasoningTeacher(opts: Record<string, unknown>): Promise<number> {
  const rep = makeReporter({ json: !!opts.json });
  // Numbers arrive checked by their commander parsers (src/cli/flags.ts).
  const out = String(opts.out ?? 'runs/reasoning-teacher');
  const steps = (opts.steps as number | undefined) ?? TEACHER_RECIPE.steps;
  const batchSize = (opts.batchSize as number | undefined) ?? TEACHER_RECIPE.batchSize;
  if (opts.threads !== undefined) torch.setNumThreads(opts.threads as number);
  mkdirSync(out, { recursive: true });
  const tok = new ByteTokenizer();
  const train = generateProblems({ families: Object.keys(FAMILIES), n: 1e6, seed: 1, split: 'train', lang: 'both' });
  const test = generateProblems({ families: ['chickens-rabbits'], n: 1e6, seed: 2, split: 'test', lang: 'both' });
  const examples = train.map((p) => ({ prompt: tok.chatPrompt([{ role: 'user', content: p.question }]), completion: [...tok.encode(p.solution!), tok.eosId] }));
  torch.manualSeed(TEACHER_RECIPE.seed);
  const model = new CausalLM({ ...TEACHER_RECIPE.config, vocabSize: tok.vocabSize });
  rep.note(`teacher: ${countLmParameters(model.cfg).toLocaleString()} parameters, ${examples.length} solutions of ${Object.keys(FAMILIES).length} families, ${steps} steps of ${batchSize}`);
  const progress = rep.counter('train');
  trainLm({
    model, examples, steps, batchSize, lr: TEACHER_RECIPE.lr, seed: TEACHER_RECIPE.seed, padId: tok.eosId,
    checkpoint: join(out, 'train.ckpt'), checkpointEvery: 50, onStep: (s) => progress(s.step, s.steps),
  });
  const ev = evaluateLm(model, tok, test, { onProgress: rep.counter('eval') });
  saveLm(out, model, tok, { dtype: 'float16', info: { recipe: TEACHER_RECIPE, steps, heldOutAccuracy: ev.accuracy } });
  rep.stop();
  const summary = { out, params: countLmParameters(model.cfg), heldOutAccuracy: ev.accuracy, correct: ev.correct, total: ev.total };
  console.log(opts.json ? JSON.stringify(summary) : `teacher written to ${out}: pass@1 ${(ev.accuracy * 100).toFixed(1)}% (${ev.correct}/${ev.total}) on held-out chickens-and-rabbits problems`);
  return 0;
}

// LM distillation: a small causal LM learns from a teacher LM's verified reasoning traces,
// once by SFT on the teacher's replies (α = 1) and once with token-level KD on the teacher's
// top-k next-token distributions as well (α = 0.5, T = 1). Teacher and student share the
// byte tokenizer, as token-level KD needs.
//   node dist/lm_sft_kd.js <teacher LM folder>      e.g. the repository's assets/reasoning-teacher
//   PROBLEMS=24 STEPS=40 (CI: PROBLEMS=8 STEPS=6)
import { lm, reason, torch } from 'distill';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node dist/lm_sft_kd.js <teacher LM folder (holding lm.json)>');
const PROBLEMS = Number(process.env.PROBLEMS ?? 24), STEPS = Number(process.env.STEPS ?? 40), OUT = process.env.OUT ?? 'runs/lm-sft-kd';

// 1. Traces: the teacher answers training problems; each answer is checked against the exact one.
const teacher = reason.LocalTeacher.load(dir);
const problems = reason.generateProblems({ families: ['chickens-rabbits'], n: PROBLEMS, seed: 0, split: 'train', lang: 'en' });
const gen = await reason.generateTraces({
  teacher, problems, samples: 1, out: `${OUT}/traces`, maxTokens: 256, topLogprobs: 4,
  preset: { suffix: { en: '', zh: '' }, temperature: 0 }, // greedy on the bare question, as this teacher was trained
});
const traces = reason.mergeTraces(`${OUT}/traces`);
console.log(`traces: ${gen.kept} kept, ${gen.rejected} rejected of ${gen.planned}`);

// 2. Two students from the same random start: SFT, then SFT + token-level KD.
const tok = teacher.tokenizer;
const results: Record<string, { first: number; last: number; kl: number | null }> = {};
for (const kind of ['sft', 'sft+kd'] as const) {
  torch.manualSeed(0);
  const student = new lm.CausalLM(lm.lmConfig({ vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, hiddenDim: 128, maxSeqLen: 384 }));
  const losses: number[] = [];
  const run = reason.trainLm({
    model: student, examples: reason.studentExamples(traces, tok, kind), steps: STEPS, batchSize: 8, lr: 3e-3,
    padId: tok.eosId, alpha: kind === 'sft' ? 1 : 0.5, T: 1, onStep: (s) => losses.push(s.loss),
  });
  results[kind] = { first: losses[0], last: losses[losses.length - 1], kl: run.last?.kl ?? null };
  console.log(`${kind}: loss ${losses[0].toFixed(3)} → ${losses[losses.length - 1].toFixed(3)}${run.last?.kl != null ? `, KL to the teacher ${run.last.kl.toFixed(3)}` : ''}`);
  lm.saveLm(`${OUT}/${kind}`, student, tok);
  student.dispose();
}
teacher.model.dispose();
console.log(JSON.stringify({ traces: { kept: gen.kept, rejected: gen.rejected, planned: gen.planned }, students: results }));

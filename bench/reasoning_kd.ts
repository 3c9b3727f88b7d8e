// SFT vs KD vs on-policy distillation on the reasoning task (issue 20, item 6), at equal
// compute: every method trains the same student (the shipped teacher pruned to the demo's
// student size, src/lm/prune.ts) for the same steps × batch on the same prompts, in the one GKD
// loop (src/reason/gkd.ts), and differs only in where completions come from and what the loss is:
//   (a) sft      λ = 0, α = 1: CE on the reference chains (no teacher term);
//   (b) kd       λ = 0, α = 0.5: CE + forward KL to the teacher at loss temperature T (full logits);
//   (c) onpolicy λ = 1, reverse KL (β = 1) at T on the student's own samples;
//   (d) mix      λ = 0.5, JSD(β = 0.5) at T, CE (α = 0.5) on the dataset steps.
// On-policy steps also pay the student's sampling (batched decoder); it is not charged against
// their step budget but measured (seconds per run are reported).
// pass@1 (greedy) on three sets: in-distribution (held-out ids, the family's wordings),
// new wordings (the same ids, wordings no model was trained on) and new wordings with
// 41–50 heads (a number range outside every training set: the family stops at 40 heads).
//
//   node dist/bench/reasoning_kd.js --methods sft,kd --seeds 0,1,2 --steps 300 --out runs/reasoning-kd
//   node dist/bench/reasoning_kd.js --report --out runs/reasoning-kd
// Each run writes <out>/<method>-s<seed>.json and is skipped when that file exists, so the runs
// can be split over processes (one per core) and the report read at the end.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { lmConfig, type CausalLM } from '../src/lm/model.js';
import { loadLm, saveLm } from '../src/lm/checkpoint.js';
import type { Tokenizer } from '../src/lm/tokenizer.js';
import type { LmExample } from '../src/lm/batch.js';
import { measureImportance, pruneLm } from '../src/lm/prune.js';
import { generateProblems } from '../src/reason/problems/index.js';
import { localTeacher, trainGkd, type GkdTeacher } from '../src/reason/gkd.js';
import { evaluateLm } from '../src/reason/evaluate.js';
import type { Problem } from '../src/reason/types.js';
import type { TokenLossName } from '../src/kd/index.js';
import { writeFileAtomic } from '../src/io/index.js';
import { SHIPPED_TEACHER } from '../src/cli/reason_demo.js';
import { REASONING_DEFAULTS } from '../src/cli/reason_defaults.js';
import { meanStd } from './stats.js';

const { values: a } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/reasoning-kd' },
    methods: { type: 'string', default: 'sft,kd,onpolicy,mix' },
    seeds: { type: 'string', default: '0,1,2' },
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: String(REASONING_DEFAULTS.batchSize) },
    lr: { type: 'string', default: String(REASONING_DEFAULTS.lr) },
    T: { type: 'string', default: '2' },
    problems: { type: 'string', default: '1238' },
    eval: { type: 'string', default: '64' },
    'max-new': { type: 'string', default: '128' },
    threads: { type: 'string', default: '1' },
    report: { type: 'boolean', default: false },
    /** Skip the teacher's measurement (another process of the same comparison does it). */
    'no-teacher': { type: 'boolean', default: false },
  },
});
const out = a.out!;
const T = Number(a.T);

interface Method { lambda: number; alpha: number; divergence: TokenLossName; beta: number; lossT: number }
const METHODS: Record<string, Method> = {
  sft: { lambda: 0, alpha: 1, divergence: 'forward_kl', beta: 0, lossT: 1 },
  kd: { lambda: 0, alpha: 0.5, divergence: 'forward_kl', beta: 0, lossT: T },
  onpolicy: { lambda: 1, alpha: 0, divergence: 'reverse_kl', beta: 1, lossT: T },
  mix: { lambda: 0.5, alpha: 0.5, divergence: 'jsd', beta: 0.5, lossT: T },
};

// ── held-out wordings: none of them is among the family's (src/reason/problems/chickens_rabbits.ts) ──
const NEW_EN = [
  (h: number, l: number) => `In a yard there are only chickens and rabbits. I count ${h} heads and ${l} legs. How many chickens and how many rabbits are in the yard?`,
  (h: number, l: number) => `A zoo keeper sees ${l} legs and ${h} heads among the chickens and rabbits. How many chickens and how many rabbits does she see?`,
];
const NEW_ZH = [
  (h: number, l: number) => `院子里只有鸡和兔，一共${h}个头，${l}条腿。院子里鸡和兔各有几只？`,
  (h: number, l: number) => `饲养员数了数鸡和兔：头有${h}个，腿有${l}条。鸡、兔各是多少只？`,
];
function reword(p: Problem, i: number): Problem {
  const [c, r] = p.values;
  const h = c + r, l = 2 * c + 4 * r;
  const t = p.lang === 'zh' ? NEW_ZH : NEW_EN;
  return { ...p, question: t[i % t.length](h, l) };
}
/** Problems with 41–50 heads (the family lists 2–40), in the new wordings; the answer format is the family's. */
function wideProblems(n: number, seed: number): Problem[] {
  const all: Problem[] = [];
  for (let h = 41; h <= 50; h++) for (let c = 1; c < h; c++) for (const lang of ['en', 'zh'] as const) {
    const r = h - c;
    all.push({ id: `chickens-rabbits:${h}:${2 * c + 4 * r}`, family: 'chickens-rabbits', lang, question: '', answer: `${c}, ${r}`, values: [c, r], solution: '' } as Problem);
  }
  // A seeded pick (mulberry-like LCG): the same n problems for every run.
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, n).map((p, i) => reword(p, i));
}

function evalSets(n: number): Record<string, Problem[]> {
  const test = generateProblems({ families: ['chickens-rabbits'], n, seed: 101, split: 'test', lang: 'both' });
  return { in_dist: test, new_wording: test.map((p, i) => reword(p, i)), new_wording_range: wideProblems(n, 7) };
}

/** Training examples: the reference chains of the train split (what the teacher was trained on and writes greedily). */
function trainExamples(tok: Tokenizer, n: number): LmExample[] {
  return generateProblems({ families: ['chickens-rabbits'], n, seed: 0, split: 'train', lang: 'both' })
    .map((p) => ({ prompt: tok.chatPrompt([{ role: 'user', content: p.question }]), completion: [...tok.encode(p.solution!), tok.eosId] }));
}

/** The common start: the teacher pruned to the demo's student size, calibrated on 64 examples (deterministic). */
function studentInit(teacher: CausalLM, tok: Tokenizer, examples: LmExample[]): string {
  const dir = join(out, 'student-init');
  if (existsSync(join(dir, 'lm.json'))) return dir;
  const size = lmConfig({ ...REASONING_DEFAULTS.student, vocabSize: tok.vocabSize });
  const imp = measureImportance(teacher, examples.slice(0, 64).map((e) => [...e.prompt, ...e.completion]));
  const m = pruneLm(teacher, imp, size, { residual: 'channels' });
  saveLm(dir, m, tok, { info: { prunedFrom: SHIPPED_TEACHER } });
  m.dispose();
  return dir;
}

/** The teacher's mean entropy and top-1 probability over the reference completions at temperature t (nats). */
function teacherSoftness(teacher: CausalLM, examples: LmExample[], t: number): { entropy: number; top1: number } {
  return torch.tidy(() => {
    let H = 0, P = 0, n = 0;
    for (const e of examples) {
      const seq = [...e.prompt, ...e.completion];
      const logits = teacher.forward(torch.tensor(BigInt64Array.from(seq.slice(0, -1).map(BigInt))).reshape([1, -1])); // (1, S, V)
      const z = logits.reshape([seq.length - 1, -1]).narrow(0, e.prompt.length - 1, e.completion.length).div(t); // (C, V)
      const lp = z.logSoftmax(-1);
      H += -lp.exp().mul(lp).sum().item();
      P += lp.amax(-1).exp().sum().item();
      n += e.completion.length;
    }
    return { entropy: H / n, top1: P / n };
  });
}

/** A stand-in for SFT (α = 1, the KD term weighted 0): uniform logits, so no teacher forward is paid. */
function noTeacher(V: number): GkdTeacher {
  return { vocabSize: V, topk: false, grade: (_input, rows) => torch.zeros([rows.shape[0], V]) };
}

function runOne(name: string, seed: number): void {
  const file = join(out, `${name}-s${seed}.json`);
  if (existsSync(file)) return;
  const m = METHODS[name];
  if (!m) throw new torch.ConfigError(`unknown method '${name}'; choose from ${Object.keys(METHODS).join(', ')}`);
  const { model: teacher, tokenizer: tok } = loadLm(SHIPPED_TEACHER);
  teacher.eval();
  const examples = trainExamples(tok, Number(a.problems));
  const init = studentInit(teacher, tok, examples);
  torch.manualSeed(seed);
  const { model } = loadLm(init);
  const t0 = performance.now();
  const r = trainGkd({
    model: model.train(), teacher: m.alpha === 1 ? noTeacher(tok.vocabSize) : localTeacher(teacher), examples,
    steps: Number(a.steps), lambda: m.lambda, divergence: m.divergence, beta: m.beta, lossT: m.lossT, alpha: m.alpha,
    temperature: 1, maxNewTokens: Number(a['max-new']), eosIds: [tok.eosId], padId: tok.eosId,
    batchSize: Number(a.batch), lr: Number(a.lr), seed,
    onStep: (s) => { if (s.step % 50 === 0) process.stderr.write(`${name} s${seed} step ${s.step}/${s.steps} loss ${s.loss.toFixed(3)} kd ${s.kd.toExponential(2)} ce ${s.ce?.toFixed(3) ?? '-'} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`); },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  teacher.dispose();
  const acc: Record<string, number> = {};
  for (const [set, problems] of Object.entries(evalSets(Number(a.eval)))) acc[set] = evaluateLm(model, tok, problems, { maxNewTokens: Number(a['max-new']) }).accuracy;
  model.dispose();
  const row = { method: name, seed, ...m, steps: Number(a.steps), batch: Number(a.batch), lr: Number(a.lr), trainSeconds, onPolicySteps: r.onPolicySteps,
    meanKd: m.alpha === 1 ? null : r.meanKd, meanCe: r.meanCe, ...acc };
  writeFileAtomic(file, JSON.stringify(row) + '\n');
  console.log(JSON.stringify(row));
}

function report(): void {
  const rows = readdirSync(out).filter((f) => /-s\d+\.json$/.test(f)).map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as Record<string, number | string | null>);
  const mean = (xs: number[]) => meanStd(xs).mean;
  const pct = (xs: number[]) => `${(meanStd(xs).mean * 100).toFixed(1)} ± ${(meanStd(xs).std * 100).toFixed(1)}`;
  console.log('| method | seeds | in-distribution | new wordings | new wordings, 41–50 heads | held-out (both) | train s/run | mean KD term | mean CE |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const summary: Record<string, unknown> = {};
  for (const name of Object.keys(METHODS)) {
    const rs = rows.filter((r) => r.method === name).sort((x, y) => Number(x.seed) - Number(y.seed));
    if (!rs.length) continue;
    const col = (k: string) => rs.map((r) => Number(r[k]));
    const held = rs.map((r) => (Number(r.new_wording) + Number(r.new_wording_range)) / 2);
    const kd = rs[0].meanKd === null ? '—' : mean(col('meanKd')).toExponential(2);
    const ce = rs[0].meanCe === null ? '—' : mean(col('meanCe')).toFixed(3);
    console.log(`| ${name} | ${rs.length} | ${pct(col('in_dist'))} | ${pct(col('new_wording'))} | ${pct(col('new_wording_range'))} | ${pct(held)} | ${mean(col('trainSeconds')).toFixed(0)} | ${kd} | ${ce} |`);
    summary[name] = { seeds: rs.map((r) => r.seed), in_dist: col('in_dist'), new_wording: col('new_wording'), new_wording_range: col('new_wording_range'), held_out: held };
  }
  console.log(JSON.stringify(summary));
}

mkdirSync(out, { recursive: true });
torch.setNumThreads(Number(a.threads));
if (a.report) report();
else {
  // The teacher's softness at T = 1 and at the chosen T, on 32 reference chains (once per out folder).
  const soft = join(out, 'teacher.json');
  if (!a['no-teacher'] && !existsSync(soft)) {
    const { model: teacher, tokenizer: tok } = loadLm(SHIPPED_TEACHER);
    teacher.eval();
    const ex = trainExamples(tok, 32);
    const s = { T1: teacherSoftness(teacher, ex, 1), [`T${T}`]: teacherSoftness(teacher, ex, T) };
    const ev = evalSets(Number(a.eval));
    const acc = Object.fromEntries(Object.entries(ev).map(([k, p]) => [k, evaluateLm(teacher, tok, p, { maxNewTokens: Number(a['max-new']) }).accuracy]));
    teacher.dispose();
    writeFileAtomic(soft, JSON.stringify({ softness: s, passAt1: acc }) + '\n');
    console.log(JSON.stringify({ teacher: { softness: s, passAt1: acc } }));
  }
  for (const seed of a.seeds!.split(',').map(Number)) for (const name of a.methods!.split(',')) runOne(name, seed);
}

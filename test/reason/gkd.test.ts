// On-policy distillation (reason/gkd.ts) at tiny scale: the student's samples are what the
// batched decoder gives at the step's seeds; the step's KD value is the token divergence over the
// completion tokens, recomputed here sequence by sequence without padding; training brings the
// student toward the teacher; a killed run resumes from the sample log without sampling or
// grading again and ends at the same weights, bit for bit; a scoring teacher (async) in a worker;
// one tokenizer in two folders is one tokenizer, and a padded teacher embedding is cut; bad input
// is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { CausalLM } from '../../src/lm/model.js';
import { generateBatch } from '../../src/lm/generate.js';
import { tokenDivergence, type TokenLossName } from '../../src/kd/index.js';
import { hashSeed } from '../../src/data/index.js';
import { applyLora, loraParameters } from '../../src/lm/lora.js';
import { batchAt } from '../../src/reason/sft.js';
import { makeBatch, IGNORE } from '../../src/lm/batch.js';
import { localTeacher, tokenizerMismatch, trainGkd, type GkdOptions, type GkdTeacher } from '../../src/reason/gkd.js';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { realTokenizer, realTokenizerDir } from '../helpers/real_tokenizers.js';
import { GkdLog, type GkdLogRecord } from '../../src/reason/gkd_log.js';
import { blockingScorer, scorerTeacher } from '../../src/reason/gkd_scorer.js';
import { bigramLogprobs, bigramScores } from './gkd_scorer_fixture.js';

const tok = new ByteTokenizer();
const examples = ['x+y=10', 'y=8/2=4', '2y=28-20=8', 'x=10-4=6', 'x=3', 'y=7'].map((s, i) => ({ prompt: tok.chatPrompt([{ role: 'user', content: `q${i}` }]), completion: [...tok.encode(s), tok.eosId] }));
const studentCfg = { vocabSize: tok.vocabSize, dim: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 48 };
const teacherCfg = { vocabSize: tok.vocabSize, dim: 24, nLayers: 2, nHeads: 2, nKvHeads: 2, hiddenDim: 32, maxSeqLen: 48 };
const dir = mkdtempSync(join(tmpdir(), 'gkd-'));
const newStudent = () => {
  torch.manualSeed(5);
  return new CausalLM(studentCfg);
};
torch.manualSeed(11);
const teacherModel = new CausalLM(teacherCfg);
const base = (over: Partial<GkdOptions> = {}): GkdOptions => ({
  model: newStudent(), teacher: localTeacher(teacherModel), examples, steps: 4, lambda: 0.5, beta: 0.5, temperature: 1,
  maxNewTokens: 12, eosIds: [tok.eosId], padId: tok.eosId, batchSize: 3, lr: 1e-2, seed: 3, ...over,
});
const readLog = (ckpt: string) => readFileSync(`${ckpt}.samples.jsonl`, 'utf8').split('\n').filter(Boolean).slice(1).map((l) => JSON.parse(l) as GkdLogRecord);

/** The divergence over the completion tokens, each sequence run alone (no padding, no batching). */
function divergenceBySequence(student: CausalLM, teacher: CausalLM, seqs: { prompt: number[]; completion: number[] }[], name: TokenLossName, beta: number): number {
  return torch.tidy(() => torch.noGrad(() => {
    const s: torch.Tensor[] = [], t: torch.Tensor[] = [];
    for (const e of seqs) {
      const ids = [...e.prompt, ...e.completion].slice(0, -1);
      const x = torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] });
      const from = e.prompt.length - 1; // the position that predicts the first completion token
      s.push(student.call(x).select(0, 0).slice(0, from, ids.length));
      t.push(teacher.call(x).select(0, 0).slice(0, from, ids.length));
    }
    return tokenDivergence(name, torch.cat(s, 0), torch.cat(t, 0), { beta }).item();
  }));
}

test('on-policy steps train on the batched decoder\'s samples at the step seeds, and the logged KD is the divergence over their completion tokens', () => {
  const ckpt = join(dir, 'first.ckpt');
  const steps: { kd: number; ce: number | null; source: string }[] = [];
  trainGkd(base({ lambda: 1, steps: 1, checkpoint: ckpt, onStep: (s) => steps.push(s) }));
  const [rec] = readLog(ckpt);
  assert.equal(rec.source, 'student');
  const chosen = batchAt(examples.length, 3, 3, 0).map((i) => examples[i]);
  const fresh = newStudent();
  const gens = generateBatch(fresh, chosen.map((e, b) => ({ prompt: e.prompt, options: { maxNewTokens: 12, temperature: 1, seed: hashSeed(3, 0, b), eosId: [tok.eosId] } })));
  assert.deepEqual(rec.completions, gens.map((g) => (g.finishReason === 'stop' ? [...g.ids, tok.eosId] : g.ids)));
  const want = divergenceBySequence(fresh, teacherModel, chosen.map((e, i) => ({ prompt: e.prompt, completion: rec.completions![i] })), 'jsd', 0.5);
  assert.equal(steps[0].source, 'student');
  assert.equal(steps[0].ce, null);
  assert.ok(Math.abs(steps[0].kd - want) <= 1e-5 * Math.abs(want) + 1e-7, `kd ${steps[0].kd} vs ${want}`);
  // Off-policy with an SFT share: the dataset's completions, both parts logged.
  const off: { kd: number; ce: number | null; source: string; loss: number }[] = [];
  trainGkd(base({ lambda: 0, alpha: 0.25, steps: 1, divergence: 'reverse_kl', onStep: (s) => off.push(s) }));
  const wantKd = divergenceBySequence(newStudent(), teacherModel, chosen, 'reverse_kl', 0);
  assert.equal(off[0].source, 'dataset');
  assert.ok(Math.abs(off[0].kd - wantKd) <= 1e-5 * wantKd, `kd ${off[0].kd} vs ${wantKd}`);
  assert.ok(off[0].ce! > 0);
  assert.ok(Math.abs(off[0].loss - (0.75 * off[0].kd + 0.25 * off[0].ce!)) < 1e-5);
});

test('precision bf16: the student\'s forward runs under bfloat16 autocast (the same padded batch, logits upcast), the recipe records it, and a resume in fp32 is refused', () => {
  const kd = (precision: 'fp32' | 'bf16', checkpoint?: string) => {
    const seen: number[] = [];
    trainGkd(base({ lambda: 0, steps: 1, precision, checkpoint, onStep: (s) => seen.push(s.kd) }));
    return seen[0];
  };
  // The reference: step 1's batch as trainGkd builds it (dataset completions, padded to one
  // length), the student's logits at the completion positions under autocast, JSD to the teacher's.
  const chosen = batchAt(examples.length, 3, 3, 0).map((i) => examples[i]);
  const want = torch.tidy(() => torch.noGrad(() => {
    const batch = makeBatch(chosen, studentCfg.maxSeqLen - 1, tok.eosId);
    const target = Array.from(batch.target.dataSync() as BigInt64Array);
    const rows = torch.tensor(BigInt64Array.from(target.flatMap((t, i) => (t === BigInt(IGNORE) ? [] : [BigInt(i)]))));
    const at = (m: CausalLM) => { const h = m.hidden(batch.input); return m.head(h.reshape([-1, h.shape[2]]).indexSelect(0, rows)); };
    const student = torch.autocast('bfloat16', () => at(newStudent())).toDtype('float32');
    return tokenDivergence('jsd', student, at(teacherModel), { beta: 0.5 }).item();
  }));
  const ckpt = join(dir, 'bf16.ckpt');
  const got = kd('bf16', ckpt);
  assert.equal(got, want);
  assert.notEqual(kd('fp32'), got, 'fp32 computes something else');
  assert.throws(() => kd('fp32', ckpt), (e: Error) => e instanceof torch.ConfigError && /precision bf16/.test(e.message) && /precision fp32/.test(e.message));
  assert.throws(() => kd('fp16' as 'bf16'), /precision must be one of fp32, bf16/);
});

test('λ draws a share of on-policy steps; training brings the student toward the teacher', () => {
  const seen: string[] = [];
  const model = newStudent();
  const chosen = examples.slice(0, 3);
  const before = divergenceBySequence(model, teacherModel, chosen, 'reverse_kl', 1);
  const r = trainGkd(base({ model, steps: 24, lambda: 0.5, beta: 1, onStep: (s) => seen.push(s.source) }));
  const after = divergenceBySequence(model, teacherModel, chosen, 'reverse_kl', 1);
  const student = seen.filter((s) => s === 'student').length;
  assert.ok(student >= 6 && student <= 18, `${student} of 24 steps on-policy`);
  assert.equal(r.onPolicySteps, student);
  assert.ok(after < 0.7 * before, `reverse KL ${before} → ${after}`);
  assert.ok(r.meanKd > 0 && r.meanCe === null);
});

for (const [what, topK] of [['a local teacher (full logits, recomputed)', undefined], ['a top-k teacher (grades logged)', 5]] as const) {
  test(`a killed run resumes from its sample log to bit-identical weights: ${what}`, () => {
    const divergence: TokenLossName = topK ? 'reverse_kl' : 'jsd';
    let grades = 0, calls = 0;
    const counting = (): GkdTeacher => {
      const t = localTeacher(teacherModel, { topK });
      return { ...t, grade: (x, rows, y) => (grades++, t.grade(x, rows, y)) };
    };
    const run = (ckpt: string, crashAt?: number, seen?: { step: number; calls: number; grades: number }[]) => {
      const model = newStudent();
      // Every forward (sampling's and training's) runs the blocks through hidden().
      const hidden = model.hidden.bind(model);
      model.hidden = (...a: Parameters<CausalLM['hidden']>) => (calls++, hidden(...a));
      trainGkd(base({ model, teacher: counting(), divergence, steps: 8, lambda: 0.7, seqKd: true, checkpoint: ckpt, checkpointEvery: 3, recipe: { topK: topK ?? null }, onStep: (s) => {
        seen?.push({ step: s.step, calls, grades });
        if (s.step === crashAt) throw new Error('killed');
      } }));
      return model;
    };
    const straight = run(join(dir, `a${topK}.ckpt`));
    assert.throws(() => run(join(dir, `b${topK}.ckpt`), 7), /killed/);
    assert.equal(readLog(join(dir, `b${topK}.ckpt`)).length, 7, 'steps 1…7 logged');
    // Another recipe is refused, its checkpoint and sample log left as they were.
    const logBytes = readFileSync(join(dir, `b${topK}.ckpt.samples.jsonl`));
    assert.throws(() => trainGkd(base({ steps: 8, checkpoint: join(dir, `b${topK}.ckpt`), recipe: { other: true } })), /was written by a run with other options/);
    assert.deepEqual(readFileSync(join(dir, `b${topK}.ckpt.samples.jsonl`)), logBytes);
    [grades, calls] = [0, 0];
    const seen: { step: number; calls: number; grades: number }[] = [];
    const resumed = run(join(dir, `b${topK}.ckpt`), undefined, seen);
    // Resumed at the step-6 checkpoint: step 7 replays the log (one forward of the student, no
    // sampling; a top-k teacher not asked again), step 8 is new.
    assert.deepEqual(seen.map((s) => s.step), [7, 8]);
    assert.equal(seen[0].calls, 1, 'step 7 replayed: the training forward only');
    assert.equal(seen[0].grades, topK ? 0 : 1);
    for (const [k, t] of Object.entries(straight.stateDict())) assert.equal(t.sub(resumed.stateDict()[k]).abs().max().item(), 0, `${k} differs`);
    assert.deepEqual(readLog(join(dir, `b${topK}.ckpt`)), readLog(join(dir, `a${topK}.ckpt`)));
    if (topK) assert.equal(readLog(join(dir, `a${topK}.ckpt`))[0].grades!.ids[0].length, topK);
  });
}

test('bad input: λ or β outside [0, 1], another vocabulary, a top-k teacher at loss temperature 2, a student that only writes end-of-sequence', () => {
  const err = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);
  assert.throws(() => trainGkd(base({ lambda: 1.5 })), err(/lambda .* must be a number in \[0, 1\], got 1\.5/));
  assert.throws(() => trainGkd(base({ lambda: -0.1 })), err(/lambda/));
  assert.throws(() => trainGkd(base({ beta: 2 })), err(/beta must be a number in \[0, 1\], got 2/));
  torch.manualSeed(1);
  const other = new CausalLM({ ...teacherCfg, vocabSize: 300 });
  assert.throws(() => trainGkd(base({ teacher: localTeacher(other) })), err(/teacher's vocabulary has 300 tokens and the student's 260.*same tokenizer.*cross-tokenizer KD/));
  assert.throws(() => trainGkd(base({ teacher: localTeacher(teacherModel, { topK: 4 }), lossT: 2 })), err(/top-k log-probabilities gives jsd at loss temperature 1 only/));
  // A student whose logits are all 0 writes token 0 greedily: with 0 as its end-of-sequence id, every sample is empty
  // (one step: the step trains on the dataset's completions instead, which changes the student).
  const mute = newStudent();
  torch.noGrad(() => Object.entries(mute.stateDict()).filter(([k]) => /norm/.test(k) && !/layers/.test(k)).forEach(([, t]) => t.zero_()));
  const warnings: string[] = [];
  assert.throws(() => trainGkd(base({ model: mute, lambda: 1, temperature: 0, eosIds: [0], steps: 1, onWarn: (w) => warnings.push(w) })), err(/every student sample of the run was empty .*3 skipped/));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /step 1: 3 student sample\(s\) were empty .* skipped; the step used the off-policy completions/);
});

test('a scoring teacher (async, in a worker) grades each completion position with its top-k, and trains like the same scorer in-process', () => {
  const spec = { module: new URL('./gkd_scorer_fixture.js', import.meta.url).href, export: 'BigramScorer', args: [tok.vocabSize] };
  const remote = blockingScorer(spec);
  try {
    assert.deepEqual(remote.scoreTokens([[1, 2, 3], [7, 8]], 3), bigramScores([[1, 2, 3], [7, 8]], 3, tok.vocabSize));
    // Grades at the completion positions: the bigram row of the token at each position (an independent computation).
    const teacher = scorerTeacher(remote, { vocabSize: tok.vocabSize, k: 6 });
    const input = torch.tensor(BigInt64Array.from([5n, 9n, 4n, 0n, 6n, 2n, 8n, 1n]), { shape: [2, 4] });
    const target = torch.tensor(BigInt64Array.from([-100n, 4n, 11n, -100n, -100n, -100n, 1n, 3n]), { shape: [2, 4] });
    const rows = torch.tensor(BigInt64Array.from([1n, 2n, 6n, 7n]));
    const g = teacher.grade(input, rows, target) as { ids: torch.Tensor; logprobs: torch.Tensor };
    const at = [9, 4, 8, 1]; // the input token at each graded position
    const want = at.map((a) => bigramLogprobs(a, tok.vocabSize)).map((lp) => lp.map((_, v) => v).sort((x, y) => lp[y] - lp[x]).slice(0, 6));
    assert.deepEqual(Array.from(g.ids.dataSync() as BigInt64Array, Number), want.flat());
    // Training through the worker equals training with the same scorer called in-process.
    const local = scorerTeacher({ scoreTokens: (p, k) => bigramScores(p, k, tok.vocabSize) }, { vocabSize: tok.vocabSize, k: 6 });
    const a = newStudent(), b = newStudent();
    trainGkd(base({ model: a, teacher: scorerTeacher(remote, { vocabSize: tok.vocabSize, k: 6 }), divergence: 'reverse_kl', lambda: 0.5, steps: 3 }));
    trainGkd(base({ model: b, teacher: local, divergence: 'reverse_kl', lambda: 0.5, steps: 3 }));
    for (const [k, t] of Object.entries(a.stateDict())) assert.equal(t.sub(b.stateDict()[k]).abs().max().item(), 0, `${k} differs`);
    assert.notEqual(a.stateDict()['lm_head.weight'].sub(newStudent().stateDict()['lm_head.weight']).abs().max().item(), 0);
  } finally {
    remote.close();
  }
  const failing = blockingScorer({ module: spec.module, export: 'FailingScorer' });
  try {
    assert.throws(() => failing.scoreTokens([[1, 2]], 2), (e: Error & { code?: string }) => e.code === 'ERR_TEACHER_FEATURE' && /does not return prompt log-probabilities/.test(e.message));
  } finally {
    failing.close();
  }
});

test('one tokenizer in two folders is the same tokenizer; a padded teacher embedding is cut to the student\'s ids', () => {
  const copy = join(dir, 'qwen3-copy');
  mkdirSync(copy);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(realTokenizerDir('qwen3'), f), join(copy, f));
  const qwen = realTokenizer('qwen3');
  assert.notEqual(qwen.kind, HfTokenizer.fromDir(copy).kind, 'kind names the folder');
  assert.equal(tokenizerMismatch(qwen, HfTokenizer.fromDir(copy)), null);
  assert.equal(tokenizerMismatch(tok, new ByteTokenizer()), null);
  assert.match(tokenizerMismatch(tok, qwen)!, /^260 tokens against 151669$/);
  // A teacher with 300 embedding rows graded over the student's 260 ids: its first 260 logits.
  torch.manualSeed(2);
  const padded = new CausalLM({ ...teacherCfg, vocabSize: 300 });
  const t = localTeacher(padded, { vocabSize: tok.vocabSize });
  assert.equal(t.vocabSize, 260);
  assert.equal(t.generate, undefined, 'no sequence-level KD from a cut vocabulary');
  torch.tidy(() => {
    const x = torch.tensor(BigInt64Array.from([1n, 2n, 3n, 4n]), { shape: [1, 4] });
    const g = t.grade(x, torch.tensor(BigInt64Array.from([1n, 3n])), x) as torch.Tensor;
    const full = padded.call(x).select(0, 0).narrow(1, 0, 260).indexSelect(0, torch.tensor(BigInt64Array.from([1n, 3n])));
    assert.deepEqual(g.shape, [2, 260]);
    assert.ok(g.sub(full).abs().max().item() < 1e-5);
  });
  const r = trainGkd(base({ teacher: t, steps: 2 }));
  assert.equal(r.step, 2);
  assert.throws(() => localTeacher(padded, { vocabSize: 301 }), torch.ConfigError);
});

test('the sample log: a torn last line is cut, a damaged line or another recipe starts it anew', () => {
  const path = join(dir, 'unit.samples.jsonl');
  const rec = (step: number): GkdLogRecord => ({ step, source: 'student', completions: [[1, 2, step]], skipped: 0 });
  const log = GkdLog.open(path, { a: 1 }, { fresh: true });
  log.append(rec(0));
  log.append(rec(1));
  log.close();
  const whole = readFileSync(path, 'utf8');
  appendFileSync(path, '{"step":2,"source":"stu'); // killed mid-write
  const again = GkdLog.open(path, { a: 1 }, { fresh: false });
  again.close();
  assert.deepEqual([...again.records.keys()], [0, 1]);
  assert.deepEqual(again.records.get(1), rec(1));
  assert.equal(readFileSync(path, 'utf8'), whole, 'the torn line is cut away');
  const other = GkdLog.open(path, { a: 2 }, { fresh: false });
  other.close();
  assert.equal(other.records.size, 0);
  assert.equal(readFileSync(path, 'utf8'), JSON.stringify({ gkdLog: 1, recipe: { a: 2 } }) + '\n');
  writeFileSync(path, whole.replace('"step":0', '"step":0,,'));
  const damaged = GkdLog.open(path, { a: 1 }, { fresh: false });
  damaged.close();
  assert.equal(damaged.records.size, 0);
});

test('a LoRA student: on-policy steps move the adapters only, the frozen base stays', () => {
  const model = newStudent();
  applyLora(model, { r: 4, alpha: 8 }, 1);
  const base0 = Object.fromEntries(Object.entries(model.stateDict()).filter(([k]) => !k.includes('lora_')).map(([k, t]) => [k, t.clone()]));
  const adapters0 = loraParameters(model).map((t) => t.clone());
  trainGkd(base({ model, lambda: 1, steps: 3, beta: 1, checkpoint: join(dir, 'lora.ckpt'), recipe: { lora: 'test' } }));
  for (const [k, t] of Object.entries(base0)) assert.equal(model.stateDict()[k].sub(t).abs().max().item(), 0, `${k} moved`);
  assert.ok(loraParameters(model).some((t, i) => t.sub(adapters0[i]).abs().max().item() > 0), 'the adapters moved');
  const header = JSON.parse(readFileSync(join(dir, 'lora.ckpt.samples.jsonl'), 'utf8').split('\n')[0]);
  assert.deepEqual(header.recipe.lora.r, 4);
});

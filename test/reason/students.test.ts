// Traces → student examples, and the LM trainer's exact resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { CausalLM } from '../../src/lm/model.js';
import { studentExamples, teacherDistributions, replyText } from '../../src/reason/students.js';
import { groupedBatchAt, trainLm } from '../../src/reason/sft.js';
import type { Trace, TokenLogprob } from '../../src/reason/types.js';

const tok = new ByteTokenizer();
const lp = (token: string, logprob: number, top: [string, number][]): TokenLogprob => ({
  token, logprob, bytes: [...Buffer.from(token)], top: top.map(([t, l]) => ({ token: t, logprob: l, bytes: t.startsWith('<|') ? [] : [...Buffer.from(t)] })),
});

function trace(over: Partial<Trace> = {}): Trace {
  return {
    id: 'abc123', problemId: 'chickens-rabbits:10:28', sample: 0, question: 'Q?', answer: '6, 4',
    reasoning: 'x+y=10', content: '\\boxed{6, 4}', finishReason: 'stop', usage: { promptTokens: 5, completionTokens: 3 },
    model: 't', verdict: { ok: true, reason: 'correct', extracted: [6, 4] }, createdAt: '', ...over,
  };
}

test('the three students see: the boxed answer only; the full reply; the reply as the teacher\'s own tokens with their distributions', () => {
  const logprobs = [lp('a', -0.1, [['a', -0.1], ['b', -2.4]]), lp('b', -0.3, [['b', -0.3], ['<|eos|>', -1.5]])];
  const t = trace({ logprobs });
  const prompt = tok.chatPrompt([{ role: 'user', content: 'Q?' }]);
  const [a] = studentExamples([t], tok, 'answer-only');
  assert.deepEqual(a.prompt, prompt);
  assert.equal(tok.decode(a.completion), '\\boxed{6, 4}');
  assert.equal(a.completion.at(-1), tok.eosId);
  const [b] = studentExamples([t], tok, 'sft');
  assert.equal(tok.decode(b.completion), replyText(t));
  assert.equal(replyText(t), '<think>\nx+y=10\n</think>\n\\boxed{6, 4}');
  const [c] = studentExamples([t], tok, 'sft+kd');
  assert.deepEqual(c.completion, [97, 98, tok.eosId]);
  assert.deepEqual(c.teacher, [{ ids: [97, 98], logprobs: [-0.1, -2.4] }, { ids: [98, tok.eosId], logprobs: [-0.3, -1.5] }, null]);
  // Rejected traces teach nothing.
  assert.equal(studentExamples([trace({ verdict: { ok: false, reason: 'wrong-answer', extracted: [1, 2] } })], tok, 'sft').length, 0);
});

test('token-level KD refuses a teacher whose tokens are not single student tokens, and says why', () => {
  const multi = [lp('ab', -0.1, [['ab', -0.1]])];
  assert.throws(() => teacherDistributions(tok, multi, 'deadbeef'), /token-level KD refused .*"ab" is 2 bytes = 2 student tokens.*share a tokenizer/);
  const special = [lp('x', -0.1, [['<|im_end|>', -0.2]])];
  assert.throws(() => teacherDistributions(tok, special, 'deadbeef'), /special token the student does not have/);
});

test('trainLm: a run that dies after its checkpoint resumes to the same weights as an uninterrupted one', () => {
  const examples = ['x+y=10', 'y=8/2=4', '2y=28-20=8', 'x=10-4=6'].map((s, i) => ({ prompt: tok.chatPrompt([{ role: 'user', content: `q${i}` }]), completion: [...tok.encode(s), tok.eosId] }));
  const cfg = { vocabSize: tok.vocabSize, dim: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 64 };
  const run = (ckpt: string, crashAt?: number, recipe = { lr: 1e-2 }) => {
    torch.manualSeed(5);
    const m = new CausalLM(cfg);
    trainLm({ model: m, examples, steps: 12, batchSize: 3, lr: recipe.lr, seed: 9, padId: tok.eosId, checkpoint: ckpt, checkpointEvery: 4, recipe, onStep: (s) => {
      if (s.step === crashAt) throw new Error('killed');
    } });
    return m;
  };
  const dir = mkdtempSync(join(tmpdir(), 'sft-'));
  const straight = run(join(dir, 'a.ckpt'));
  assert.throws(() => run(join(dir, 'b.ckpt'), 10), /killed/);
  // Another recipe is refused, and the checkpoint is left as it was.
  const before = readFileSync(join(dir, 'b.ckpt'));
  assert.throws(() => run(join(dir, 'b.ckpt'), undefined, { lr: 5e-3 }), /b\.ckpt was written by a run with other options \(\{"lr":0\.01\}, now \{"lr":0\.005\}\)/);
  assert.ok(readFileSync(join(dir, 'b.ckpt')).equals(before));
  const resumed = run(join(dir, 'b.ckpt'));
  for (const [k, t] of Object.entries(straight.stateDict())) {
    const d = t.sub(resumed.stateDict()[k]).abs().max().item();
    assert.equal(d, 0, `${k} differs by ${d}`);
  }
});

test('length grouping: each epoch visits every batch-slot example once, batches pad less than random ones, and the order depends only on (seed, step)', () => {
  // 200 examples of lengths 100…299 in a scrambled order; batches of 8: 25 per epoch.
  const lengths = Array.from({ length: 200 }, (_, i) => 100 + ((i * 37) % 200));
  const epoch = (seed: number, e: number) => Array.from({ length: 25 }, (_, s) => groupedBatchAt(lengths, 8, seed, e * 25 + s));
  const batches = epoch(3, 0);
  const seen = batches.flat();
  assert.equal(new Set(seen).size, 200, 'every example once in the epoch');
  const spread = (b: number[]) => Math.max(...b.map((i) => lengths[i])) - Math.min(...b.map((i) => lengths[i]));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Random batches of 8 from 200 lengths spread over ~155 tokens; grouped ones over ≤ ~25.
  assert.ok(mean(batches.map(spread)) < 40, `mean spread within a batch ${mean(batches.map(spread))}`);
  assert.deepEqual(epoch(3, 0), batches, 'a pure function of (seed, step)');
  assert.notDeepEqual(epoch(3, 1), batches, 'another epoch, another order');
  // The batches' order is shuffled, not longest to shortest.
  const firstLens = batches.map((b) => lengths[b[0]]);
  assert.notDeepEqual(firstLens, [...firstLens].sort((a, b) => a - b));
});

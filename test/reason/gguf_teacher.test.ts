// GgufTeacher (node-llama-cpp 3.21.1, CPU) against LocalTeacher on the same weights: a small LM
// trained here for a few seconds on chat dialogs in the teacher's shape
// (<|user|>question<|assistant|><think>…</think>answer<|eos|>), exported to GGUF f32.
//   - greedy: identical content, reasoning, finish reason and usage on seen and unseen prompts,
//     the chosen tokens' log-probabilities within 1e-3 and the same top-k ids, texts and bytes;
//   - sampled with a seed: the same sample (one sampler, the same distribution to 1e-6);
//   - stop strings and maxTokens end both the same way;
//   - a missing, non-GGUF or truncated file: one clear error naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as optim from '../../src/optim/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { exportGguf } from '../../src/export/gguf.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { GgufTeacher } from '../../src/reason/teachers/gguf.js';
import type { ChatRequest, Completion } from '../../src/reason/types.js';
import { SMALL, randomLm } from '../export/lm_fixtures.js';

const tok = new ByteTokenizer();
const work = mkdtempSync(join(tmpdir(), 'distill-gguf-teacher-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const DIALOGS: [string, string][] = [
  ['10 heads, 28 legs?', '<think>x+y=10, 2x+4y=28, y=4</think>\\boxed{6, 4}'],
  ['Sum 7 and 5.', '<think>7+5=12</think>\\boxed{12}'],
  ['你好', '<think>问候</think>你好！'],
  ['Ages: 3 and 9?', '<think>9-3=6</think>\\boxed{6}'],
];

/** AdamW on a stream of the dialogs (chat ids + reply + <|eos|>), random windows: memorised in ~150 steps. */
function trainedChatLm() {
  const m = randomLm({ ...SMALL, maxSeqLen: 96 }, 2).train();
  const stream: number[] = [];
  for (let r = 0; r < 12; r++)
    for (const [q, a] of DIALOGS) stream.push(...tok.chatPrompt([{ role: 'user', content: q }]), ...tok.encode(a), ByteTokenizer.EOS);
  const T = 64, B = 8;
  const opt = new optim.AdamW(m.parameters(), { lr: 1e-2, weightDecay: 0 });
  let s = 7;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let step = 0; step < 150; step++)
    torch.tidy(() => {
      const rows: number[] = [];
      for (let b = 0; b < B; b++) {
        const at = Math.floor(rand() * (stream.length - T - 1));
        rows.push(...stream.slice(at, at + T + 1));
      }
      const all = torch.tensor(BigInt64Array.from(rows, BigInt), { shape: [B, T + 1] });
      const logits = m.call(all.narrow(1, 0, T)); // (B, T, V)
      const loss = torch.crossEntropy(logits.reshape([B * T, tok.vocabSize]), all.narrow(1, 1, T).reshape([B * T]));
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  return m.eval();
}

let pair: { local: LocalTeacher; gguf: GgufTeacher } | undefined;
async function teachers() {
  if (pair) return pair;
  const model = trainedChatLm();
  const path = join(work, 'chat.f32.gguf');
  exportGguf(model, tok, path, { name: 'chat' });
  pair = { local: new LocalTeacher(model, tok, 'chat'), gguf: await GgufTeacher.load(path) };
  return pair;
}
test.after(async () => pair?.gguf.close());

const ask = (q: string, o: Partial<ChatRequest> = {}): ChatRequest => ({ messages: [{ role: 'user', content: q }], maxTokens: 60, ...o });

function sameText(a: Completion, b: Completion, what: string) {
  assert.deepEqual(
    { content: b.content, reasoning: b.reasoning, finishReason: b.finishReason, usage: b.usage },
    { content: a.content, reasoning: a.reasoning, finishReason: a.finishReason, usage: a.usage }, what);
}

test('greedy: GgufTeacher equals LocalTeacher (content, reasoning, finish, usage; logprobs within 1e-3)', async (t) => {
  const { local, gguf } = await teachers();
  assert.equal(gguf.name, 'chat.f32');
  const questions = [...DIALOGS.map(([q]) => q), '12 heads, 40 legs?', 'Tell me a story.'];
  let worst = 0, tokens = 0, thinking = 0;
  for (const q of questions) {
    const req = ask(q, { temperature: 0, topLogprobs: 3 });
    const a = await local.complete(req), b = await gguf.complete(req);
    sameText(a, b, q);
    if (a.reasoning) thinking++;
    assert.equal(b.logprobs?.length, a.logprobs?.length, q);
    a.logprobs!.forEach((x, i) => {
      const y = b.logprobs![i];
      assert.deepEqual({ id: y.id, token: y.token, bytes: y.bytes }, { id: x.id, token: x.token, bytes: x.bytes }, `${q} token ${i}`);
      assert.deepEqual(y.top.map((u) => [u.id, u.token, u.bytes]), x.top.map((u) => [u.id, u.token, u.bytes]), `${q} top ${i}`);
      worst = Math.max(worst, Math.abs(x.logprob - y.logprob), ...x.top.map((u, k) => Math.abs(u.logprob - y.top[k].logprob)));
      tokens++;
    });
  }
  t.diagnostic(`${questions.length} prompts, ${tokens} tokens, ${thinking} with reasoning; max |Δ logprob| = ${worst.toExponential(2)}`);
  assert.ok(thinking >= 3, 'the fixture should reason in <think> on the dialogs it learnt');
  assert.ok(worst <= 1e-3, `max |Δ logprob| ${worst}`);
  // Chat history with a system and an assistant turn goes through the template to the same ids.
  const turns: ChatRequest['messages'] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Sum 7 and 5.' }, { role: 'assistant', content: '12' }, { role: 'user', content: '你好' }];
  assert.deepEqual(gguf.promptIds(turns), tok.chatPrompt(turns));
});

test('sampling with a seed, stop strings and maxTokens: the same as LocalTeacher', async () => {
  const { local, gguf } = await teachers();
  const cases: ChatRequest[] = [
    ask('Sum 7 and 5.', { temperature: 0.9, topP: 0.95, seed: 3 }),
    ask('Tell me a story.', { temperature: 1.2, topK: 20, seed: 11 }),
    ask('10 heads, 28 legs?', { temperature: 0, stop: ['</think>'] }),
    ask('10 heads, 28 legs?', { temperature: 0, maxTokens: 9 }),
  ];
  for (const req of cases) sameText(await local.complete(req), await gguf.complete(req), JSON.stringify(req));
  const cut = await gguf.complete(cases[2]);
  assert.equal(cut.finishReason, 'stop');
  assert.ok(!cut.content.includes('</think>'));
  assert.equal((await gguf.complete(cases[3])).finishReason, 'length');
});

test('a missing, non-GGUF or truncated file: one clear error naming it', async () => {
  const missing = join(work, 'nope.gguf');
  await assert.rejects(GgufTeacher.load(missing), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG' && e.message === `GGUF file not found: ${missing}`);
  const junk = join(work, 'junk.gguf');
  writeFileSync(junk, 'this is not a model\n'.repeat(20));
  await assert.rejects(GgufTeacher.load(junk), (e: Error & { code?: string }) => e.code === 'ERR_FORMAT' && e.message.includes(junk) && /not a GGUF file/.test(e.message));
  const good = join(work, 'r.gguf');
  exportGguf(randomLm(SMALL, 4), tok, good);
  const cutPath = join(work, 'truncated.gguf');
  const bytes = readFileSync(good);
  writeFileSync(cutPath, bytes.subarray(0, bytes.length >> 1));
  await assert.rejects(GgufTeacher.load(cutPath), (e: Error & { code?: string }) => e.code === 'ERR_FORMAT' && e.message.includes(cutPath) && /truncated/.test(e.message));
});

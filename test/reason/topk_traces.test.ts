// Traces keep their top-k in the top-k store: a generation job with the teacher's tokenizer
// writes `<out>/topk/` and slim trace lines; the student's KD examples built from them equal
// those built from the same job's JSON logprobs (ids exactly, log-probabilities within half a
// grid step); a rerun adds nothing; tokens with no id stay JSON; another tokenizer is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTraces } from '../../src/reason/traces/generate.js';
import { readTracesFile } from '../../src/reason/files.js';
import { studentExamples, replyText } from '../../src/reason/students.js';
import { ByteTokenizer, type Tokenizer } from '../../src/lm/tokenizer.js';
import { DEFAULT_QUANT } from '../../src/io/topk_store.js';
import { mulberry32 } from '../../src/torch/prng.js';
import type { ChatRequest, ReasoningTeacher, TokenLogprob } from '../../src/reason/types.js';
import { AdderBackend, adderProblems } from './chat_fixtures.js';

const tok = new ByteTokenizer();
const fresh = () => mkdtempSync(join(tmpdir(), 'topk-traces-'));

/**
 * The adder's right answers, with byte-level logprobs that carry ids like our own LM's: per
 * byte of the reply, k distinct alternatives (the byte among them) with decreasing log-probabilities.
 */
function byteTeacher(): ReasoningTeacher & { calls: number } {
  const adder = new AdderBackend({ id: 'adder' });
  const t = {
    name: 'byte-adder',
    calls: 0,
    async complete(req: ChatRequest, signal?: AbortSignal) {
      t.calls++;
      const c = await adder.complete({ ...req, topLogprobs: undefined }, undefined, signal);
      const k = req.topLogprobs ?? 0;
      const rand = mulberry32(t.calls);
      c.logprobs = [...Buffer.from(replyText(c), 'utf8')].map((b): TokenLogprob => {
        const ids = [b];
        while (ids.length < k) {
          const x = Math.floor(rand() * 256);
          if (!ids.includes(x)) ids.push(x);
        }
        let lp = -rand() * 0.5;
        const top = ids.map((id) => ({ token: String.fromCharCode(id), id, bytes: [id], logprob: (lp -= rand() * 1.5) }));
        return { token: String.fromCharCode(b), id: b, bytes: [b], logprob: top[0].logprob, top };
      });
      return c;
    },
  };
  return t;
}

test('top-k in the store instead of JSON: the same KD examples, slimmer files, and a rerun that adds nothing', async () => {
  const k = 6;
  const json = fresh();
  const store = fresh();
  const problems = adderProblems(3);
  const a = byteTeacher();
  const b = byteTeacher();
  await generateTraces({ teacher: a, problems, samples: 2, out: json, topLogprobs: k, seed: 1 });
  const r = await generateTraces({ teacher: b, problems, samples: 2, out: store, topLogprobs: k, seed: 1, topkTokenizer: tok });
  assert.equal(r.written, 6);
  const lines = readFileSync(join(store, 'traces.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.every((l) => l.logprobs === undefined && l.topk === 'topk' && l.tokens.length === l.tokenLogprobs.length && l.tokens.length > 0));
  assert.deepEqual(readdirSync(join(store, 'topk')), ['topk-00000.bin']);
  const jsonBytes = statSync(join(json, 'traces.jsonl')).size;
  const storeBytes = statSync(join(store, 'traces.jsonl')).size + statSync(join(store, 'topk', 'topk-00000.bin')).size;
  assert.ok(storeBytes * 3 < jsonBytes, `${storeBytes} vs ${jsonBytes} bytes`);

  const fromJson = studentExamples(readTracesFile(join(json, 'traces.jsonl')), tok, 'sft+kd');
  const fromStore = studentExamples(readTracesFile(join(store, 'traces.jsonl')), tok, 'sft+kd');
  assert.equal(fromStore.length, 6);
  fromStore.forEach((e, i) => {
    const want = fromJson[i];
    assert.deepEqual(e.prompt, want.prompt);
    assert.deepEqual(e.completion, want.completion);
    assert.equal(e.teacher!.length, want.teacher!.length);
    assert.equal(e.teacher!.at(-1), null);
    e.teacher!.slice(0, -1).forEach((d, t) => {
      const w = want.teacher![t]!;
      // The same ids, each with its log-probability to half a grid step, most likely first (two a step apart may tie and swap).
      assert.deepEqual([...d!.ids].sort((x, y) => x - y), [...w.ids].sort((x, y) => x - y), `example ${i} token ${t}`);
      const exact = new Map(w.ids.map((id, j) => [id, w.logprobs[j]]));
      d!.ids.forEach((id, j) => {
        assert.ok(Math.abs(d!.logprobs[j] - exact.get(id)!) <= DEFAULT_QUANT.step / 2 + 1e-6, `${d!.logprobs[j]} vs ${exact.get(id)}`);
        if (j) assert.ok(d!.logprobs[j] <= d!.logprobs[j - 1]);
      });
    });
  });
  // The same traces read back from the JSON run's per-token logprobs of the sampled tokens.
  const slim = readTracesFile(join(store, 'traces.jsonl'));
  assert.deepEqual(slim[0].tokenLogprobs, readTracesFile(join(json, 'traces.jsonl'))[0].logprobs!.map((x) => x.logprob));

  // Resume: nothing is asked again, and the store gets no new shard.
  const again = await generateTraces({ teacher: b, problems, samples: 2, out: store, topLogprobs: k, seed: 1, topkTokenizer: tok });
  assert.equal(again.written, 0);
  assert.deepEqual(readdirSync(join(store, 'topk')), ['topk-00000.bin']);
});

test("a student with another tokenizer is refused the store; tokens that have no id stay JSON", async () => {
  const out = fresh();
  await generateTraces({ teacher: byteTeacher(), problems: adderProblems(1), samples: 1, out, topLogprobs: 3, topkTokenizer: tok });
  const other: Tokenizer = Object.assign(Object.create(tok) as Tokenizer, { toJSON: () => ({ type: 'byte', variant: 'other' }) });
  assert.throws(() => studentExamples(readTracesFile(join(out, 'traces.jsonl')), other, 'sft+kd'), (e: Error & { code?: string }) =>
    e.code === 'ERR_CONFIG' && /holds distributions of a tokenizer with hash/.test(e.message));
  // SFT needs no distributions: the store is not read at all.
  assert.equal(studentExamples(readTracesFile(join(out, 'traces.jsonl')), other, 'sft').length, 1);

  // The adder's tokens are words: not one byte-level token each, so they cannot be given ids here.
  const words = fresh();
  const adder = new AdderBackend({ id: 'adder' });
  await generateTraces({ teacher: { name: 'adder', complete: (r, s) => adder.complete(r, undefined, s) }, problems: adderProblems(1), samples: 1, out: words, topLogprobs: 2, topkTokenizer: tok });
  const [t] = readTracesFile(join(words, 'traces.jsonl'));
  assert.ok(t.logprobs!.length > 0 && t.topk === undefined);
  assert.equal(existsSync(join(words, 'topk')), false, 'nothing was stored: no store');
});

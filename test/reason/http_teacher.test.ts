// HttpTeacher against the project's real OpenAI-compatible server over loopback, with the
// fault proxy in between for the failure paths: 429 + Retry-After (elapsed time measured),
// 500, a hung server (timeout), garbage, dropped connections, DeepSeek's blank keep-alive
// lines, an immediate failure on 400/404, the API key kept out of every error and log, and the
// concurrency cap and rate limits as the server sees them. Nothing is mocked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { startFaultProxy, type Fault, type FaultProxyHandle } from '../../src/serve/fault_proxy.js';
import type { ChatBackend } from '../../src/serve/chat_backend.js';
import { HttpTeacher, type HttpTeacherOptions } from '../../src/reason/teachers/http.js';
import { TeacherError } from '../../src/reason/teachers/retry.js';
import type { ChatRequest } from '../../src/reason/types.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { AdderBackend } from './chat_fixtures.js';
import { fakeHttpServer } from '../helpers/fake_http.js';

const seen: ChatRequest[] = [];
const adder = new AdderBackend({ id: 'adder', onRequest: (r) => seen.push(r) });
// Servers differ: one that ignores a logprobs request, one that inlines <think> in content.
const nolp: ChatBackend = { id: 'nolp', complete: (req, d, s) => adder.complete({ ...req, topLogprobs: undefined }, d, s) };
const inline: ChatBackend = {
  id: 'inline',
  complete: async (req, _d, s) => {
    const c = await adder.complete(req, undefined, s);
    return { ...c, content: `<think>\n${c.reasoning}\n</think>\n\n${c.content}`, reasoning: '' };
  },
};
// A byte-level model whose first token is half a UTF-8 character: only `bytes` can carry it.
const bytewise: ChatBackend = {
  id: 'bytewise',
  complete: async (req, _d, s) => {
    const c = await adder.complete(req, undefined, s);
    c.logprobs![0] = { ...c.logprobs![0], token: '\ufffd', bytes: [0xe4, 0xb8] };
    return c;
  },
};
let srv: OpenAIServerHandle;
const SECRET = 'sk-test-SECRET-4f9a8b7c6d5e';
process.env.DISTILL_TEST_KEY = SECRET;

before(async () => {
  srv = await startOpenAIServer({ backends: [adder, nolp, inline, bytewise] });
});
after(async () => {
  await srv.close();
});

const fast = { baseMs: 1, maxMs: 5 };
const teacher = (baseURL: string, o: Partial<HttpTeacherOptions> = {}) =>
  new HttpTeacher({ baseURL, model: 'adder', apiKeyEnv: 'DISTILL_TEST_KEY', backoff: fast, ...o });
const ask = (content = 'What is 3 + 4?'): ChatRequest => ({ messages: [{ role: 'user', content }], maxTokens: 200 });

async function withProxy<T>(schedule: Fault[], fn: (p: FaultProxyHandle) => Promise<T>, retryAfter?: string): Promise<T> {
  const p = await startFaultProxy({ target: srv.baseURL, schedule, retryAfter });
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

test('a completion: content and reasoning_content split, usage, sampling fields as sent, accounting', async () => {
  const t = teacher(srv.baseURL, { prices: { inputPerMTok: 0.55, outputPerMTok: 2.19 } });
  const req: ChatRequest = { ...ask(), temperature: 0.6, topP: 0.95, topK: 20, stop: ['###'], seed: 7 };
  const c = await t.complete(req);
  assert.equal(c.content, 'The answer is \\boxed{7}.');
  assert.equal(c.reasoning, 'We add 3 and 4. 3 plus 4 is 7.');
  assert.equal(c.finishReason, 'stop');
  assert.equal(c.model, 'adder');
  assert.equal(c.logprobs, undefined);
  const got = seen.at(-1)!;
  assert.deepEqual({ t: got.temperature, p: got.topP, k: got.topK, m: got.maxTokens, s: got.stop, seed: got.seed }, { t: 0.6, p: 0.95, k: 20, m: 200, s: ['###'], seed: 7 });
  const s = t.stats();
  assert.deepEqual({ requests: s.requests, retries: s.retries, completions: s.completions, failures: s.failures }, { requests: 1, retries: 0, completions: 1, failures: 0 });
  assert.equal(s.promptTokens, c.usage.promptTokens);
  assert.ok(Math.abs(s.costUsd - (c.usage.promptTokens * 0.55 + c.usage.completionTokens * 2.19) / 1e6) < 1e-12);
  t.close();
});

test('logprobs map to TokenLogprob[]; a server that ignores the request leaves them undefined', async () => {
  const t = teacher(srv.baseURL);
  const c = await t.complete({ ...ask(), topLogprobs: 2 });
  assert.equal(c.logprobs!.length, c.usage.completionTokens);
  assert.ok(c.logprobs!.every((x) => x.logprob <= 0 && x.top.length === 2));
  assert.equal(c.logprobs![0].top[0].token, c.logprobs![0].token);
  assert.deepEqual(c.logprobs![1].bytes, [...Buffer.from(c.logprobs![1].token)]);
  const half = await teacher(srv.baseURL, { model: 'bytewise' }).complete({ ...ask(), topLogprobs: 1 });
  assert.deepEqual(half.logprobs![0].bytes, [0xe4, 0xb8]);
  const none = await teacher(srv.baseURL, { model: 'nolp' }).complete({ ...ask(), topLogprobs: 2 });
  assert.equal(none.logprobs, undefined);
  t.close();
});

test('our own LM served over HTTP: HttpTeacher gets what LocalTeacher gives in-process, bytes included', async () => {
  const lm = LocalTeacher.random({ seed: 2, name: 'local' });
  const s = await startOpenAIServer({ backends: lm.backend() });
  try {
    const req: ChatRequest = { messages: [{ role: 'user', content: 'What is 2 + 2?' }], temperature: 0.7, seed: 11, maxTokens: 20, topLogprobs: 2 };
    const remote = await teacher(s.baseURL, { model: 'local' }).complete(req);
    const direct = await lm.complete(req);
    assert.deepEqual([remote.content, remote.reasoning, remote.finishReason, remote.usage], [direct.content, direct.reasoning, direct.finishReason, direct.usage]);
    // Over HTTP a token has no id, but its bytes map it back to the byte-level vocabulary.
    assert.deepEqual(remote.logprobs!.map((t) => [t.bytes, t.logprob, t.top.length]), direct.logprobs!.map((t) => [t.bytes, t.logprob, t.top.length]));
    assert.equal(remote.logprobs![0].id, undefined);
  } finally {
    await s.close();
  }
});

test('inline <think>…</think> in content becomes reasoning and is stripped from content', async () => {
  const c = await teacher(srv.baseURL, { model: 'inline' }).complete(ask());
  assert.equal(c.reasoning, 'We add 3 and 4. 3 plus 4 is 7.');
  assert.equal(c.content, 'The answer is \\boxed{7}.');
});

test('429 with Retry-After: 1 waits at least a second, then succeeds', async () => {
  await withProxy(['429'], async (p) => {
    const lines: string[] = [];
    const t = teacher(p.baseURL, { log: (l) => lines.push(l) });
    const t0 = performance.now();
    const c = await t.complete(ask());
    const elapsed = performance.now() - t0;
    assert.equal(c.content, 'The answer is \\boxed{7}.');
    assert.ok(elapsed >= 990 && elapsed < 3000, `waited ${elapsed} ms`);
    assert.deepEqual(p.log.map((l) => l.fault), ['429', 'pass']);
    assert.equal(t.stats().retries, 1);
    assert.match(lines[0], /429.*Rate limit reached.*retry 1\/5 in 1\.0 s/);
  }, '1');
});

test('429 with Retry-After as an HTTP date is honoured too', async () => {
  const at = new Date(Date.now() + 2000).toUTCString(); // whole seconds: 1–2 s from now
  await withProxy(['429'], async (p) => {
    const t0 = performance.now();
    await teacher(p.baseURL).complete(ask());
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 3500, `waited ${elapsed} ms`);
  }, at);
});

test('500, garbage, a dropped connection and a cut body are retried until an answer comes', async () => {
  await withProxy(['500', 'garbage', 'drop', 'drop-mid-body'], async (p) => {
    const lines: string[] = [];
    const t = teacher(p.baseURL, { log: (l) => lines.push(l) });
    const c = await t.complete(ask());
    assert.equal(c.content, 'The answer is \\boxed{7}.');
    assert.equal(p.log.length, 5);
    assert.equal(t.stats().retries, 4);
    assert.match(lines[0], /answered 500.*internal error \(fault proxy\)/);
    assert.match(lines[1], /bad response: not JSON: <html><body>502 Bad Gateway/);
    assert.match(lines[2], /connection to .* failed/);
    assert.match(lines[3], /connection to .* failed/);
  });
});

test('blank keep-alive lines before the JSON (DeepSeek) parse without a retry', async () => {
  await withProxy(['blank-lines'], async (p) => {
    const t = teacher(p.baseURL);
    assert.equal((await t.complete(ask())).content, 'The answer is \\boxed{7}.');
    assert.equal(t.stats().retries, 0);
  });
});

test('a hung server times out and the retry succeeds', async () => {
  await withProxy(['hang'], async (p) => {
    const t = teacher(p.baseURL, { timeoutMs: 300 });
    const t0 = performance.now();
    const c = await t.complete(ask());
    assert.ok(performance.now() - t0 >= 295);
    assert.equal(c.finishReason, 'stop');
    assert.deepEqual(p.log.map((l) => l.fault), ['hang', 'pass']);
  });
});

test('retries run out: the error names the last failure and the attempts', async () => {
  await withProxy(['500', '500', '500'], async (p) => {
    const t = teacher(p.baseURL, { maxRetries: 2 });
    await assert.rejects(t.complete(ask()), (e: TeacherError) => {
      assert.ok(e instanceof TeacherError);
      assert.equal(e.status, 500);
      assert.equal(e.attempts, 3);
      assert.match(e.message, /answered 500.*gave up after 3 attempts/);
      return true;
    });
    assert.equal(t.stats().failures, 1);
  });
  const refused = teacher('http://127.0.0.1:9/v1', { maxRetries: 1 });
  await assert.rejects(refused.complete(ask()), (e: TeacherError) => e.kind === 'connection' && e.errno === 'ECONNREFUSED' && e.attempts === 2);
});

test('400 and 404 fail at once, naming the status and the server message', async () => {
  await withProxy([], async (p) => {
    const t = teacher(p.baseURL);
    await assert.rejects(t.complete({ ...ask(), temperature: 5 }), (e: TeacherError) => {
      assert.equal(e.status, 400);
      assert.equal(e.retryable, false);
      assert.match(e.message, /answered 400 Bad Request: temperature must be a number in \[0, 2\]/);
      return true;
    });
    await assert.rejects(teacher(p.baseURL, { model: 'gpt-9' }).complete(ask()), /answered 404.*gpt-9/);
    assert.equal(p.log.length, 2, 'no retries');
  });
});

test('the API key never appears in errors, logs, inspect output or the saved description', async () => {
  const keyed = await startOpenAIServer({ backends: adder, apiKey: SECRET });
  const wrong = await startOpenAIServer({ backends: adder, apiKey: 'another-key' });
  // A careless server that echoes the Authorization header back in its errors and bodies.
  const echo = await fakeHttpServer((req) => (echo.hits() % 2 === 1
    ? { status: 500, json: { error: { message: `bad token ${req.headers.authorization}` } } }
    : { text: `not json ${req.headers.authorization}` }));
  try {
    const ok = teacher(keyed.baseURL);
    assert.equal((await ok.complete(ask())).content, 'The answer is \\boxed{7}.', 'the key is sent');

    const texts: string[] = [];
    const bad = teacher(wrong.baseURL);
    await assert.rejects(bad.complete(ask()), (e: Error) => {
      assert.match(e.message, /answered 401.*API key from \$DISTILL_TEST_KEY/);
      texts.push(e.message, String(e.stack), inspect(e), JSON.stringify(e));
      return true;
    });
    const lines: string[] = [];
    const careless = teacher(`${echo.origin}/v1`, { maxRetries: 3, log: (l) => lines.push(l) });
    await assert.rejects(careless.complete(ask()), (e: Error) => {
      texts.push(e.message, String(e.stack), inspect(e));
      return true;
    });
    assert.equal(lines.length, 3);
    assert.ok(lines.some((l) => l.includes('bad token Bearer ***')), lines.join('\n'));
    texts.push(...lines, inspect(careless), JSON.stringify(careless), JSON.stringify(ok.describe()), inspect(ok, { depth: 5, showHidden: true }));
    for (const t of texts) assert.ok(!t.includes(SECRET), `leaked in: ${t}`);
    assert.equal(ok.describe().apiKeyEnv, 'DISTILL_TEST_KEY');
  } finally {
    await keyed.close();
    await wrong.close();
    await echo.close();
  }
});

test('the concurrency cap holds at the server', async () => {
  const slow = new AdderBackend({ id: 'adder', tokenDelayMs: 2 });
  const s = await startOpenAIServer({ backends: slow });
  try {
    const t = teacher(s.baseURL, { concurrency: 2 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => t.complete(ask(`What is ${i} + 1?`))));
    assert.equal(s.stats().peakInFlight, 2);
    assert.equal(s.stats().completions, 6);
    t.close();
  } finally {
    await s.close();
  }
});

test('requestsPerMinute paces arrivals at the server', async () => {
  await withProxy([], async (p) => {
    const t = teacher(p.baseURL, { requestsPerMinute: 120, concurrency: 8 }); // 2/s, a burst of 2
    await Promise.all(Array.from({ length: 5 }, () => t.complete(ask())));
    const at = p.log.map((l) => l.at);
    for (let k = 2; k < at.length; k++) assert.ok(at[k] - at[0] >= (k - 1) * 500 - 60, `request ${k} came ${at[k] - at[0]} ms after the first`);
  });
});

test('tokensPerMinute reserves prompt + maxTokens until usage is known', async () => {
  const spender = new AdderBackend({ id: 'adder', fullUsage: true });
  const s = await startOpenAIServer({ backends: spender });
  const p = await startFaultProxy({ target: s.baseURL });
  try {
    // 2000 tokens/s; each request reserves ~2000 and really spends 2000 + its prompt.
    const t = teacher(p.baseURL, { tokensPerMinute: 120_000, concurrency: 8 });
    await Promise.all(Array.from({ length: 3 }, () => t.complete({ ...ask(), maxTokens: 2000 })));
    const at = p.log.map((l) => l.at);
    assert.ok(at[1] - at[0] >= 900 && at[2] - at[0] >= 1900, `arrivals at ${at.map((x) => x - at[0])}`);
    assert.equal(t.stats().completionTokens, 6000);
  } finally {
    await p.close();
    await s.close();
  }
});

test('an abort stops a request at once, even one waiting on a hung server', async () => {
  await withProxy(['hang'], async (p) => {
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(teacher(p.baseURL).complete(ask(), ac.signal), (e: TeacherError) => e.kind === 'aborted' && e.code === 'ABORT_ERR');
    assert.ok(performance.now() - t0 < 1000);
  });
});

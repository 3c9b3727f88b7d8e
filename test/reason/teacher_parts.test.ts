// The pure parts of the HTTP teacher: response bodies as DeepSeek, vLLM, Ollama and llama.cpp
// send them, Retry-After parsing, full-jitter backoff, the token bucket and the semaphore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChatBody, splitThink, serverMessage, requestBody } from '../../src/reason/teachers/chat_parse.js';
import { parseRetryAfter, backoffMs, TeacherError, redact } from '../../src/reason/teachers/retry.js';
import { TokenBucket, Semaphore } from '../../src/reason/teachers/rate_limit.js';

const body = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 5 }, ...extra });

test('reasoning from reasoning_content (DeepSeek, llama.cpp), reasoning (vLLM, Ollama) or inline <think>', () => {
  assert.equal(parseChatBody(body({ content: 'A', reasoning_content: 'R1' }), 'x').reasoning, 'R1');
  assert.equal(parseChatBody(body({ content: 'A', reasoning: 'R2' }), 'x').reasoning, 'R2');
  const inline = parseChatBody(body({ content: '<think>\nR3\n</think>\n\nA' }), 'x');
  assert.deepEqual([inline.reasoning, inline.content], ['R3', 'A']);
  const empty = parseChatBody(body({ content: '<think>R4</think>A', reasoning_content: '' }), 'x');
  assert.deepEqual([empty.reasoning, empty.content], ['R4', 'A']);
  assert.deepEqual(splitThink('<think>cut off mid-thought'), { reasoning: 'cut off mid-thought', content: '' });
  assert.deepEqual(splitThink('R5\n</think>\nA'), { reasoning: 'R5', content: 'A' }, 'template-emitted <think>');
  assert.deepEqual(splitThink('plain'), { reasoning: '', content: 'plain' });
  const c = parseChatBody(body({ content: null }), 'x');
  assert.deepEqual([c.content, c.usage.promptTokens, c.usage.completionTokens, c.model], ['', 3, 5, 'm']);
});

test('blank keep-alive lines are tolerated; garbage is a retryable bad-response with an excerpt', () => {
  assert.equal(parseChatBody(`\n\n \n${body({ content: 'A' })}`, 'x').content, 'A');
  for (const text of ['<html>oops</html>', '', '{"choices": []}', '{"error": {"message": "overloaded"}}', '[1,2]'])
    assert.throws(() => parseChatBody(text, 'x'), (e: TeacherError) => e.kind === 'bad-response' && e.retryable && /^bad response: /.test(e.message));
  assert.throws(() => parseChatBody('x'.repeat(5000), 'x'), (e: Error) => e.message.length < 300);
});

test('server messages from OpenAI, vLLM and FastAPI error shapes', () => {
  assert.equal(serverMessage('{"error":{"message":"bad model","type":"x"}}'), 'bad model');
  assert.equal(serverMessage('{"object":"error","message":"vllm says no"}'), 'vllm says no');
  assert.equal(serverMessage('{"detail":"Not Found"}'), 'Not Found');
  assert.equal(serverMessage('  upstream\n  timeout '), 'upstream timeout');
});

test('request body: OpenAI fields, top_k only when set, logprobs when asked', () => {
  const b = requestBody('m', { messages: [{ role: 'user', content: 'q' }], temperature: 0.6, topP: 0.95, maxTokens: 9, topLogprobs: 4 });
  assert.deepEqual(b, { model: 'm', messages: [{ role: 'user', content: 'q' }], temperature: 0.6, top_p: 0.95, max_tokens: 9, logprobs: true, top_logprobs: 4, stream: false });
  assert.equal(requestBody('m', { messages: [], topK: 20 }).top_k, 20);
});

test('Retry-After: seconds, HTTP date, retry-after-ms; garbage ignored', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter({ 'retry-after': '7' }, now), 7000);
  assert.equal(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, now), 30_000);
  assert.equal(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 00:00:30 GMT' }, now), 0);
  assert.equal(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '9' }, now), 250);
  assert.equal(parseRetryAfter({ 'retry-after': 'soon' }, now), undefined);
  assert.equal(parseRetryAfter({}, now), undefined);
});

test('backoff: full jitter under a doubling cap; Retry-After wins, clipped', () => {
  const e = new TeacherError('x', { kind: 'http', status: 500, retryable: true });
  assert.equal(backoffMs(0, e, { baseMs: 1000 }, () => 0.999), 999);
  assert.equal(backoffMs(3, e, { baseMs: 1000 }, () => 0.5), 4000);
  assert.equal(backoffMs(20, e, { baseMs: 1000, maxMs: 60_000 }, () => 0.5), 30_000);
  assert.equal(backoffMs(0, e, {}, () => 0), 0);
  const ra = new TeacherError('x', { kind: 'http', status: 429, retryable: true, retryAfterMs: 5000 });
  assert.equal(backoffMs(0, ra, {}, () => 0.1), 5000);
  assert.equal(backoffMs(0, new TeacherError('x', { kind: 'http', retryable: true, retryAfterMs: 3_600_000 }), { maxRetryAfterMs: 60_000 }), 60_000);
  assert.equal(redact('key sk-abc-123 and sk-abc-123', 'sk-abc-123'), 'key *** and ***');
});

test('token bucket: a burst of its capacity, then the rate; an oversized take runs into debt', async () => {
  let t = 0;
  const b = new TokenBucket(60_000, 10, () => t); // 1 token per ms
  for (let i = 0; i < 10; i++) await b.take(1);
  const late = b.take(5);
  let done = false;
  void late.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false, 'empty bucket: waits');
  t += 5;
  await late;
  t += 10; // full again
  await b.take(25); // larger than the capacity: allowed once full, level −15
  b.settle(20); // usage came in lower: refund
  const quick = b.take(5);
  await quick; // level 5 after the refund: no wait
});

test('semaphore: at most `limit` holders, FIFO, abort while waiting', async () => {
  const s = new Semaphore(2);
  const r1 = await s.acquire();
  const r2 = await s.acquire();
  const order: number[] = [];
  const w3 = s.acquire().then((r) => (order.push(3), r));
  const ac = new AbortController();
  const w4 = s.acquire(ac.signal);
  const w5 = s.acquire().then((r) => (order.push(5), r));
  assert.equal(s.inFlight, 2);
  ac.abort();
  await assert.rejects(w4, (e: TeacherError) => e.kind === 'aborted');
  r1();
  r1(); // a second release is a no-op
  r2();
  (await w3)();
  (await w5)();
  assert.deepEqual(order, [3, 5]);
  assert.equal(s.inFlight, 0);
});

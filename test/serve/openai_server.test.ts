// The OpenAI-compatible server on a real socket (127.0.0.1, port 0): the official `openai`
// npm client unchanged (non-streaming, streaming, logprobs, reasoning_content, usage) against
// our own LM (LocalTeacher, a random byte-level Llama) and a deterministic adder whose exact
// text can be checked; the
// raw SSE framing, refusals (400, 401, 404, 405, 413) as OpenAI error objects, one-at-a-time
// execution per backend, and cancellation when a client goes away.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import OpenAI from 'openai';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { startFaultProxy } from '../../src/serve/fault_proxy.js';
import type { ChatBackend } from '../../src/serve/chat_backend.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { withContextLength } from '../../src/serve/chat_backend.js';
import { generateProblems } from '../../src/reason/problems/generate.js';
import { AdderBackend } from '../reason/chat_fixtures.js';
import { fileURLToPath } from 'node:url';

const local = LocalTeacher.random({ seed: 1, name: 'local' });

const backend = new AdderBackend({ id: 'adder', tokenDelayMs: 1 });
const slow = new AdderBackend({ id: 'slow', tokenDelayMs: 15 });
const broken: ChatBackend = {
  id: 'broken',
  complete: async (_req, onDelta) => {
    onDelta?.({ content: 'half' });
    throw new Error('the model fell over');
  },
};
let srv: OpenAIServerHandle;
let keyed: OpenAIServerHandle;

before(async () => {
  srv = await startOpenAIServer({ backends: [local.backend(), backend, slow, broken], maxBodyBytes: 64 * 1024, heartbeatMs: 50 });
  keyed = await startOpenAIServer({ backends: backend, apiKey: 'server-key-123' });
});
after(async () => {
  await srv.close();
  await keyed.close();
});

const client = (baseURL = srv.baseURL, apiKey = 'unused') => new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const ask = [{ role: 'user' as const, content: 'What is 3 + 4?' }];

/** A raw request, so malformed bodies and exact bytes can be sent. */
function raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, base = srv.baseURL) {
  return new Promise<{ status: number; text: string; headers: Record<string, unknown> }>((ok, fail) => {
    const u = new URL(base);
    const r = request({ host: u.hostname, port: u.port, method, path, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    r.on('error', fail);
    r.end(body);
  });
}

test('GET /v1/models lists the backends; the official client reads it', async () => {
  const list = await client().models.list();
  assert.deepEqual(list.data.map((m) => m.id).sort(), ['adder', 'broken', 'local', 'slow']);
  assert.equal((await client().models.retrieve('local')).id, 'local');
});

test('our own LM through the official client: non-streaming and streaming agree token for token, logprobs included', async () => {
  const params = { model: 'local', messages: ask, temperature: 0.8, seed: 5, max_tokens: 24, logprobs: true, top_logprobs: 3 } as const;
  const r = await client().chat.completions.create(params);
  const choice = r.choices[0];
  assert.equal(r.model, 'local');
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.equal(typeof choice.message.content, 'string');
  const lp = choice.logprobs!.content!;
  assert.equal(lp.length, r.usage!.completion_tokens);
  assert.ok(lp.length > 0 && lp.length <= 24);
  assert.ok(lp.every((t) => t.logprob <= 0 && t.top_logprobs.length === 3 && t.bytes!.length >= 1));
  // Top-1 of a sampled token need not be the token itself, but it is at least as likely.
  assert.ok(lp.every((t) => t.top_logprobs[0].logprob >= t.logprob - 1e-6));
  // The message text is the decoded bytes of the tokens (a byte-level model: bytes, not token strings, add up).
  const text = Buffer.from(lp.flatMap((t) => t.bytes!)).toString('utf8');
  assert.ok(text.includes(choice.message.content!.trim()), JSON.stringify({ text, content: choice.message.content }));

  const stream = await client().chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const tokens: OpenAI.ChatCompletionTokenLogprob[] = [];
  let content = '';
  let usage: OpenAI.CompletionUsage | undefined;
  let finish: string | null = null;
  for await (const ch of stream) {
    if (ch.usage) usage = ch.usage;
    tokens.push(...(ch.choices[0]?.logprobs?.content ?? []));
    content += ch.choices[0]?.delta?.content ?? '';
    finish = ch.choices[0]?.finish_reason ?? finish;
  }
  assert.deepEqual(tokens.map((t) => [t.token, t.logprob, t.bytes]), lp.map((t) => [t.token, t.logprob, t.bytes]), 'same seed, same tokens');
  assert.deepEqual(usage, r.usage);
  assert.equal(finish, choice.finish_reason);
  // Seed 5 ends on half a character, which the backend holds back while streaming; the server flushes it.
  assert.equal(content, choice.message.content);
});

test('non-streaming completion through the official client: content, reasoning_content, usage', async () => {
  const r = await client().chat.completions.create({ model: 'adder', messages: ask, temperature: 0.6, top_p: 0.95, max_tokens: 200 });
  const msg = r.choices[0].message as typeof r.choices[0]['message'] & { reasoning_content?: string };
  assert.equal(r.object, 'chat.completion');
  assert.equal(msg.content, 'The answer is \\boxed{7}.');
  assert.equal(msg.reasoning_content, 'We add 3 and 4. 3 plus 4 is 7.');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].logprobs, null);
  assert.ok(r.usage!.completion_tokens > 0);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
});

test('streaming through the official client reassembles the same answer, with usage last', async () => {
  // The slow model streams for longer than the 50 ms heartbeat: the client must skip the SSE comments.
  const stream = await client().chat.completions.create({ model: 'slow', messages: ask, stream: true, stream_options: { include_usage: true } });
  let content = '';
  let reasoning = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  let chunks = 0;
  for await (const ch of stream) {
    chunks++;
    assert.equal(ch.object, 'chat.completion.chunk');
    if (ch.usage) usage = ch.usage;
    const c = ch.choices[0];
    if (!c) continue;
    const d = c.delta as typeof c.delta & { reasoning_content?: string };
    content += d.content ?? '';
    reasoning += d.reasoning_content ?? '';
    finish = c.finish_reason ?? finish;
  }
  assert.equal(content, 'The answer is \\boxed{7}.');
  assert.equal(reasoning, 'We add 3 and 4. 3 plus 4 is 7.');
  assert.equal(finish, 'stop');
  assert.ok(chunks > 10, `token-by-token chunks, got ${chunks}`);
  assert.ok(usage && usage.completion_tokens > 0);
});

test('logprobs and top_logprobs, non-streaming and streaming, through the official client', async () => {
  const r = await client().chat.completions.create({ model: 'adder', messages: ask, logprobs: true, top_logprobs: 3 });
  const lp = r.choices[0].logprobs!.content!;
  assert.equal(lp.length, r.usage!.completion_tokens);
  assert.equal(lp[0].top_logprobs.length, 3);
  assert.ok(lp.every((t) => t.logprob <= 0 && Array.isArray(t.bytes)));
  assert.deepEqual(lp[0].bytes, [...Buffer.from(lp[0].token)]);

  const stream = await client().chat.completions.create({ model: 'adder', messages: ask, logprobs: true, top_logprobs: 2, stream: true });
  const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
  for await (const ch of stream) streamed.push(...(ch.choices[0]?.logprobs?.content ?? []));
  assert.deepEqual(streamed.map((t) => t.token), lp.map((t) => t.token));
  assert.ok(streamed.every((t) => t.top_logprobs.length === 2));
});

test('raw SSE framing: data: lines, a role chunk first, data: [DONE] last', async () => {
  const r = await raw('POST', '/v1/chat/completions', JSON.stringify({ model: 'adder', messages: ask, stream: true, max_tokens: 3 }));
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  const events = r.text.split('\n\n').filter((e) => e && !e.startsWith(':'));
  assert.ok(events.every((e) => e.startsWith('data: ')));
  assert.equal(events.at(-1), 'data: [DONE]');
  const first = JSON.parse(events[0].slice(6));
  assert.deepEqual(first.choices[0].delta, { role: 'assistant', content: '' });
  assert.equal(JSON.parse(events.at(-2)!.slice(6)).choices[0].finish_reason, 'length');
});

test('refusals are OpenAI error objects: 400 malformed JSON or field, 404 model and route, 405, 413', async () => {
  const bad = await raw('POST', '/v1/chat/completions', '{"model": "adder", "messages": [');
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.text).error.message, /malformed JSON/);
  assert.equal(JSON.parse(bad.text).error.type, 'invalid_request_error');

  const field = await raw('POST', '/v1/chat/completions', JSON.stringify({ model: 'adder', messages: ask, temperature: 'hot' }));
  assert.equal(field.status, 400);
  assert.equal(JSON.parse(field.text).error.param, 'temperature');

  await assert.rejects(client().chat.completions.create({ model: 'nope', messages: ask }), (e: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(e.status, 404);
    assert.match(e.message, /nope/);
    return true;
  });
  const route = await raw('GET', '/v1/embeddings');
  assert.equal(route.status, 404);
  assert.ok(JSON.parse(route.text).error.message);
  assert.equal((await raw('GET', '/v1/chat/completions')).status, 405);

  const big = await raw('POST', '/v1/chat/completions', JSON.stringify({ model: 'adder', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] }));
  assert.equal(big.status, 413);
  assert.equal(JSON.parse(big.text).error.code, 'request_too_large');
  // The server is still fine after the refusals.
  assert.equal((await client().chat.completions.create({ model: 'adder', messages: ask })).choices[0].finish_reason, 'stop');
});

test('API key: 401 without it or with a wrong one, 200 with it', async () => {
  const none = await raw('GET', '/v1/models', undefined, {}, keyed.baseURL);
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer');
  await assert.rejects(client(keyed.baseURL, 'wrong').models.list(), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 401);
  const ok = await client(keyed.baseURL, 'server-key-123').chat.completions.create({ model: 'adder', messages: ask });
  assert.equal(ok.choices[0].message.content, 'The answer is \\boxed{7}.');
});

test('requests for one backend run one at a time, in arrival order', async () => {
  const before = slow.calls;
  const c = client();
  const answers = await Promise.all([1, 2, 3, 4].map((i) => c.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: `What is ${i} + 1?` }] })));
  assert.equal(slow.calls - before, 4);
  assert.equal(slow.peakActive, 1, 'the backend never ran two requests at once');
  assert.ok(srv.stats().peakInFlight >= 4, 'while the server held all four');
  assert.deepEqual(answers.map((a) => a.choices[0].message.content), [2, 3, 4, 5].map((s) => `The answer is \\boxed{${s}}.`));
});

test('a client that goes away aborts its request; the server stays up', async () => {
  const ac = new AbortController();
  const abortedBefore = slow.aborted;
  const stream = await client().chat.completions.create({ model: 'slow', messages: ask, stream: true }, { signal: ac.signal });
  const got: string[] = [];
  try {
    for await (const ch of stream) {
      got.push(ch.choices[0]?.delta?.content ?? '');
      if (got.length === 3) ac.abort(); // the client closes its socket mid-stream
    }
  } catch {
    /* the client may end the loop quietly or with an abort error */
  }
  assert.ok(got.length < 20, 'the stream stopped early');
  for (let i = 0; i < 50 && slow.aborted === abortedBefore; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(slow.aborted, abortedBefore + 1, 'the backend saw the abort');
  const after = await client().chat.completions.create({ model: 'slow', messages: ask });
  assert.equal(after.choices[0].finish_reason, 'stop');
  assert.equal(srv.stats().inFlight, 0);
});

test('a full queue answers 429 with Retry-After, which clients retry', async () => {
  const s = await startOpenAIServer({ backends: new AdderBackend({ id: 'slow', tokenDelayMs: 10 }), maxQueue: 1 });
  try {
    const body = JSON.stringify({ model: 'slow', messages: ask });
    const answers = await Promise.all([1, 2, 3].map(() => raw('POST', '/v1/chat/completions', body, {}, s.baseURL)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429]);
    const busy = answers.find((a) => a.status === 429)!;
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal(JSON.parse(busy.text).error.code, 'queue_full');
  } finally {
    await s.close();
  }
});

test('a failing backend: 500 with an error object, or an error event mid-stream; the server stays up', async () => {
  await assert.rejects(client().chat.completions.create({ model: 'broken', messages: ask }), (e: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(e.status, 500);
    assert.match(e.message, /the model fell over/);
    return true;
  });
  const stream = await client().chat.completions.create({ model: 'broken', messages: ask, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream) void _;
  }, /the model fell over/);
  assert.equal((await client().chat.completions.create({ model: 'adder', messages: ask })).choices[0].finish_reason, 'stop');
});

test('the fault proxy: seeded probabilities repeat exactly; pass forwards unchanged', async () => {
  const faults = async () => {
    const p = await startFaultProxy({ target: srv.baseURL, probabilities: { '500': 0.3, garbage: 0.2 }, seed: 7 });
    try {
      const got: number[] = [];
      for (let i = 0; i < 12; i++) got.push((await raw('GET', '/v1/models', undefined, {}, p.baseURL)).status);
      return { got, log: p.log.map((l) => l.fault) };
    } finally {
      await p.close();
    }
  };
  const a = await faults();
  const b = await faults();
  assert.deepEqual(a, b);
  assert.ok(a.log.includes('500') && a.log.includes('garbage') && a.log.includes('pass'), a.log.join());
  a.log.forEach((f, i) => assert.equal(a.got[i], f === '500' ? 500 : 200));
});

/** The official client with its default retries (2), counting the HTTP requests it makes. */
function countingClient(baseURL: string) {
  const sent = { n: 0 };
  const c = new OpenAI({ baseURL, apiKey: 'unused', fetch: (url, init) => (sent.n++, fetch(url, init)) });
  return { c, sent };
}

test('a prompt longer than the context: 400 context_length_exceeded, which the official client does not retry', async () => {
  // A 64-token model; its backend knows its context (as `distill serve` builds it) or does not.
  const small = LocalTeacher.random({ seed: 2, name: 'small', config: { maxSeqLen: 64 } });
  const known = withContextLength(small.backend(), 64, (r) => small.tokenizer.chatPrompt(r.messages).length);
  const plain = { ...small.backend(), id: 'plain' };
  const s = await startOpenAIServer({ backends: [known, plain] });
  try {
    const long = [{ role: 'user' as const, content: 'x'.repeat(100) }];
    for (const stream of [false, true]) {
      const { c, sent } = countingClient(s.baseURL);
      await assert.rejects(c.chat.completions.create({ model: 'small', messages: long, stream }), (e: InstanceType<typeof OpenAI.APIError>) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `stream ${stream}: ${e.constructor.name} ${e.status}`);
        assert.equal(e.code, 'context_length_exceeded');
        assert.equal(e.type, 'invalid_request_error');
        assert.equal(e.param, 'messages');
        assert.match(e.message, /maximum context length is 64 tokens.*resulted in \d+ tokens/);
        return true;
      });
      assert.equal(sent.n, 1, 'one request: a 400 is not retried');
    }
    // A backend that finds the overflow itself (its ConfigError) is a 400 too, never a retried 500.
    const { c, sent } = countingClient(s.baseURL);
    await assert.rejects(c.chat.completions.create({ model: 'plain', messages: long }), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400);
      assert.equal(e.type, 'invalid_request_error');
      assert.match(e.message, /the prompt has \d+ tokens/);
      return true;
    });
    assert.equal(sent.n, 1);
    // A prompt that fits is answered.
    const fine = await client(s.baseURL).chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    assert.equal(fine.choices[0].message.role, 'assistant');
  } finally {
    await s.close();
    small.model.dispose();
  }
});

test('the trained reasoning teacher: streamed reasoning_content and content equal the non-streamed ones', async () => {
  const teacher = LocalTeacher.load(fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url)), 'teacher');
  const s = await startOpenAIServer({ backends: teacher.backend() });
  try {
    for (const p of generateProblems({ n: 3, seed: 3, split: 'test', lang: 'en' })) {
      const params = { model: 'teacher', messages: [{ role: 'user' as const, content: p.question }], temperature: 0, max_tokens: 300 };
      const r = await client(s.baseURL).chat.completions.create(params);
      const msg = r.choices[0].message as typeof r.choices[0]['message'] & { reasoning_content: string };
      assert.ok(msg.reasoning_content.length > 10 && /\\boxed\{/.test(msg.content!), JSON.stringify(msg));
      let reasoning = '';
      let content = '';
      for await (const ch of await client(s.baseURL).chat.completions.create({ ...params, stream: true })) {
        const d = ch.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
        reasoning += d?.reasoning_content ?? '';
        content += d?.content ?? '';
      }
      assert.equal(reasoning, msg.reasoning_content, `${p.id}: streamed reasoning`);
      assert.equal(content, msg.content, `${p.id}: streamed content`);
    }
  } finally {
    await s.close();
    teacher.model.dispose();
  }
});

test('maxQueue 0: a busy backend refuses at once (429), an idle one answers', async () => {
  const s = await startOpenAIServer({ backends: new AdderBackend({ id: 'slow', tokenDelayMs: 10 }), maxQueue: 0 });
  try {
    const body = JSON.stringify({ model: 'slow', messages: ask });
    const answers = await Promise.all([1, 2].map(() => raw('POST', '/v1/chat/completions', body, {}, s.baseURL)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 429]);
    assert.equal((await raw('POST', '/v1/chat/completions', body, {}, s.baseURL)).status, 200, 'idle again');
  } finally {
    await s.close();
  }
});

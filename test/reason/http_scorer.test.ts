// The scoring client (HttpTeacher.scoreTokens) against the project's real server on loopback:
// its grades equal the model's log_softmax computed directly and LocalTeacher.scoreTokens; the
// fault proxy's 429/500/dropped/garbage answers are retried; a server without prompt
// log-probabilities fails once, non-retryably, naming the missing feature; a pool fails over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeHttpServer } from '../helpers/fake_http.js';
import { startFaultProxy } from '../../src/serve/fault_proxy.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import { TeacherPool } from '../../src/reason/teachers/pool.js';
import { TeacherError } from '../../src/reason/teachers/retry.js';
import type { TokenScore } from '../../src/reason/teachers/scorer.js';
import { serveLocalAndAdder } from './chat_fixtures.js';
import { oracleRows, rankOf, topkMatches } from '../helpers/score_oracle.js';

const served = serveLocalAndAdder({ seed: 4, name: 'local' });
const local = served.local;
const tok = local.tokenizer;

const fast = { baseMs: 1, maxMs: 5 };
const prompts = [tok.encode('Student sample one: 3 + 4 = 7'), tok.encode('two'), tok.encode('and a third, longer, student sample 猫')];

function assertEqualScores(a: TokenScore[], b: TokenScore[], tol = 1e-5): void {
  assert.equal(a.length, b.length);
  a.forEach((s, i) => {
    assert.deepEqual(s.ids, b[i].ids);
    assert.equal(s.logprobs.length, b[i].logprobs.length);
    s.logprobs.forEach((v, t) => assert.ok(Math.abs(v - b[i].logprobs[t]) < tol, `prompt ${i} position ${t}`));
    s.top.forEach((x, t) => {
      assert.deepEqual(x.ids, b[i].top[t].ids, `prompt ${i} position ${t}`);
      x.logprobs.forEach((v, j) => assert.ok(Math.abs(v - b[i].top[t].logprobs[j]) < tol));
    });
  });
}

test('scoreTokens over HTTP equals the model graded directly, and LocalTeacher.scoreTokens', async () => {
  const k = 6;
  const t = new HttpTeacher({ baseURL: served.srv.baseURL, model: 'local', scoreBatch: 2, backoff: fast });
  try {
    const remote = await t.scoreTokens(prompts, k);
    assert.equal(t.stats().requests, 2, 'three prompts in batches of two');
    remote.forEach((s, i) => {
      const ids = prompts[i];
      const rows = oracleRows(local.model, ids);
      assert.equal(s.logprobs.length, ids.length - 1);
      for (let p = 1; p < ids.length; p++) {
        const lp = rows[p - 1].lp;
        assert.ok(Math.abs(s.logprobs[p - 1] - lp[ids[p]]) < 1e-4);
        assert.equal(s.ranks![p - 1], rankOf(lp, ids[p]));
        const why = topkMatches(lp, s.top[p - 1].ids, s.top[p - 1].logprobs, k);
        assert.equal(why, null, `prompt ${i} position ${p}: ${why}`);
      }
    });
    assertEqualScores(remote, await local.scoreTokens(prompts, k));
    // k = 0: the tokens' own log-probabilities only.
    const bare = await t.scoreTokens([prompts[0]], 0);
    assert.ok(bare[0].top.every((x) => x.ids.length === 0));
    assertEqualScores(bare, await local.scoreTokens([prompts[0]], 0));
  } finally {
    t.close();
  }
});

test('429, 500, a dropped connection and garbage on the way are retried; the grades are unchanged', async () => {
  const p = await startFaultProxy({ target: served.srv.baseURL, schedule: ['429', '500', 'drop', 'garbage'], retryAfter: '0' });
  const t = new HttpTeacher({ baseURL: p.baseURL, model: 'local', backoff: fast, maxRetries: 5 });
  try {
    const got = await t.scoreTokens(prompts, 3);
    assert.equal(t.stats().retries, 4);
    assert.deepEqual(p.log.map((e) => [e.fault, e.path]), [['429', '/v1/completions'], ['500', '/v1/completions'], ['drop', '/v1/completions'], ['garbage', '/v1/completions'], ['pass', '/v1/completions']]);
    assertEqualScores(got, await local.scoreTokens(prompts, 3));
  } finally {
    t.close();
    await p.close();
  }
});

/** A server whose /v1/completions answers `answer` (status 200 unless said). */
const fakeServer = (answer: (body: any) => { status?: number; json: unknown }) => fakeServerAsync(async (b) => answer(b));

async function fakeServerAsync(answer: (body: any) => Promise<{ status?: number; json: unknown }>): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  const s = await fakeHttpServer((_req, text) => answer(JSON.parse(text)));
  return { ...s, url: `${s.origin}/v1` };
}

test("OpenAI's echo form alone (vLLM's field dropped on the way), with max_tokens 1: the same grades", async () => {
  // A server in front of ours that answers as one without prompt_logprobs would.
  const f = await fakeServerAsync(async (body) => {
    const r = await fetch(`${served.srv.baseURL}/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await r.json()) as { choices: Record<string, unknown>[] };
    for (const c of json.choices) delete c.prompt_logprobs;
    return { status: r.status, json };
  });
  const t = new HttpTeacher({ baseURL: f.url, model: 'local', backoff: fast, scoreMaxTokens: 1 });
  try {
    const got = await t.scoreTokens(prompts, 5);
    assert.ok(got.every((s) => s.ranks === undefined), 'the echo form has no ranks');
    assertEqualScores(got, await local.scoreTokens(prompts, 5));
  } finally {
    t.close();
    await f.close();
  }
});

test('a server without prompt log-probabilities: one non-retryable error that names the missing feature', async () => {
  const cases: { name: string; answer: (b: any) => { status?: number; json: unknown }; msg: RegExp }[] = [
    // A server that ignores echo/logprobs/prompt_logprobs and just completes.
    { name: 'ignores', answer: () => ({ json: { choices: [{ index: 0, text: 'hello', logprobs: null, finish_reason: 'length' }] } }), msg: /neither `prompt_logprobs` nor `logprobs`/ },
    // One that returns logprobs of the generated tokens only (echo ignored).
    { name: 'no-echo', answer: () => ({ json: { choices: [{ index: 0, text: 'x', logprobs: { tokens: ['x'], token_logprobs: [-1], top_logprobs: [{ x: -1 }], text_offset: [0] } }] } }), msg: /is `echo` ignored/ },
    // OpenAI's legacy answer: alternatives keyed by token string.
    {
      name: 'strings',
      answer: (b) => ({ json: { choices: [{ index: 0, text: '', logprobs: { tokens: b.prompt.map(String), token_logprobs: [null, ...b.prompt.slice(1).map(() => -1)], top_logprobs: [null, ...b.prompt.slice(1).map(() => ({ a: -1, b: -2 }))] } }] } }),
      msg: /by string .*return_tokens_as_token_ids/,
    },
    // A server without the route.
    { name: '404', answer: () => ({ status: 404, json: { error: { message: 'Not Found' } } }), msg: /answered 404.*needs \/v1\/completions/ },
  ];
  for (const c of cases) {
    const f = await fakeServer(c.answer);
    const t = new HttpTeacher({ baseURL: f.url, model: 'm', backoff: fast });
    try {
      const e = await t.scoreTokens([[1, 2, 3]], 2).then(() => null, (err) => err);
      assert.ok(e instanceof TeacherError, c.name);
      assert.equal(e.retryable, false, c.name);
      assert.match(e.message, c.msg, c.name);
      assert.match(e.message, /`echo: true` \+ `logprobs: k` with `max_tokens: 0`.*`prompt_logprobs: k`/, c.name);
      assert.equal(f.hits(), 1, `${c.name}: not retried`);
    } finally {
      t.close();
      await f.close();
    }
  }
  // Our own server with a chat-only model: its 400 says so, and the feature is named.
  const t = new HttpTeacher({ baseURL: served.srv.baseURL, model: 'adder', backoff: fast });
  try {
    await assert.rejects(t.scoreTokens([[1, 2]], 1), (e: TeacherError) => e.status === 400 && /chat only.*needs \/v1\/completions/.test(e.message));
  } finally {
    t.close();
  }
});

test('bad calls are refused before any request', async () => {
  const t = new HttpTeacher({ baseURL: served.srv.baseURL, model: 'local' });
  try {
    await assert.rejects(t.scoreTokens([[1, 2]], -1), /k must be an integer/);
    await assert.rejects(t.scoreTokens([[]], 1), /prompt 0 must be a non-empty array/);
    await assert.rejects(t.scoreTokens([[1, 2.5]], 1), /prompt 0/);
    assert.equal(t.stats().requests, 0);
    await assert.rejects(local.scoreTokens([[1, 999]], 1), /token 1 is 999, not an id in \[0, 260\)/);
  } finally {
    t.close();
  }
});

test('a TeacherPool grades on a live endpoint when another drops the connection; a chat-only teacher in a pool is refused', async () => {
  const p = await startFaultProxy({ target: served.srv.baseURL, schedule: ['drop', 'drop', 'drop'] });
  const pool = TeacherPool.http([{ baseURL: p.baseURL, model: 'local' }, { baseURL: served.srv.baseURL, model: 'local' }], { backoff: fast, maxRetries: 0 });
  try {
    for (let i = 0; i < 3; i++) assertEqualScores(await pool.scoreTokens(prompts, 3), await local.scoreTokens(prompts, 3));
    assert.ok(pool.stats().failovers >= 1, JSON.stringify(pool.stats()));
    assert.ok(p.log.some((e) => e.fault === 'drop' && e.path === '/v1/completions'));
  } finally {
    await pool.close();
    await p.close();
  }
  const chatOnly = new TeacherPool({ endpoints: [{ teacher: { name: 'c', complete: () => Promise.reject(new Error('unused')) } }] });
  await assert.rejects(chatOnly.scoreTokens([[1, 2]], 1), /teacher c cannot grade given tokens/);
  await chatOnly.close();
});

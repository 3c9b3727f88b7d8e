// TeacherPool over real sockets: three OpenAI-compatible servers, each a LocalTeacher built from
// the same seed (so every endpoint gives the same greedy answer). Weighted balancing; one server
// closed mid-run (the run completes with nothing lost, the dead endpoint is out of rotation and
// its traces equal a single-endpoint run); the endpoint back after its cool-down (half-open
// probe); 429 and garbage fail over (Retry-After sets the cool-down); a non-retryable error fails at once; every endpoint down → one clear error in time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { startFaultProxy } from '../../src/serve/fault_proxy.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import { TeacherPool, PoolExhaustedError } from '../../src/reason/teachers/pool.js';
import { TeacherError } from '../../src/reason/teachers/retry.js';
import { generateTraces } from '../../src/reason/traces/generate.js';
import { mergeTraces } from '../../src/reason/traces/trace_dir.js';
import type { ReasoningTeacher, Trace } from '../../src/reason/types.js';
import { adderProblems } from './chat_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-pool-'));
const KEY = 'sk-pool-secret-0123456789';
process.env.DISTILL_POOL_KEY = KEY;
const http = { apiKeyEnv: 'DISTILL_NO_SUCH_KEY', concurrency: 2, backoff: { baseMs: 1, maxMs: 5 } };
const servers: OpenAIServerHandle[] = [];
const serve = (port = 0) => startOpenAIServer({ backends: LocalTeacher.random({ seed: 7, name: 'teacher' }).backend(), port });

before(async () => {
  for (let i = 0; i < 3; i++) servers.push(await serve());
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(work, { recursive: true, force: true });
});

/** What must be the same whichever endpoint answered. */
const essence = (t: Trace) => JSON.stringify([t.problemId, t.sample, t.reasoning, t.content, t.finishReason, t.usage, t.verdict, t.model]);
const gen = (teacher: ReasoningTeacher, out: string, n = 30, onProgress?: (p: { written: number }) => void) =>
  generateTraces({ teacher, problems: adderProblems(n), samples: 1, out, preset: 'greedy', maxTokens: 12, concurrency: 4, onProgress });

test('requests follow the weights (smooth weighted round-robin: 2,1,1 → 50%, 25%, 25%)', async () => {
  const pool = TeacherPool.http(servers.map((s, i) => ({ baseURL: s.baseURL, model: 'teacher', weight: [2, 1, 1][i] })), http);
  try {
    const r = await gen(pool, join(work, 'weights'), 24);
    assert.equal(r.written, 24);
    const counts = pool.stats().endpoints.map((e) => e.requests);
    assert.deepEqual(counts, [12, 6, 6]);
    assert.ok(pool.stats().endpoints.every((e) => e.state === 'up' && e.failures === 0));
    assert.equal(pool.name, 'teacher');
    assert.equal(pool.describe().endpoints[0].weight, 2);
  } finally {
    pool.close();
  }
});

test('one server closed mid-run: the run completes, nothing lost, the dead endpoint out of rotation; traces equal a single-endpoint run; back after its cool-down', async () => {
  const lines: string[] = [];
  const pool = TeacherPool.http(servers.map((s) => ({ baseURL: s.baseURL, model: 'teacher' })), http, { cooldownMs: 400, log: (l) => lines.push(l) });
  const dead = servers[1];
  let closing: Promise<void> | undefined;
  let requestsAtKill = 0;
  const out = join(work, 'pool');
  const r = await gen(pool, out, 30, (p) => {
    // Closed with a request of its own in flight where possible: the connection-reset path, not only refusals.
    if (!closing && ((p.written >= 8 && pool.stats().endpoints[1].inFlight > 0) || p.written >= 20)) {
      requestsAtKill = pool.stats().endpoints[1].requests;
      closing = dead.close();
    }
  });
  await closing;
  if (process.env.DISTILL_TEST_VERBOSE) console.log({ requestsAtKill, stats: pool.stats().endpoints, lines });
  assert.deepEqual([r.planned, r.written, r.failed], [30, 30, 0], 'no request lost');
  const ep = pool.stats().endpoints[1];
  assert.ok(ep.failures >= 1, 'the killed endpoint shows failures');
  assert.notEqual(ep.state, 'up', 'and is out of rotation');
  assert.match(ep.lastError!, /ECONNREFUSED|ECONNRESET|socket hang up|closed/);
  // After the close it got the requests in flight then, its first refusal, and a probe per cool-down at most.
  assert.ok(ep.requests - requestsAtKill <= 6, `${ep.requests - requestsAtKill} requests sent to the dead endpoint`);
  assert.ok(pool.stats().failovers >= 1);
  assert.ok(lines.some((l) => l.includes(dead.baseURL) && /down/.test(l)), lines.join('\n'));

  // The same 30 traces as one endpoint alone gives: same ids, same content.
  const single = new HttpTeacher({ ...http, baseURL: servers[0].baseURL, model: 'teacher' });
  await gen(single, join(work, 'single')).finally(() => single.close());
  const a = mergeTraces(out), b = mergeTraces(join(work, 'single'));
  assert.equal(a.length, 30);
  assert.equal(new Set(a.map((t) => t.id)).size, 30);
  const byId = new Map(b.map((t) => [t.id, essence(t)]));
  for (const t of a) assert.equal(essence(t), byId.get(t.id), `${t.problemId} differs from the single-endpoint run`);

  // The server comes back on its port: after the cool-down a probe puts it back in rotation.
  servers[1] = await serve(dead.port);
  await new Promise((ok) => setTimeout(ok, 1700)); // past the longest cool-down reached (≤ 400·2² ms)
  for (let i = 0; i < 6; i++) await pool.complete({ messages: [{ role: 'user', content: `hi ${i}` }], maxTokens: 2, temperature: 0 });
  const back = pool.stats().endpoints[1];
  assert.equal(back.state, 'up');
  assert.equal(back.consecutiveFailures, 0);
  assert.ok(back.completions > ep.completions, 'it answers again');
  pool.close();
});

test("429 and garbage on two endpoints: the request fails over to the third; a 429's Retry-After sets its endpoint's cool-down", async () => {
  const p429 = await startFaultProxy({ target: servers[0].baseURL, schedule: ['429', '429'], retryAfter: '3' });
  const pBad = await startFaultProxy({ target: servers[2].baseURL, schedule: ['garbage', 'garbage'] });
  const pool = TeacherPool.http([p429.baseURL, pBad.baseURL, servers[1].baseURL].map((baseURL) => ({ baseURL, model: 'teacher' })),
    { ...http, backoff: { baseMs: 1, maxMs: 5, maxRetryAfterMs: 10 } });
  try {
    for (let i = 0; i < 2; i++) await pool.complete({ messages: [{ role: 'user', content: `q${i}` }], maxTokens: 2, temperature: 0 });
    const [a, b, c] = pool.stats().endpoints;
    assert.deepEqual([a.state, b.state, c.state], ['down', 'down', 'up']);
    assert.match(a.lastError!, /answered 429/);
    assert.ok(a.downUntil! - Date.now() > 2000, 'cool-down follows Retry-After (3 s), not the 1 s base');
    assert.match(b.lastError!, /bad response/);
    assert.equal(c.completions, 2);
    assert.equal(pool.stats().failovers, 2);
  } finally {
    pool.close();
    await Promise.all([p429.close(), pBad.close()]);
  }
});

test('a non-retryable error (unknown model: 404) fails the request at once, without failover or a health change', async () => {
  const pool = TeacherPool.http(servers.map((s) => ({ baseURL: s.baseURL, model: 'nope' })), http);
  await assert.rejects(pool.complete({ messages: [{ role: 'user', content: 'x' }], maxTokens: 2 }), (e: TeacherError) => {
    assert.ok(e instanceof TeacherError && !(e instanceof PoolExhaustedError));
    assert.equal(e.status, 404);
    return true;
  });
  const s = pool.stats();
  assert.deepEqual(s.endpoints.map((e) => e.requests), [1, 0, 0]);
  assert.ok(s.endpoints.every((e) => e.state === 'up'));
  pool.close();
});

test('every endpoint down: one clear error within the deadline, naming each endpoint and its last error, never the key', async () => {
  const gone = await Promise.all([0, 1, 2].map(() => serve()));
  await Promise.all(gone.map((s) => s.close())); // nothing listens on these ports now
  const pool = TeacherPool.http(gone.map((s) => ({ baseURL: s.baseURL, model: 'teacher' })), { ...http, apiKeyEnv: 'DISTILL_POOL_KEY' },
    { cooldownMs: 100, deadlineMs: 1500 });
  const t0 = Date.now();
  await assert.rejects(pool.complete({ messages: [{ role: 'user', content: 'x' }], maxTokens: 2 }), (e: PoolExhaustedError) => {
    assert.ok(e instanceof PoolExhaustedError);
    assert.match(e.message, /no endpoint of teacher pool teacher answered within 1\.5 s/);
    for (const s of gone) assert.match(e.message, new RegExp(`${s.baseURL.replace(/[.]/g, '\\.')} \\(down, \\d+ failures\\): connection to .*ECONNREFUSED`));
    assert.ok(!e.message.includes(KEY));
    assert.equal(e.endpoints.length, 3);
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took >= 1400 && took < 8000, `gave up after ${took} ms`);
  // Waiting requests slept through the cool-downs instead of spinning.
  assert.ok(pool.stats().endpoints.every((e) => e.requests < 40), JSON.stringify(pool.stats().endpoints.map((e) => e.requests)));
  pool.close();
});

test('a pool refuses endpoints that serve differently named models unless it is given a name; weights must be positive', () => {
  const a = new HttpTeacher({ baseURL: 'http://127.0.0.1:1/v1', model: 'a' });
  const b = new HttpTeacher({ baseURL: 'http://127.0.0.1:2/v1', model: 'b' });
  assert.throws(() => new TeacherPool({ endpoints: [{ teacher: a }, { teacher: b }] }), /different model names \(a, b\); give the pool a name/);
  assert.equal(new TeacherPool({ name: 'a', endpoints: [{ teacher: a }, { teacher: b }] }).name, 'a');
  assert.throws(() => new TeacherPool({ endpoints: [{ teacher: a, weight: 0 }] }), /weight must be a positive number/);
  assert.throws(() => new TeacherPool({ endpoints: [] }), /at least one endpoint/);
  assert.equal(new TeacherPool({ endpoints: [{ teacher: a }] }).stats().endpoints[0].label, 'http://127.0.0.1:1/v1');
});

// Shared trace generation: the lease protocol on its own (exclusive claims, take-over of a lapsed
// lease by the next generation, a lost lease noticed at renewal, a plan mismatch refused), then
// real worker processes against one server — two workers together equal a single-process run
// with no request sent twice; a worker killed with SIGKILL mid-chunk has its chunk taken over
// when its lease lapses and the merged set holds every (problem, sample) exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import { generateTraces, traceId } from '../../src/reason/traces/generate.js';
import { LeaseDir } from '../../src/reason/traces/lease.js';
import { mergeTraces, traceFiles } from '../../src/reason/traces/trace_dir.js';
import type { Trace } from '../../src/reason/types.js';
import { AdderBackend, adderProblems } from './chat_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-lease-'));
let dirs = 0;
const freshDir = () => join(work, `out${dirs++}`);
const CHILD = fileURLToPath(new URL('./lease_child.js', import.meta.url));
const PROBLEMS = 20; // × 2 samples = 40 requests, chunks of 4 → 10 chunks
const asked = new Map<string, number>(); // trace id → times the server was asked
const backend = new AdderBackend({
  id: 'adder', tokenDelayMs: 1,
  onRequest: (req) => {
    const id = traceId('adder', req, req.seed! - 1000); // workers send seed 1000 + sample
    asked.set(id, (asked.get(id) ?? 0) + 1);
  },
});
let srv: OpenAIServerHandle;
let reference: Map<string, string>; // id → content of a single-process run
const essence = (t: Trace) => JSON.stringify([t.problemId, t.sample, t.reasoning, t.content, t.finishReason, t.usage, t.verdict]);

before(async () => {
  srv = await startOpenAIServer({ backends: backend });
  const teacher = new HttpTeacher({ baseURL: srv.baseURL, model: 'adder', apiKeyEnv: 'DISTILL_NO_SUCH_KEY', backoff: { baseMs: 1 } });
  const out = freshDir();
  await generateTraces({ teacher, problems: adderProblems(PROBLEMS), samples: 2, out, seed: 1000, maxTokens: 1000 }).finally(() => teacher.close());
  reference = new Map(mergeTraces(out).map((t) => [t.id, essence(t)]));
  assert.equal(reference.size, 40);
  asked.clear();
});
after(async () => {
  await srv.close();
  rmSync(work, { recursive: true, force: true });
});

/** A worker process; `go()` starts its run once every worker started with it is loaded. */
function worker(out: string, name: string, ttlMs: number) {
  const p = spawn(process.execPath, [CHILD, srv.baseURL, out, name, String(ttlMs), '4', String(PROBLEMS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  let onReady: () => void;
  const ready = new Promise<void>((ok) => (onReady = ok));
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.startsWith('ready\n')) onReady();
  });
  const exited = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((ok) => p.on('exit', (code, signal) => ok({ code, signal, stdout, stderr })));
  return { p, exited, ready, go: () => p.stdin.end('go\n') };
}

async function startTogether(...ws: ReturnType<typeof worker>[]) {
  await Promise.all(ws.map((w) => w.ready));
  for (const w of ws) w.go();
  return ws;
}

const lineCount = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').length - 1 : 0);

/** The merged folder equals the single-process run: the same 40 ids, same content, none twice. */
function assertEqualsReference(out: string): void {
  const merged = mergeTraces(out);
  assert.equal(merged.length, 40);
  assert.deepEqual(new Set(merged.map((t) => t.id)), new Set(reference.keys()), 'no gaps, nothing extra');
  for (const t of merged) assert.equal(essence(t), reference.get(t.id), `${t.problemId}#${t.sample}`);
  const pairs = merged.map((t) => `${t.problemId}#${t.sample}`);
  assert.equal(new Set(pairs).size, 40, 'every (problem, sample) exactly once');
}

test('leases: one claimant wins; a live lease is respected and renewed; one given back is taken over by the next generation; a plan mismatch is refused', async () => {
  const dir = join(freshDir(), 'leases');
  const plan = { planned: 8, chunkSize: 4, digest: 'd' };
  const a = LeaseDir.open(dir, plan, { worker: 'a', ttlMs: 200 });
  const b = LeaseDir.open(dir, plan, { worker: 'b', ttlMs: 200 });
  assert.equal(a.chunks, 2);
  const la = a.claim('chunk-0')!;
  assert.ok(la && la.gen === 0 && la.takenFrom === null);
  assert.equal(b.claim('chunk-0'), null, 'a live lease holds');
  la.renew();
  assert.equal(b.claim('chunk-0'), null);
  // a stops renewing (a stalled or killed process): its lease lapses and b takes generation 1.
  la.release(); // expiry 0: given back
  const lb = b.claim('chunk-0')!;
  assert.ok(lb && lb.gen === 1);
  assert.equal(lb.takenFrom?.worker, 'a');
  assert.equal(a.claim('chunk-0'), null, 'b holds it now');
  const lc = a.claim('chunk-1')!;
  const stale = LeaseDir.open(dir, plan, { worker: 'c', ttlMs: 200 });
  await new Promise((ok) => setTimeout(ok, 50));
  assert.equal(stale.claim('chunk-1'), null);
  // lc's renewal timer keeps it alive past its ttl.
  await new Promise((ok) => setTimeout(ok, 300));
  assert.equal(stale.claim('chunk-1'), null, 'renewed, still held');
  lb.finish(0);
  assert.ok(a.isDone(0));
  assert.ok(!readdirSync(dir).some((f) => f.startsWith('chunk-0.') && f.endsWith('.lease')), 'a done chunk keeps no lease files');
  lc.release();
  assert.throws(() => LeaseDir.open(dir, { ...plan, planned: 9 }, { worker: 'd' }), /made for another plan \(8 requests in chunks of 4; this worker has 9 in chunks of 4\).*remove .*leases/s);
});

test('a lease holder that stalled past its ttl finds the next generation at its renewal and stops', () => {
  const dir = join(freshDir(), 'leases');
  const logs: string[] = [];
  const a = LeaseDir.open(dir, { planned: 4, chunkSize: 4, digest: 'd' }, { worker: 'a', log: (l) => logs.push(l) });
  const la = a.claim('chunk-0')!;
  // What a thief in another process leaves once a's lease has lapsed: generation 1, created exclusively.
  writeFileSync(join(dir, 'chunk-0.1.lease'), JSON.stringify({ worker: 'b', host: 'elsewhere', pid: 1, gen: 1, expiresAt: Date.now() + 60_000 }));
  la.renew();
  assert.ok(la.lost);
  assert.match(logs.join('\n'), /worker a: lost chunk-0 to b/);
  assert.equal(a.holder('chunk-0')?.worker, 'b');
  assert.equal(JSON.parse(readFileSync(join(dir, 'chunk-0.0.lease'), 'utf8')).worker, 'a', "b's lease is left alone, a's is not renewed");
});

test('two worker processes share one problem set: the union equals a single-process run, no request sent twice', async () => {
  const out = freshDir();
  const [a, b] = await startTogether(worker(out, 'wa', 5000), worker(out, 'wb', 5000));
  const [ra, rb] = await Promise.all([a.exited, b.exited]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  const [xa, xb] = [JSON.parse(ra.stdout), JSON.parse(rb.stdout)];
  assert.equal(xa.written + xb.written, 40);
  assert.ok(xa.written > 0 && xb.written > 0, `both worked: ${xa.written} + ${xb.written}`);
  assert.ok(xa.shared.complete && xb.shared.complete);
  assert.equal(xa.shared.chunks, 10);
  assert.deepEqual(traceFiles(out).map((f) => f.split('/').pop()), ['traces.wa.jsonl', 'traces.wb.jsonl']);
  assert.equal(lineCount(join(out, 'traces.wa.jsonl')) + lineCount(join(out, 'traces.wb.jsonl')), 40, 'no trace in two files');
  assertEqualsReference(out);
  assert.equal([...asked.values()].reduce((n, x) => n + x, 0), 40, 'every request asked exactly once');
  assert.ok(readdirSync(join(out, 'leases')).every((f) => !f.endsWith('.lease')), 'no lease left behind');
  // A rerun of either finds nothing to do.
  const again = await (await startTogether(worker(out, 'wa', 5000)))[0].exited;
  assert.deepEqual([JSON.parse(again.stdout).written, JSON.parse(again.stdout).skipped], [0, 40]);
});

test('a worker killed with SIGKILL mid-chunk: its lease lapses, the other takes the chunk over; every (problem, sample) exactly once', async () => {
  asked.clear();
  const out = freshDir();
  const TTL = 1000;
  const [a, b] = await startTogether(worker(out, 'ka', TTL), worker(out, 'kb', TTL));
  const fa = join(out, 'traces.ka.jsonl');
  const t0 = Date.now();
  while (lineCount(fa) < 3 && Date.now() - t0 < 20_000) await new Promise((ok) => setTimeout(ok, 2));
  a.p.kill('SIGKILL');
  const ra = await a.exited;
  assert.equal(ra.signal, 'SIGKILL');
  const killedAt = Date.now();
  const rb = await b.exited;
  assert.equal(rb.code, 0, rb.stderr);
  const xb = JSON.parse(rb.stdout);
  assert.ok(xb.shared.complete, JSON.stringify(xb.shared));
  assert.ok(xb.shared.stolen >= 1, 'kb took over ka\'s chunk');
  assert.match(rb.stderr, /worker kb: took over chunk-\d+ from ka@/);
  assert.ok(Date.now() - killedAt >= TTL * 0.5, 'it waited for the lease to lapse');
  assertEqualsReference(out);
  // Only what ka had in flight when killed (at most its 2 request slots) was asked twice.
  const repeats = [...asked.values()].reduce((n, x) => n + x - 1, 0);
  assert.ok(repeats <= 2, `${repeats} requests asked twice`);
  // ka rerun under its own name (its worker lease has lapsed): nothing left to do, and its torn tail, if any, is cut.
  const again = await (await startTogether(worker(out, 'ka', TTL)))[0].exited;
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).written, 0);
  assertEqualsReference(out);
});

test('two live processes under one worker name: the second is refused (one writer per file)', async () => {
  const out = freshDir();
  const slow = new AdderBackend({ id: 'adder', tokenDelayMs: 20 });
  const s = await startOpenAIServer({ backends: slow });
  const teacher = new HttpTeacher({ baseURL: s.baseURL, model: 'adder', apiKeyEnv: 'DISTILL_NO_SUCH_KEY' });
  const o = { teacher, problems: adderProblems(4), samples: 1, out, maxTokens: 1000, worker: 'same', chunkSize: 2 };
  try {
    const first = generateTraces(o);
    await new Promise((ok) => setTimeout(ok, 30));
    await assert.rejects(generateTraces(o), /worker same is already running \(pid \d+ on .*\); give each process its own worker name/);
    const r = await first;
    assert.equal(r.written, 4);
    assert.equal((await generateTraces(o)).written, 0, 'after a clean exit the name is free again');
    await assert.rejects(generateTraces({ ...o, samples: 2 }), /made for another plan/);
  } finally {
    teacher.close();
    await s.close();
  }
});

// Trace generation against the real OpenAI-compatible server through HttpTeacher: presets and
// ids, verdicts (kept, wrong, repetitive, truncated), resume without one repeated request —
// in-process and across kill -9 of a real child process —, torn and malformed lines, teacher
// failures with onError 'stop'/'skip', a full disk, and an abort.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { startFaultProxy, type Fault } from '../../src/serve/fault_proxy.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import {
  generateTraces, buildRequest, traceId, resolvePreset, GenerateError, type GenerateTracesOptions,
} from '../../src/reason/traces/generate.js';
import { TraceWriteError } from '../../src/reason/traces/trace_log.js';
import type { ChatRequest, Trace } from '../../src/reason/types.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { AdderBackend, adderProblems } from './chat_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gen-'));
const adder = new AdderBackend({ id: 'adder' });
let srv: OpenAIServerHandle;
let dirs = 0;
const freshDir = () => join(work, `out${dirs++}`);

before(async () => {
  srv = await startOpenAIServer({ backends: adder });
});
after(async () => {
  await srv.close();
  rmSync(work, { recursive: true, force: true });
});

const readTraces = (dir: string): Trace[] =>
  readFileSync(join(dir, 'traces.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Trace);

function run(out: string, o: Partial<GenerateTracesOptions> & { baseURL?: string; maxRetries?: number } = {}) {
  const teacher = new HttpTeacher({ baseURL: o.baseURL ?? srv.baseURL, model: 'adder', apiKeyEnv: 'DISTILL_NO_SUCH_KEY', maxRetries: o.maxRetries ?? 0, backoff: { baseMs: 1 } });
  return generateTraces({ teacher, problems: adderProblems(4), samples: 2, out, maxTokens: 1000, ...o }).finally(() => teacher.close());
}

test('the deepseek-r1 preset: no system prompt, the boxed instruction, T 0.6, top-p 0.95; greedy is T 0; bare has no instruction', () => {
  const [p] = adderProblems(1);
  const r = buildRequest(p, resolvePreset('deepseek-r1'), {}, 0);
  assert.deepEqual(r.messages, [{ role: 'user', content: 'What is 1 + 0?\nPlease reason step by step, and put your final answer within \\boxed{}.' }]);
  assert.deepEqual([r.temperature, r.topP, r.maxTokens, r.seed], [0.6, 0.95, 32768, undefined]);
  const zh = buildRequest(adderProblems(1, 'zh')[0], resolvePreset('deepseek-r1'), {}, 0);
  assert.match(zh.messages[0].content, /请逐步推理.*\\boxed\{\}/);
  const g = buildRequest(p, resolvePreset('greedy'), { seed: 10, topLogprobs: 5 }, 3);
  assert.deepEqual([g.temperature, g.topP, g.seed, g.topLogprobs], [0, undefined, 13, 5]);
  // bare: R1's sampling on the question alone (the shipped teacher was trained without the instruction).
  const b = buildRequest(p, resolvePreset('bare'), {}, 0);
  assert.deepEqual(b.messages, [{ role: 'user', content: 'What is 1 + 0?' }]);
  assert.deepEqual([b.temperature, b.topP], [0.6, 0.95]);
  assert.throws(() => resolvePreset('hot' as 'greedy'), /unknown preset "hot"/);
});

test('trace ids: the same request hashes the same whatever its key order; sample and model change it', () => {
  const [p] = adderProblems(1);
  const r = buildRequest(p, resolvePreset('deepseek-r1'), {}, 0);
  const shuffled = { maxTokens: r.maxTokens, topP: r.topP, temperature: r.temperature, messages: r.messages, seed: undefined };
  assert.equal(traceId('m', r, 0), traceId('m', shuffled, 0));
  assert.match(traceId('m', r, 0), /^[0-9a-f]{64}$/);
  assert.notEqual(traceId('m', r, 0), traceId('m', r, 1));
  assert.notEqual(traceId('m', r, 0), traceId('n', r, 0));
});

test('every sample is written with its verdict; a rerun sends no request at all', async () => {
  const out = freshDir();
  const progress: number[] = [];
  const calls0 = adder.calls;
  const r = await run(out, { problems: adderProblems(8), onProgress: (p) => progress.push(p.written) });
  assert.equal(adder.calls - calls0, 16);
  assert.deepEqual([r.planned, r.skipped, r.written, r.failed], [16, 0, 16, 0]);
  // a = 5 answers wrong, a = 7 loops: kept 6 problems × 2 samples.
  assert.deepEqual([r.kept, r.rejected, r.reasons], [12, 4, { 'wrong-answer': 2, repetitive: 2 }]);
  assert.equal(progress.at(-1), 16);
  const traces = readTraces(out);
  assert.equal(new Set(traces.map((t) => t.id)).size, 16);
  const t = traces.find((x) => x.problemId === 'add-3-20')!;
  assert.deepEqual(t.verdict, { ok: true, reason: 'correct', extracted: [23] });
  assert.equal(t.reasoning, 'We add 3 and 20. 3 plus 20 is 23.');
  assert.equal(t.content, 'The answer is \\boxed{23}.');
  assert.equal(t.question, 'What is 3 + 20?');
  assert.ok(t.usage.completionTokens > 0 && t.createdAt && t.model === 'adder');

  const again = await run(out, { problems: adderProblems(8) });
  assert.equal(adder.calls - calls0, 16, 'not one request repeated');
  assert.deepEqual([again.skipped, again.written], [16, 0]);
  // More samples later: only the new ones are asked for.
  const more = await run(out, { problems: adderProblems(8), samples: 3 });
  assert.deepEqual([adder.calls - calls0, more.skipped, more.written], [24, 16, 8]);
});

test('a completion cut by max_tokens is kept in the file as truncated; logprobs are stored', async () => {
  const out = freshDir();
  const r = await run(out, { problems: adderProblems(2), samples: 1, maxTokens: 5, topLogprobs: 2 });
  assert.deepEqual(r.reasons, { truncated: 2 });
  for (const t of readTraces(out)) {
    assert.deepEqual(t.verdict, { ok: false, reason: 'truncated', extracted: null });
    assert.equal(t.finishReason, 'length');
    assert.equal(t.logprobs!.length, 5);
    assert.equal(t.logprobs![0].top.length, 2);
  }
});

test('our own LM as the teacher, in-process: token ids and bytes in the stored logprobs; a rerun asks nothing', async () => {
  const lm = LocalTeacher.random({ seed: 3, name: 'local' });
  let calls = 0;
  const teacher = { name: lm.name, complete: (req: ChatRequest, signal?: AbortSignal) => (calls++, lm.complete(req, signal)) };
  const out = freshDir();
  const o = { teacher, problems: adderProblems(2), samples: 2, out, maxTokens: 12, topLogprobs: 2, seed: 0 };
  const r = await generateTraces(o);
  assert.deepEqual([r.written, r.kept, calls], [4, 0, 4]);
  for (const t of readTraces(out)) {
    assert.equal(t.model, 'local');
    assert.ok(!t.verdict.ok && ['truncated', 'no-answer'].includes(t.verdict.reason), t.verdict.reason);
    assert.ok(t.logprobs!.every((x) => Number.isInteger(x.id) && x.bytes!.length >= 1 && x.top.length === 2));
  }
  assert.deepEqual([(await generateTraces(o)).written, calls], [0, 4]);
});

test('a torn last line is cut away and its request redone; a malformed line in the middle is a clear error', async () => {
  const out = freshDir();
  await run(out);
  const file = join(out, 'traces.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  writeFileSync(file, lines.slice(0, 5).join('\n') + '\n' + lines[5].slice(0, 40)); // killed mid-write
  const calls0 = adder.calls;
  const r = await run(out);
  assert.equal(r.tornBytes, 40);
  assert.deepEqual([r.skipped, r.written, adder.calls - calls0], [5, 3, 3]);
  assert.equal(readTraces(out).length, 8);

  const bad = freshDir();
  mkdirSync(bad);
  writeFileSync(join(bad, 'traces.jsonl'), `${lines[0]}\n{oops\n${lines[1]}\n`);
  await assert.rejects(run(bad), /traces\.jsonl: line 2 is not JSON/);
  assert.equal(readFileSync(join(bad, 'traces.jsonl'), 'utf8').split('\n').length, 4, 'the file is left as it was');
});

async function viaProxy(schedule: Fault[], fn: (baseURL: string) => Promise<void>) {
  const p = await startFaultProxy({ target: srv.baseURL, schedule });
  try {
    await fn(p.baseURL);
  } finally {
    await p.close();
  }
}

test("a teacher failure after its retries stops the job by default, with what was done counted; 'skip' goes on", async () => {
  const out = freshDir();
  await viaProxy(['pass', '500'], async (baseURL) => {
    await assert.rejects(run(out, { baseURL, concurrency: 1 }), (e: GenerateError) => {
      assert.ok(e instanceof GenerateError);
      assert.match(e.message, /teacher adder failed on problem add-1-0 sample 1: .*answered 500.*1 traces are in .*rerun/);
      assert.deepEqual([e.result.written, e.result.failed], [1, 1]);
      return true;
    });
  });
  assert.equal(readTraces(out).length, 1, 'nothing recorded for the failed request');
  const skip = freshDir();
  await viaProxy(['pass', '500', '429', 'pass'], async (baseURL) => {
    const r = await run(skip, { baseURL, concurrency: 1, onError: 'skip' });
    assert.deepEqual([r.written, r.failed], [6, 2]);
  });
  const calls0 = adder.calls;
  const r = await run(skip);
  assert.deepEqual([r.skipped, r.written, adder.calls - calls0], [6, 2, 2], 'the rerun asks only for the two that failed');
});

test('a full disk stops the job with one clear error; every line already written is intact', async () => {
  const out = freshDir();
  const orig = fs.writeSync;
  const write = orig as (...a: unknown[]) => number;
  let traceWrites = 0;
  // ENOSPC on the third trace, after half its bytes reached the file.
  (fs as { writeSync: unknown }).writeSync = function (fd: number, buf: Buffer, off?: number, len?: number) {
    if (Buffer.isBuffer(buf) && buf.includes('"problemId"') && ++traceWrites === 3) {
      write.call(fs, fd, buf, off ?? 0, Math.floor((len ?? buf.length) / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return write.apply(fs, [...arguments]);
  };
  try {
    await assert.rejects(run(out, { concurrency: 1 }), (e: TraceWriteError) => {
      assert.ok(e instanceof TraceWriteError);
      assert.equal(e.errno, 'ENOSPC');
      assert.match(e.message, /cannot write .*traces\.jsonl: the disk is full \(ENOSPC\)\. The 2 traces already in the file are intact; .*rerun/);
      return true;
    });
  } finally {
    (fs as { writeSync: unknown }).writeSync = orig;
  }
  const text = readFileSync(join(out, 'traces.jsonl'), 'utf8');
  assert.ok(text.endsWith('\n'), 'the half-written line was cut back');
  assert.equal(readTraces(out).length, 2);
  const r = await run(out);
  assert.deepEqual([r.skipped, r.written, r.tornBytes], [2, 6, 0]);
});

test('an abort stops the job; the rerun finishes it', async () => {
  const out = freshDir();
  const ac = new AbortController();
  const r = await run(out, { signal: ac.signal, concurrency: 1, onProgress: (p) => p.written === 3 && ac.abort() });
  assert.equal(r.stopped, 'aborted');
  assert.equal(r.written, 3);
  const rest = await run(out);
  assert.deepEqual([rest.skipped, rest.written], [3, 5]);
});

test('kill -9 at any moment, then rerun: not one answered request is sent again', async () => {
  const answered = new Map<string, number[]>(); // trace id → arrival times at the server
  const backend = new AdderBackend({
    id: 'adder', tokenDelayMs: 2,
    onRequest: (req) => {
      const id = traceId('adder', req, req.seed! - 1000); // the child sends seed 1000 + sample
      answered.set(id, [...(answered.get(id) ?? []), Date.now()]);
    },
  });
  const s = await startOpenAIServer({ backends: backend });
  const out = freshDir();
  const file = join(out, 'traces.jsonl');
  const child = fileURLToPath(new URL('./gen_child.js', import.meta.url));
  const lineCount = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);
  const start = () => {
    const p = spawn(process.execPath, [child, s.baseURL, out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((ok) => p.on('exit', (code, signal) => ok({ code, signal, stdout, stderr })));
    return { p, exited };
  };
  try {
    let kills = 0;
    for (let round = 0; round < 5; round++) {
      const before = lineCount();
      const { p, exited } = start();
      let finished = false;
      void exited.then(() => (finished = true));
      while (!finished && lineCount() <= before) await new Promise((r) => setTimeout(r, 2));
      if (finished) break;
      await new Promise((r) => setTimeout(r, Math.random() * 25)); // anywhere: mid-request, mid-write
      p.kill('SIGKILL');
      const e = await exited;
      if (e.signal === 'SIGKILL') kills++;
    }
    const last = await start().exited;
    assert.equal(last.code, 0, last.stderr);
    const result = JSON.parse(last.stdout);
    assert.equal(result.planned, 24);

    const traces = readTraces(out);
    assert.equal(traces.length, 24);
    assert.equal(new Set(traces.map((t) => t.id)).size, 24, 'no trace twice');
    let extra = 0;
    for (const t of traces) {
      const arrivals = answered.get(t.id);
      assert.ok(arrivals, `the server saw ${t.problemId}#${t.sample}`);
      const written = Date.parse(t.createdAt);
      assert.ok(arrivals.every((at) => at <= written), `${t.problemId}#${t.sample} was asked again after it was recorded`);
      extra += arrivals.length - 1;
    }
    // Only requests in flight at a kill (at most 2 per kill) were ever sent twice.
    assert.ok(kills >= 1, 'at least one kill landed');
    if (process.env.DISTILL_TEST_VERBOSE) console.log({ kills, extra });
    assert.ok(extra <= kills * 2, `${extra} repeats after ${kills} kills`);
    assert.equal(backend.calls, 24 + extra);
  } finally {
    await s.close();
  }
});

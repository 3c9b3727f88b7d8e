// `distill reason …` and `distill serve` as a user runs them, each a real child process of the
// built CLI: problems → serve (a tiny random LM folder) → traces over HTTP with --top-logprobs →
// card + export; a traces job killed with SIGKILL and rerun holds every (problem, sample) once;
// a malformed problems file and a server failing with 500 end with one clear message, exit ≠ 0,
// and the traces already written intact. The API key never appears in any output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveLm } from '../../src/lm/checkpoint.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-reason-cli-'));
const KEY = 'sk-test-5ecret-key-0123456789';
const env = { ...process.env, NO_COLOR: '1', DISTILL_TEST_KEY: KEY };
const at = (...p: string[]) => join(work, ...p);
const distill = (args: string[], timeout = 60_000) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', timeout });
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean);
const traces = (f: string) => lines(f).map((l) => JSON.parse(l) as { id: string; problemId: string; sample: number; usage: { completionTokens: number }; logprobs?: { top: unknown[] }[] });
const noKey = (r: { stdout: string; stderr: string }) => assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY), 'the API key was printed');

interface Served { url: string; proc: ChildProcess; output: () => string; stop(): Promise<number | null> }
/** `distill serve …` in the background; resolves with the URL it prints on its first stdout line. */
function serve(args: string[]): Promise<Served> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  const exited = new Promise<number | null>((ok) => proc.on('exit', (code) => ok(code)));
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((ok, fail) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const url = /^(http:\/\/\S+)\n/.exec(out)?.[1];
      if (url) ok({ url, proc, output: () => out + err, stop: () => (proc.kill('SIGTERM'), exited) });
    });
    void exited.then((code) => fail(new Error(`serve exited (${code}) before printing its URL: ${err}`)));
  });
}

let server: Served | undefined;
test.before(() => {
  const t = LocalTeacher.random({ seed: 1, config: { maxSeqLen: 384 } });
  saveLm(at('tiny'), t.model, t.tokenizer);
});
test.after(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

const traceFlags = (url: string, out: string, problems = 'train.jsonl') =>
  ['reason', 'traces', '--problems', problems, '--base-url', url, '--model', 'tiny', '--api-key-env', 'DISTILL_TEST_KEY',
    '--samples', '2', '--top-logprobs', '2', '--max-tokens', '16', '--seed', '5', '--out', out];

test('reason problems / traces / export and serve: --help with an example', () => {
  for (const cmd of [['reason', 'problems'], ['reason', 'traces'], ['reason', 'export'], ['serve']]) {
    const r = distill([...cmd, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Example:\n  npx distill /, cmd.join(' '));
  }
});

test('problems → serve → traces over HTTP with logprobs → card → export, refused against an overlapping eval set', async () => {
  let r = distill(['reason', 'problems', '--families', 'chickens-rabbits,ages', '--split', 'train', '--n', '6', '--seed', '3', '--lang', 'en', '--out', 'train.jsonl']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote 6 problems to train\.jsonl .*chickens-rabbits 3, ages 3; en 6/);
  r = distill(['reason', 'problems', '--split', 'test', '--n', '4', '--lang', 'zh', '--out', 'test.jsonl', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).langs, { zh: 4 });

  server = await serve([at('tiny'), '--api-key-env', 'DISTILL_TEST_KEY']);
  r = distill(traceFlags(server.url, 'run'));
  assert.equal(r.status, 0, r.stderr);
  noKey(r);
  assert.match(r.stdout, /traces: 12 planned · 0 already in the file · 12 written/);
  const ts = traces(at('run', 'traces.jsonl'));
  assert.equal(ts.length, 12);
  for (const t of ts) {
    assert.equal(t.logprobs?.length, t.usage.completionTokens, 'one logprob per completion token');
    assert.ok(t.usage.completionTokens >= 1 && t.usage.completionTokens <= 16, 'at most --max-tokens');
    assert.ok(t.logprobs!.every((l) => l.top.length === 2));
  }
  const card = JSON.parse(readFileSync(at('run', 'card.json'), 'utf8'));
  assert.deepEqual([card.problems, card.samples, card.accepted], [6, 12, 0]);
  assert.equal(Object.values(card.rejections as Record<string, number>).reduce((a, b) => a + b, 0), 12);
  assert.match(readFileSync(at('run', 'card.md'), 'utf8'), /# Dataset card: run/);

  // A random model answers nothing right: the default export is empty, --include-rejected keeps all.
  r = distill(['reason', 'export', '--traces', 'run/traces.jsonl', '--out', 'kept.jsonl']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(at('kept.jsonl'), 'utf8'), '');
  r = distill(['reason', 'export', '--traces', 'run/traces.jsonl', '--format', 'sharegpt', '--include-rejected', '--eval', 'test.jsonl', '--out', 'all.jsonl']);
  assert.equal(r.status, 0, r.stderr);
  const rec = lines(at('all.jsonl')).map((l) => JSON.parse(l));
  assert.equal(rec.length, 12);
  assert.match(rec[0].conversations[1].value, /^<think>\n/);
  r = distill(['reason', 'export', '--traces', 'run/traces.jsonl', '--include-rejected', '--eval', 'train.jsonl', '--out', 'bad.jsonl']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /contaminated split: 12 train\/eval pair\(s\) overlap/);
  assert.match(r.stderr, /train\[0\] \((chickens-rabbits|ages):[\d:]+\) ~ eval\[\d+\]/);
  assert.ok(!existsSync(at('bad.jsonl')));
});

test('traces killed with SIGKILL midway, then rerun: every (problem, sample) exactly once', async () => {
  assert.ok(server, 'needs the server of the previous test');
  let r = distill(['reason', 'problems', '--n', '8', '--seed', '9', '--out', 'many.jsonl']);
  assert.equal(r.status, 0, r.stderr);
  const args = [...traceFlags(server.url, 'killed', 'many.jsonl'), '--samples', '3', '--max-tokens', '48', '--concurrency', '2'];
  const file = at('killed', 'traces.jsonl');
  const p = spawn(process.execPath, [CLI, ...args], { cwd: work, env, stdio: 'ignore' });
  const exited = new Promise<string | null>((ok) => p.on('exit', (_c, signal) => ok(signal)));
  while (!(existsSync(file) && lines(file).length >= 2)) await new Promise((ok) => setTimeout(ok, 5));
  p.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', 'the kill landed before the job finished');
  const before = lines(file).length;
  assert.ok(before < 24, `${before} traces before the rerun`);
  r = distill(args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`traces: 24 planned · ${before} already in the file · ${24 - before} written`));
  const ts = traces(file);
  const keys = ts.map((t) => `${t.problemId}#${t.sample}`);
  assert.equal(ts.length, 24);
  assert.equal(new Set(keys).size, 24, 'no (problem, sample) twice');
  assert.equal(new Set(ts.map((t) => t.problemId)).size, 8);
});

test('traces over a pool (--base-url A,B,DEAD --weights 2,1,1) as a shared-run worker: the dead endpoint is failed over, the result equals a single run', () => {
  assert.ok(server, 'needs the server of the first test');
  // The same server twice plus a port nothing listens on (9, discard).
  const urls = `${server.url},${server.url},http://127.0.0.1:9/v1`;
  const args = traceFlags(urls, 'pooled').map((a) => (a === server!.url ? urls : a));
  let r = distill([...args, '--weights', '2,1,1', '--worker', 'w1', '--chunk-size', '4']);
  assert.equal(r.status, 0, r.stderr);
  noKey(r);
  assert.match(r.stdout, /traces: 12 planned · 0 already in the file · 12 written/);
  assert.match(r.stdout, /shared run: worker w1 · chunks done 3\/3 \(3 claimed here, 0 taken over from lapsed leases\) · complete/);
  assert.match(r.stderr, /endpoint http:\/\/127\.0\.0\.1:9\/v1 \(weight 1\): \d+ requests, 0 answered, [1-9]\d* failed, down \(last error: connection to .*ECONNREFUSED/);
  assert.ok(existsSync(at('pooled', 'traces.w1.jsonl')) && !existsSync(at('pooled', 'traces.jsonl')));
  // Same ids and answers as the single-endpoint run of the first test (same flags, seeded sampling).
  const key = (t: Record<string, unknown>) => JSON.stringify([t.id, t.reasoning, t.content, t.usage, t.verdict]);
  assert.deepEqual(traces(at('pooled', 'traces.w1.jsonl')).map(key).sort(), traces(at('run', 'traces.jsonl')).map(key).sort());
  assert.deepEqual(JSON.parse(readFileSync(at('pooled', 'card.json'), 'utf8')).samples, 12);
  // export reads a folder: every traces file of a shared run.
  r = distill(['reason', 'export', '--traces', 'pooled', '--include-rejected', '--out', 'pooled.jsonl']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(lines(at('pooled.jsonl')).length, 12);
  r = distill([...args, '--weights', '2,1']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--weights must be 3 positive numbers, one per --base-url URL; got '2,1'/);
});

test('a malformed problems file: exit ≠ 0, one message naming the file and line, no request sent', () => {
  const good = readFileSync(at('train.jsonl'), 'utf8').split('\n')[0];
  writeFileSync(at('broken.jsonl'), `${good}\n{"id": "x", "question": \n`);
  let r = distill(['reason', 'traces', '--problems', 'broken.jsonl', '--base-url', 'http://127.0.0.1:9/v1', '--model', 'm', '--out', 'never']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /broken\.jsonl:2: malformed JSON/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(at('never')), 'nothing written');
  writeFileSync(at('broken.jsonl'), `${good}\n${good.replace(/"question":"[^"]*",/, '')}\n`);
  r = distill(['reason', 'traces', '--problems', 'broken.jsonl', '--lm', 'tiny', '--out', 'never']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /broken\.jsonl:2: field 'question' must be a non-empty string/);
});

test('a server answering 500 (serve --faults) with --on-error stop: exit ≠ 0, one clear message, traces kept', async () => {
  const faulty = await serve([at('tiny'), '--api-key-env', 'DISTILL_TEST_KEY', '--faults', '500']);
  try {
    // The first run's 12 traces plus 4 new problems: the 12 are skipped, the first new request fails.
    writeFileSync(at('more.jsonl'), readFileSync(at('train.jsonl'), 'utf8') + readFileSync(at('test.jsonl'), 'utf8'));
    const before = readFileSync(at('run', 'traces.jsonl'), 'utf8');
    const r = distill([...traceFlags(faulty.url, 'run', 'more.jsonl'), '--max-retries', '1']);
    assert.notEqual(r.status, 0);
    noKey(r);
    const err = r.stderr.split('\n').filter((l) => l.startsWith('distill: '));
    assert.equal(err.length, 1, r.stderr);
    assert.match(err[0], /teacher tiny failed on problem .* answered 500 .*12 traces are in .*traces\.jsonl; rerun the same command to resume/);
    assert.equal(readFileSync(at('run', 'traces.jsonl'), 'utf8'), before, 'the traces already written are intact');
  } finally {
    assert.equal(await faulty.stop(), 0, 'serve closes cleanly on SIGTERM');
    noKey({ stdout: faulty.output(), stderr: '' });
  }
});

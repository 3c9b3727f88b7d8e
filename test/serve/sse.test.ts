// The stage stream over a real HTTP connection: backlog, live appends, a rewrite as on
// resume (atomic replace, and in-place truncate), `done` when the weights appear,
// heartbeats, and no watcher left behind once clients disconnect or the server closes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, appendFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDashboard, MetricsFollower, type DashboardHandle } from '../../src/serve/index.js';
import { stepLine, epochLine, jsonl, writeConfig, replaceAtomically, connectSse, until, type SseEvent } from './fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-dash-sse-'));
const runsDir = join(work, 'runs');
let dash: DashboardHandle;
const streamUrl = (run: string, stage = 'student') => `${dash.url}api/runs/${run}/${stage}/stream`;
const stageDir = (run: string) => join(runsDir, run, 'student');
const metrics = (run: string) => join(stageDir(run), 'metrics.jsonl');
const lineEvents = (evs: SseEvent[], from = 0) => evs.slice(from).filter((e) => e.event === 'line').map((e) => e.data as { type: string; step?: number; epoch: number });

function makeStage(run: string, text: string): void {
  writeConfig(join(runsDir, run), 3);
  mkdirSync(stageDir(run), { recursive: true });
  writeFileSync(metrics(run), text);
}

before(async () => {
  mkdirSync(runsDir, { recursive: true });
  // Fast polling and heartbeats keep the test short; the watcher is what usually fires first.
  dash = await startDashboard({ runsDir, pollMs: 100, heartbeatMs: 300 });
});
after(async () => {
  await dash.close();
  rmSync(work, { recursive: true, force: true });
});

test('existing lines, then appended lines live, a rewrite as a reset, done when the weights appear', async () => {
  makeStage('a', jsonl([stepLine(0, 5), 'garbage {', stepLine(0, 10)]));
  const c = await connectSse(streamUrl('a'));
  assert.equal(c.status, 200);
  await c.waitFor((e) => e.event === 'synced');
  assert.deepEqual(c.events[0], { event: 'hello', data: { run: 'a', stage: 'student' } });
  assert.deepEqual(lineEvents(c.events).map((l) => l.step), [5, 10], 'backlog, malformed line skipped');
  assert.deepEqual(dash.stats(), { streams: 1, watchers: 1 });

  // Appends arrive live; a line written in two pieces arrives once, whole.
  let mark = c.events.length;
  appendFileSync(metrics('a'), jsonl([epochLine(0)]));
  await c.waitFor((e) => e.event === 'line', 3000, mark);
  const half = JSON.stringify(stepLine(1, 5));
  appendFileSync(metrics('a'), half.slice(0, 20));
  await new Promise((r) => setTimeout(r, 300));
  appendFileSync(metrics('a'), half.slice(20) + '\n' + 'not json\n');
  await c.waitFor((e) => e.event === 'line' && (e.data as { step?: number }).step === 15, 3000, mark);
  assert.deepEqual(lineEvents(c.events, mark).map((l) => l.type), ['epoch', 'step']);

  // Resume: the trainer atomically rewrites the file with the lines its checkpoint covers.
  mark = c.events.length;
  replaceAtomically(metrics('a'), jsonl([stepLine(0, 5), stepLine(0, 10), epochLine(0)]));
  await c.waitFor((e) => e.event === 'reset', 3000, mark);
  await until(() => lineEvents(c.events, mark).length === 3, 3000, 'resent lines');
  const resetAt = c.events.findIndex((e, i) => i >= mark && e.event === 'reset');
  assert.deepEqual(lineEvents(c.events, resetAt).map((l) => l.step ?? `e${l.epoch}`), [5, 10, 'e0'], 'everything from the start after the reset');

  // An in-place truncate and rewrite (same inode) that is already longer than what was read.
  mark = c.events.length;
  truncateSync(metrics('a'), 0);
  writeFileSync(metrics('a'), jsonl([stepLine(0, 1), stepLine(0, 2), stepLine(0, 3), stepLine(0, 4), epochLine(0)]));
  await c.waitFor((e) => e.event === 'reset', 3000, mark);
  await until(() => lineEvents(c.events, mark).length === 5, 3000, 'rewritten lines');

  // The final weights: status finished, then done, then the server ends the stream.
  appendFileSync(metrics('a'), jsonl([stepLine(1, 10), epochLine(1)]));
  await new Promise((r) => setTimeout(r, 50));
  writeFileSync(join(stageDir('a'), 'model.safetensors'), 'weights');
  await c.waitFor((e) => e.event === 'done', 3000);
  await c.ended;
  const tail = c.events.slice(-4).map((e) => e.event);
  assert.deepEqual(tail, ['line', 'line', 'status', 'done'], 'the last lines come before done');
  assert.ok(c.events.some((e) => e.event === 'status' && (e.data as { status: string }).status === 'finished'));
  await until(() => dash.stats().watchers === 0 && dash.stats().streams === 0, 2000, 'watchers released after done');
});

test('a stage that already finished sends its lines and done at once', async () => {
  makeStage('fin', jsonl([stepLine(0, 10), epochLine(0)]));
  writeFileSync(join(stageDir('fin'), 'model.safetensors'), 'weights');
  const c = await connectSse(streamUrl('fin'));
  await c.ended;
  assert.deepEqual(c.events.map((e) => e.event), ['hello', 'line', 'line', 'status', 'done']);
});

test('heartbeats keep an idle stream open; disconnecting clients release their watchers', async () => {
  makeStage('idle', jsonl([stepLine(0, 1)]));
  const c1 = await connectSse(streamUrl('idle'));
  const c2 = await connectSse(streamUrl('idle'));
  await c1.waitFor((e) => e.event === 'synced');
  await c2.waitFor((e) => e.event === 'synced');
  await until(() => c1.comments >= 2, 3000, 'heartbeats');
  assert.deepEqual(dash.stats(), { streams: 2, watchers: 2 });
  c1.close();
  await until(() => dash.stats().watchers === 1, 3000, 'one watcher after one client left');
  const mark = c2.events.length;
  appendFileSync(metrics('idle'), jsonl([stepLine(0, 2)]));
  await c2.waitFor((e) => e.event === 'line', 3000, mark); // the other tab is unaffected
  c2.close();
  await until(() => dash.stats().watchers === 0 && dash.stats().streams === 0, 3000, 'no watcher after all clients left');
});

test('streams for unknown or malformed stages are refused before any watcher starts', async () => {
  const c = await connectSse(streamUrl('nope'));
  assert.equal(c.status, 404);
  c.close();
  const bad = await connectSse(`${dash.url}api/runs/..%2F..%2F/student/stream`);
  assert.equal(bad.status, 400);
  bad.close();
  assert.equal(dash.stats().watchers, 0);
});

test('closing the server ends open streams instead of hanging', async () => {
  const own = await startDashboard({ runsDir, pollMs: 100 });
  const c = await connectSse(`${own.url}api/runs/idle/student/stream`);
  await c.waitFor((e) => e.event === 'synced');
  assert.equal(own.stats().watchers, 1);
  await own.close();
  await c.ended;
  assert.deepEqual(own.stats(), { streams: 0, watchers: 0 });
});

test('without fs.watch the polling fallback alone follows appends, a rewrite and the end', async () => {
  makeStage('poll', jsonl([stepLine(0, 1)]));
  const seen: string[] = [];
  let live = 0;
  const f = new MetricsFollower({ metrics: metrics('poll'), model: join(stageDir('poll'), 'model.safetensors') }, {
    line: (l) => seen.push(`line:${l.step ?? 'e' + l.epoch}`),
    reset: () => seen.push('reset'),
    status: (s) => seen.push(`status:${s}`),
    done: () => seen.push('done'),
  }, { watch: false, pollMs: 50, count: (d) => (live += d) });
  f.start();
  assert.deepEqual(seen, ['line:1', 'status:running']);
  appendFileSync(metrics('poll'), jsonl([stepLine(0, 2)]));
  await until(() => seen.includes('line:2'), 3000, 'a polled append');
  replaceAtomically(metrics('poll'), jsonl([stepLine(0, 1)]));
  await until(() => seen.includes('reset'), 3000, 'a polled rewrite');
  appendFileSync(metrics('poll'), jsonl([epochLine(0)]));
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(join(stageDir('poll'), 'model.safetensors'), 'weights');
  await until(() => seen.includes('done'), 3000, 'a polled end');
  assert.deepEqual(seen.slice(seen.indexOf('reset')), ['reset', 'line:1', 'line:e0', 'status:finished', 'done']);
  assert.equal(live, 0, 'the follower stopped itself');
});

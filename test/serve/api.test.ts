// The dashboard's JSON API on a real server (127.0.0.1, port 0) over real run folders:
// listing and status, metrics with a malformed line skipped, path validation, the API key,
// and the CLI entry points (runDashboard until SIGTERM, attachDashboard from a worker).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { get, type IncomingHttpHeaders } from 'node:http';
import { startDashboard, type DashboardHandle } from '../../src/serve/index.js';
import { attachDashboard, runDashboard } from '../../src/cli/cmd_dashboard.js';
import { stepLine, epochLine, jsonl, writeConfig, getJson } from './fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-dash-api-'));
const runsDir = join(work, 'runs');
let dash: DashboardHandle;

before(async () => {
  // done: 2 of 2 epochs, final weights written after the metrics.
  writeConfig(join(runsDir, 'done'), 2);
  mkdirSync(join(runsDir, 'done', 'baseline'), { recursive: true });
  writeFileSync(join(runsDir, 'done', 'baseline', 'metrics.jsonl'), jsonl([
    stepLine(0, 5), 'not json {', stepLine(0, 10), epochLine(0), '[1,2,3]', '{"no":"type"}', stepLine(1, 10), epochLine(1), '{"type":"step","epo',
  ]));
  const past = new Date(Date.now() - 10_000);
  utimesSync(join(runsDir, 'done', 'baseline', 'metrics.jsonl'), past, past);
  writeFileSync(join(runsDir, 'done', 'baseline', 'model.safetensors'), 'weights');
  // live: 1 of 4 epochs, metrics just written, no weights.
  writeConfig(join(runsDir, 'live'), 4);
  mkdirSync(join(runsDir, 'live', 'student'), { recursive: true });
  writeFileSync(join(runsDir, 'live', 'student', 'metrics.jsonl'), jsonl([stepLine(0, 10), epochLine(0), stepLine(1, 5)]));
  // killed: unfinished and untouched for an hour.
  mkdirSync(join(runsDir, 'killed', 'student'), { recursive: true });
  writeFileSync(join(runsDir, 'killed', 'student', 'metrics.jsonl'), jsonl([stepLine(0, 3)]));
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(join(runsDir, 'killed', 'student', 'metrics.jsonl'), old, old);
  // a sweep's nested stage, a folder with no stage, a hidden folder.
  mkdirSync(join(runsDir, 'sweep', 'h16', 'baseline'), { recursive: true });
  writeFileSync(join(runsDir, 'sweep', 'h16', 'baseline', 'metrics.jsonl'), jsonl([stepLine(0, 1)]));
  mkdirSync(join(runsDir, 'empty', 'nothing'), { recursive: true });
  mkdirSync(join(runsDir, '.hidden', 'student'), { recursive: true });
  writeFileSync(join(runsDir, '.hidden', 'student', 'metrics.jsonl'), jsonl([stepLine(0, 1)]));
  dash = await startDashboard({ runsDir });
});
after(async () => {
  await dash.close();
  rmSync(work, { recursive: true, force: true });
});

/** A GET that sends the path exactly as written. */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: IncomingHttpHeaders }> {
  return new Promise((ok, fail) => {
    const u = new URL(url);
    const path = url.slice(u.origin.length); // not u.pathname: URL parsing turns %2E%2E into '..' and drops it
    get({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => ok({ status: res.statusCode!, body: JSON.parse(text), headers: res.headers }));
    }).on('error', fail);
  });
}

type Stage = { stage: string; status: string; lastEpoch: number | null; totalSteps: number | null; step: number | null; progress: number | null; etaSeconds: number | null; valAccuracy: number | null };

test('binds 127.0.0.1 on a free port and lists runs with each stage, status, last epoch and progress', async () => {
  assert.match(dash.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const { status, body } = await getJson(dash.url + 'api/runs');
  assert.equal(status, 200);
  const runs = body.runs as { name: string; stages: Stage[] }[];
  assert.deepEqual(runs.map((r) => r.name).sort(), ['done', 'killed', 'live', 'sweep']);
  const stage = (run: string) => runs.find((r) => r.name === run)!.stages;
  const [done] = stage('done');
  assert.deepEqual([done.stage, done.status, done.lastEpoch, done.progress, done.totalSteps], ['baseline', 'finished', 1, 1, 20]);
  assert.equal(done.valAccuracy, 0.51);
  const [live] = stage('live');
  assert.deepEqual([live.status, live.lastEpoch, live.step, live.totalSteps, live.progress], ['running', 0, 15, 40, 15 / 40]);
  assert.ok(live.etaSeconds! > 0, 'ETA from samples/s and the batch size in config.json');
  assert.equal(stage('killed')[0].status, 'stale');
  assert.deepEqual(stage('sweep').map((s) => s.stage), ['h16/baseline']);
});

test('metrics: every line so far, malformed lines skipped; nested stages by encoded or split path', async () => {
  const { status, body } = await getJson(dash.url + 'api/runs/done/baseline/metrics');
  assert.equal(status, 200);
  const lines = body.lines as { type: string }[];
  assert.deepEqual(lines.map((l) => l.type), ['step', 'step', 'epoch', 'step', 'epoch']);
  assert.equal(body.status, 'finished');
  for (const path of ['sweep/h16%2Fbaseline', 'sweep/h16/baseline']) {
    const r = await getJson(dash.url + `api/runs/${path}/metrics`);
    assert.equal(r.status, 200, path);
    assert.equal((r.body.lines as unknown[]).length, 1);
  }
});

test('unknown runs and stages are 404, malformed names 400, other methods 405, all as JSON', async () => {
  const cases: [string, number][] = [
    ['api/runs/nope/baseline/metrics', 404],
    ['api/runs/done/student/metrics', 404],
    ['api/runs/empty/nothing/metrics', 404],
    ['api/runs/done/baseline/other', 404],
    ['api/nothing', 404],
    ['api/runs/..%2F/baseline/metrics', 400],
    ['api/runs/..%2F..%2Fetc/passwd/metrics', 400],
    ['api/runs/%2E%2E/baseline/metrics', 400],
    ['api/runs/.hidden/student/metrics', 400],
    ['api/runs/done/..%2F..%2Flive%2Fstudent/metrics', 400],
    ['api/runs/done/base%00line/stream', 400],
    ['api/runs/%E0%A4%A/baseline/metrics', 400],
  ];
  for (const [path, want] of cases) {
    const r = await rawGet(dash.url + path);
    assert.equal(r.status, want, path);
    assert.equal(typeof (r.body.error as { message: unknown }).message, 'string', path);
    assert.match(String(r.headers['content-type']), /application\/json/);
  }
  const post = await fetch(dash.url + 'api/runs', { method: 'POST', body: '{"x":1}' });
  assert.equal(post.status, 405);
  assert.equal((await post.json() as { error: { message: string } }).error.message, 'POST not allowed');
  // fetch will not send a foreign Host header; node:http will.
  const rebind = await rawGet(dash.url + 'api/runs', { Host: 'attacker.example' });
  assert.equal(rebind.status, 403, 'a DNS-rebinding Host header is refused');
});

test('the page is self-contained: uPlot inline, no external scripts, a strict CSP', async () => {
  const r = await fetch(dash.url);
  assert.equal(r.status, 200);
  const html = await r.text();
  assert.match(html, /uPlot/);
  assert.doesNotMatch(html, /<script[^>]+src=/, 'no external script');
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\/|url\(\s*["']?https?:|@import/, 'nothing fetched from elsewhere');
  const csp = r.headers.get('content-security-policy')!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'sha256-[^']+' 'sha256-[^']+'/);
});

test('with an API key, every request needs it (Bearer header or ?key=)', async () => {
  const keyed = await startDashboard({ runsDir, apiKey: 's3cret-key' });
  try {
    for (const path of ['', 'api/runs', 'api/runs/done/baseline/metrics', 'api/runs/done/baseline/stream', 'api/runs/nope/x/metrics']) {
      const r = await fetch(keyed.url + path);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    assert.equal((await fetch(keyed.url + 'api/runs', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(keyed.url + 'api/runs?key=s3cret-ke')).status, 401);
    assert.equal((await fetch(keyed.url + 'api/runs', { headers: { Authorization: 'Bearer s3cret-key' } })).status, 200);
    assert.equal((await fetch(keyed.url + 'api/runs/done/baseline/metrics?key=s3cret-key')).status, 200);
    assert.equal((await fetch(keyed.url + '?key=s3cret-key')).status, 200);
  } finally {
    await keyed.close();
  }
});

test('runDashboard prints the URL, never the key, and exits 0 on SIGTERM', async () => {
  const mod = fileURLToPath(new URL('../../src/cli/cmd_dashboard.js', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(mod)}); process.exitCode = await m.runDashboard(${JSON.stringify(runsDir)}, {});`],
  { env: { ...process.env, DISTILL_API_KEY: 'env-key-123' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const url = await new Promise<string>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`no URL printed: ${err}`)), 10_000);
    child.stdout.on('data', () => {
      const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) { clearTimeout(t); ok(m[1]); }
    });
  });
  assert.equal((await fetch(url + 'api/runs')).status, 401, 'DISTILL_API_KEY is honoured');
  assert.equal((await fetch(url + 'api/runs', { headers: { Authorization: 'Bearer env-key-123' } })).status, 200);
  const code = await new Promise<number | null>((ok) => {
    child.on('exit', (c) => ok(c));
    child.kill('SIGTERM');
  });
  assert.equal(code, 0);
  assert.doesNotMatch(out + err, /env-key-123/, 'the key is never printed');
  assert.match(err, /\?key=<your key>/);
});

test('attachDashboard serves from a worker thread while the main thread is blocked (as during training)', async () => {
  process.env.DISTILL_TEST_DASH_KEY = 'k';
  const dashW = await attachDashboard(runsDir, { quiet: true, apiKeyEnv: 'DISTILL_TEST_DASH_KEY' });
  try {
    // spawnSync blocks this thread, as kd.train does; the child's request must still be answered.
    const r = spawnSync(process.execPath, ['-e',
      `fetch(${JSON.stringify(dashW.url + 'api/runs')}, { headers: { Authorization: 'Bearer k' } }).then(async (r) => console.log(r.status, (await r.json()).runs.length))`],
    { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.stdout.trim(), '200 4', r.stderr);
  } finally {
    await dashW.close();
  }
});

test('the dashboard takes its key from --api-key-env NAME, never from the command line', async () => {
  // The old `--api-key <key>` is refused with the way out, before anything listens.
  await assert.rejects(runDashboard(runsDir, { apiKey: 'on-the-command-line' } as never), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_CONFIG');
    assert.match(e.message, /--api-key-env NAME/);
    assert.doesNotMatch(e.message, /on-the-command-line/, 'the key is not echoed');
    return true;
  });
  delete process.env.DISTILL_TEST_UNSET_KEY;
  await assert.rejects(runDashboard(runsDir, { apiKeyEnv: 'DISTILL_TEST_UNSET_KEY' }), /DISTILL_TEST_UNSET_KEY: that environment variable is not set/);

  const mod = fileURLToPath(new URL('../../src/cli/cmd_dashboard.js', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(mod)}); process.exitCode = await m.runDashboard(${JSON.stringify(runsDir)}, { apiKeyEnv: 'MY_DASH_KEY' });`],
  { env: { ...process.env, MY_DASH_KEY: 'named-env-key-456', DISTILL_API_KEY: 'not-this-one' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    const url = await new Promise<string>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`no URL printed: ${err}`)), 10_000);
      child.stdout.on('data', () => {
        const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) { clearTimeout(t); ok(m[1]); }
      });
    });
    assert.equal((await fetch(url + 'api/runs', { headers: { Authorization: 'Bearer not-this-one' } })).status, 401);
    assert.equal((await fetch(url + 'api/runs', { headers: { Authorization: 'Bearer named-env-key-456' } })).status, 200);
  } finally {
    const code = await new Promise<number | null>((ok) => {
      child.on('exit', (c) => ok(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
  }
  assert.doesNotMatch(out + err, /named-env-key-456/, 'the key is never printed');
});

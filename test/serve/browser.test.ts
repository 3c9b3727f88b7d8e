// The dashboard in a real browser (Debian chromium driven by playwright-core) while a REAL
// training run writes into the runs folder: two tabs follow it live, one reloads mid-run and
// catches up, a second run is overlaid, the run ends as finished, no console or page errors,
// and the server holds exactly one watcher per open stream throughout. Screenshots go to
// test-artifacts/ for a human to look at.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDashboard, type DashboardHandle } from '../../src/serve/index.js';
import { until } from './fixtures.js';
import { prerequisite } from '../helpers/prerequisite.js';

const CHROMIUM = '/usr/bin/chromium';
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-dash-ui-'));
const runsDir = join(work, 'runs');
const env = { ...process.env, DISTILL_CACHE: join(work, 'cache'), NO_COLOR: '1' };
const EPOCHS = 30;
const children: ChildProcess[] = [];
let browser: Browser | undefined;
let dash: DashboardHandle | undefined;

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await browser?.close();
  await dash?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Starts `distill <command>` into work/runs/<name>; resolves with its exit code. */
function train(command: string, name: string, settings: string[]): Promise<number | null> {
  const child = spawn(process.execPath, [CLI, command, '--json', '--name', name, '--set', 'data.dataset=mnist-digits', 'threads=1', ...settings],
    { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((ok) => child.on('exit', (code) => {
    if (code !== 0) console.error(err);
    ok(code);
  }));
}

// The tsconfig has no DOM lib: the few element fields read in the page, typed by hand.
type El = { dataset: Record<string, string | undefined> };
const points = (p: Page, attr = 'points') => p.$eval('#loss-chart', (e, a) => Number((e as unknown as El).dataset[a] ?? 0), attr);
const cardStatus = (p: Page) => p.$eval('.card[data-slot="a"]', (e) => (e as unknown as El).dataset.status).catch(() => '');
const stepLines = (run: string) => readFileSync(join(runsDir, run, 'baseline', 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"step"')).length;

const browserPrereq = prerequisite(`chromium (${CHROMIUM})`, existsSync(CHROMIUM), 'npm run setup (installs the Debian package chromium)');
test('two tabs follow a real training run live, survive a reload, overlay a second run, and see it finish', { timeout: 180_000, skip: browserPrereq.skip }, async () => {
  browserPrereq.check();
  mkdirSync(ARTIFACTS, { recursive: true });
  dash = await startDashboard({ runsDir, pollMs: 250 });
  // The reference run is a short distillation (its loss has parts: hard and soft); the live
  // run is a baseline that lasts long enough to watch (about 15-30 s here).
  const refDone = train('distill', 'ref', ['teacher.arch=mlp:32', 'teacher.train.epochs=1', 'student.arch=mlp:16', 'student.train.epochs=3', 'student.train.logEvery=5']);
  const liveDone = train('train-student', 'live', ['student.arch=mlp:64', `student.train.epochs=${EPOCHS}`, 'student.train.batchSize=8', 'student.train.logEvery=25']);
  let liveExited = false;
  void liveDone.then(() => (liveExited = true));
  browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const open = async (name: string) => {
    const p = await context.newPage();
    p.on('console', (m) => { if (m.type() === 'error') errors.push(`${name} console: ${m.text()}`); });
    p.on('pageerror', (e) => errors.push(`${name} page error: ${e.message}`));
    await p.goto(dash!.url + '#a=live%2Fbaseline');
    return p;
  };
  await until(() => existsSync(join(runsDir, 'live', 'baseline', 'metrics.jsonl')), 60_000, 'the live run to start');
  const [tab1, tab2] = [await open('tab1'), await open('tab2')];

  // Live updates reach both tabs: the plotted points grow while the run is going.
  await until(async () => (await points(tab1)) > 0 && (await points(tab2)) > 0, 20_000, 'first points in both tabs');
  const [p1, p2] = [await points(tab1), await points(tab2)];
  await until(async () => (await points(tab1)) > p1 && (await points(tab2)) > p2, 20_000, 'points to grow in both tabs');
  assert.equal(liveExited, false, 'the run was still going while both tabs grew');
  assert.equal(await cardStatus(tab1), 'running');
  await until(() => dash!.stats().watchers === 2, 5000, 'one watcher per tab');

  // A reload mid-run: the tab replays the file and keeps following; the old stream's watcher is released.
  const before = await points(tab2);
  await tab2.reload();
  await until(async () => (await points(tab2)) >= before, 15_000, 'the reloaded tab to catch up');
  const caughtUp = await points(tab2);
  await until(async () => (await points(tab2)) > caughtUp || liveExited, 20_000, 'the reloaded tab to follow new lines');
  assert.equal(liveExited, false, 'the reload happened mid-run');
  await until(() => dash!.stats().watchers === 2, 5000, 'no watcher leaked by the reload');

  // Overlay the finished reference run as B: both sets of series on the same charts.
  assert.equal(await refDone, 0);
  await until(async () => (await tab1.$$eval('#sel-b option', (os) => os.map((o) => (o as unknown as { value: string }).value))).includes('ref/student'), 10_000, 'ref listed');
  await tab1.selectOption('#sel-b', 'ref/student');
  await until(async () => (await points(tab1, 'pointsB')) > 0, 10_000, 'B points');
  const legend = await tab1.$eval('#loss-chart', (e) => e.textContent ?? '');
  assert.match(legend, /A total/);
  assert.match(legend, /B total/);
  assert.match(legend, /B hinton\.soft/, 'loss parts are plotted');
  assert.doesNotMatch(legend, /B hinton[^.]/, 'a part equal to the total is not drawn twice');
  assert.match(await tab1.$eval('#acc-chart', (e) => e.textContent ?? ''), /B agreement with teacher/);
  assert.match(tab1.url(), /#a=live%2Fbaseline&b=ref%2Fstudent/, 'the selection is in the URL, so a reload keeps it');
  await tab1.screenshot({ path: join(ARTIFACTS, 'dashboard-live.png'), fullPage: true });

  // The end: the trainer writes model.safetensors; both tabs show finished with every line plotted.
  assert.equal(await liveDone, 0);
  for (const tab of [tab1, tab2]) {
    await until(async () => (await cardStatus(tab)) === 'finished', 15_000, 'finished in the card');
    await until(async () => (await tab.$eval('.stage[data-id="live/baseline"]', (e) => (e as unknown as El).dataset.status)) === 'finished', 15_000, 'finished in the list');
    await until(async () => (await points(tab)) === stepLines('live'), 10_000, 'every step line plotted');
    assert.equal(await tab.$eval('#acc-chart', (e) => Number((e as unknown as El).dataset.points)), EPOCHS, 'one accuracy point per epoch');
  }
  const card = await tab1.$eval('.card[data-slot="a"]', (e) => e.textContent ?? '');
  assert.match(card, /epoch\s*30 \/ 30/);
  assert.match(card, /progress\s*100\.0%/);
  await tab1.screenshot({ path: join(ARTIFACTS, 'dashboard-finished.png'), fullPage: true });
  await tab2.check('#smooth'); // the moving-average view: same points, smoothed values
  await until(async () => (await tab2.$eval('#loss-chart', (e) => (e as unknown as El).dataset.smooth)) === 'true', 5000, 'the smoothed view');
  await tab2.screenshot({ path: join(ARTIFACTS, 'dashboard-tab2-smoothed.png') });

  // With an API key the page, opened with ?key=, passes the key on to its requests and streams.
  const keyed = await startDashboard({ runsDir, apiKey: 'ui-key' });
  try {
    const tab3 = await context.newPage();
    tab3.on('console', (m) => { if (m.type() === 'error') errors.push(`tab3 console: ${m.text()}`); });
    tab3.on('pageerror', (e) => errors.push(`tab3 page error: ${e.message}`));
    await tab3.goto(keyed.url + '?key=ui-key#a=live%2Fbaseline');
    await until(async () => (await points(tab3)) === stepLines('live'), 15_000, 'the keyed page to load the run');
    await tab3.close();
  } finally {
    await keyed.close();
  }
  assert.deepEqual(errors, [], 'no console or page errors');

  await context.close();
  await until(() => dash!.stats().watchers === 0 && dash!.stats().streams === 0, 5000, 'no watcher after the tabs closed');
});

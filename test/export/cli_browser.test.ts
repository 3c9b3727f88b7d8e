// `distill export` on a tiny real run (CNN teacher and MLP students trained briefly on the
// bundled MNIST digits), then its browser page in Debian chromium through playwright-core,
// served from 127.0.0.1 (wasm will not load from file://). The page must load both models
// with onnxruntime-web, agree with onnxruntime-node on test images and on a drawn digit,
// re-soften with the temperature slider as softmax(logits / T), and log no errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import * as ex from '../../src/export/index.js';
import { runExport } from '../../src/cli/cmd_export.js';
import { onnxCheck } from './fixtures.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const CHROMIUM = process.env.DISTILL_CHROMIUM ?? '/usr/bin/chromium';
const work = mkdtempSync(join(tmpdir(), 'distill-export-'));
const env = { ...process.env, DISTILL_CACHE: join(work, 'cache'), NO_COLOR: '1' };
const tiny = ['--set', 'data.dataset=mnist-digits', 'teacher.arch=cnn', 'teacher.train.epochs=1', 'student.arch=mlp:32', 'student.train.epochs=2', 'threads=1'];
test.after(() => rmSync(work, { recursive: true, force: true }));

/** What the waitForFunction predicates read in the page (tsconfig has no DOM lib; the cast is erased). */
type PageGlobals = { document: { body: { dataset: Record<string, string | undefined> } }; distillDemo: { input: number[] } };

interface Report {
  ok: boolean;
  outDir: string;
  page: string;
  models: {
    role: string; arch: string;
    onnx: { path: string; bytes: number; ok: boolean; accuracy: number; random: ex.CompareResult; test: ex.CompareResult; latencyBatch1: { oursMs: number; ortMs: number } };
    int8: { path: string; bytes: number; accuracy: number; agreementWithFloat: number };
    safetensors: { dir: string; ok: boolean };
  }[];
}

function softmax(z: number[], T: number): number[] {
  const m = Math.max(...z.map((v) => v / T));
  const e = z.map((v) => Math.exp(v / T - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test('export a tiny real run, check every file, and run teacher and student in chromium', { timeout: 240_000 }, async () => {
  const r = spawnSync(process.execPath, [CLI, 'demo', '--json', '--name', 'exp', ...tiny], { cwd: work, env, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  const run = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { runDir: string }).runDir;

  // 1. The command (in this process, as `distill export` runs it), JSON out.
  process.env.DISTILL_CACHE = env.DISTILL_CACHE;
  const log = console.log;
  let printed = '';
  console.log = (s: string) => { printed += s; };
  let code: number;
  try {
    code = await runExport(run, { format: 'all', which: 'all', quantize: true, json: true });
  } finally {
    console.log = log;
  }
  const rep = JSON.parse(printed) as Report;
  assert.equal(code, 0);
  assert.equal(rep.ok, true);
  assert.equal(rep.outDir, join(run, 'export'));
  assert.deepEqual(rep.models.map((m) => m.role), ['teacher', 'student', 'baseline']);
  for (const m of rep.models) {
    assert.ok(m.onnx.ok && m.onnx.random.maxAbsDiff <= 1e-4 && m.onnx.test.maxAbsDiff <= 1e-4, `${m.role}: ${JSON.stringify(m.onnx)}`);
    assert.equal(m.onnx.random.samples, 100);
    assert.ok(m.onnx.test.samples >= 1000);
    assert.equal(m.onnx.bytes, statSync(m.onnx.path).size);
    assert.ok(m.onnx.accuracy > 0.5, `${m.role} accuracy ${m.onnx.accuracy}: trained, and the file computes it`);
    assert.ok(m.int8.bytes < 0.3 * m.onnx.bytes);
    assert.ok(Math.abs(m.int8.accuracy - m.onnx.accuracy) < 0.02 && m.int8.agreementWithFloat > 0.97, `${m.role} int8: ${JSON.stringify(m.int8)}`);
    assert.ok(m.safetensors.ok);
    for (const f of ['model.safetensors', 'config.json', 'README.md']) assert.ok(existsSync(join(m.safetensors.dir, f)), f);
  }
  const onnxFiles = readdirSync(rep.outDir).filter((f) => f.endsWith('.onnx')).map((f) => join(rep.outDir, f));
  assert.equal(onnxFiles.length, 6);
  onnxCheck(onnxFiles);
  for (const f of ex.ORT_WEB_FILES) assert.ok(existsSync(join(rep.outDir, f)), f);

  // 2. What the page will be fed, run by onnxruntime-node.
  const html = readFileSync(rep.page, 'utf8');
  const demo = JSON.parse(/<script type="application\/json" id="demo-data">([^]*?)<\/script>/.exec(html)![1]) as {
    models: { role: string; file: string }[]; inputShape: number[]; classNames: string[];
    samples: { pixels: string; labels: number[]; index: number[] };
  };
  assert.deepEqual(demo.models.map((m) => m.role), ['teacher', 'student', 'baseline']);
  const n = demo.samples.labels.length;
  assert.equal(n, 20);
  const pixels = new Float32Array(new Uint8Array(Buffer.from(demo.samples.pixels, 'base64')).buffer);
  const sessions = Object.fromEntries(await Promise.all(demo.models.map(async (m) => [m.role, await ex.ortSession(join(rep.outDir, m.file))] as const)));
  const nodeLogits = async (role: string, x: Float32Array) => Array.from(await ex.ortLogits(sessions[role], x, [1, ...demo.inputShape]));
  const sample = (i: number) => pixels.slice(i * 784, (i + 1) * 784);

  // 3. The page in chromium.
  const server = await ex.serveStatic(rep.outDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const blocked: string[] = [], problems: string[] = [];
    await context.route((url) => !url.href.startsWith(server.url), (route) => {
      blocked.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(server.url, { waitUntil: 'load' });
    // Predicates as functions: a string would be eval'd in the page, which its CSP (no 'unsafe-eval') refuses.
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.body.dataset.state !== 'loading', undefined, { timeout: 60_000 });
    assert.equal(await page.evaluate(`document.body.dataset.state`), 'ready', `${await page.locator('#status').textContent()} ${problems.join('; ')}`);
    // File sizes are what was fetched; latencies were measured.
    for (const m of rep.models) {
      const card = page.locator(`.model[data-role="${m.role}"]`);
      assert.match((await card.locator('.size').textContent())!, new RegExp(`${m.role}\\.onnx \\d`));
      assert.match((await card.locator('.lat').textContent())!, /latency [\d.]+ ms \(mean [\d.]+ ms over 20 runs\)/);
    }

    // Pick test images: each model's top class (and logits) equal onnxruntime-node's.
    let shown = 0;
    const pick = async (i: number) => {
      await page.locator(`.sample[data-sample="${i}"]`).click();
      await page.waitForFunction((j) => ((globalThis as unknown as PageGlobals).document.body.dataset.shown || '').startsWith(`sample-${j}#`), i);
      shown++;
    };
    for (const i of [3, 10, 17]) {
      await pick(i);
      const state = await page.evaluate(`({ logits: window.distillDemo.logits, tops: Object.fromEntries([...document.querySelectorAll('.model')].map((c) => [c.dataset.role, Number(c.dataset.top)])) })`) as { logits: Record<string, number[]>; tops: Record<string, number> };
      for (const role of ['teacher', 'student', 'baseline']) {
        const z = await nodeLogits(role, sample(i));
        assert.equal(state.tops[role], z.indexOf(Math.max(...z)), `sample ${i} ${role}: top class`);
        assert.ok(ex.maxAbsDiff(Float32Array.from(state.logits[role]), Float32Array.from(z)) < 1e-4, `sample ${i} ${role}: web vs node logits`);
      }
    }

    // The temperature slider, moved with the keyboard: bars are softmax(logits / T).
    const bars = async () => page.evaluate(`({ T: window.distillDemo.T, label: document.getElementById('t-value').textContent,
      probs: Object.fromEntries([...document.querySelectorAll('.model')].map((c) => [c.dataset.role, [...c.querySelectorAll('.bar')].map((b) => Number(b.dataset.prob))])),
      text: [...document.querySelectorAll('.model[data-role="student"] .val')].map((v) => v.textContent) })`) as Promise<{ T: number; label: string; probs: Record<string, number[]>; text: string[] }>;
    const z17 = { teacher: await nodeLogits('teacher', sample(17)), student: await nodeLogits('student', sample(17)) };
    const at1 = await bars();
    assert.equal(at1.T, 1);
    await page.locator('#temperature').focus();
    for (let k = 0; k < 6; k++) await page.keyboard.press('ArrowRight'); // step 0.5 → T = 4
    const at4 = await bars();
    assert.equal(at4.T, 4);
    assert.equal(at4.label, '4.0');
    for (const role of ['teacher', 'student'] as const) {
      const want = softmax(z17[role], 4);
      at4.probs[role].forEach((p, c) => assert.ok(Math.abs(p - want[c]) < 1e-5, `${role} T=4 class ${c}: ${p} vs ${want[c]}`));
      assert.notDeepEqual(at4.probs[role], at1.probs[role], 'the slider changed the bars');
      assert.ok(Math.max(...at4.probs[role]) < Math.max(...at1.probs[role]), `${role}: higher T is flatter`);
    }
    assert.deepEqual(at4.text, softmax(z17.student, 4).map((p) => p.toFixed(3)));

    // Draw a "1" on the pad: the downsampled input goes to both models, same logits as node.
    const box = (await page.locator('#pad').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.15);
    await page.mouse.down();
    for (let k = 1; k <= 10; k++) await page.mouse.move(box.x + box.width * (0.52 - 0.01 * k), box.y + box.height * (0.15 + 0.07 * k));
    await page.mouse.up();
    await page.waitForFunction(() => ((globalThis as unknown as PageGlobals).document.body.dataset.shown || '').startsWith('drawing#') && (globalThis as unknown as PageGlobals).distillDemo.input.some((v) => v > 0.5));
    await page.waitForTimeout(300); // let the last animation-frame update land
    await page.waitForFunction(() => ((globalThis as unknown as PageGlobals).document.body.dataset.shown || '').startsWith('drawing#'));
    const drawn = await page.evaluate(`({ input: window.distillDemo.input, logits: window.distillDemo.logits })`) as { input: number[]; logits: Record<string, number[]> };
    const inked = drawn.input.filter((v) => v > 0.1).length;
    assert.ok(inked > 20 && inked < 400, `a stroke, downsampled: ${inked} inked pixels`);
    for (const role of ['teacher', 'student']) {
      const z = await nodeLogits(role, Float32Array.from(drawn.input));
      assert.ok(ex.maxAbsDiff(Float32Array.from(drawn.logits[role]), Float32Array.from(z)) < 1e-4, `drawing ${role}: web vs node`);
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'export-page-drawing.png'), fullPage: true });

    // The screenshot: a test image, T = 2.
    await pick(7);
    await page.locator('#temperature').fill('2').catch(async () => {
      await page.evaluate(`(() => { const s = document.getElementById('temperature'); s.value = '2'; s.dispatchEvent(new Event('input')); })()`);
    });
    assert.equal(await page.evaluate(`window.distillDemo.T`), 2);
    await page.screenshot({ path: join(ARTIFACTS, 'export-page.png'), fullPage: true });
    assert.ok(shown >= 4);
    assert.deepEqual(problems, []);
    assert.deepEqual(blocked, []);
  } finally {
    await browser.close();
    await server.close();
    for (const s of Object.values(sessions)) await s.release();
  }
});

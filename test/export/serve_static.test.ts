// The export's static page server on 127.0.0.1: only bare files inside the folder, the content
// types a browser needs, and a page CSP that Debian chromium itself enforces (the oracle):
// the page's own inline script and wasm run; an injected event handler, eval and a request to
// another origin are refused. The shared checks (Host, key, headers, body limit) are in
// test/serve/http_hardening.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { chromium } from 'playwright-core';
import { serveStatic } from '../../src/export/serve_static.js';

const CHROMIUM = process.env.DISTILL_CHROMIUM ?? '/usr/bin/chromium';
const work = mkdtempSync(join(tmpdir(), 'distill-static-'));
after(() => rmSync(work, { recursive: true, force: true }));

// The smallest wasm module: magic and version (8 bytes).
const WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>csp</title></head><body>
<img src="missing.png" onerror="document.body.dataset.handler = 'ran'">
<script>
  const d = document.body.dataset;
  d.inline = 'ran';
  try { eval('1 + 1'); d.eval = 'ran'; } catch (e) { d.eval = 'blocked'; }
  document.addEventListener('securitypolicyviolation', (e) => { d.violations = (d.violations || '') + e.violatedDirective.split(' ')[0] + ';'; });
  fetch('tiny.wasm').then((r) => r.arrayBuffer()).then((b) => WebAssembly.instantiate(b))
    .then(() => { d.wasm = 'ran'; }, (e) => { d.wasm = 'blocked: ' + e.message; })
    .then(() => fetch('http://127.0.0.2:9/elsewhere').then(() => { d.foreign = 'ran'; }, () => { d.foreign = 'blocked'; }))
    .then(() => { d.done = '1'; });
</script></body></html>`;

function get(base: string, path: string, method = 'GET') {
  return new Promise<{ status: number; type: string | undefined; body: string }>((ok, fail) => {
    const u = new URL(base);
    const r = request({ host: u.hostname, port: u.port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    r.on('error', fail);
    r.end();
  });
}

test('serves bare files inside the folder with their types; nothing above it, nothing hidden', async () => {
  const dir = join(work, 'files');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), PAGE);
  writeFileSync(join(dir, 'tiny.wasm'), WASM);
  writeFileSync(join(dir, '.model.onnx.tmp-1'), 'partial');
  writeFileSync(join(dir, 'sub', 'x.js'), '1');
  writeFileSync(join(work, 'secret.txt'), 'secret');
  const s = await serveStatic(dir);
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const home = await get(s.url, '/');
    assert.equal(home.status, 200);
    assert.equal(home.type, 'text/html; charset=utf-8');
    assert.equal(home.body, PAGE);
    assert.equal((await get(s.url, '/tiny.wasm')).type, 'application/wasm');
    const head = await get(s.url, '/index.html', 'HEAD');
    assert.deepEqual([head.status, head.body], [200, '']);
    for (const path of ['/../secret.txt', '/%2E%2E%2Fsecret.txt', '/sub/x.js', '/sub%2Fx.js', '/.model.onnx.tmp-1', '/nope.html'])
      assert.equal((await get(s.url, path)).status, 404, path);
    assert.equal((await get(s.url, '/%E0%A4%A')).status, 400);
    assert.equal((await get(s.url, '/index.html', 'DELETE')).status, 405);
  } finally {
    await s.close();
  }
});

test('chromium enforces the page CSP: own inline script and wasm run; handler attributes, eval and other origins do not', { timeout: 60_000 }, async () => {
  const dir = join(work, 'page');
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.html'), PAGE);
  writeFileSync(join(dir, 'tiny.wasm'), WASM);
  const s = await serveStatic(dir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage();
    await page.goto(s.url, { waitUntil: 'load' });
    await page.locator('body[data-done="1"]').waitFor({ timeout: 20_000 });
    const data = async (k: string) => page.locator('body').getAttribute(`data-${k}`);
    assert.equal(await data('inline'), 'ran', 'the page\'s own inline script (allowed by its hash)');
    assert.equal(await data('wasm'), 'ran', "wasm compiles ('wasm-unsafe-eval')");
    assert.equal(await data('handler'), null, 'an inline event handler attribute is refused');
    assert.equal(await data('eval'), 'blocked', 'eval is refused');
    assert.equal(await data('foreign'), 'blocked', 'a request to another origin is refused');
    assert.match((await data('violations')) ?? '', /connect-src/);
  } finally {
    await browser.close();
    await s.close();
  }
});

// The shared HTTP layer (src/io/http.ts), checked the same way on each of the four servers
// through real HTTP on 127.0.0.1: the dashboard, the OpenAI-compatible API, the fault proxy
// and the export's static page server. For each: the security headers on answers and
// refusals, the DNS-rebinding Host check, the API key (wrong, prefix, longer, lower-case and
// upper-case `Bearer` scheme), the body limit (413) and, where a route takes JSON, a
// malformed body (400). The dashboard and the static server take no bodies at all: any body is
// a 413, and they have no JSON to parse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { startDashboard } from '../../src/serve/server.js';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { startFaultProxy } from '../../src/serve/fault_proxy.js';
import { serveStatic, pageCsp } from '../../src/export/serve_static.js';
import { bearerToken, hostAllowed, keyMatcher } from '../../src/io/http.js';
import { AdderBackend } from '../reason/chat_fixtures.js';

const KEY = 'k3y-Of-The-Test-0123';
const work = mkdtempSync(join(tmpdir(), 'distill-http-'));
const closers: (() => Promise<void>)[] = [];

interface Target {
  name: string;
  /** http://127.0.0.1:port, without and with a key. */
  open: string;
  keyed: string;
  /** A GET that answers 200 when allowed. */
  path: string;
  /** Where a body goes: method and path; json says whether the route parses JSON. */
  post: { method: string; path: string; json: boolean };
  /** The body limit of the open instance (0: no bodies at all). */
  limit: number;
  /** The CSP a 200 on `path` must carry (a page's own, or the deny-all one of an API). */
  csp: RegExp;
}
const targets: Target[] = [];
let api: OpenAIServerHandle;

before(async () => {
  // The dashboard over an empty runs folder.
  const runsDir = join(work, 'runs');
  mkdirSync(runsDir);
  const dashOpen = await startDashboard({ runsDir });
  const dashKeyed = await startDashboard({ runsDir, apiKey: KEY });
  closers.push(dashOpen.close, dashKeyed.close);
  targets.push({ name: 'dashboard', open: dashOpen.url.slice(0, -1), keyed: dashKeyed.url.slice(0, -1), path: '/', post: { method: 'GET', path: '/api/runs', json: false }, limit: 0, csp: /script-src 'sha256-/ });

  // The OpenAI-compatible API with a small body limit.
  api = await startOpenAIServer({ backends: new AdderBackend({ id: 'adder' }), maxBodyBytes: 2048 });
  const apiKeyed = await startOpenAIServer({ backends: new AdderBackend({ id: 'adder' }), apiKey: KEY });
  closers.push(api.close, apiKeyed.close);
  const origin = (u: string) => new URL(u).origin;
  targets.push({ name: 'openai', open: origin(api.baseURL), keyed: origin(apiKeyed.baseURL), path: '/v1/models', post: { method: 'POST', path: '/v1/chat/completions', json: true }, limit: 2048, csp: /^default-src 'none'/ });

  // The fault proxy (every request passes) in front of the open API, with its own smaller limit.
  const proxyOpen = await startFaultProxy({ target: api.baseURL, maxBodyBytes: 1024 });
  const proxyKeyed = await startFaultProxy({ target: apiKeyed.baseURL, apiKey: KEY });
  closers.push(proxyOpen.close, proxyKeyed.close);
  targets.push({ name: 'fault proxy', open: origin(proxyOpen.baseURL), keyed: origin(proxyKeyed.baseURL), path: '/v1/models', post: { method: 'POST', path: '/v1/chat/completions', json: true }, limit: 1024, csp: /^default-src 'none'/ });

  // The static server over a page with an inline script.
  const site = join(work, 'site');
  mkdirSync(site);
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>t</title><script src="ort.wasm.min.js"></script><script>console.log(1)</script>');
  const stOpen = await serveStatic(site);
  const stKeyed = await serveStatic(site, { apiKey: KEY });
  closers.push(stOpen.close, stKeyed.close);
  targets.push({ name: 'static', open: stOpen.url.slice(0, -1), keyed: stKeyed.url.slice(0, -1), path: '/', post: { method: 'GET', path: '/index.html', json: false }, limit: 0, csp: /script-src 'self' 'wasm-unsafe-eval' 'sha256-/ });
});
after(async () => {
  for (const c of closers) await c();
  rmSync(work, { recursive: true, force: true });
});

/** A raw request (node:http sends any Host header and any body; fetch would not). */
function raw(base: string, method: string, path: string, o: { body?: string | Buffer; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }>((ok, fail) => {
    const u = new URL(base);
    const headers = { ...o.headers };
    // node:http frames a GET's body only when told how: a length, unless the test asks for chunks.
    if (o.body !== undefined && !headers['Transfer-Encoding']) headers['Content-Length'] = String(Buffer.byteLength(o.body));
    const r = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    r.on('error', fail);
    r.end(o.body);
  });
}

const errorOf = (text: string) => (JSON.parse(text) as { error: { message: string; type: string; code: string | null } }).error;

function assertSecurityHeaders(h: Record<string, unknown>, what: string) {
  assert.equal(h['x-content-type-options'], 'nosniff', what);
  assert.equal(h['referrer-policy'], 'no-referrer', what);
  assert.equal(h['x-frame-options'], 'DENY', what);
  assert.match(String(h['content-security-policy']), /frame-ancestors 'none'/, what);
}

test('each server binds 127.0.0.1 and sends the security headers, on answers and on refusals', async () => {
  assert.equal(targets.length, 4);
  for (const t of targets) {
    assert.match(t.open, /^http:\/\/127\.0\.0\.1:\d+$/, t.name);
    const ok = await raw(t.open, 'GET', t.path);
    assert.equal(ok.status, 200, t.name);
    assertSecurityHeaders(ok.headers, `${t.name} 200`);
    assert.match(String(ok.headers['content-security-policy']), t.csp, t.name);
    const missing = await raw(t.open, 'GET', '/no-such-thing');
    assert.equal(missing.status, 404, t.name);
    assertSecurityHeaders(missing.headers, `${t.name} 404`);
    assert.match(String(missing.headers['content-type']), /^application\/json/, t.name);
    assert.equal(typeof errorOf(missing.text).message, 'string', t.name);
  }
});

test('each server refuses a foreign Host header (DNS rebinding) and accepts loopback names', async () => {
  for (const t of targets) {
    for (const host of ['evil.example', 'evil.example:80', `127.0.0.1.evil.example:${new URL(t.open).port}`]) {
      const r = await raw(t.open, 'GET', t.path, { headers: { Host: host } });
      assert.equal(r.status, 403, `${t.name} Host: ${host}`);
      assert.equal(errorOf(r.text).code, 'host_not_allowed', t.name);
      assertSecurityHeaders(r.headers, `${t.name} 403`);
    }
    for (const host of [`localhost:${new URL(t.open).port}`, 'LOCALHOST', `[::1]:${new URL(t.open).port}`, '127.0.0.1'])
      assert.equal((await raw(t.open, 'GET', t.path, { headers: { Host: host } })).status, 200, `${t.name} Host: ${host}`);
  }
});

test('each server checks the key: none, wrong, a prefix or a longer one → 401; any case of Bearer → 200', async () => {
  for (const t of targets) {
    for (const auth of [undefined, `Bearer wrong`, `Bearer ${KEY.slice(0, -1)}`, `Bearer ${KEY}x`, `Basic ${KEY}`, KEY, `Bearer`, `Bearer ${KEY.toUpperCase()}`]) {
      const r = await raw(t.keyed, 'GET', t.path, { headers: auth === undefined ? {} : { Authorization: auth } });
      assert.equal(r.status, 401, `${t.name} Authorization: ${auth}`);
      assert.equal(r.headers['www-authenticate'], 'Bearer', t.name);
      assert.equal(errorOf(r.text).code, 'invalid_api_key', t.name);
      assertSecurityHeaders(r.headers, `${t.name} 401`);
    }
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      assert.equal((await raw(t.keyed, 'GET', t.path, { headers: { Authorization: `${scheme} ${KEY}` } })).status, 200, `${t.name} ${scheme}`);
  }
});

test('each server limits request bodies (413) and answers malformed JSON with a 400', async () => {
  const chat = (pad: number) => JSON.stringify({ model: 'adder', messages: [{ role: 'user', content: 'What is 3 + 4?' + ' '.repeat(pad) }] });
  for (const t of targets) {
    const headers = { 'Content-Type': 'application/json' };
    if (t.limit === 0) {
      // No route takes a body: even a small one is refused, declared or chunked.
      const r = await raw(t.open, t.post.method, t.post.path, { body: '{"x":1}', headers });
      assert.equal(r.status, 413, t.name);
      assert.equal(errorOf(r.text).code, 'request_too_large', t.name);
      const chunked = await raw(t.open, t.post.method, t.post.path, { body: 'x', headers: { 'Transfer-Encoding': 'chunked' } });
      assert.equal(chunked.status, 413, `${t.name} chunked`);
      continue;
    }
    const fits = await raw(t.open, t.post.method, t.post.path, { body: chat(t.limit - chat(0).length), headers });
    assert.equal(fits.status, 200, `${t.name}: a body of exactly ${t.limit} bytes passes`);
    const over = await raw(t.open, t.post.method, t.post.path, { body: chat(t.limit - chat(0).length + 1), headers });
    assert.equal(over.status, 413, `${t.name}: ${t.limit + 1} bytes`);
    assert.equal(errorOf(over.text).code, 'request_too_large', t.name);
    // Sent without a Content-Length, the limit holds while the body streams in.
    const streamed = await raw(t.open, t.post.method, t.post.path, { body: chat(4 * t.limit), headers: { ...headers, 'Transfer-Encoding': 'chunked' } });
    assert.equal(streamed.status, 413, `${t.name} chunked`);
    if (t.post.json) {
      const bad = await raw(t.open, t.post.method, t.post.path, { body: '{"model": "adder", "messages": [', headers });
      assert.equal(bad.status, 400, t.name);
      assert.match(errorOf(bad.text).message, /malformed JSON/, t.name);
      assert.equal(errorOf(bad.text).type, 'invalid_request_error', t.name);
    }
  }
});

test('the proxy refuses an oversized body itself: it never reaches the server behind it', async () => {
  const t = targets.find((x) => x.name === 'fault proxy')!;
  const before = api.stats().requests;
  const r = await raw(t.open, 'POST', '/v1/chat/completions', { body: 'x'.repeat(1500), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.equal(api.stats().requests, before);
});

test('the helpers: Bearer parsing, constant-size key compare, Host rules', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer   abc  '), 'abc');
  assert.equal(bearerToken('BEARER a b'), 'a b');
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearerabc']) assert.equal(bearerToken(h), null, String(h));
  const ok = keyMatcher('secret');
  assert.deepEqual(['secret', 'secreT', 'secre', 'secrets', '', null, undefined].map(ok), [true, false, false, false, false, false, false]);
  assert.equal(hostAllowed('127.0.0.1', 'evil.example'), false);
  assert.equal(hostAllowed('127.0.0.1', undefined), false);
  assert.equal(hostAllowed('::1', '[::1]:8080'), true);
  assert.equal(hostAllowed('0.0.0.0', 'evil.example'), true, 'a server exposed on purpose answers any name (a key guards it)');
});

test('the static page CSP allows exactly its own inline scripts', () => {
  const csp = pageCsp('<script src="a.js"></script><script>let a = 1;</script><script type="application/json">{"x":1}</script>');
  assert.match(csp, /default-src 'none'/);
  const hashes = csp.match(/'sha256-[^']+'/g)!;
  const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  assert.deepEqual(hashes, [sha('let a = 1;'), sha('{"x":1}')], 'the inline bodies; the external script has none');
  assert.ok(!/'unsafe-inline'/.test(csp.split(';').find((d) => d.includes('script-src'))!), 'no unsafe-inline scripts');
});

// `distill serve`'s settings: --max-queue and --max-body are validated numbers that reach the
// server, the key comes from --api-key-env and is printed nowhere, and a prompt over the
// served LM's context is a 400 context_length_exceeded through the official client. The
// server runs as a child process of runServe over a real LM folder, as the CLI runs it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { serveSettings, byteSizeFlag } from '../../src/cli/cmd_serve.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_QUEUE } from '../../src/serve/openai_server.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';

const work = mkdtempSync(join(tmpdir(), 'distill-cmd-serve-'));
after(() => rmSync(work, { recursive: true, force: true }));

const configError = (pattern: RegExp) => (e: Error & { code?: string }) => {
  assert.equal(e.code, 'ERR_CONFIG');
  assert.match(e.message, pattern);
  return true;
};

test('--max-queue and --max-body: defaults, units, and one clear error for a bad value', () => {
  const d = serveSettings({});
  assert.deepEqual([d.maxQueue, d.maxBodyBytes, d.host, d.port, d.apiKey], [DEFAULT_MAX_QUEUE, DEFAULT_MAX_BODY_BYTES, '127.0.0.1', 0, undefined]);
  assert.equal(serveSettings({ maxQueue: '0' }).maxQueue, 0);
  assert.equal(serveSettings({ maxQueue: '128' }).maxQueue, 128);
  const size = (v: string) => byteSizeFlag({ b: v }, 'b', '--max-body', -1);
  assert.deepEqual(['1000', '512k', '512KiB', '4M', '4mb', '1G', ' 64 kb '].map(size), [1000, 512 * 1024, 512 * 1024, 4 << 20, 4 << 20, 1 << 30, 64 * 1024]);
  for (const bad of ['abc', '-1', '1.5', 'x1'])
    assert.throws(() => serveSettings({ maxQueue: bad }), configError(/--max-queue must be a whole number/), bad);
  for (const bad of ['0', 'abc', '-5', '4X', '2G', '1.5M', 'M'])
    assert.throws(() => serveSettings({ maxBody: bad }), configError(/--max-body must be a size from 1 byte to 1 GiB/), bad);
  delete process.env.DISTILL_TEST_NO_SUCH_KEY;
  assert.throws(() => serveSettings({ apiKeyEnv: 'DISTILL_TEST_NO_SUCH_KEY' }), configError(/DISTILL_TEST_NO_SUCH_KEY: that environment variable is not set/));
});

test('runServe with --max-body 1k --max-queue 0 --api-key-env: the limits hold, the key is required and never printed, an overlong prompt is a 400', async () => {
  const lmDir = join(work, 'tiny');
  const t = LocalTeacher.random({ seed: 4, config: { maxSeqLen: 96 } });
  saveLm(lmDir, t.model, t.tokenizer);
  t.model.dispose();

  const KEY = 'sk-serve-test-key-987';
  const mod = fileURLToPath(new URL('../../src/cli/cmd_serve.js', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(mod)}); process.exitCode = await m.runServe([${JSON.stringify(lmDir)}], { maxBody: '1k', maxQueue: '0', apiKeyEnv: 'SERVE_TEST_KEY' });`],
  { env: { ...process.env, SERVE_TEST_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
  try {
    const baseURL = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no URL printed: ${err}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /^(http:\/\/127\.0\.0\.1:\d+\/v1)\n/.exec(out);
        if (m) { clearTimeout(timer); ok(m[1]); }
      });
      void exited.then((c) => fail(new Error(`serve exited (${c}): ${err}`)));
    });
    let sent = 0;
    const client = new OpenAI({ baseURL, apiKey: KEY, fetch: (u, i) => (sent++, fetch(u, i)) });

    const ok = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.equal(ok.model, 'tiny');
    // The served LM folder grades given tokens too (/v1/completions, echo + logprobs, max_tokens 0).
    const graded = await client.completions.create({ model: 'tiny', prompt: [104, 105, 33], max_tokens: 0, echo: true, logprobs: 2 });
    assert.deepEqual(graded.choices[0].logprobs!.token_logprobs!.map((x) => x === null), [true, false, false]);
    assert.ok(graded.choices[0].logprobs!.token_logprobs!.slice(1).every((x) => x! < 0));
    assert.equal((await fetch(`${baseURL}/models`)).status, 401, 'no key');

    // 1 KiB: a 600-byte body passes the limit (and is too long for a 96-token model), a 2 KiB one does not.
    sent = 0;
    await assert.rejects(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'y'.repeat(500) }] }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && e.code === 'context_length_exceeded');
    assert.equal(sent, 1, 'not retried');
    sent = 0;
    await assert.rejects(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'y'.repeat(2000) }] }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 413 && e.code === 'request_too_large');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
  assert.ok(!out.includes(KEY) && !err.includes(KEY), 'the key was printed');
  assert.match(err, /API key from \$SERVE_TEST_KEY/);
});

// The teachers' common lifecycle (issue #21 §6): every teacher (HTTP, GGUF, local, a pool)
// implements [Symbol.asyncDispose], and a pool's disposal resolves only once each member's has:
// a GGUF teacher's llama.cpp model is freed by then (node-llama-cpp's own `disposed` flag), a
// loaded local teacher's weights are freed, a slow member has finished, and a member that fails
// to close does not stop the others and its error reaches the caller (no dropped promise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportGguf } from '../../src/export/gguf.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { GgufTeacher } from '../../src/reason/teachers/gguf.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { TeacherPool } from '../../src/reason/teachers/pool.js';
import type { ChatRequest, Completion, ReasoningTeacher } from '../../src/reason/types.js';
import { SMALL, randomLm, tok } from '../export/lm_fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-teacher-dispose-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const ask: ChatRequest = { messages: [{ role: 'user', content: 'Sum 7 and 5.' }], maxTokens: 4, temperature: 0 };

/** A teacher whose disposal takes `ms` and then records that it finished (or fails). */
class SlowTeacher implements ReasoningTeacher, AsyncDisposable {
  disposedAt: number | null = null;
  constructor(readonly name: string, private readonly ms: number, private readonly fail?: Error) {}
  async complete(): Promise<Completion> {
    throw new Error('not used');
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await new Promise((r) => setTimeout(r, this.ms));
    this.disposedAt = Date.now();
    if (this.fail) throw this.fail;
  }
}

/** A local teacher loaded from an LM folder (it owns its weights) and a GGUF teacher, on one random model. */
async function teachers(name: string) {
  const model = randomLm({ ...SMALL, maxSeqLen: 64 }, 3);
  const dir = join(work, name);
  saveLm(dir, model, tok);
  const path = join(work, `${name}.gguf`);
  exportGguf(model, tok, path, { name: 'teacher' });
  model.dispose();
  return { local: LocalTeacher.load(dir, 'teacher'), gguf: await GgufTeacher.load(path, { name: 'teacher' }) };
}

test('disposing a pool awaits every member: the GGUF model is freed, the local weights too, the slow member has finished', async () => {
  const { local, gguf } = await teachers('a');
  const slow = new SlowTeacher('teacher', 150);
  const pool = new TeacherPool({ endpoints: [{ teacher: gguf }, { teacher: local }, { teacher: slow }] });
  // Both real teachers answer before (greedy: the same reply from the same weights).
  assert.equal((await gguf.complete(ask)).content, (await local.complete(ask)).content);
  assert.equal(gguf.disposed, false);
  const t0 = Date.now();
  await pool[Symbol.asyncDispose]();
  assert.ok(slow.disposedAt !== null && slow.disposedAt >= t0 + 140, 'the pool waited for the slow member');
  assert.equal(gguf.disposed, true, 'llama.cpp freed the GGUF model');
  assert.ok(local.model.parameters().every((p) => p.isDisposed), 'the local teacher freed the weights it loaded');
  await assert.rejects(gguf.complete(ask), /GGUF teacher teacher is closed/);
  await assert.rejects(local.complete(ask), /teacher teacher is closed/);
  await pool.close(); // a second close is the same finished disposal
});

test('`await using` ends a GGUF teacher; a request in progress finishes before the model is freed', async () => {
  const { local, gguf } = await teachers('b');
  await local.close();
  let answered: Completion | undefined;
  {
    await using t = gguf;
    void t.complete({ ...ask, maxTokens: 16 }).then((c) => (answered = c));
    await new Promise((r) => setImmediate(r)); // the request holds the model now
  }
  assert.equal(gguf.disposed, true);
  assert.ok(answered && answered.usage.completionTokens > 0, 'the running request completed first');
});

test('a member that fails to close: the others are still disposed and awaited, and the error reaches the caller', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const bad = new SlowTeacher('teacher', 10, new Error('socket stuck'));
    const slow = new SlowTeacher('teacher', 120);
    const http = new HttpTeacher({ baseURL: 'http://127.0.0.1:9/v1', model: 'teacher', apiKeyEnv: 'DISTILL_NO_SUCH_KEY' });
    const pool = new TeacherPool({ endpoints: [{ teacher: bad }, { teacher: http }, { teacher: slow }] });
    await assert.rejects(pool.close(), /socket stuck/);
    assert.ok(slow.disposedAt !== null, 'the slow member finished before the error was reported');
    const two = new TeacherPool({ endpoints: [{ teacher: new SlowTeacher('t', 5, new Error('one')) }, { teacher: new SlowTeacher('t', 5, new Error('two')) }] });
    await assert.rejects(two[Symbol.asyncDispose](), (e: unknown) => e instanceof AggregateError && e.errors.map((x: Error) => x.message).join() === 'one,two');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, [], 'no rejected promise was left unobserved');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

// `distill reason train-student --kind gkd --teacher-url`: the teacher is our own `distill serve`
// (a child process) grading the student's tokens over /v1/completions (echo + logprobs). The run
// must match a run with the same model as a local teacher restricted to the same top-k (the
// served grades are the same log-probabilities, computed one sequence at a time on the server
// rather than in a padded batch, so the weights agree to float32 rounding, not bit for bit). A
// server without prompt log-probabilities is refused with one message and nothing written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { CausalLM } from '../../src/lm/model.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { loadSafetensors } from '../../src/io/index.js';
import { distillAsync, serveFolder } from '../helpers/cli_child.js';
import { fakeHttpServer } from '../helpers/fake_http.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gkd-remote-'));
const at = (...p: string[]) => join(work, ...p);

const distill = (args: string[]) => distillAsync(work, args);
const serve = (folder: string) => serveFolder(work, folder);

const tok = new ByteTokenizer();
const cfg = (dim: number, layers: number) => ({ vocabSize: tok.vocabSize, dim, nLayers: layers, nHeads: 2, nKvHeads: 2, hiddenDim: 2 * dim, maxSeqLen: 192 });
torch.manualSeed(5);
saveLm(at('teacher'), new CausalLM(cfg(32, 2)), tok);
saveLm(at('student'), new CausalLM(cfg(16, 1)), tok);
const trace = (i: number) => ({
  id: `t${i}`, problemId: `p${i}`, sample: 0, question: `q${i}`, answer: String(i), reasoning: `${i}+0=${i}`, content: `\\boxed{${i}}`, finishReason: 'stop',
  usage: { promptTokens: 4, completionTokens: 9 }, model: 'teacher', verdict: { ok: true, reason: 'correct', extracted: [i] }, createdAt: '',
});
writeFileSync(at('traces.jsonl'), [0, 1, 2, 3].map((i) => JSON.stringify(trace(i)) + '\n').join(''));
const args = (out: string, teacher: string[]) => ['reason', 'train-student', '--kind', 'gkd', ...teacher, '--init', at('student'), '--traces', at('traces.jsonl'),
  '--lambda', '0.5', '--divergence', 'reverse_kl', '--teacher-top-k', '6', '--steps', '4', '--batch-size', '2', '--max-new-tokens', '8', '--seed', '2', '--out', at(out), '--json'];
const weights = (dir: string) => Object.fromEntries(Object.entries(loadSafetensors(join(dir, 'model.safetensors')).tensors).map(([n, t]) => [n, Float32Array.from(t.dataSync() as Float32Array)]));

let served: { url: string; proc: ChildProcess } | null = null;
after(() => {
  served?.proc.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

test('gkd --teacher-url (distill serve) trains as the same model as a local top-k teacher, and resumes from its logged grades', async () => {
  served = await serve(at('teacher'));
  const r = await distill(args('remote', ['--teacher-url', served.url]));
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(s.onPolicySteps >= 1 && s.onPolicySteps <= 3, `${s.onPolicySteps} on-policy steps`);
  const info = JSON.parse(readFileSync(at('remote', 'lm.json'), 'utf8')).info;
  assert.equal(info.recipe.teacher, `${served.url} (teacher)`, 'the server\'s only model, found through /models');
  assert.equal(info.recipe.teacherTopK, 6);
  const log = readFileSync(at('remote.ckpt.samples.jsonl'), 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l));
  assert.ok(log.every((l) => l.grades), 'every step\'s top-k grades are logged');
  const local = await distill(args('local', ['--teacher', at('teacher')]));
  assert.equal(local.status, 0, local.stderr);
  const sl = JSON.parse(local.stdout.trim().split('\n').pop()!);
  assert.deepEqual([sl.onPolicySteps, sl.samples], [s.onPolicySteps, s.samples], 'the same λ draws and the same samples');
  assert.ok(Math.abs(sl.kd - s.kd) < 1e-5 * Math.max(1, s.kd), `mean KD ${s.kd} (served) vs ${sl.kd} (local)`);
  const [a, b, init] = [weights(at('remote')), weights(at('local')), weights(at('student'))];
  let diff = 0, moved = 0;
  for (const [name, t] of Object.entries(a)) {
    const [x, y, z] = [t, b[name], init[name]];
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - y[i]));
      moved = Math.max(moved, Math.abs(x[i] - z[i]));
    }
  }
  assert.ok(moved > 1e-3, `training moved the weights (${moved})`);
  assert.ok(diff < 1e-6, `served vs local teacher weights differ by ${diff}`);
  // The server stopped: a rerun resumes from the checkpoint and the logged grades, asking nothing.
  served.proc.kill('SIGTERM');
  const resumed = await distill(args('remote', ['--teacher-url', served.url, '--teacher-model', 'teacher']));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(JSON.parse(resumed.stdout.trim().split('\n').pop()!), s);
  assert.deepEqual(weights(at('remote')), a);
});

test('gkd --teacher-url: a server without prompt log-probabilities is refused with one message, nothing written', async () => {
  // A chat-only server: /v1/completions answers with text and no logprobs.
  const srv = await fakeHttpServer((req) => ({
    json: req.url!.endsWith('/models') ? { object: 'list', data: [{ id: 'chat-only', object: 'model' }] }
      : { id: 'x', object: 'text_completion', model: 'chat-only', choices: [{ index: 0, text: 'hi', finish_reason: 'length', logprobs: null }] },
  }));
  try {
    const url = `${srv.origin}/v1`;
    const r = await distill(args('bad', ['--teacher-url', url]));
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /cannot grade given tokens: .*A scoring teacher needs \/v1\/completions with the prompt's log-probabilities/);
    assert.ok(!existsSync(at('bad')) && !existsSync(at('bad.ckpt')) && !existsSync(at('bad.ckpt.samples.jsonl')), 'nothing written');
  } finally {
    await srv.close();
  }
});

// `distill reason train-student --kind gkd` with a teacher whose tokenizer differs (child
// processes of the built CLI): a tiny Qwen3 student and a tiny Llama (Llama 3 tokenizer) teacher
// made by `distill lm init`. --teacher-tokenizer auto finds the difference and runs
// cross-tokenizer KD, reporting the one-to-one share; the same run against the teacher served by
// `distill serve` (--teacher-url with --teacher-tokenizer <the teacher's folder>) ends at the same
// weights to float32 rounding (the server grades each sequence alone, the local teacher too, but
// its top-k crosses JSON as float32-exact numbers: the grades agree within ~1e-7); and
// --teacher-tokenizer same refuses the pair with one message, nothing written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '../../src/io/index.js';
import { realTokenizerDir } from '../helpers/real_tokenizers.js';
import { distillAsync, serveFolder } from '../helpers/cli_child.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-gkd-xtok-'));
const at = (...p: string[]) => join(work, ...p);
const env = { ...process.env, NO_COLOR: '1' };
const distillSync = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', timeout: 300_000 });
const distill = (args: string[]) => distillAsync(work, args);
const serve = (folder: string) => serveFolder(work, folder);
const weights = (dir: string) => Object.fromEntries(Object.entries(loadSafetensors(join(dir, 'model.safetensors')).tensors).map(([n, t]) => [n, Float32Array.from(t.toDtype('float32').dataSync() as Float32Array)]));

for (const [arch, tok, out] of [['qwen3', 'qwen3', 'student'], ['llama', 'llama3', 'teacher']]) {
  const r = distillSync(['lm', 'init', '--arch', arch, '--size', 'tiny', '--tokenizer', realTokenizerDir(tok as 'qwen3'), '--out', at(out), '--dtype', 'float32']);
  assert.equal(r.status, 0, r.stderr);
}
const trace = (i: number) => ({
  id: `t${i}`, problemId: `p${i}`, sample: 0, question: ['3 chickens have how many legs?', '小明有5个苹果，吃了2个？', '12 × 7 = ?'][i], answer: String(i), reasoning: `${i}+0=${i}`, content: `\\boxed{${i}}`, finishReason: 'stop',
  usage: { promptTokens: 4, completionTokens: 9 }, model: 'teacher', verdict: { ok: true, reason: 'correct', extracted: [i] }, createdAt: '',
});
writeFileSync(at('traces.jsonl'), [0, 1, 2].map((i) => JSON.stringify(trace(i)) + '\n').join(''));
const args = (out: string, more: string[]) => ['reason', 'train-student', '--kind', 'gkd', '--init', at('student'), '--traces', at('traces.jsonl'),
  '--lambda', '1', '--teacher-top-k', '8', '--steps', '2', '--batch-size', '2', '--max-new-tokens', '5', '--lr', '1e-2', '--seed', '3', '--out', at(out), '--json', ...more];

let served: { url: string; proc: ChildProcess } | null = null;
after(() => {
  served?.proc.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true }); // tiny models with 150k-token vocabularies: ~400 MB of folders and checkpoints
});

test('gkd with a teacher of another tokenizer: auto → cross-tokenizer KD, local and served alike; `same` refuses', async () => {
  const local = await distill(args('local', ['--teacher', at('teacher')]));
  assert.equal(local.status, 0, local.stderr);
  const s = JSON.parse(local.stdout.trim().split('\n').pop()!);
  assert.equal(s.onPolicySteps, 2);
  assert.ok(s.kd > 0 && s.oneToOne > 0 && s.oneToOne <= 1, JSON.stringify(s));
  const info = JSON.parse(readFileSync(at('local', 'lm.json'), 'utf8')).info;
  assert.deepEqual([info.recipe.teacherTokenizer, info.recipe.crossTokenizer, info.recipe.teacherTopK], ['auto', 'span_kl', 8]);
  const log = readFileSync(at('local.ckpt.samples.jsonl'), 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l));
  assert.ok(log.every((l) => l.source === 'student' && l.xtok.length === 2), 'the teacher\'s grades of each row logged');

  served = await serve(at('teacher'));
  const remote = await distill(args('remote', ['--teacher-url', served.url, '--teacher-tokenizer', at('teacher')]));
  assert.equal(remote.status, 0, remote.stderr);
  const sr = JSON.parse(remote.stdout.trim().split('\n').pop()!);
  assert.deepEqual([sr.samples, sr.oneToOne], [s.samples, s.oneToOne], 'the same samples, the same alignment');
  assert.ok(Math.abs(sr.kd - s.kd) < 1e-5 * Math.max(1, s.kd), `mean KD ${sr.kd} (served) vs ${s.kd} (local)`);
  const [a, b, init] = [weights(at('remote')), weights(at('local')), weights(at('student'))];
  let diff = 0, moved = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name], z = init[`model.${name}`] ?? init[name]; // the Hugging Face folder's names carry `model.`
    assert.ok(y && z, name);
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - y[i]));
      moved = Math.max(moved, Math.abs(x[i] - z[i]));
    }
  }
  assert.ok(moved > 1e-3, `training moved the weights (${moved})`);
  assert.ok(diff < 1e-5, `served vs local teacher weights differ by ${diff}`);

  const same = await distill(args('same', ['--teacher', at('teacher'), '--teacher-tokenizer', 'same']));
  assert.notEqual(same.status, 0);
  assert.equal(same.stderr.trim().split('\n').length, 1, same.stderr);
  assert.match(same.stderr, /have different tokenizers \(151669 tokens against 128256\); .*needs one tokenizer/);
  assert.ok(!existsSync(at('same')) && !existsSync(at('same.ckpt')), 'nothing written');
});

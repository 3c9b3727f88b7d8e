// `--zero 1` (ZeRO stage 1, optim/zero.ts) on the data-parallel commands, as a user runs them:
// child processes of the built CLI. The oracle is the same command without --zero (plain data
// parallel, 2 ranks): the written weights must be equal bit for bit, while rank 0 reports about
// half the optimizer state. `--zero 1` without 2 ranks is one ConfigError, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '../../src/io/safetensors.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-zero-cli-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const at = (...p: string[]) => join(work, ...p);
const env = { ...process.env, DISTILL_CACHE: at('cache'), NO_COLOR: '1' };
const distill = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', timeout: 300_000 });
const ok = (args: string[]) => {
  const r = distill(args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};

/** Every tensor of a safetensors file as plain numbers (float32 compared exactly). */
function weights(path: string): Record<string, number[]> {
  const { tensors } = loadSafetensors(path);
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(tensors)) {
    out[k] = Array.from(t.toDtype('float64').dataSync() as Float64Array);
    t.dispose();
  }
  return out;
}

const safetensorsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.safetensors')).map((f) => join(dir, f));

test('reason train-student --nproc 2 --zero 1: the same student bit for bit as --nproc 2, with half the optimizer state on rank 0', () => {
  ok(['reason', 'problems', '--families', 'chickens-rabbits', '--n', '8', '--seed', '3', '--out', at('train.jsonl'), '--json']);
  ok(['reason', 'traces', '--problems', at('train.jsonl'), '--lm', TEACHER, '--preset', 'bare', '--seed', '1', '--max-tokens', '200', '--out', at('traces'), '--json']);
  const common = ['reason', 'train-student', '--traces', at('traces', 'traces.jsonl'), '--dim', '32', '--layers', '2', '--heads', '2', '--hidden', '48',
    '--steps', '4', '--batch-size', '2', '--nproc', '2', '--json'];
  const plain = ok([...common, '--out', at('plain')]);
  const zero = ok([...common, '--zero', '1', '--out', at('zero')]);
  assert.equal(zero.ranks, 2);
  assert.equal(zero.zero, 1);
  // AdamW over every parameter: m and v, 8 bytes per parameter unsharded; rank 0 holds ⌈N/2⌉ of them.
  assert.equal(plain.optimizerStateBytes, 8 * plain.params);
  assert.equal(zero.optimizerStateBytes, 8 * Math.ceil(zero.params / 2));
  const [a, b] = [safetensorsIn(at('plain')), safetensorsIn(at('zero'))];
  assert.ok(a.length >= 1);
  assert.deepEqual(b.map((f) => f.slice(at('zero').length)), a.map((f) => f.slice(at('plain').length)));
  a.forEach((f, i) => assert.deepEqual(weights(b[i]), weights(f), `${f}: ZeRO-1 = plain data parallel`));
  // The checkpoint holds the full optimizer state: the same run resumes without --zero (a finished run: nothing to redo).
  const again = ok([...common, '--out', at('zero')]);
  assert.equal(again.zero, 0);
});

test('classic train-student --nproc 2 --zero 1: the same weights as --nproc 2', () => {
  const tiny = ['--set', 'data.dataset=mnist-digits', 'student.arch=mlp:32', 'student.train.epochs=2'];
  const plain = ok(['train-student', '--nproc', '2', '--json', '--out', at('runs', 'plain'), ...tiny]);
  const zero = ok(['train-student', '--nproc', '2', '--zero', '1', '--json', '--out', at('runs', 'zero'), ...tiny]);
  const files = (r: { runDir: string }) => (readdirSync(r.runDir, { recursive: true }) as string[]).filter((f) => f.endsWith('model.safetensors')).map((f) => join(r.runDir, f));
  const [a, b] = [files(plain), files(zero)];
  assert.equal(a.length, 1, JSON.stringify(plain));
  assert.deepEqual(weights(b[0]), weights(a[0]));
});

test('--zero 1 without 2 ranks: one ConfigError naming the fix, exit 1, nothing written', () => {
  const r = distill(['reason', 'train-student', '--traces', at('traces', 'traces.jsonl'), '--zero', '1', '--out', at('alone'), '--json']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^distill: --zero 1 shards the optimizer state over data-parallel ranks, so it needs at least 2 of them: add --nproc N \(N ≥ 2\) or --world-size N \(N ≥ 2\)/);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(at('alone')) && !existsSync(at('alone.ckpt')));
  const r1 = distill(['train-student', '--nproc', '1', '--zero', '1', '--out', at('runs', 'one')]);
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /--zero 1 shards the optimizer state/);
  assert.ok(!existsSync(at('runs', 'one')));
  const r2 = distill(['train-student', '--zero', '2', '--nproc', '2']);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /^distill: --zero must be a whole number from 0 to 1, got '2'/);
});

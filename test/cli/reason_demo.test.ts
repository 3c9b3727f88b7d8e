// `distill demo reasoning` end to end on a small budget, as a real child process: the
// shipped teacher served over HTTP, traces verified, three students, the table as JSON;
// a rerun reuses every stage, and a changed recipe retrains the stale students.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TopkStoreReader } from '../../src/io/topk_store.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const out = join(mkdtempSync(join(tmpdir(), 'reason-demo-')), 'run');
const demo = (...extra: string[]) => {
  const r = execFileSync(process.execPath, [CLI, 'demo', 'reasoning', '--problems', '24', '--steps', '4', '--eval-problems', '12', '--out', out, '--json', ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(r.trim().split('\n').pop()!) as { rows: { model: string; params: number; accuracy: number; total: number }[] };
};

test('demo reasoning: teacher, three students of equal size ≥ 5× smaller, pass@1 on held-out problems, resumable', () => {
  const first = demo();
  assert.deepEqual(first.rows.map((r) => r.model), ['teacher', 'student-a-answers', 'student-b-sft', 'student-c-sft-kd']);
  const [teacher, ...students] = first.rows;
  // The shipped teacher solves held-out chickens-and-rabbits problems (95% over all 322).
  assert.ok(teacher.accuracy >= 0.75, `teacher pass@1 ${teacher.accuracy}`);
  assert.equal(teacher.total, 12);
  for (const s of students) {
    assert.equal(s.params, students[0].params);
    assert.ok(teacher.params >= 5 * s.params, `${s.model}: ${s.params} vs teacher ${teacher.params}`);
  }
  // Traces: 24 problems, each verified; the card and the KD student's teacher distributions exist.
  const traces = readFileSync(join(out, 'traces', 'traces.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(traces.length, 24);
  // Their top-k live in the top-k store beside the file, one distribution per reply token.
  assert.ok(traces.every((t) => t.logprobs === undefined && t.topk === 'topk' && t.tokens?.length > 0 && t.verdict));
  const store = TopkStoreReader.open(join(out, 'traces', 'topk'));
  assert.ok(traces.every((t) => store.tokensOf(t.id) === t.tokens.length));
  store.close();
  assert.match(readFileSync(join(out, 'traces', 'card.md'), 'utf8'), /Samples \| 24/);
  const info = JSON.parse(readFileSync(join(out, 'student-c-sft-kd', 'lm.json'), 'utf8')).info;
  assert.equal(info.kind, 'sft+kd');
  assert.equal(info.alpha, 0.5);
  // Every student started from the teacher pruned to its size (the init folder is an LM of that size).
  assert.equal(info.init, join(out, 'student-init'));
  const init = JSON.parse(readFileSync(join(out, 'student-init', 'lm.json'), 'utf8'));
  assert.deepEqual(init.config, JSON.parse(readFileSync(join(out, 'student-c-sft-kd', 'lm.json'), 'utf8')).config);
  assert.equal(init.info.prunedFrom.endsWith('reasoning-teacher'), true);
  // Rerun: the same students are reused (same weights, so the same accuracies).
  const again = demo();
  assert.deepEqual(again.rows.map((r) => r.accuracy), first.rows.map((r) => r.accuracy));
  // Another recipe: the stale students are retrained with it.
  demo('--steps', '5');
  assert.equal(JSON.parse(readFileSync(join(out, 'student-b-sft', 'lm.json'), 'utf8')).info.steps, 5);
  // Random initialisation instead of the pruned teacher: also another recipe.
  demo('--steps', '5', '--student-init', 'scratch');
  assert.equal(JSON.parse(readFileSync(join(out, 'student-b-sft', 'lm.json'), 'utf8')).info.init, null);
});

test('demo reasoning: an unknown --student-init is refused before any work', () => {
  const r = spawnSync(process.execPath, [CLI, 'demo', 'reasoning', '--student-init', 'distilled', '--out', join(out, 'never')], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^distill: --student-init must be pruned or scratch, got 'distilled'/);
  assert.equal(existsSync(join(out, 'never')), false);
});

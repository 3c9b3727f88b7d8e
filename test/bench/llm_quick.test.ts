// Smoke test of `npm run bench:llm -- --quick`: toy shapes through the same paths (child
// processes, the PyTorch peer, the summary). The bench itself refuses to compare models of
// different sizes, so a pass also says both sides built the same model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/llm.js', import.meta.url));

test('bench:llm --quick prints one JSON summary with both sides measured', () => {
  const out = execFileSync(process.execPath, [BENCH, '--quick', '--json', '--parts', 'train', '--threads', '1'], { encoding: 'utf8' });
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 1, 'with --json, only the summary line');
  const r = JSON.parse(lines[0]);
  const t = r.train;
  assert.equal(t.params.ours, 106816, 'the tiny llama shape');
  assert.equal(t.params.torch, t.params.ours);
  assert.equal(t.rounds, 2);
  for (const k of ['ours_ms', 'torch_ms', 'ratio']) assert.ok(t[k] > 0 && Number.isFinite(t[k]), `${k} = ${t[k]}`);
  assert.ok(Math.abs(t.ratio - t.ours_ms / t.torch_ms) < 0.5 * t.ratio + 0.5, 'ratio near ours/torch');
  assert.ok(t.ratio_iqr[0] <= t.ratio && t.ratio <= t.ratio_iqr[1], 'median ratio inside its IQR');
  assert.ok(t.peak_rss_mb.ours > 50 && t.peak_rss_mb.torch > 50);
  assert.ok(t.tokens_per_s.ours > 0 && r.tokens_per_s.train.ours === t.tokens_per_s.ours);
});

test('bench:llm --quick train,train_bf16: the bf16 row measures both sides under autocast, with its speed-up over the float32 row', () => {
  const out = execFileSync(process.execPath, [BENCH, '--quick', '--json', '--parts', 'train,train_bf16', '--threads', '1', '--rounds', '1'], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  const t = r.train, b = r.train_bf16;
  assert.equal(b.params.ours, t.params.ours);
  assert.equal(b.params.torch, b.params.ours);
  for (const k of ['ours_ms', 'torch_ms', 'ratio']) assert.ok(b[k] > 0 && Number.isFinite(b[k]), `${k} = ${b[k]}`);
  for (const side of ['ours', 'torch'] as const) {
    const s = b.speedup_over_fp32[side];
    assert.ok(Math.abs(s - t[`${side}_ms`] / b[`${side}_ms`]) < 0.01 * s + 0.002, `speed-up ${side} = fp32 ms / bf16 ms`);
  }
  assert.ok(b.peak_rss_mb.ours > 50 && r.tokens_per_s.train_bf16.ours === b.tokens_per_s.ours);
});

// Process-wide settings the addon loader chooses: the OpenMP wait policy (passive unless
// the user chose one; libgomp reads it when the addon loads) and flushing denormals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { preferPassiveOpenMP } from '../../src/torch/native.js';
import * as torch from '../../src/torch/index.js';

test('preferPassiveOpenMP sets OMP_WAIT_POLICY=PASSIVE only where the user set neither it nor GOMP_SPINCOUNT', () => {
  const fresh: NodeJS.ProcessEnv = {};
  preferPassiveOpenMP(fresh);
  assert.equal(fresh.OMP_WAIT_POLICY, 'PASSIVE');
  const active: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: 'ACTIVE' };
  preferPassiveOpenMP(active);
  assert.equal(active.OMP_WAIT_POLICY, 'ACTIVE');
  const spin: NodeJS.ProcessEnv = { GOMP_SPINCOUNT: '1000' };
  preferPassiveOpenMP(spin);
  assert.equal(spin.OMP_WAIT_POLICY, undefined);
});

test('loading the addon chooses passive waiting before libgomp reads it, and respects a user policy', () => {
  const native = new URL('../../src/torch/native.js', import.meta.url).href;
  const policyAfterLoad = (extra: NodeJS.ProcessEnv) => {
    const { OMP_WAIT_POLICY: _policy, GOMP_SPINCOUNT: _spin, ...rest } = process.env;
    const env = { ...rest, ...extra };
    return execFileSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(native)}); process.stdout.write(process.env.OMP_WAIT_POLICY ?? '-')`], { encoding: 'utf8', env });
  };
  assert.equal(policyAfterLoad({}), 'PASSIVE');
  assert.equal(policyAfterLoad({ OMP_WAIT_POLICY: 'ACTIVE' }), 'ACTIVE');
  assert.equal(policyAfterLoad({ GOMP_SPINCOUNT: '1000' }), '-');
});

test('denormals are kept by default, as in PyTorch; setFlushDenormal(true) flushes them on this thread and on the intra-op workers', () => {
  const tiny = 1e-39; // a float32 denormal (the smallest normal is ~1.18e-38)
  const big = 100_000; // enough elements that libtorch splits the op across its threads
  const run = () => torch.tidy(() => {
    const x = torch.full([big], tiny).mul(1);
    return [x.sum().item(), x.gt(0).sum().item()];
  });
  const prev = torch.getNumThreads();
  try {
    torch.setNumThreads(2);
    assert.equal(torch.flushDenormal(), false);
    const [sum, nonzero] = run();
    assert.equal(nonzero, big);
    assert.ok(Math.abs(sum - big * tiny) / (big * tiny) < 1e-3, `denormals kept: sum ${sum}`);
    assert.deepEqual(torch.withFlushDenormal(run), [0, 0], 'flushed everywhere');
    assert.equal(torch.flushDenormal(), false, 'withFlushDenormal restores the setting');
    assert.equal(torch.setFlushDenormal(true), true);
    torch.setNumThreads(1);
    torch.setNumThreads(2); // workers started anew get the flags too
    assert.deepEqual(run(), [0, 0]);
  } finally {
    torch.setFlushDenormal(false);
    torch.setNumThreads(prev);
  }
});

// The addon loader's choice of OpenMP wait policy: passive unless the user chose one,
// and in effect in this process (libgomp reads it when the addon loads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { preferPassiveOpenMP } from '../../src/torch/native.js';

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
    const env = { ...process.env, ...extra };
    delete env.OMP_WAIT_POLICY;
    delete env.GOMP_SPINCOUNT;
    Object.assign(env, extra);
    return execFileSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(native)}); process.stdout.write(process.env.OMP_WAIT_POLICY ?? '-')`], { encoding: 'utf8', env });
  };
  assert.equal(policyAfterLoad({}), 'PASSIVE');
  assert.equal(policyAfterLoad({ OMP_WAIT_POLICY: 'ACTIVE' }), 'ACTIVE');
  assert.equal(policyAfterLoad({ GOMP_SPINCOUNT: '1000' }), '-');
});

// Tests that need Fashion-MNIST, chromium or a trained LM (test/helpers/prerequisite.ts): with
// the prerequisite missing, such a test FAILS, naming it and the fix, unless the runner allows
// skipping with DISTILL_ALLOW_SKIP=1; with it present the test runs. Checked by running a small
// test file under `node --test`, as CI does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HELPER = new URL('../helpers/prerequisite.js', import.meta.url).href;
const work = mkdtempSync(join(tmpdir(), 'distill-prereq-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function runTest(present: boolean, allowSkip: boolean) {
  const file = join(work, `t-${present}-${allowSkip}.test.mjs`);
  writeFileSync(file, `import { test } from 'node:test';
import { prerequisite } from ${JSON.stringify(HELPER)};
const need = prerequisite('the thing (/nowhere)', ${present}, 'npm run setup (installs the thing)');
test('needs the thing', { skip: need.skip }, () => { need.check(); });
`);
  const env = { ...process.env };
  delete env.DISTILL_ALLOW_SKIP;
  delete env.NODE_TEST_CONTEXT; // set by the runner running this file; the child must report in TAP itself
  if (allowSkip) env.DISTILL_ALLOW_SKIP = '1';
  const r = spawnSync(process.execPath, ['--test', file], { encoding: 'utf8', env });
  const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(r.stdout)?.[1]);
  return { status: r.status, out: r.stdout, pass: count('pass'), fail: count('fail'), skipped: count('skipped') };
}

test('missing and skipping not allowed (CI): the test fails, naming the prerequisite and `npm run setup`', () => {
  const r = runTest(false, false);
  assert.deepEqual([r.status, r.pass, r.fail, r.skipped], [1, 0, 1, 0], r.out);
  assert.match(r.out, /the thing \(\/nowhere\) is missing; fix: npm run setup \(installs the thing\)\. Tests never skip silently; set DISTILL_ALLOW_SKIP=1/);
});

test('missing with DISTILL_ALLOW_SKIP=1: skipped, and the reason says why', () => {
  const r = runTest(false, true);
  assert.deepEqual([r.status, r.pass, r.fail, r.skipped], [0, 0, 0, 1], r.out);
  assert.match(r.out, /# SKIP the thing \(\/nowhere\) is missing; fix: npm run setup .*DISTILL_ALLOW_SKIP=1/);
});

test('present: the test runs whatever DISTILL_ALLOW_SKIP says', () => {
  for (const allow of [false, true]) assert.deepEqual(Object.values(runTest(true, allow)).filter((v) => typeof v === 'number'), [0, 1, 0, 0]);
});

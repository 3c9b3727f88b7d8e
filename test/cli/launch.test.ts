// `--nproc` and the join flags on the training commands, as a user runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripLaunchFlags } from '../../src/cli/launch.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-launch-'));
const env = { ...process.env, DISTILL_CACHE: join(work, 'cache'), NO_COLOR: '1' };
const distill = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', timeout: 180_000 });
const tiny = ['--set', 'data.dataset=mnist-digits', 'student.arch=mlp:32', 'student.train.epochs=2'];
test.after(() => rmSync(work, { recursive: true, force: true }));

test('train-student --nproc 2: two ranks train one model; rank 0 alone reports and writes', () => {
  const r = distill(['train-student', '--nproc', '2', '--json', '--name', 'np2', ...tiny]);
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trim().split('\n');
  assert.equal(out.length, 1, 'one JSON line: rank 0');
  const { rows, runDir } = JSON.parse(out[0]);
  assert.ok(rows[0].accuracy > 0.7, `accuracy ${rows[0].accuracy}`);
  const epochs = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"epoch"'));
  assert.equal(epochs.length, 2, 'one writer');
});

test('join flags are checked before anything runs; a lone rank fails with ERR_DIST_TIMEOUT', () => {
  let r = distill(['train-student', '--rank', '1', ...tiny]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--rank and --world-size go together/);
  r = distill(['train-student', '--nproc', '3', '--world-size', '2', ...tiny]);
  assert.match(r.stderr, /needs --world-size >= 3/);
  r = distill(['train-student', '--rank', '1', '--world-size', '2', '--master-port', '1', '--dist-timeout', '1', ...tiny]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /distill: rank 1\/2 \(master 127\.0\.0\.1:1\) rendezvous: no answer from a peer within the timeout.*\[ERR_DIST_TIMEOUT\]/);
});

test('the ranks get the command line without the launch flags', () => {
  assert.deepEqual(stripLaunchFlags(['main.js', 'distill', '--nproc', '2', '--master-port=123', '--rank', '0', '--json', '--dist-timeout', '5']),
    ['main.js', 'distill', '--json', '--dist-timeout', '5']);
});

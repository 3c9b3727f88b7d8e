// The `distill` command as a user runs it: help, config errors, the demo end to end on
// the bundled digits, and a training process killed with SIGKILL that resumes exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-cli-'));
const env = { ...process.env, DISTILL_CACHE: join(work, 'cache'), NO_COLOR: '1' };
const distill = (args: string[], timeout = 240_000) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, env, encoding: 'utf8', timeout });
const tiny = ['--set', 'data.dataset=mnist-digits', 'teacher.arch=mlp:64', 'teacher.train.epochs=2', 'student.arch=mlp:32', 'student.train.epochs=2', 'threads=1'];

test.after(() => rmSync(work, { recursive: true, force: true }));

test('every command has --help with an example', () => {
  for (const cmd of ['demo', 'train-teacher', 'train-student', 'distill', 'sweep', 'evaluate', 'compare', 'report', 'dashboard', 'export', 'doctor']) {
    const r = distill([cmd, '--help']);
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, /Example:\n  npx distill /, cmd);
  }
});

test('a malformed config gets one clear message naming the file and key, and exit code 1', () => {
  const cfg = join(work, 'bad.yaml');
  writeFileSync(cfg, 'kd:\n  T: hot\nstudent:\n  train:\n    epochs: -3\n');
  const r = distill(['demo', '-c', cfg]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.yaml: kd\.T: /);
  assert.match(r.stderr, /bad\.yaml: student\.train\.epochs: Too small/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  writeFileSync(cfg, 'kd: [unclosed');
  assert.match(distill(['demo', '-c', cfg]).stderr, /bad\.yaml: not valid YAML/);
  assert.match(distill(['demo', '--set', 'kd.teacher=cached', 'kd.mixup=0.2', ...tiny.slice(1)]).stderr, /kd\.mixup, kd\.augment and kd\.viewEpochs need kd\.teacher: consistent/);
  assert.match(distill(['demo', '--set', 'kd.viewEpochs=4', ...tiny.slice(1)]).stderr, /kd\.viewEpochs need kd\.teacher: consistent/);
  // 10⁶ epochs of views on 7,200 digits × 10 classes: 268 GiB of logits, refused before training.
  const big = distill(['demo', '--set', 'kd.teacher=consistent', 'kd.mixup=0.2', 'kd.viewEpochs=1000000', ...tiny.slice(1)]);
  assert.equal(big.status, 1);
  assert.match(big.stderr, /kd\.viewEpochs: the teacher's logits on 1000000 epochs of views would take \d+ MiB, over half of this machine's \d+ GiB/);
  assert.doesNotMatch(big.stderr, /teacher: /, 'refused before any training');
});

test('demo runs end to end and its --json last line is the table; a rerun reuses the teacher', () => {
  const run = (name: string) => {
    const r = distill(['demo', '--json', '--name', name, ...tiny]);
    assert.equal(r.status, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').pop()!);
    return last as { rows: { role: string; accuracy: number; params: number; latencyP50Ms: number }[]; teacherReused: boolean; runDir: string };
  };
  const first = run('d1');
  assert.deepEqual(first.rows.map((r) => r.role), ['teacher', 'baseline', 'student']);
  for (const row of first.rows) {
    assert.ok(row.accuracy > 0.7, `${row.role} accuracy ${row.accuracy}`);
    assert.ok(row.params > 0 && row.latencyP50Ms > 0);
  }
  assert.equal(first.teacherReused, false);
  for (const f of ['config.json', 'comparison.md', 'comparison.json', 'baseline/metrics.jsonl', 'student/model.safetensors'])
    assert.ok(existsSync(join(first.runDir, f)), f);
  const second = run('d2');
  assert.equal(second.teacherReused, true);
  assert.equal(second.rows[0].accuracy, first.rows[0].accuracy, 'same cached teacher');
  const compare = distill(['compare', first.runDir, '--json']);
  assert.equal(compare.status, 0, compare.stderr);
  assert.deepEqual(JSON.parse(compare.stdout.trim().split('\n').pop()!).rows.map((r: { accuracy: number }) => r.accuracy), first.rows.map((r) => r.accuracy));
});

test('consistent KD reports the teacher on each view and names one that costs it accuracy', () => {
  // Mirrored digits are off the teacher's distribution (src/cli/view_check.ts).
  const r = distill(['demo', '--name', 'views', ...tiny, 'kd.teacher=consistent', 'kd.augment.flip=true', 'kd.T=2', 'kd.viewEpochs=1']);
  assert.equal(r.status, 0, r.stderr);
  const views = join(work, 'cache', 'views');
  assert.match(r.stderr, new RegExp(`kd: the views of 1 epoch are replayed, the teacher's logits on them kept in memory \\([\\d.]+ MiB\\) and in ${views}; the teacher runs in the first 1 epoch only\\n`));
  assert.match(r.stderr, /kd: teacher accuracy on validation: [\d.]+% plain, [\d.]+% with kd\.augment\.flip\n/);
  assert.match(r.stderr, /kd: warning: kd\.augment\.flip costs the teacher [\d.]+ points/);
  assert.equal(readdirSync(views).length, 1);
  // Another student recipe on the same views finds the teacher's logits on disk; other views do not.
  const again = distill(['demo', '--name', 'views-lr', ...tiny, 'kd.teacher=consistent', 'kd.augment.flip=true', 'kd.T=2', 'kd.viewEpochs=1', 'student.train.lr=0.003']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /; all 1 are there already: the teacher does not run\n/);
  const other = distill(['demo', '--name', 'views-mixup', ...tiny, 'kd.teacher=consistent', 'kd.augment.flip=true', 'kd.T=2', 'kd.viewEpochs=1', 'kd.mixup=0.2']);
  assert.equal(other.status, 0, other.stderr);
  assert.match(other.stderr, /; the teacher runs in the first 1 epoch only\n/);
  assert.equal(readdirSync(views).length, 2);
});

test('a training process killed with SIGKILL resumes to the same final weights', async () => {
  const args = ['train-student', '--json', ...tiny.slice(0, 1), 'data.dataset=mnist-digits', 'student.arch=mlp:32', 'student.train.epochs=6', 'threads=1'];
  const straight = distill([...args, '--name', 'straight']);
  assert.equal(straight.status, 0, straight.stderr);
  const dir = join(work, 'runs', 'killed', 'baseline');
  const child = spawn(process.execPath, [CLI, ...args, '--name', 'killed'], { cwd: work, env, stdio: 'ignore' });
  // Kill it once the second epoch's checkpoint is down, mid-way through the run.
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = existsSync(join(dir, 'metrics.jsonl')) ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8') : '';
      if ((m.match(/"type":"epoch"/g) ?? []).length >= 2) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 5);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the run finished (code ${code}) before it could be killed`));
    });
  });
  assert.ok(!existsSync(join(dir, 'model.safetensors')), 'the killed run never wrote final weights');
  const resumed = distill([...args, '--name', 'killed', '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const a = readFileSync(join(work, 'runs', 'straight', 'baseline', 'model.safetensors'));
  const b = readFileSync(join(dir, 'model.safetensors'));
  assert.ok(a.equals(b), 'final weights are byte-identical');
});

test('a rerun without --resume starts fresh with the new config', () => {
  const base = ['train-student', '--json', '--name', 'rerun', '--set', 'data.dataset=mnist-digits', 'student.arch=mlp:16', 'threads=1'];
  assert.equal(distill([...base, 'student.train.epochs=2']).status, 0);
  const r = distill([...base, 'student.train.epochs=3']);
  assert.equal(r.status, 0, r.stderr);
  const epochs = readFileSync(join(work, 'runs', 'rerun', 'baseline', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'epoch');
  assert.deepEqual(epochs.map((e) => e.epoch), [0, 1, 2], 'three fresh epochs, not a resume of the finished 2-epoch run');
});

test('sweep distills one teacher into several student sizes and writes the table and the chart', () => {
  const r = distill(['sweep', '--json', '--sizes', '8,32', '--layers', '1', '--name', 'sw', ...tiny]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runDir: string; rows: { arch: string; params: number; baselineAccuracy: number; distilledAccuracy: number }[] };
  assert.deepEqual(out.rows.map((x) => x.arch), ['mlp:8', 'mlp:32']);
  assert.equal(out.rows[0].params, 784 * 8 + 8 + 8 * 10 + 10);
  assert.ok(out.rows[1].params > out.rows[0].params);
  for (const row of out.rows) assert.ok(row.baselineAccuracy > 0.5 && row.distilledAccuracy > 0.5);
  const svg = readFileSync(join(out.runDir, 'sweep.svg'), 'utf8');
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3, 'distilled, baseline and teacher lines');
  assert.match(readFileSync(join(out.runDir, 'sweep.md'), 'utf8'), /\| mlp:8 \|/);
});

test('doctor --json reports libtorch, BLAS and the optional parts', () => {
  const r = distill(['doctor', '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; required: boolean; detail: string }[] };
  assert.equal(report.ok, true);
  const libtorch = report.checks.find((c) => c.name === 'libtorch')!;
  assert.match(libtorch.detail, /^\d+\.\d+\.\d+ from /);
  assert.ok(report.checks.some((c) => c.name.startsWith('onnxruntime-node') && !c.required));
  assert.ok(report.checks.filter((c) => c.required).every((c) => c.ok));
  // The cache's size by folder, against find(1)'s sum of the file sizes.
  const cache = report.checks.find((c) => c.name.startsWith('cache'))!;
  const bytes = (dir: string) => execFileSync('find', [dir, '-type', 'f', '-printf', '%s\\n'], { encoding: 'utf8' }).split('\n').filter(Boolean).reduce((a, b) => a + Number(b), 0);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 0)} MiB`;
  assert.ok(cache.detail.startsWith(`${join(work, 'cache')}: ${mib(bytes(join(work, 'cache')))} (`), cache.detail);
  for (const part of ['teachers', 'views']) assert.ok(cache.detail.includes(`${part} ${mib(bytes(join(work, 'cache', part)))}`), `${part} in ${cache.detail}`);
});

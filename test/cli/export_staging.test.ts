// `distill export` writes its folder whole or not at all (issue #21, "export"): a failure
// midway (here a write that fails, injected through io/atomic.ts's patchable `fs`) leaves no
// partial output folder and no staging folder, and an earlier export stays as it was; `--out`
// at a file, under a file or at a folder of other files gets one clear error, before anything loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as nn from '../../src/nn/index.js';
import { saveWeights } from '../../src/kd/index.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { loadExperiment } from '../../src/cli/experiment.js';
import { runExport } from '../../src/cli/cmd_export.js';
import { runExportLm } from '../../src/cli/cmd_export_lm.js';
import { EXPORT_MARKER } from '../../src/cli/staged_dir.js';
import { SMALL, randomLm, tok } from '../export/lm_fixtures.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-export-staging-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', DISTILL_CACHE: join(work, 'cache') } });

/** A run folder as `distill train-student` leaves it: config.json and an MLP student on the bundled digits. */
function runFolder(name: string): string {
  const run = join(work, name);
  const exp = loadExperiment(undefined, { name, runsDir: work, data: { dataset: 'mnist-digits' }, student: { arch: 'mlp:8' }, threads: 1 });
  mkdirSync(join(run, 'student'), { recursive: true });
  writeFileSync(join(run, 'config.json'), JSON.stringify(exp, null, 2));
  const model = nn.buildArch('mlp:8', { inputShape: [1, 28, 28], numClasses: 10 });
  saveWeights(join(run, 'student'), model);
  model.dispose();
  return run;
}

/** Runs `fn` with the atomic rename of any file whose path ends in `suffix` failing (ENOSPC), as a full disk would. */
async function failingWriteOf<T>(suffix: string, fn: () => Promise<T>): Promise<T> {
  const rename = fs.renameSync;
  fs.renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
    if (String(to).endsWith(suffix)) throw Object.assign(new Error(`ENOSPC: no space left on device, rename '${String(to)}'`), { code: 'ENOSPC' });
    return rename(from, to);
  }) as typeof fs.renameSync;
  try {
    return await fn();
  } finally {
    fs.renameSync = rename;
  }
}

/** Every file under `dir` with its bytes, for "untouched" comparisons. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) out[join(e.parentPath, e.name).slice(dir.length)] = readFileSync(join(e.parentPath, e.name)).toString('base64');
  return out;
}

const quiet = async <T>(fn: () => Promise<T>): Promise<T> => {
  const [log, err] = [console.log, console.error];
  console.log = console.error = () => {};
  try {
    return await fn();
  } finally {
    [console.log, console.error] = [log, err];
  }
};

test('classic run: a failure after the ONNX file leaves no output folder and no staging folder; an earlier export survives it', async () => {
  const run = runFolder('classic');
  const out = join(run, 'export');
  await assert.rejects(failingWriteOf('student/model.safetensors', () => quiet(() => runExport(run, { which: 'student', json: true }))), /ENOSPC/);
  assert.equal(existsSync(out), false, 'no partial export folder');
  assert.deepEqual(readdirSync(run).filter((n) => n.startsWith('.')), [], 'no staging folder left behind');

  assert.equal(await quiet(() => runExport(run, { which: 'student', json: true })), 0);
  assert.ok(existsSync(join(out, 'student.onnx')) && existsSync(join(out, 'student', 'model.safetensors')) && existsSync(join(out, EXPORT_MARKER)));
  const before = snapshot(out);
  await assert.rejects(failingWriteOf('student/model.safetensors', () => quiet(() => runExport(run, { which: 'student', quantize: true, json: true }))), /ENOSPC/);
  assert.deepEqual(snapshot(out), before, 'the earlier export is untouched');
  assert.equal(existsSync(join(out, 'student.int8.onnx')), false);
  assert.deepEqual(readdirSync(run).filter((n) => n.startsWith('.')), []);
  // A rerun replaces the earlier export as a whole.
  assert.equal(await quiet(() => runExport(run, { which: 'student', format: 'onnx', json: true })), 0);
  assert.equal(existsSync(join(out, 'student')), false, 'the safetensors folder of the earlier export is gone');
  assert.ok(existsSync(join(out, 'student.onnx')));
});

test('LM folder: a failure after the ONNX file (at the GGUF) leaves no output folder; reported paths are the final ones', async () => {
  const dir = join(work, 'lm');
  const m = randomLm({ ...SMALL, maxSeqLen: 64 }, 4);
  saveLm(dir, m, tok);
  m.dispose();
  const out = join(work, 'lm-out');
  await assert.rejects(failingWriteOf('model.f32.gguf', () => quiet(() => runExportLm(dir, { out, format: 'all', json: true }))), /ENOSPC/);
  assert.equal(existsSync(out), false, 'no partial export folder');
  assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.lm-out')), [], 'no staging folder left behind');

  const r = cli('export', dir, '--format', 'onnx', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as { outDir: string; onnx: { path: string } };
  assert.equal(rep.onnx.path, join(out, 'model.onnx'));
  assert.ok(existsSync(rep.onnx.path));
});

test('--out at a file, under a file, or at a folder of other files: one clear error, exit 1, nothing written', () => {
  const run = runFolder('outs');
  const file = join(work, 'taken.txt');
  writeFileSync(file, 'mine');
  for (const [out, msg] of [
    [file, /^distill: --out \S+taken\.txt is a file; export writes a folder/],
    [join(file, 'export'), /^distill: --out \S+taken\.txt\/export: \S+taken\.txt is a file, not a folder/],
  ] as const) {
    const r = cli('export', run, '--out', out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /EEXIST|ENOTDIR|mkdir|\n\s+at /);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /^data: /m, 'refused before the data loads');
  }
  assert.equal(readFileSync(file, 'utf8'), 'mine');
  const other = join(work, 'photos');
  mkdirSync(other);
  writeFileSync(join(other, 'cat.jpg'), 'meow');
  const r = cli('export', run, '--out', other);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--out \S+photos holds other files \(cat\.jpg\); export replaces its folder as a whole/);
  assert.deepEqual(readdirSync(other), ['cat.jpg']);
  assert.deepEqual(readdirSync(work).filter((n) => n.startsWith(`.${basename(other)}`)), []);
});

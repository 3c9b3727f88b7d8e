// Bad input is refused before any side effect (issue #21): an unknown architecture in an
// experiment is a schema error naming its key, before the run folder is made or data loaded;
// `evaluate` checks its weights file (and --arch) before it loads the dataset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/torch/index.js';
import { loadExperiment, checkArch } from '../../src/cli/experiment.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-config-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const distill = (args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1', DISTILL_CACHE: join(work, 'cache') } });

test('the schema knows the architectures: cnn and mlp:<widths> pass, anything else names its key', () => {
  for (const arch of ['cnn', 'mlp:128,128', 'mlp: 64, 32', 'mlp:8'])
    assert.equal(loadExperiment(undefined, { student: { arch } }).student.arch, arch);
  for (const [key, arch] of [['student', 'transformer'], ['teacher', 'mlp:0'], ['student', 'mlp:'], ['teacher', 'cnn2'], ['student', 'mlp:12,x']] as const)
    assert.throws(() => loadExperiment(undefined, { [key]: { arch } }), (e: unknown) =>
      e instanceof ConfigError && e.message === `<defaults>: ${key}.arch: unknown architecture '${arch}': expected 'cnn' or 'mlp:<hidden sizes>' such as 'mlp:128,128'`);
  assert.throws(() => checkArch('resnet', '--arch'), /^ConfigError: --arch: unknown architecture 'resnet'/);
});

test('an unknown architecture in a YAML: one error naming the file and key; no run folder, no data loaded', () => {
  const cfg = join(work, 'bad-arch.yaml');
  writeFileSync(cfg, 'name: archrun\ndata:\n  dataset: mnist-digits\nstudent:\n  arch: transformer\n');
  for (const cmd of ['demo', 'train-teacher', 'train-student', 'distill', 'sweep']) {
    const r = distill([cmd, '-c', 'bad-arch.yaml']);
    assert.equal(r.status, 1, `${cmd}: ${r.stderr}`);
    assert.equal(r.stderr.trim(), "distill: bad-arch.yaml: student.arch: unknown architecture 'transformer': expected 'cnn' or 'mlp:<hidden sizes>' such as 'mlp:128,128' [ERR_CONFIG]", cmd);
    assert.equal(existsSync(join(work, 'runs')), false, `${cmd} made a run folder`);
  }
});

test('evaluate checks the weights file and --arch before it loads the dataset', () => {
  const garbage = join(work, 'garbage.safetensors');
  writeFileSync(garbage, 'this is not a safetensors file at all');
  const folder = join(work, 'student');
  mkdirSync(folder);
  const cases: [string[], RegExp][] = [
    [[join(work, 'none.safetensors')], /^distill: \S+none\.safetensors: no such weights file \[ERR_CONFIG\]$/],
    [[folder], /^distill: \S+student: not a file \(give the model\.safetensors inside it\) \[ERR_CONFIG\]$/],
    [[garbage], /^distill: .*garbage\.safetensors.*\[ERR_FORMAT\]$/],
  ];
  for (const [args, message] of cases) {
    // Without --json, so that loading the data would print its `data: …` line.
    const r = distill(['evaluate', ...args, '--set', 'data.dataset=mnist-digits']);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `nothing before the error (no data loaded): ${r.stderr}`);
    assert.match(r.stderr.trim(), message);
  }
  const r = distill(['evaluate', garbage, '--arch', 'resnet']);
  assert.match(r.stderr, /^distill: .*garbage\.safetensors/, 'the weights are checked first');
  writeFileSync(garbage, Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]));
  const arch = distill(['evaluate', garbage, '--arch', 'resnet', '--set', 'data.dataset=mnist-digits']);
  assert.equal(arch.stderr.trim(), "distill: --arch: unknown architecture 'resnet': expected 'cnn' or 'mlp:<hidden sizes>' such as 'mlp:128,128' [ERR_CONFIG]");
});

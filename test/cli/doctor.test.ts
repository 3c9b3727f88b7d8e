// `distill doctor` finds an installed package even when its `exports` map hides
// ./package.json (node-llama-cpp 3.21.1 does), as Node finds the package folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { npmPackageVersion } from '../../src/cli/doctor.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-doctor-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('a package whose exports map hides package.json is found, with its version', () => {
  const pkg = join(work, 'node_modules', 'sealed');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'sealed', version: '4.5.6', type: 'module', exports: { '.': './index.js' } }));
  writeFileSync(join(pkg, 'index.js'), 'export {};\n');
  const from = pathToFileURL(join(work, 'main.js')).href;
  assert.throws(() => createRequire(from).resolve('sealed/package.json'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, 'the old lookup fails');
  assert.equal(npmPackageVersion('sealed', from), '4.5.6');
  assert.equal(npmPackageVersion('not-installed-anywhere', from), null);
});

test('doctor --json reports node-llama-cpp and onnxruntime-node with their installed versions', () => {
  const r = spawnSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, DISTILL_CACHE: join(work, 'cache') } });
  assert.equal(r.status, 0, r.stderr);
  const checks = (JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; detail: string }[] }).checks;
  const root = fileURLToPath(new URL('../../../node_modules/', import.meta.url));
  for (const name of ['node-llama-cpp', 'onnxruntime-node']) {
    const c = checks.find((x) => x.name.startsWith(`${name} `))!;
    const version = (JSON.parse(readFileSync(join(root, name, 'package.json'), 'utf8')) as { version: string }).version;
    assert.deepEqual([c.ok, c.detail], [true, version], name);
  }
});

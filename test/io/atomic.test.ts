// writeFileAtomic: the target is always either the complete old file or the complete new
// one, and a failed write leaves no temp file behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTempFileFor, removeStaleTempFiles, writeFileAtomic } from '../../src/io/atomic.js';
import { saveSafetensors } from '../../src/io/index.js';
import * as torch from '../../src/torch/index.js';

let dir: string;
before(() => (dir = fs.mkdtempSync(join(tmpdir(), 'distill-atomic-'))));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let caseNo = 0;
/** A fresh directory holding `target` with the old content "OLD". */
function setup(): { d: string; target: string } {
  const d = join(dir, `c${caseNo++}`);
  fs.mkdirSync(d);
  const target = join(d, 'out.bin');
  fs.writeFileSync(target, 'OLD');
  return { d, target };
}
const listing = (d: string) => fs.readdirSync(d).sort();

/** Replaces fs[name] for the duration of fn (the module reads fs through its default export). */
function withFault<K extends keyof typeof fs>(name: K, impl: (typeof fs)[K], fn: () => void): void {
  const orig = fs[name];
  (fs as Record<K, unknown>)[name] = impl;
  try {
    fn();
  } finally {
    (fs as Record<K, unknown>)[name] = orig;
  }
}
const eio = () => Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' });

test('writes and replaces; accepts strings, bytes and chunk lists; no temp file remains', () => {
  const { d, target } = setup();
  writeFileAtomic(target, 'hello');
  assert.equal(fs.readFileSync(target, 'utf8'), 'hello');
  writeFileAtomic(target, Uint8Array.from([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(target)], [1, 2, 3]);
  writeFileAtomic(target, [Uint8Array.from([4]), new Uint8Array(0), Buffer.from('ab')]);
  assert.deepEqual([...fs.readFileSync(target)], [4, 97, 98]);
  writeFileAtomic(target, '');
  assert.equal(fs.statSync(target).size, 0);
  assert.deepEqual(listing(d), ['out.bin']);
});

test('short writes are completed (writeSync writing 3 bytes at a time)', () => {
  const { target } = setup();
  const orig = fs.writeSync;
  const data = Buffer.from('0123456789abcdefghij'.repeat(10));
  withFault('writeSync', ((fd: number, buf: Uint8Array, off: number, len: number) => orig(fd, buf, off, Math.min(3, len))) as typeof fs.writeSync, () =>
    writeFileAtomic(target, data));
  assert.ok(fs.readFileSync(target).equals(data));
});

for (const [step, fault] of [
  ['writeSync', 'writeSync'],
  ['fsync', 'fsyncSync'],
  ['rename', 'renameSync'],
] as const) {
  test(`a failure at ${step} leaves the old file intact and no temp file`, () => {
    const { d, target } = setup();
    withFault(fault, (() => { throw eio(); }) as never, () => {
      assert.throws(() => writeFileAtomic(target, 'NEW CONTENT'), (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, 'EIO');
        assert.match(e.message, new RegExp(`cannot write ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EIO`));
        return true;
      });
    });
    assert.equal(fs.readFileSync(target, 'utf8'), 'OLD');
    assert.deepEqual(listing(d), ['out.bin']);
  });
}

test('a failure half-way through the chunks (a bad chunk) leaves the old file intact', () => {
  const { d, target } = setup();
  assert.throws(() => writeFileAtomic(target, [Buffer.from('part one'), 42 as unknown as Uint8Array]));
  assert.equal(fs.readFileSync(target, 'utf8'), 'OLD');
  assert.deepEqual(listing(d), ['out.bin']);
});

test('the rename target is a directory: error, directory untouched, no temp file', () => {
  const { d } = setup();
  const target = join(d, 'adir');
  fs.mkdirSync(target);
  fs.writeFileSync(join(target, 'keep.txt'), 'inside');
  assert.throws(() => writeFileAtomic(target, 'x'), (e: NodeJS.ErrnoException) => ['EISDIR', 'ENOTEMPTY', 'EEXIST', 'EPERM'].includes(e.code ?? ''));
  assert.equal(fs.readFileSync(join(target, 'keep.txt'), 'utf8'), 'inside');
  assert.deepEqual(listing(d), ['adir', 'out.bin']);
});

test('the target directory was removed: ENOENT naming the target, nothing created', () => {
  const { d } = setup();
  const gone = join(d, 'gone');
  fs.mkdirSync(gone);
  fs.rmdirSync(gone);
  const target = join(gone, 'out.bin');
  assert.throws(() => writeFileAtomic(target, 'x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.includes(target));
  assert.equal(fs.existsSync(gone), false);
  assert.deepEqual(listing(d), ['out.bin']);
});

test('saveSafetensors that fails while encoding (a disposed tensor) leaves the old file intact', () => {
  const { d, target } = setup();
  const t = torch.ones([3]);
  t.dispose();
  assert.throws(() => saveSafetensors(target, { t }), { name: 'DisposedTensorError' });
  assert.equal(fs.readFileSync(target, 'utf8'), 'OLD');
  assert.deepEqual(listing(d), ['out.bin']);
});

test('SIGKILL mid-write: the target is always one complete version; stale temp files are recognised and removed', async () => {
  const { d, target } = setup();
  const SIZE = 4 << 20;
  const moduleUrl = new URL('../../src/io/atomic.js', import.meta.url).href;
  // A writer that alternates two 4 MiB contents as fast as it can, until killed.
  const code = `
    import { writeFileAtomic } from ${JSON.stringify(moduleUrl)};
    const A = Buffer.alloc(${SIZE}, 0x41), B = Buffer.alloc(${SIZE}, 0x42);
    for (let i = 0; ; i++) { writeFileAtomic(${JSON.stringify(target)}, i % 2 ? B : A); if (i === 2) process.stdout.write('go\\n'); }`;
  for (const delayMs of [0, 15, 40, 90]) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (c) => reject(new Error(`writer exited early (${c})`)));
    });
    await new Promise((r) => setTimeout(r, delayMs));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const got = fs.readFileSync(target);
    assert.equal(got.length, SIZE, `after a kill at +${delayMs} ms the file is complete`);
    assert.ok(got.every((b) => b === got[0]) && (got[0] === 0x41 || got[0] === 0x42), 'one version, not a mix');
    for (const name of listing(d)) if (name !== 'out.bin') assert.ok(isTempFileFor(name, target), `only temp files beside the target: ${name}`);
  }
  removeStaleTempFiles(target);
  assert.deepEqual(listing(d), ['out.bin']);
});

test('removeStaleTempFiles keeps temp files of live processes and unrelated files', () => {
  const { d, target } = setup();
  const mine = `.out.bin.${process.pid}.0123456789ab.tmp`;
  const dead = `.out.bin.999999999.0123456789ab.tmp`;
  for (const n of [mine, dead, '.out.bin.notatemp', 'other.bin']) fs.writeFileSync(join(d, n), '');
  assert.deepEqual(removeStaleTempFiles(target), [dead]);
  assert.deepEqual(listing(d), [mine, '.out.bin.notatemp', 'other.bin', 'out.bin'].sort());
});

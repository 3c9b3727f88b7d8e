// IDX files: round trips on files the test writes (raw and gzipped), and every way a file
// can be wrong gives a FormatError/ConfigError naming the file, never a crash or a leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as torch from '../../src/torch/index.js';
import { ConfigError, FormatError } from '../../src/torch/index.js';
import { loadIdx, saveIdx, encodeIdx, disposeDataset } from '../../src/data/index.js';
import { Rng } from '../../src/data/rng.js';
import { floats, ints, tempDir, throwsClean } from './helpers.js';

const dir = tempDir();
const N = 7, H = 5, W = 4;
const rng = new Rng(42);
const pixels = Uint8Array.from({ length: N * H * W }, () => rng.int(256));
pixels[0] = 0;
pixels[1] = 255; // both ends of the range
const labels = Uint8Array.from([0, 3, 1, 2, 3, 0, 1]);

for (const gz of [false, true]) {
  test(`IDX round trip (${gz ? 'gzipped' : 'raw'}): shape, [0,1] scaling, labels`, () => {
    const ext = gz ? '.gz' : '';
    const ip = join(dir, `rt-images${ext}`), lp = join(dir, `rt-labels${ext}`);
    saveIdx(ip, pixels, [N, H, W]);
    saveIdx(lp, labels, [N]);
    const head = fs.readFileSync(ip);
    assert.equal(head[0] === 0x1f && head[1] === 0x8b, gz, 'gzip chosen from the .gz name');
    const before = torch.memory().liveTensors;
    const ds = loadIdx(ip, lp, { name: 'tiny', numClasses: 5, classNames: ['a', 'b', 'c', 'd', 'e'] });
    assert.equal(torch.memory().liveTensors, before + 2, 'only x and y stay alive');
    assert.equal(ds.name, 'tiny');
    assert.deepEqual([...ds.x.shape], [N, 1, H, W]);
    assert.equal(ds.x.dtype, 'float32');
    assert.equal(ds.y.dtype, 'int64');
    assert.equal(ds.numClasses, 5);
    assert.deepEqual(ds.classNames, ['a', 'b', 'c', 'd', 'e']);
    const x = floats(ds.x);
    for (let i = 0; i < pixels.length; i++) assert.equal(x[i], Math.fround(pixels[i] / 255), `pixel ${i}`);
    assert.equal(x[0], 0);
    assert.equal(x[1], 1);
    assert.deepEqual(ints(ds.y), [...labels]);
    disposeDataset(ds);
  });
}

test('IDX: numClasses defaults to max label + 1; a gzipped file without .gz name still loads', () => {
  const ip = join(dir, 'plain-name-images'), lp = join(dir, 'plain-name-labels');
  fs.writeFileSync(ip, gzipSync(encodeIdx(pixels, [N, H, W])));
  fs.writeFileSync(lp, encodeIdx(labels, [N]));
  const ds = loadIdx(ip, lp);
  assert.equal(ds.numClasses, 4);
  assert.equal(ds.name, ip);
  disposeDataset(ds);
});

/** Writes images/labels files from raw bytes and returns their paths. */
function files(tag: string, imageBytes: Uint8Array, labelBytes: Uint8Array = encodeIdx(labels, [N])): [string, string] {
  const ip = join(dir, `${tag}-images`), lp = join(dir, `${tag}-labels`);
  fs.writeFileSync(ip, imageBytes);
  fs.writeFileSync(lp, labelBytes);
  return [ip, lp];
}
const good = encodeIdx(pixels, [N, H, W]);

test('IDX errors: bad magic, wrong element type, swapped files', () => {
  const bad = good.slice();
  bad[0] = 0x50; // e.g. a PNG or text file
  let [ip, lp] = files('magic', bad);
  throwsClean(() => loadIdx(ip, lp), FormatError, /magic-images/, /bad magic number 0x50/, /0x00000803/);
  const float = good.slice();
  float[2] = 0x0d;
  [ip, lp] = files('float', float);
  throwsClean(() => loadIdx(ip, lp), FormatError, /float-images/, /float32/, /not supported/);
  [ip, lp] = files('swapped', encodeIdx(labels, [N]), good);
  throwsClean(() => loadIdx(ip, lp), FormatError, /swapped-images/, /1 dimensions/, /labels file/);
});

test('IDX errors: truncated header, truncated data, trailing bytes, truncated gzip', () => {
  let [ip, lp] = files('short', good.subarray(0, 3));
  throwsClean(() => loadIdx(ip, lp), FormatError, /short-images/, /too short/);
  [ip, lp] = files('header', good.subarray(0, 10));
  throwsClean(() => loadIdx(ip, lp), FormatError, /header-images/, /truncated IDX header/);
  [ip, lp] = files('trunc', good.subarray(0, good.length - 5));
  throwsClean(() => loadIdx(ip, lp), FormatError, /trunc-images/, /truncated IDX data/, /\[7, 5, 4\] = 140 bytes, the file holds 135/);
  [ip, lp] = files('trail', Uint8Array.from([...good, 1, 2, 3]));
  throwsClean(() => loadIdx(ip, lp), FormatError, /trail-images/, /3 bytes after/);
  const gz = gzipSync(good);
  [ip, lp] = files('gztrunc', gz.subarray(0, gz.length - 20));
  throwsClean(() => loadIdx(ip, lp), FormatError, /gztrunc-images/, /corrupt or truncated gzip/);
});

test('IDX errors: image/label count mismatch, label out of range, empty file, missing file', () => {
  let [ip, lp] = files('count', good, encodeIdx(labels.subarray(0, 6), [6]));
  throwsClean(() => loadIdx(ip, lp), FormatError, /7 images/, /count-labels holds 6 labels/);
  [ip, lp] = files('range', good);
  throwsClean(() => loadIdx(ip, lp, { numClasses: 3 }), FormatError, /range-labels/, /sample 1 has label 3, out of range for numClasses=3/);
  [ip, lp] = files('empty', encodeIdx(new Uint8Array(0), [0, H, W]), encodeIdx(new Uint8Array(0), [0]));
  throwsClean(() => loadIdx(ip, lp), FormatError, /empty-images/, /empty/);
  throwsClean(() => loadIdx(join(dir, 'nope-images'), lp), ConfigError, /nope-images/, /file not found/);
  throwsClean(() => loadIdx(dir, lp), ConfigError, /is a directory/);
});

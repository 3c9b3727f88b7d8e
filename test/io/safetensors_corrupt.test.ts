// Corrupt safetensors files: every kind of damage is a FormatError that names the file and
// the problem, never a crash, a wrong tensor, or a leaked one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, readSafetensorsHeader } from '../../src/io/index.js';

let dir: string;
let valid: Buffer;
let n: number; // header length of `valid`
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'distill-stc-'));
  const ts = {
    w: torch.tensor(Float32Array.from({ length: 12 }, (_, i) => i), { shape: [3, 4] }),
    b: torch.tensor(BigInt64Array.from([1n, 2n])),
    m: torch.fromBytes(Uint8Array.from([1, 0, 1]), [3], 'bool'),
  };
  valid = Buffer.from(encodeSafetensors(ts, { k: 'v' }));
  n = Number(valid.readBigUInt64LE(0));
  Object.values(ts).forEach((t) => t.dispose());
});
after(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function toFile(bytes: Uint8Array): string {
  const p = join(dir, `case${fileNo++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
}
/** A file with the given header object (or raw header text) and data bytes. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0)): Buffer {
  const json = header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

/** Loading must throw FormatError naming the file and matching `why`, through every entry point, and leak no tensor. */
function assertRejected(bytes: Uint8Array, why: RegExp, label = String(why)): void {
  const live = torch.memory().liveTensors;
  const file = toFile(bytes);
  const check = (fn: () => unknown, source: string) =>
    assert.throws(fn, (e: Error) => {
      assert.equal(e.name, 'FormatError', `${label}: ${e.name}: ${e.message}`);
      assert.equal((e as Error & { code: string }).code, 'ERR_FORMAT');
      assert.ok(e.message.startsWith(`${source}: `), `${label}: message names ${source}: ${e.message}`);
      assert.match(e.message, why, label);
      return true;
    });
  check(() => loadSafetensors(file), file);
  check(() => decodeSafetensors(bytes, 'mem.safetensors'), 'mem.safetensors');
  check(() => decodeSafetensors(bytes), '<buffer>');
  assert.equal(torch.memory().liveTensors, live, `${label}: no tensor leaked`);
}

test('the valid file loads (control)', () => {
  const { tensors, metadata } = loadSafetensors(toFile(valid));
  assert.deepEqual(metadata, { k: 'v' });
  assert.deepEqual(tensors.w.toArray(), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
  assert.deepEqual(tensors.m.toArray(), [true, false, true]);
  Object.values(tensors).forEach((t) => t.dispose());
});

test('truncated at the named cut points: clear message for each region', () => {
  assertRejected(valid.subarray(0, 0), /file is 0 bytes, shorter than the 8-byte header length/);
  assertRejected(valid.subarray(0, 7), /file is 7 bytes/);
  assertRejected(valid.subarray(0, 8), /header length \d+ runs past the end of the file \(8 bytes\)/);
  assertRejected(valid.subarray(0, 8 + (n >> 1)), /runs past the end of the file/);
  assertRejected(valid.subarray(0, 8 + n - 1), /runs past the end of the file/);
  assertRejected(valid.subarray(0, 8 + n), /truncated: the header describes \d+ data bytes but the file holds 0/);
  assertRejected(valid.subarray(0, 8 + n + 5), /truncated: .* holds 5 /);
  assertRejected(valid.subarray(0, valid.length - 1), /truncated/);
});

test('truncated at every byte: always a FormatError, never a crash', () => {
  const live = torch.memory().liveTensors;
  for (let cut = 0; cut < valid.length; cut++) {
    assert.throws(() => decodeSafetensors(valid.subarray(0, cut), `cut${cut}`), { name: 'FormatError' }, `cut at ${cut}`);
  }
  assert.equal(torch.memory().liveTensors, live);
});

test('trailing bytes after the last tensor', () => {
  assertRejected(Buffer.concat([valid, Buffer.from([0])]), /1 unexpected bytes after the last tensor/);
});

test('garbage headers', () => {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(0xffffffffffffffffn);
  assertRejected(Buffer.concat([len, Buffer.alloc(64)]), /header length 18446744073709551615 runs past the end/);
  assertRejected(Buffer.from('PK\x03\x04 this is a zip, e.g. a pickled .pt file, not safetensors'), /runs past the end of the file.*not safetensors/);
  assertRejected(craft('{"a": {"dtype": "F32",'), /header is not valid JSON/);
  assertRejected(craft(''), /header is not valid JSON/);
  assertRejected(craft('[1, 2, 3]'), /header is not a JSON object/);
  assertRejected(craft('null'), /header is not a JSON object/);
  assertRejected(craft(Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])), /not valid UTF-8/); // {"\xff\xfe":1}
  assertRejected(craft({ a: 5 }), /tensor "a": entry is not an object/);
  assertRejected(craft({ a: { shape: [1], data_offsets: [0, 4] } }), /tensor "a": missing "dtype"/);
  assertRejected(craft({ a: { dtype: 'F32', shape: 'big', data_offsets: [0, 4] } }), /"shape" must be an array of non-negative integers/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /"shape" must be an array/);
  assertRejected(craft({ __metadata__: { a: 1 } }), /"__metadata__" value "a" must be a string, got number/);
  assertRejected(craft({ __metadata__: ['x'] }), /"__metadata__" must be an object/);
});

test('unknown and unsupported dtypes', () => {
  assertRejected(craft({ a: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "a": unknown dtype "F33" \(supported: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL\)/);
  assertRejected(craft({ a: { dtype: 'U16', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)), /dtype U16 is valid safetensors but not supported/);
  assertRejected(craft({ a: { dtype: 7, shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)), /missing "dtype"/);
});

test('bad offsets: size mismatch, reversed, overlap, gap, out of bounds, non-integers', () => {
  const d = new Uint8Array(16);
  assertRejected(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, d.subarray(0, 4)), /tensor "a": data_offsets \[0, 4\] hold 4 bytes but shape \[2\] × F32 needs 8/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, d.subarray(0, 8)), /end before they begin/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, d.subarray(0, 12)), /tensor "b" data_offsets \[4, 12\] overlap tensor "a" \[0, 8\]/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, d), /4 unclaimed bytes before tensor "b"/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, d.subarray(0, 12)), /4 unclaimed bytes before tensor "a"/);
  assertRejected(craft({ a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }, d.subarray(0, 8)), /truncated: the header describes 16 data bytes but the file holds 8/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 1e30] } }, d), /"data_offsets" must be \[begin, end\] with non-negative integers/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0.5, 4.5] } }, d), /"data_offsets" must be/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, d), /"data_offsets" must be/);
  assertRejected(craft({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, d.subarray(0, 4)), /shape \[1099511627776, 1099511627776\] is too large/);
});

test('a BOOL tensor holding a byte other than 0 or 1', () => {
  assertRejected(craft({ m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, Uint8Array.from([1, 2, 0])), /tensor "m" \(BOOL\) holds byte 2 at element 1/);
});

test('readSafetensorsHeader validates without reading data, and rejects truncation', () => {
  const h = readSafetensorsHeader(toFile(valid));
  assert.deepEqual(h.entries.map((e) => [e.name, e.dtype, e.shape]), [['b', 'int64', [2]], ['w', 'float32', [3, 4]], ['m', 'bool', [3]]]);
  assert.deepEqual(h.metadata, { k: 'v' });
  const cut = toFile(valid.subarray(0, valid.length - 3));
  assert.throws(() => readSafetensorsHeader(cut), { name: 'FormatError', message: /truncated/ });
});

test('a missing file is a plain ENOENT error, not a FormatError', () => {
  assert.throws(() => loadSafetensors(join(dir, 'nope.safetensors')), { code: 'ENOENT' });
});

// torch.readInto: a contiguous tensor filled from an open file at a byte offset (pread), the
// weight loaders' one-copy path; the bytes land as they are in the file, in host byte order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';

const work = mkdtempSync(join(tmpdir(), 'distill-read-into-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('readInto fills float32 and bfloat16 tensors with the file bytes at an offset; errors are clear', () => {
  const f32 = Float32Array.from([1.5, -2, 3.25, 1e-3, 7]);
  const bf16 = Uint16Array.from([0x3fc0, 0xc000, 0x4050]); // 1.5, -2, 3.25 as bfloat16 bits
  const path = join(work, 'data.bin');
  writeFileSync(path, Buffer.concat([Buffer.from('header!'), Buffer.from(f32.buffer), Buffer.from(bf16.buffer)]));
  const fd = openSync(path, 'r');
  try {
    const a = torch.empty([5]);
    assert.equal(torch.readInto(a, fd, 7), a);
    assert.deepEqual(a.dataSync(), f32);
    const b = torch.empty([3], 'bfloat16');
    torch.readInto(b, fd, 7 + 20);
    assert.deepEqual(Array.from(b.dataSync() as Float32Array), [1.5, -2, 3.25]);
    const m = torch.empty([2, 2]);
    torch.readInto(m, fd, 7); // a matrix is read row-major
    assert.deepEqual(m.toArray(), [[1.5, -2], [3.25, Math.fround(1e-3)]]);
    assert.throws(() => torch.readInto(torch.empty([4]), fd, 7 + 20), (e: Error) => e instanceof torch.TorchError && /file ended 10 bytes before the tensor was filled/.test(e.message));
    assert.throws(() => torch.readInto(m.transpose(0, 1), fd, 7), (e: Error) => e instanceof torch.TorchError && /contiguous/.test(e.message));
  } finally {
    closeSync(fd);
  }
});

// Runs test/helpers/safetensors_ref.py (the PyTorch-side reference reader/writer) and
// compares what it reports with our tensors exactly: same dtype, shape and raw bytes,
// and the same values read back as numbers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { PYTHON } from './oracle.js';

const SCRIPT = fileURLToPath(new URL('../../../test/helpers/safetensors_ref.py', import.meta.url));

export interface RefTensor {
  dtype: string;
  shape: number[];
  hex: string;
  values: (number | string | boolean)[];
}
export interface RefFile {
  metadata: Record<string, string>;
  tensors: Record<string, RefTensor>;
}

export function refPython(...args: string[]): string {
  return execFileSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
}
export const refDescribe = (file: string): RefFile => JSON.parse(refPython('describe', file)) as RefFile;
export const refFixture = (out: string): RefFile => JSON.parse(refPython('fixture', out)) as RefFile;
export const refRewrite = (input: string, out: string): void => void refPython('rewrite', input, out);

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Our tensor's values in the reference's encoding (non-finite floats and all integers as strings). */
function ourValues(t: torch.Tensor): (number | string | boolean)[] {
  const d = t.dataSync();
  if (t.dtype === 'bool') return Array.from(d as Uint8Array, (v) => v !== 0);
  if (!torch.isFloating(t.dtype)) return Array.from(d as ArrayLike<number | bigint>, (v) => String(v));
  return Array.from(d as Float32Array, (v) => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v));
}

/** Exact equality of one of our tensors with the reference's description of it. */
export function assertSameAsRef(t: torch.Tensor, ref: RefTensor | undefined, label: string): void {
  assert.ok(ref, `${label}: missing on the PyTorch side`);
  assert.equal(t.dtype, ref.dtype, `${label}: dtype`);
  assert.deepEqual([...t.shape], ref.shape, `${label}: shape`);
  assert.equal(hex(t.bytes()), ref.hex, `${label}: raw bytes`);
  const ours = ourValues(t);
  assert.equal(ours.length, ref.values.length, `${label}: element count`);
  for (let i = 0; i < ours.length; i++) {
    // Object.is: exact, and tells -0 from 0.
    assert.ok(Object.is(ours[i], ref.values[i]), `${label}: element ${i} is ${String(ours[i])} here, ${String(ref.values[i])} in PyTorch`);
  }
}

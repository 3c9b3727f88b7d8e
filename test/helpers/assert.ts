// Numeric assertions against oracle values: |a − b| ≤ atol + rtol·|b| elementwise.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Encoded, OracleValue } from './oracle.js';

export function assertClose(actual: torch.Tensor, expected: OracleValue, opts: { rtol?: number; atol?: number; label?: string } = {}): void {
  const e = expected as Encoded;
  const label = opts.label ?? 'value';
  if (!e || !Array.isArray(e.data)) assert.fail(`${label}: oracle gave no tensor (${JSON.stringify(expected).slice(0, 300)})`);
  assert.deepEqual([...actual.shape], e.shape, `${label}: shape`);
  const a = actual.dtype === 'bool' ? Array.from(actual.dataSync() as Uint8Array) : actual.dtype === 'int64' ? Array.from(actual.dataSync() as BigInt64Array, Number) : Array.from(actual.dataSync() as Float32Array);
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-6;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < a.length; i++) {
    const b = e.data[i];
    if (Number.isNaN(b) && Number.isNaN(a[i])) continue;
    if (a[i] === b) continue;
    const excess = Math.abs(a[i] - b) - (atol + rtol * Math.abs(b));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      worstAt = i;
    }
  }
  if (worstAt >= 0) assert.fail(`${label}: element ${worstAt} is ${a[worstAt]}, PyTorch says ${e.data[worstAt]} (rtol ${rtol}, atol ${atol})`);
}

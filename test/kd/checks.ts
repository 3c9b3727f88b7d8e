// Checks against the PyTorch oracle that parityTests cannot express (a module's weights,
// several results at once): each pairs an optional oracle case with assertions on its
// result, and all cases of a file share one PyTorch process, started by the first test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { runOracle, type OracleCase, type OracleResult } from '../helpers/oracle.js';

export interface Check {
  name: string;
  oracle?: OracleCase;
  check: (r: OracleResult) => void;
}

export function oracleChecks(checks: Check[]): void {
  const withOracle = checks.filter((c) => c.oracle);
  let results: OracleResult[] | undefined;
  const oracle = () => (results ??= runOracle(withOracle.map((c) => c.oracle!)));
  for (const c of checks) {
    test(c.name, () => {
      let r: OracleResult = {};
      if (c.oracle) {
        r = oracle()[withOracle.indexOf(c)];
        if (r.error) assert.fail(`PyTorch raised: ${r.error}`);
      }
      c.check(r);
    });
  }
}

/** |a − b| ≤ atol + rtol·|b| for two scalars or two same-shaped tensors. */
export function near(a: torch.Tensor | number, b: torch.Tensor | number, opts: { rtol?: number; atol?: number; label?: string } = {}): void {
  const xs = typeof a === 'number' ? [a] : Array.from(a.dataSync() as Float32Array);
  const ys = typeof b === 'number' ? [b] : Array.from(b.dataSync() as Float32Array);
  assert.equal(xs.length, ys.length, `${opts.label ?? 'value'}: sizes`);
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-6;
  xs.forEach((x, i) => {
    const ok = Math.abs(x - ys[i]) <= atol + rtol * Math.abs(ys[i]);
    assert.ok(ok, `${opts.label ?? 'value'}: element ${i} is ${x}, expected ${ys[i]} (rtol ${rtol}, atol ${atol})`);
  });
}

/** The gradient of `loss(x)` w.r.t. a fresh leaf copy of each of `xs`, and the loss value. */
export function gradsOf(xs: torch.Tensor[], loss: (...leaves: torch.Tensor[]) => torch.Tensor): { value: number; grads: torch.Tensor[] } {
  const leaves = xs.map((x) => x.detach().requiresGrad_());
  const l = loss(...leaves);
  l.backward();
  return { value: l.item(), grads: leaves.map((x) => x.grad!) };
}

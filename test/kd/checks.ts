// Checks against the PyTorch oracle that parityTests cannot express (a module's weights,
// several results at once): each pairs an optional oracle case with assertions on its
// result, and all cases of a file share one PyTorch process, started by the first test.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
export { oracleChecks, type Check } from '../helpers/checks.js';

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

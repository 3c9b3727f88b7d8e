// Op parity against PyTorch: each case runs our op and the same PyTorch expression on
// the same inputs, then compares outputs (values and dtype) and input gradients.
// All cases of a file go to one PyTorch process, started by the first test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { runOracle, type OracleResult, type OracleValue } from './oracle.js';
import { assertClose } from './assert.js';

export interface ParityCase {
  name: string;
  inputs: Record<string, torch.Tensor>;
  /** Python expression over the inputs giving a tensor or a tuple of tensors. */
  py: string;
  ours: (i: Record<string, torch.Tensor>) => torch.Tensor | torch.Tensor[];
  /** Inputs whose gradients (of Σ y₀·g for a random g) are compared. */
  grad?: string[];
  /** Python statements run first (e.g. seeding); `before` is its TS twin. */
  setup?: string;
  before?: () => void;
  rtol?: number;
  atol?: number;
}

interface Ours {
  error?: unknown;
  ys: torch.Tensor[];
  grads: (torch.Tensor | null)[];
  g?: torch.Tensor;
}

function runOurs(c: ParityCase): Ours {
  try {
    return runOursUnsafe(c);
  } catch (error) {
    return { error, ys: [], grads: [] };
  }
}

function runOursUnsafe(c: ParityCase): Ours {
  const inputs: Record<string, torch.Tensor> = {};
  // Our op runs on copies: in-place ops (batchNorm's running stats) must not change what PyTorch sees.
  for (const [k, v] of Object.entries(c.inputs)) inputs[k] = c.grad?.includes(k) ? v.detach().requiresGrad_() : v.clone();
  c.before?.();
  const y = c.ours(inputs);
  const ys = Array.isArray(y) ? y : [y];
  if (!c.grad?.length) return { ys, grads: [] };
  const g = torch.randn([...ys[0].shape]);
  ys[0].backward(g);
  return { ys, grads: c.grad.map((k) => inputs[k].grad), g };
}

export function parityTests(cases: ParityCase[]): void {
  torch.manualSeed(1234);
  const ours = cases.map(runOurs);
  let results: OracleResult[] | undefined;
  const oracle = () =>
    (results ??= runOracle(
      cases.map((c, i) => ({
        code: `${c.setup ?? ''}
y__ = ${c.py}
ys__ = list(y__) if isinstance(y__, (tuple, list)) else [y__]
out = {"y": ys__}
${c.grad?.length ? `ys__[0].backward(g__)\nout["grads"] = [${c.grad.map((k) => `${k}.grad`).join(', ')}]` : ''}`,
        inputs: { ...c.inputs, ...(ours[i].g ? { g__: ours[i].g } : {}) },
        grad: c.grad,
      })),
    ));
  cases.forEach((c, i) => {
    test(c.name, () => {
      if (ours[i].error) throw ours[i].error;
      const r = oracle()[i];
      if (r.error) assert.fail(`PyTorch raised: ${r.error}`);
      const want = r.y as OracleValue[];
      const got = ours[i];
      assert.equal(got.ys.length, want.length, 'number of outputs');
      got.ys.forEach((y, k) => {
        assert.equal(y.dtype, (want[k] as { dtype: string }).dtype, `output ${k} dtype`);
        assertClose(y, want[k], { rtol: c.rtol, atol: c.atol, label: `output ${k}` });
      });
      (c.grad ?? []).forEach((name, k) => {
        const g = got.grads[k];
        assert.ok(g, `no gradient for ${name}`);
        assertClose(g, (r.grads as OracleValue[])[k], { rtol: c.rtol, atol: c.atol ?? 1e-5, label: `grad ${name}` });
      });
    });
  });
}

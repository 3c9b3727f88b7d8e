// Module parity against PyTorch. A check pairs an oracle case (optional) with assertions
// on its result; all checks of a file share one PyTorch process, started by the first
// test that needs it. `moduleCase` builds the common check: our module's default weights
// are copied into the PyTorch module, both run the same forward/backward steps, and
// outputs, input gradients, parameter gradients and buffers are compared.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import type { Module } from '../../src/nn/index.js';
import type { OracleValue } from '../helpers/oracle.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
export type { Check };
import { assertClose } from '../helpers/assert.js';

/** The shared oracle-check runner, under this file's historical name. */
export const runChecks = oracleChecks;

export interface ModuleCase {
  name: string;
  /** Our module, with its default (or test-chosen) weights. */
  ours: () => Module;
  /** Python expression for the same PyTorch module; our state dict is loaded into it (strict). */
  py: string;
  /** Python statements run first (e.g. a reference class for RMSNorm). */
  setup?: string;
  /** One forward and backward(Σ y·g, g random) per input, in train mode unless `eval`. */
  inputs: Tensor[];
  eval?: boolean;
  /** After the steps: one forward in eval mode on this input. */
  evalInput?: Tensor;
  rtol?: number;
  atol?: number;
}

const listPy = (names: string[]) => `[${names.join(', ')}]`;
const snapshot = (t: Tensor) => torch.noGrad(() => t.detach().clone());

export function moduleCase(c: ModuleCase): Check {
  let ours: {
    sd: [string, Tensor][];
    ys: Tensor[];
    gs: Tensor[];
    gxs: (Tensor | null)[];
    pnames: string[];
    pgrads: (Tensor | null)[];
    bnames: string[];
    bufs: Tensor[];
    yEval: Tensor | null;
  };
  let error: unknown;
  try {
    const m = c.ours();
    if (c.eval) m.eval();
    const sd = Object.entries(m.stateDict()).map(([k, t]): [string, Tensor] => [k, snapshot(t)]);
    const ys: Tensor[] = [];
    const gs: Tensor[] = [];
    const gxs: (Tensor | null)[] = [];
    for (const x0 of c.inputs) {
      const x = torch.isFloating(x0.dtype) ? x0.clone().requiresGrad_() : x0;
      const y = m.call(x);
      const g = torch.randn([...y.shape]);
      y.backward(g);
      ys.push(y);
      gs.push(g);
      gxs.push(torch.isFloating(x0.dtype) ? x.grad : null);
    }
    const named = m.namedParameters();
    const yEval = c.evalInput ? torch.noGrad(() => m.eval().call(c.evalInput!)) : null;
    ours = {
      sd, ys, gs, gxs, yEval,
      pnames: named.map(([n]) => n),
      pgrads: named.map(([, p]) => p.grad),
      bnames: m.namedBuffers().map(([n]) => n),
      bufs: m.namedBuffers().map(([, b]) => snapshot(b)),
    };
  } catch (e) {
    error = e;
  }
  if (error) return { name: c.name, check: () => { throw error; } };
  const o = ours!;

  const inputs: Record<string, Tensor> = {};
  const grad: string[] = [];
  o.sd.forEach(([, t], i) => (inputs[`s__${i}`] = t));
  c.inputs.forEach((x, i) => {
    inputs[`x__${i}`] = x;
    inputs[`g__${i}`] = o.gs[i];
    if (torch.isFloating(x.dtype)) grad.push(`x__${i}`);
  });
  if (c.evalInput) inputs.xe__ = c.evalInput;
  const code = `${c.setup ?? ''}
m = ${c.py}
m.load_state_dict({${o.sd.map(([k], i) => `${JSON.stringify(k)}: s__${i}`).join(', ')}})
m.train(${c.eval ? 'False' : 'True'})
ys, gxs = [], []
for x, g in zip(${listPy(c.inputs.map((_, i) => `x__${i}`))}, ${listPy(c.inputs.map((_, i) => `g__${i}`))}):
    y = m(x)
    y.backward(g)
    ys.append(y)
    gxs.append(x.grad)
out = {"ys": ys, "gxs": gxs,
       "pnames": [n for n, _ in m.named_parameters()], "pgrads": [p.grad for _, p in m.named_parameters()],
       "bnames": [n for n, _ in m.named_buffers()], "bufs": [b for _, b in m.named_buffers()]}
${c.evalInput ? 'm.eval()\nwith torch.no_grad():\n    out["yeval"] = m(xe__)' : ''}
`;
  const tol = { rtol: c.rtol, atol: c.atol };
  const gradTol = { rtol: c.rtol, atol: c.atol ?? 1e-5 };
  return {
    name: c.name,
    oracle: { code, inputs, grad },
    check: (r) => {
      const ys = r.ys as OracleValue[];
      o.ys.forEach((y, i) => {
        assert.equal(y.dtype, (ys[i] as { dtype: string }).dtype, `step ${i}: output dtype`);
        assertClose(y, ys[i], { ...tol, label: `step ${i}: output` });
      });
      o.gxs.forEach((g, i) => {
        if (g === null) return;
        assertClose(g, (r.gxs as OracleValue[])[i], { ...gradTol, label: `step ${i}: input gradient` });
      });
      assert.deepEqual(o.pnames, r.pnames, 'parameter names');
      o.pgrads.forEach((g, i) => {
        const want = (r.pgrads as OracleValue[])[i];
        if (want === null || g === null) return assert.equal(g === null, want === null, `grad of ${o.pnames[i]} present`);
        assertClose(g, want, { ...gradTol, label: `grad of ${o.pnames[i]}` });
      });
      assert.deepEqual(o.bnames, r.bnames, 'buffer names');
      o.bufs.forEach((b, i) => assertClose(b, (r.bufs as OracleValue[])[i], { ...tol, label: `buffer ${o.bnames[i]}` }));
      if (o.yEval) assertClose(o.yEval, r.yeval, { ...tol, label: 'eval-mode output' });
    },
  };
}

/** Standard-normal float32 input. */
export const randn = (...shape: number[]) => torch.randn(shape);

/** Overwrites a parameter or buffer in place (to test with non-trivial weights). */
export function setValue(t: Tensor | null, v: Tensor): void {
  if (!t) throw new Error('setValue: no tensor');
  torch.noGrad(() => t.copy_(v));
}

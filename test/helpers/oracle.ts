// Drives PyTorch (Debian python3-torch, only importable by /usr/bin/python3) as the
// oracle for parity tests. Values travel as JSON: float32 values print as exact
// shortest-round-trip decimals, so nothing is lost on the way.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';

export const PYTHON = process.env.DISTILL_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../test/helpers/oracle.py', import.meta.url));

export interface OracleCase {
  code: string;
  inputs?: Record<string, torch.Tensor>;
  /** Inputs that PyTorch should mark requires_grad. */
  grad?: string[];
}
export interface Encoded {
  data: number[];
  shape: number[];
  dtype: string;
}
export type OracleValue = Encoded | number | boolean | OracleValue[] | { [k: string]: OracleValue };
export type OracleResult = Record<string, OracleValue> & { error?: string };

function encode(t: torch.Tensor, requiresGrad: boolean) {
  const arr = t.dataSync();
  const data = t.dtype === 'int64' ? Array.from(arr as BigInt64Array, Number) : Array.from(arr as Float32Array);
  return { data, shape: [...t.shape], dtype: t.dtype, requires_grad: requiresGrad };
}

/** Runs every case in one PyTorch process; returns one result object per case. */
export function runOracle(cases: OracleCase[]): OracleResult[] {
  const payload = cases.map((c) => ({
    code: c.code,
    inputs: Object.fromEntries(Object.entries(c.inputs ?? {}).map(([k, t]) => [k, encode(t, c.grad?.includes(k) ?? false)])),
  }));
  const out = execFileSync(PYTHON, [SCRIPT], { input: JSON.stringify(payload), maxBuffer: 1 << 30, encoding: 'utf8' });
  return JSON.parse(out) as OracleResult[];
}

/** A tensor from an encoded oracle value. */
export function fromOracle(v: OracleValue): torch.Tensor {
  const e = v as Encoded;
  if (!e || !Array.isArray(e.data)) throw new Error(`oracle value is not a tensor: ${JSON.stringify(v).slice(0, 200)}`);
  const t64 = torch.tensor(Float64Array.from(e.data), { shape: e.shape });
  const t = t64.toDtype(e.dtype as torch.DType);
  t64.dispose();
  return t;
}

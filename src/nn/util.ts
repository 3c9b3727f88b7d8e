// Argument checks shared by the layers: bad constructor arguments fail at construction
// with a ConfigError naming the layer and the argument, not later inside libtorch.
import * as torch from '../torch/index.js';

/** An integer ≥ `min` (default 1). */
export function checkInt(layer: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new torch.ConfigError(`${layer}: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** A number or a pair of numbers, as PyTorch's `_pair`: 3 → [3, 3]. */
export function pair(layer: string, name: string, v: number | readonly number[], min = 1): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2) throw new torch.ConfigError(`${layer}: ${name} must be a number or a pair, got [${p.join(', ')}]`);
  return [checkInt(layer, name, p[0], min), checkInt(layer, name, p[1], min)];
}

/** A probability in [0, 1]. */
export function checkProbability(layer: string, name: string, p: unknown): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1))
    throw new torch.ConfigError(`${layer}: ${name} has to be between 0 and 1, but got ${String(p)}`);
  return p;
}

/** A value as Python prints it in a repr (True, None, 1e-05), so toString() reads like PyTorch's. */
export function py(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' && v !== 0 && Math.abs(v) < 1e-4) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}

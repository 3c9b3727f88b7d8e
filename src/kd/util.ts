// Argument checks and reshapes shared by the KD losses. Bad arguments fail with a typed
// error naming the loss and the shapes, before any libtorch op runs.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export const fmt = (t: Tensor) => `[${t.shape.join(', ')}]`;

/** A temperature: a finite number > 0. */
export function checkT(op: string, T: unknown): number {
  if (typeof T !== 'number' || !Number.isFinite(T) || !(T > 0))
    throw new torch.ConfigError(`${op}: temperature T must be a finite number > 0, got ${String(T)}`);
  return T;
}

/** A mixing weight in [0, 1]. */
export function checkUnit(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new torch.ConfigError(`${op}: ${name} must be a number in [0, 1], got ${String(v)}`);
  return v;
}

export function checkTensor(op: string, name: string, t: unknown): Tensor {
  if (!(t instanceof torch.Tensor)) throw new torch.ConfigError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
  return t;
}

export function describe(v: unknown): string {
  if (v instanceof torch.Tensor) return `a Tensor ${fmt(v)}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/**
 * Logits (…, C) as rows (N, C): every leading position (a batch item, or a token of a
 * sequence) is one distribution, so 'batchmean' averages over all N rows.
 */
export function rows(op: string, name: string, t: Tensor): Tensor {
  if (t.ndim < 2) throw new torch.ShapeError('ERR_SHAPE', op, `${name} logits must have shape (…, C) with a batch dimension`, `${name}=${fmt(t)}`);
  return t.ndim === 2 ? t : t.reshape([-1, t.shape[t.ndim - 1]]); // (N, C)
}

/** Student and teacher logits must agree in shape (class counts included). */
export function sameShape(op: string, student: Tensor, teacher: Tensor, teacherName = 'teacher'): void {
  const a = student.shape;
  const b = teacher.shape;
  if (a.length !== b.length || a.some((s, i) => s !== b[i]))
    throw new torch.ShapeError('ERR_SHAPE', op, `student and ${teacherName} logits must have the same shape`, `student=${fmt(student)}, ${teacherName}=${fmt(teacher)}`);
}

/** Log-probabilities softened at T over the last dimension: log softmax(z / T), (N, C). */
export function logSoftAt(z: Tensor, T: number): Tensor {
  return (T === 1 ? z : z.div(T)).logSoftmax(-1);
}

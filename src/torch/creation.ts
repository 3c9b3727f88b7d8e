// Tensors from JS data. zeros/ones/full/rand/… come straight from the op table.
import { native } from './native.js';
import { Tensor, wrap, type NestedArray } from './tensor.js';
import { dtypeCode, dtypeOfArray, type DType } from './dtype.js';
import { ArgumentError, asOp } from './errors.js';
import { arangeRaw } from './ops_generated.js';

export interface TensorOptions {
  dtype?: DType;
  /** Shape for flat typed-array data; defaults to 1-D. */
  shape?: readonly number[];
  requiresGrad?: boolean;
}

function bad(detail: string): never {
  throw new ArgumentError('ERR_ARG', 'tensor', detail, '');
}

function shapeOf(data: NestedArray): number[] {
  const shape: number[] = [];
  let d: NestedArray = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0];
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: number[], depth = 0): void {
  if (depth === shape.length) {
    if (typeof data === 'number') out.push(data);
    else if (typeof data === 'boolean') out.push(data ? 1 : 0);
    else bad(`expected a number at depth ${depth}, got ${Array.isArray(data) ? 'an array' : typeof data}`);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth])
    bad(`ragged nested array: expected length ${shape[depth]} at depth ${depth}`);
  for (const v of data) flatten(v, shape, out, depth + 1);
}

function firstLeaf(data: NestedArray): unknown {
  let d: NestedArray = data;
  while (Array.isArray(d)) d = d[0];
  return d;
}

/**
 * A tensor from nested arrays, a number, or a typed array (one copy).
 * Numbers default to float32 (JS cannot tell 1 from 1.0), booleans to bool,
 * typed arrays to their own dtype (Float32Array → float32, BigInt64Array → int64, …).
 */
export function tensor(data: NestedArray | ArrayBufferView, opts: TensorOptions = {}): Tensor {
  return asOp('tensor', () => tensorFrom(data, opts));
}

function tensorFrom(data: NestedArray | ArrayBufferView, opts: TensorOptions): Tensor {
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    const own = dtypeOfArray(data);
    const shape = opts.shape ?? [data.byteLength / (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT];
    t = wrap(native.fromBytes(data, shape, dtypeCode(own)));
    if (opts.dtype && opts.dtype !== own) t = castAndFree(t, opts.dtype);
  } else {
    const shape = shapeOf(data);
    const flat: number[] = [];
    flatten(data, shape, flat);
    const isBool = typeof firstLeaf(data) === 'boolean';
    const dtype = opts.dtype ?? (isBool ? 'bool' : 'float32');
    if (opts.shape) bad('shape is only for flat typed-array data');
    if (dtype === 'float32') t = wrap(native.fromBytes(Float32Array.from(flat), shape, dtypeCode('float32')));
    else t = castAndFree(wrap(native.fromBytes(Float64Array.from(flat), shape, dtypeCode('float64'))), dtype);
  }
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function castAndFree(t: Tensor, dtype: DType): Tensor {
  try {
    return t.toDtype(dtype);
  } finally {
    t.dispose();
  }
}

/** PyTorch's arange: `arange(end)` or `arange(start, end, step)`; int64 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, dtype?: DType): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const ints = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  return arangeRaw(start, end, step, dtype ?? (ints ? 'int64' : 'float32'));
}

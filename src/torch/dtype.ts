// dtype names as in PyTorch, and their at::ScalarType codes (c10/core/ScalarType.h).
import { makeNativeError } from './errors.js';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const CODES: Record<DType, number> = {
  uint8: 0, int8: 1, int16: 2, int32: 3, int64: 4, float16: 5, float32: 6, float64: 7, bool: 11, bfloat16: 15,
};
const NAMES: DType[] = [];
for (const [name, code] of Object.entries(CODES)) NAMES[code] = name as DType;

/** The native code of a dtype; `op` names the public op in the error for an unknown one. */
export function dtypeCode(d: DType, op = 'dtype'): number {
  const c = CODES[d];
  if (c === undefined) throw makeNativeError('ERR_DTYPE', op, `unknown dtype '${String(d)}'; expected one of ${Object.keys(CODES).join(', ')}`, `dtype=${String(d)}`);
  return c;
}

// libtorch dtypes this layer does not handle, by code, so that errors can name them.
const UNSUPPORTED: Record<number, string> = { 8: 'complex32', 9: 'complex64', 10: 'complex128', 12: 'qint8', 13: 'quint8', 14: 'qint32' };

export function dtypeName(code: number): DType {
  const n = NAMES[code];
  if (!n) throw makeNativeError('ERR_DTYPE', 'dtype', `unsupported dtype ${UNSUPPORTED[code] ?? `with native code ${code}`}`, '');
  return n;
}

/** Bytes per element. */
export const ITEM_SIZE: Record<DType, number> = {
  uint8: 1, int8: 1, int16: 2, int32: 4, int64: 8, float16: 2, float32: 4, float64: 8, bool: 1, bfloat16: 2,
};

export const isFloating = (d: DType) => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';

type TypedArrayFor = {
  float32: Float32Array; float64: Float64Array; int64: BigInt64Array; int32: Int32Array; int16: Int16Array;
  int8: Int8Array; uint8: Uint8Array; bool: Uint8Array; float16: Uint16Array; bfloat16: Uint16Array;
};
export type TypedArray = TypedArrayFor[DType];

/** A typed-array view of raw bytes in the layout of `d` (float16/bfloat16 as raw Uint16). */
export function viewBytes(buf: ArrayBuffer, d: DType): TypedArray {
  switch (d) {
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'uint8': case 'bool': return new Uint8Array(buf);
    case 'float16': case 'bfloat16': return new Uint16Array(buf);
  }
}

/** The dtype PyTorch infers for a typed array. */
export function dtypeOfArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw makeNativeError('ERR_DTYPE', 'tensor', `unsupported typed array ${a.constructor.name}`, '');
}

// Raw little-endian bytes → tensor of any dtype. `tensor(typedArray)` infers the dtype from
// the array type, so float16/bfloat16 (which JS has no typed array for) cannot be built from
// their bit patterns that way; file readers such as safetensors need exactly that.
import { native } from './native.js';
import { wrap, type Tensor } from './tensor.js';
import { dtypeCode, type DType } from './dtype.js';

/** A new tensor holding a copy of `bytes` (row-major, host byte order) as `dtype` with `shape`. */
export function fromBytes(bytes: Uint8Array, shape: readonly number[], dtype: DType): Tensor {
  return wrap(native.fromBytes(bytes, [...shape], dtypeCode(dtype, 'fromBytes')));
}

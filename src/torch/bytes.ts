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

/**
 * Fills the contiguous tensor `t` with the `t.numel · itemsize` bytes of the open file `fd` that
 * start at byte `position` (pread, host byte order): one copy from the page cache into the
 * tensor, no staging buffer. A weight loader's path when the file already holds t's dtype.
 * Writes the memory directly (no autograd record). Returns t.
 */
export function readInto(t: Tensor, fd: number, position: number): Tensor {
  native.readInto(t.handle, fd, position);
  return t;
}

// The public surface of the tensor layer: `import * as torch from '../torch/index.js'`.
export { Tensor, type NestedArray } from './tensor.js';
export { type DType, type TypedArray, isFloating, ITEM_SIZE } from './dtype.js';
export * from './errors.js';
export { tidy, tidyAsync, scope, scopeAsync, keep, scopeDepth } from './scope.js';
export * from './creation.js';
export { fromBytes, readInto } from './bytes.js';
export * from './autograd.js';
export * from './autocast.js';
export * from './runtime.js';
export { ProcessGroup, distOptionsFromEnv, DEFAULT_MASTER_PORT, DEFAULT_DIST_TIMEOUT_MS, type ProcessGroupOptions } from './dist.js';
export {
  // everything generated except the raw variants that functional.ts wraps with options
  zeros, ones, empty, full, linspace, eye, rand, randn, randint, randperm, multinomial,
  zerosLike, onesLike, randnLike, toDtype, toDevice, clone,
  add, sub, mul, div, pow, neg, reciprocal, sqrt, rsqrt, exp, log, log1p, abs, sign, sin, cos, floor, round,
  clamp, minimum, maximum, isnan, isfinite,
  eq, ne, lt, le, gt, ge, logicalNot, logicalAnd, logicalOr, where, any, all,
  sum, mean, amax, amin, argmax, argmin, logsumexp, std, norm, cumsum, argsort,
  reshape, view, permute, transpose, contiguous, squeeze, unsqueeze, expand, flatten, flip, repeat,
  cat, stack, split, splitWithSizes, chunk, narrow, slice, select, indexSelect, gather, scatter, scatterValue,
  scatterAdd, maskedFill, triu, tril, oneHot,
  matmul, mm, bmm, linear, conv1d, conv2d, maxPool2d, avgPool2d, adaptiveAvgPool2d, batchNorm, layerNorm,
  dropout, embedding, relu, leakyRelu, gelu, silu, tanh, sigmoid, softmax, logSoftmax,
  add_, sub_, mul_, div_, addcmul_, addcdiv_, lerp_, sqrt_, clamp_, copy_, fill_, zero_, uniform_, normal_,
  bernoulli_, maskedFill_,
  type Reduction,
} from './ops_generated.js';
export * from './functional.js';

// The public surface of the nn layer: `import * as nn from '../nn/index.js'`.
// Modules in the style of torch.nn, written in TS over the torch layer's functional ops.
export { Module, type AnyModule, type LoadStateDictResult, type ForwardHook } from './module.js';
export { Linear, Identity, type LinearOptions } from './linear.js';
export { Conv2d, type Conv2dOptions } from './conv.js';
export {
  BatchNorm1d, BatchNorm2d, LayerNorm, RMSNorm,
  type BatchNormOptions, type LayerNormOptions, type RMSNormOptions,
} from './norm.js';
export { ReLU, LeakyReLU, GELU, SiLU, Tanh, Sigmoid, type GELUOptions } from './activation.js';
export {
  MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions,
} from './pooling.js';
export { Dropout } from './dropout.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { Flatten } from './flatten.js';
export { Sequential, ModuleList } from './containers.js';
export * as init from './init.js';
export { cnn, mlp, buildArch, type ArchOptions } from './zoo.js';
export { type LossResult, lossValues } from './loss_result.js';

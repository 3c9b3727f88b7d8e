// The public surface of the optim layer: `import * as optim from '../optim/index.js'`.
// Optimizers follow PyTorch 1.13's single-tensor code paths op for op (parity-tested);
// schedulers follow torch.optim.lr_scheduler. Both save JSON (+ tensors) state for checkpoints.
export {
  Optimizer,
  META_FORMAT,
  stateKey,
  type GroupOptions,
  type ParamGroup,
  type ParamGroupInput,
  type ParamsInput,
  type ParamState,
  type OptimizerStateDict,
  type OptimizerMeta,
} from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, type AdamOptions } from './adam.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { clipGradNorm, type ClipGradOptions } from './clip_grad.js';
export { WeightEma } from './ema.js';
export { LRScheduler, type SchedulerState } from './scheduler.js';
export { StepLR, MultiStepLR, type StepLROptions, type MultiStepLROptions } from './step_lr.js';
export { CosineAnnealingLR, type CosineAnnealingLROptions } from './cosine_lr.js';
export { LinearLR, LinearWarmup, type LinearLROptions } from './linear_lr.js';
export { SequentialLR, warmupCosine, type SequentialLROptions, type WarmupCosineOptions } from './sequential_lr.js';
export { ZeroRedundancyOptimizer, disposeStateDict } from './zero.js';

// The public surface of the train layer: the one training loop that classifier KD and LM
// distillation share (a computeLoss hook, callbacks, checkpoint/resume, EMA, data parallel).
export {
  Trainer, NonFiniteLossError, checkpointHasRecipe,
  type TrainerOptions, type TrainerResult, type TrainerCallback, type LossOutput, type StepContext, type EpochData,
  type StepRecord, type EpochSummary, type CheckpointOptions,
} from './trainer.js';
export { MetricsFile, EarlyStopping, type EarlyStoppingOptions } from './callbacks.js';
export { broadcastState, allreduceGradients, allreduceSums, agree, shardRange } from './distributed.js';

// The public surface of the distillation layer: `import * as kd from '../kd/index.js'`.
// Losses are functions of tensors returning a scalar; createLoss builds them by name
// from a config; captureFeatures reads intermediate features without editing a model.

// temperature-softened distributions and their entropies
export { softTargets, logSoftTargets, entropy, entropyAtT } from './temperature.js';

// what hintonLoss, tokenKdLoss and createLoss's callable return: { loss, parts }
export { type LossResult, lossValues } from '../nn/index.js';

// logit losses (each × T², batchmean over rows)
export { hintonLoss, hardCE, softKL, standardizeLogits, type HintonOptions, type HardOptions, type Mixup, type TeacherInput } from './hinton.js';
export { forwardKL, reverseKL, jsd, totalVariation, mseLogits } from './divergences.js';
export { sparseKL, sparseTeacherFromLogits, isSparseTeacher, type SparseTeacher } from './sparse.js';
export { multiTeacherKL, multiTeacherTargets, normaliseWeights } from './multi_teacher.js';
// token-level KD for causal LMs (per-position CE + KL to the teacher's top-k distributions)
export { tokenKdLoss } from './token_kd.js';
// the token-level divergences by name (GKD's JSD(β), reverse KL, DistiLLM's skew KLs, TVD, AKL)
export { tokenDivergence, tokenDivergenceRows, TOKEN_LOSS_NAMES, type TokenLossName, type TokenDivergenceOptions, type TopkTeacher } from './token_losses.js';
// cross-tokenizer KD: spans aligned by text offsets, ULD and span KL over them
export {
  alignTokens, vocabMap, uldLoss, spanKl, crossTokenizerLoss, teacherFromTopk,
  type Alignment, type AlignedSpan, type VocabMap, type CrossTokenizerStudent, type CrossTokenizerTeacher, type CrossTokenizerOptions,
} from './cross_tokenizer.js';

// feature losses
export { HintRegressor, hintLoss, type HintRegressorOptions } from './hint.js';
export { attentionMap, attentionTransfer, type AttentionTransferOptions } from './attention.js';
export { captureFeatures, type FeatureCapture } from './capture.js';

// by name, from a config
export {
  createLoss, registerLoss, lossNames, describeLosses,
  type KDLoss, type LossSpec, type LossName, type LossOptions, type NoOptions, type LossInputs, type LossContext,
  type LossComponent, type LossDefinition, type OptionRule,
} from './registry.js';

// α and T over training progress
export { makeSchedule, makeKDSchedule, type Schedule, type KDScheduleSpec } from './schedule.js';
export type { ScheduleSpec } from './config.js';

// where soft targets come from, and the training loop
export { LiveTeacher, CachedTeacher, computeLogits, teacherCacheKey, type Teacher, type TeacherBatch, type CacheOptions } from './teacher.js';
export { ViewLogitsStore } from './view_store.js';
export {
  train, saveWeights, NonFiniteLossError,
  type TrainRequest, type TrainResult, type TrainEvent, type EpochRecord, type KDSetup, type BatchSource, type EvalSet,
} from './trainer.js';
// the configs' zod schemas: their types, defaults and checks (experiment files build on them)
export {
  trainConfigSchema, trainConfig, DEFAULT_TRAIN, scheduleSpecSchema, parseConfig, type TrainConfig, type TrainConfigInput,
} from './config.js';

// data parallelism over a torch ProcessGroup (the trainer's `dist` option uses these)
export { broadcastState, allreduceGradients, allreduceSums, agree, shardRange } from '../train/index.js';

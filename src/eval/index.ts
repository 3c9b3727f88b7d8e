// The public surface of the eval layer: measuring models for the proof table (docs/architecture.md,
// "Proof and performance method"): size, accuracy and agreement, latency, throughput and memory, side by side.
export { type EvalModel, type InputOptions, inEvalMode, withSeed } from './model.js';
export { countParameters, weightsBytes, modelFileBytes, type ParameterCount } from './size.js';
export { predict, predictLabels, accuracy, type PredictOptions } from './predict.js';
export { agreement, accuracyOf, confusionMatrix, perClassAccuracy, classesOf, type Predictions } from './labels.js';
export {
  latency, throughput, quantile, type LatencyOptions, type LatencyResult, type ThroughputOptions,
} from './timing.js';
export { peakMemory, type PeakMemoryOptions, type PeakMemoryResult } from './memory.js';
export { compareModels, type CompareEntry, type CompareOptions, type ComparisonRow, type Role } from './compare.js';
export { formatCount, formatBytes, formatMs, formatRate, formatPercent } from './format.js';
export { formatTable, tableMarkdown, writeComparison } from './table.js';

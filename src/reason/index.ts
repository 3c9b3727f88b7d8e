// The public surface of the reasoning pipeline: problems with exact answers → teachers
// (HTTP, our own LM, GGUF) → verified traces → datasets, and LM students trained on them.
export type * from './types.js';
export * from './problems/index.js';
export { extractAnswer, checkAnswer, lastBoxed } from './verify.js';
export { filterTrace } from './filters.js';
export { HttpTeacher, type HttpTeacherOptions, type TeacherStats } from './teachers/http.js';
export { LocalTeacher, splitReasoning } from './teachers/local.js';
export { GgufTeacher } from './teachers/gguf.js';
export { scoreWithModel, checkScoreRequest, type TokenScore, type TokenScorer } from './teachers/scorer.js';
export { SCORE_FEATURE } from './teachers/score_parse.js';
export { TeacherPool, PoolExhaustedError, type PoolEndpoint, type TeacherPoolOptions, type PoolStats, type EndpointStats } from './teachers/pool.js';
export {
  generateTraces, buildRequest, traceId, PRESETS, GenerateError,
  type Preset, type PresetName, type GenerateTracesOptions, type GenerateTracesResult, type GenerateProgress,
} from './traces/generate.js';
export { mergeTraces, traceFiles, traceFile, TraceDirReader } from './traces/trace_dir.js';
export { LeaseDir, Lease, type LeaseRecord } from './traces/lease.js';
export { formatTrace, formatTraces, writeTraces } from './traces/formats.js';
export { findOverlap, assertNoOverlap } from './traces/overlap.js';
export { TraceTopkWriter, TraceTopkReader, tokenizerHash, TOPK_DIR } from './traces/topk_traces.js';
export { datasetCard } from './traces/card.js';
export { studentExamples, teacherDistributions, replyText, prunedStudent, type StudentKind } from './students.js';
export { readProblemsFile, writeProblemsFile, readTracesFile } from './files.js';
export { trainLm, type LmTrainOptions, type LmStepInfo } from './sft.js';
export { trainGkd, localTeacher, checkGkdOptions, type GkdOptions, type GkdStepInfo, type GkdResult, type GkdTeacher } from './gkd.js';
export { blockingScorer, scorerTeacher, type ScorerSpec, type SyncScorer, type TokenScoreLike } from './gkd_scorer.js';
export { evaluateLm, type LmEvaluation } from './evaluate.js';

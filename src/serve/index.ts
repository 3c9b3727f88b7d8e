// The public surface of the serve layer: the live training dashboard. It reads run folders
// from disk (src/io and node built-ins only) and never loads libtorch.
export { startDashboard, type DashboardOptions, type DashboardHandle } from './server.js';
export {
  listRuns, resolveStage, stageStatus, parseLines, parseLine, isValidName, isValidStage, DEFAULT_STALE_MS,
  type RunInfo, type StageInfo, type StageStatus, type MetricLine,
} from './runs.js';
export { MetricsFollower, type FollowHandlers, type FollowOptions } from './follow.js';

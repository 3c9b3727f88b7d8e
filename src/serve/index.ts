// The public surface of the serve layer: the live training dashboard, which reads run folders
// from disk (src/io and node built-ins only), and the OpenAI-compatible chat server with its
// fault-injecting proxy. None of it loads libtorch: a model arrives as a ChatBackend.
export { startDashboard, type DashboardOptions, type DashboardHandle } from './server.js';
export {
  listRuns, resolveStage, stageStatus, parseLines, parseLine, isValidName, isValidStage, DEFAULT_STALE_MS,
  type RunInfo, type StageInfo, type StageStatus, type MetricLine,
} from './runs.js';
export { MetricsFollower, type FollowHandlers, type FollowOptions } from './follow.js';
export { startOpenAIServer, type OpenAIServerOptions, type OpenAIServerHandle, type OpenAIServerStats } from './openai_server.js';
export { teacherBackend, withContextLength, SerialQueue, type ChatBackend, type ChatDelta } from './chat_backend.js';
export { startFaultProxy, type Fault, type FaultProxyOptions, type FaultProxyHandle } from './fault_proxy.js';

// What the dashboard's server sends (server.ts: GET /api/runs, and the SSE stream of a stage),
// as far as the page (browser/dashboard.ts) reads it. Types only, so the browser code may import
// them (`import type`) without Node's types. The server's own types (runs.ts) must stay
// assignable to these: test/integration/browser_bundles.test.ts checks that at compile time.

/** One line of a stage's metrics.jsonl, replayed by the stream's `line` events. */
export interface MetricLine {
  type: string;
  epoch?: number;
  step?: number;
  stepInEpoch?: number;
  stepsPerEpoch?: number;
  loss?: number;
  parts?: Record<string, number>;
  valAccuracy?: number | null;
  teacherAgreement?: number | null;
  samplesPerSec?: number;
}

export interface StageInfo {
  stage: string;
  status: string;
  lastEpoch: number | null;
  epochs: number | null;
  stepsPerEpoch: number | null;
  progress: number | null;
  samplesPerStep: number | null;
  etaSeconds: number | null;
  valAccuracy: number | null;
}

export interface RunInfo {
  name: string;
  stages: StageInfo[];
}

/** GET /api/runs. */
export interface RunsAnswer {
  runsDir: string;
  runs: RunInfo[];
}

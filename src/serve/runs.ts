// Run folders as the dashboard sees them, read straight from disk (no libtorch here: the
// dashboard must start instantly and must not compete with a training process for memory).
//
// A run is a folder under runsDir; a stage is any subfolder (one or two levels down, so a
// sweep's `h64/student` counts) holding a metrics.jsonl written by the trainer.
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import type { MetricLine as WireMetricLine } from './dashboard_api.js';

/** One line of metrics.jsonl: a `step` or an `epoch` record (see src/kd/trainer.ts), as the page reads it, plus any other keys. */
export interface MetricLine extends WireMetricLine {
  [key: string]: unknown;
}

export type StageStatus = 'running' | 'finished' | 'stale';

export interface StageInfo {
  stage: string;
  status: StageStatus;
  /** Last completed epoch (0-based, as logged), or null before the first epoch ends. */
  lastEpoch: number | null;
  /** Planned epochs, from the run's config.json when it has one. */
  epochs: number | null;
  step: number | null;
  stepsPerEpoch: number | null;
  totalSteps: number | null;
  /** In [0, 1]; 1 once the stage has written its final weights (early stopping included). */
  progress: number | null;
  samplesPerSec: number | null;
  /** Samples per optimizer step (batchSize × gradAccumulation), for turning samples/s into an ETA. */
  samplesPerStep: number | null;
  etaSeconds: number | null;
  loss: number | null;
  valAccuracy: number | null;
  updatedAt: number;
}

export interface RunInfo {
  name: string;
  stages: StageInfo[];
  updatedAt: number;
}

// Names are a single safe path segment: no separators, no leading dot (so never '.' or '..').
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._+=,@-]{0,127}$/;

export function isValidName(s: string): boolean {
  return NAME_RE.test(s);
}

/** A stage id is one or two valid names joined by '/' (e.g. `baseline`, `h64/student`). */
export function isValidStage(s: string): boolean {
  const parts = s.split('/');
  return parts.length <= 2 && parts.every(isValidName);
}

/** Parses JSONL text; a line that is not a JSON object with a string `type` is skipped, never fatal. */
export function parseLine(raw: string): MetricLine | null {
  if (!raw.trim()) return null;
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof (v as MetricLine).type === 'string') return v as MetricLine;
  } catch { /* a half-written or corrupt line */ }
  return null;
}

export function parseLines(text: string): MetricLine[] {
  const out: MetricLine[] = [];
  for (const raw of text.split('\n')) {
    const l = parseLine(raw);
    if (l) out.push(l);
  }
  return out;
}

function dirs(path: string): Dirent[] {
  try {
    // Dirent.isDirectory() does not follow symlinks: a link out of runsDir is never served.
    return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory() && isValidName(d.name));
  } catch {
    return [];
  }
}

/** A regular file, not a symlink: a link planted in a run folder must not expose a file elsewhere. */
function isPlainFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** The stage ids of one run folder, sorted. */
export function findStages(runDir: string): string[] {
  const out: string[] = [];
  for (const d of dirs(runDir)) {
    if (isPlainFile(join(runDir, d.name, 'metrics.jsonl'))) out.push(d.name);
    for (const e of dirs(join(runDir, d.name)))
      if (isPlainFile(join(runDir, d.name, e.name, 'metrics.jsonl'))) out.push(`${d.name}/${e.name}`);
  }
  return out.sort();
}

export interface StagePaths {
  runDir: string;
  dir: string;
  metrics: string;
  model: string;
}

/**
 * Resolves (run, stage) to paths, or says why not: 400 for a malformed name (anything that
 * could climb out of runsDir), 404 for a well-formed name that is not a run/stage on disk.
 * Only names that findStages itself returns are accepted, so the path is always one we listed.
 */
export function resolveStage(runsDir: string, run: string, stage: string): StagePaths | { error: 400 | 404; message: string } {
  if (!isValidName(run)) return { error: 400, message: `bad run name '${run}'` };
  if (!isValidStage(stage)) return { error: 400, message: `bad stage name '${stage}'` };
  const runDir = join(runsDir, run);
  if (!dirs(runsDir).some((d) => d.name === run)) return { error: 404, message: `no run '${run}'` };
  if (!findStages(runDir).includes(stage)) return { error: 404, message: `run '${run}' has no stage '${stage}'` };
  const dir = join(runDir, ...stage.split('/'));
  return { runDir, dir, metrics: join(dir, 'metrics.jsonl'), model: join(dir, 'model.safetensors') };
}

/** How long a metrics file may sit unchanged before its unfinished stage counts as stale (killed). */
export const DEFAULT_STALE_MS = 120_000;

/**
 * finished: final weights written after the last metrics line (the trainer saves them last;
 *   comparing times keeps an old model.safetensors from a previous run in the same folder
 *   from marking a fresh rerun as finished).
 * running: metrics.jsonl changed within staleMs. stale: neither (a killed or stuck run).
 */
export function stageStatus(p: Pick<StagePaths, 'metrics' | 'model'>, staleMs = DEFAULT_STALE_MS, now = Date.now()): { status: StageStatus; mtimeMs: number } {
  let mtimeMs = 0;
  try {
    mtimeMs = statSync(p.metrics).mtimeMs;
  } catch {
    return { status: 'stale', mtimeMs };
  }
  try {
    if (statSync(p.model).mtimeMs >= mtimeMs) return { status: 'finished', mtimeMs };
  } catch { /* no weights yet */ }
  return { status: now - mtimeMs <= staleMs ? 'running' : 'stale', mtimeMs };
}

/** The last `bytes` of a file as parsed lines (the first, possibly cut, line is dropped). */
export function readTailLines(path: string, bytes = 64 * 1024): MetricLine[] {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    let text = buf.subarray(0, n).toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return parseLines(text);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface StagePlan {
  epochs: number | null;
  samplesPerStep: number | null;
}

/** The planned epochs and batch of a stage, from the run's resolved config.json (teacher.train or student.train). */
export function stagePlan(runDir: string, stage: string): StagePlan {
  try {
    const cfg = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as Record<string, { train?: Record<string, unknown> }>;
    const leaf = stage.split('/').pop();
    const train = (leaf === 'teacher' ? cfg.teacher : cfg.student)?.train ?? {};
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null);
    const batch = num(train.batchSize);
    return { epochs: num(train.epochs), samplesPerStep: batch === null ? null : batch * (num(train.gradAccumulation) ?? 1) };
  } catch {
    return { epochs: null, samplesPerStep: null };
  }
}

const median = (xs: number[]) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/** Progress and ETA from a stage's recent lines; shared by the API and (in spirit) the page. */
export function summarize(stage: string, lines: MetricLine[], plan: StagePlan, status: StageStatus, updatedAt: number): StageInfo {
  const steps = lines.filter((l) => l.type === 'step');
  const epochsDone = lines.filter((l) => l.type === 'epoch');
  const lastStep = steps.at(-1);
  const lastEpoch = epochsDone.at(-1);
  const stepsPerEpoch = typeof lastStep?.stepsPerEpoch === 'number' ? lastStep.stepsPerEpoch : null;
  const totalSteps = stepsPerEpoch !== null && plan.epochs !== null ? stepsPerEpoch * plan.epochs : null;
  const step = typeof lastStep?.step === 'number' ? lastStep.step : null;
  // The median of the last few rates: one slow interval (validation, a GC pause) should not swing the ETA.
  const sps = median(steps.slice(-5).map((l) => l.samplesPerSec).filter((v): v is number => typeof v === 'number' && v > 0));
  let progress: number | null = status === 'finished' ? 1 : totalSteps && step !== null ? Math.min(1, step / totalSteps) : null;
  if (progress === null && status !== 'finished' && plan.epochs && lastEpoch) progress = ((lastEpoch.epoch ?? 0) + 1) / plan.epochs;
  const eta = status === 'running' && totalSteps !== null && step !== null && sps && plan.samplesPerStep
    ? ((totalSteps - step) * plan.samplesPerStep) / sps : null;
  return {
    stage, status, lastEpoch: typeof lastEpoch?.epoch === 'number' ? lastEpoch.epoch : null, epochs: plan.epochs,
    step, stepsPerEpoch, totalSteps, progress, samplesPerSec: sps, samplesPerStep: plan.samplesPerStep, etaSeconds: eta,
    loss: typeof (lastStep ?? lastEpoch)?.loss === 'number' ? (lastStep ?? lastEpoch)!.loss! : null,
    valAccuracy: typeof lastEpoch?.valAccuracy === 'number' ? lastEpoch.valAccuracy : null,
    updatedAt,
  };
}

/** Every run under runsDir that has at least one stage, most recently updated first. */
export function listRuns(runsDir: string, staleMs = DEFAULT_STALE_MS): RunInfo[] {
  const runs: RunInfo[] = [];
  for (const d of dirs(runsDir)) {
    const runDir = join(runsDir, d.name);
    const stages = findStages(runDir).map((stage) => {
      const dir = join(runDir, ...stage.split('/'));
      const p = { metrics: join(dir, 'metrics.jsonl'), model: join(dir, 'model.safetensors') };
      const { status, mtimeMs } = stageStatus(p, staleMs);
      return summarize(stage, readTailLines(p.metrics), stagePlan(runDir, stage), status, mtimeMs);
    });
    if (stages.length) runs.push({ name: d.name, stages, updatedAt: Math.max(...stages.map((s) => s.updatedAt)) });
  }
  return runs.sort((a, b) => b.updatedAt - a.updatedAt || a.name.localeCompare(b.name));
}

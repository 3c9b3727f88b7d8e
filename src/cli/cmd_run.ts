// `distill demo`, `train-teacher`, `train-student`, `distill`: the training commands.
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../torch/errors.js';
import { experimentSchema, loadExperiment, setPath, type Experiment } from './experiment.js';
import { makeReporter, type Reporter } from './progress.js';
import { keyFromEnv } from './cmd_dashboard.js';
import { applyThreads, prepareData, teacherStage, studentStage, compareStage, runDir, writeResolvedConfig, type PreparedData } from './pipeline.js';
import * as torch from '../torch/index.js';
import * as evaluate from '../eval/index.js';
import { writeRunReport } from '../report/index.js';

export interface RunOptions {
  config?: string;
  set?: string[];
  json?: boolean;
  resume?: boolean;
  fresh?: boolean;
  ui?: boolean;
  /** The run folder (runsDir/name); `name` is its deprecated spelling, a folder under runs/. */
  out?: string;
  name?: string;
  /** With --ui: the environment variable holding the dashboard's key (default DISTILL_API_KEY). */
  apiKeyEnv?: string;
  /** --zero 1: ZeRO stage 1 under data parallel (the optimizer state sharded over the ranks). */
  zero?: number;
}

/** `--set kd.T=8` style overrides; values parse as JSON when they can (numbers, arrays, booleans). */
export function parseOverrides(o: RunOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of o.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new Error(`--set expects key=value, got '${kv}'`);
    const raw = kv.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    setPath(out, kv.slice(0, eq), value);
  }
  if (o.out !== undefined && o.name !== undefined) throw new ConfigError('give the run folder once: --out DIR (--name is its deprecated spelling)');
  if (o.out !== undefined) {
    // --out is the run folder itself: its parent is the runs folder, its last part the run's name
    // (resolved first, so that '.', '..' and a trailing '/' name the folder they mean).
    const abs = resolve(o.out);
    const name = basename(abs);
    const ok = experimentSchema.shape.name.safeParse(name);
    if (!ok.success) throw new ConfigError(`--out ${o.out}: the folder's name '${name}' must be ${ok.error.issues[0].message}`);
    out.runsDir = dirname(abs);
    out.name = name;
  } else if (o.name !== undefined) out.name = o.name;
  return out;
}

interface Setup {
  exp: Experiment;
  rep: Reporter;
  d: PreparedData;
  dir: string;
  /** This process's data-parallel group (RANK/WORLD_SIZE set by the launcher), if any. */
  dist?: torch.ProcessGroup;
  /** Rank 0, or a single-process run: the process that measures, prints and writes. */
  lead: boolean;
  /** ZeRO stage under `dist` (--zero). */
  zero: 0 | 1;
}

function setup(o: RunOptions, defaults: Record<string, unknown> = {}): Setup {
  const overrides = { ...defaults, ...parseOverrides(o) };
  const exp = loadExperiment(o.config, overrides);
  const env = torch.distOptionsFromEnv();
  const lead = !env || env.rank === 0;
  const rep = makeReporter({ json: o.json, quiet: !lead });
  // Ranks on one machine share its cores (torchrun sets one thread per process; we split them).
  const threads = applyThreads(exp, Number(process.env.LOCAL_WORLD_SIZE) || 1);
  // Join first: a rank that cannot reach its peers fails before loading any data.
  if (o.ui && lead && o.apiKeyEnv !== undefined) keyFromEnv(o.apiKeyEnv); // a missing key variable fails before anything runs
  const dist = env && env.worldSize > 1 ? torch.ProcessGroup.create(env) : undefined;
  const dir = runDir(exp);
  try {
    rep.note(`run: ${dir} with ${threads} thread(s)${dist ? ` per rank, ${dist.worldSize} ranks (data parallel; batchSize is per rank)` : ''}`);
    const d = prepareData(exp, rep);
    if (lead) writeResolvedConfig(dir, exp);
    return { exp, rep, d, dir, dist, lead, zero: o.zero === 1 ? 1 : 0 };
  } catch (e) {
    dist?.dispose();
    throw e;
  }
}

/** With --ui, the live dashboard serves the runs folder (from a worker thread) while the command trains. */
export async function openUi(o: RunOptions, exp: Experiment): Promise<{ close(): Promise<void> | void } | null> {
  if (!o.ui) return null;
  return (await import('./cmd_dashboard.js')).attachDashboard(exp.runsDir, { apiKeyEnv: o.apiKeyEnv });
}

function printRows(rows: evaluate.ComparisonRow[], dir: string, json: boolean | undefined, extra: Record<string, unknown> = {}): void {
  if (json) {
    console.log(JSON.stringify({ runDir: dir, ...extra, rows }));
    return;
  }
  console.log('\n' + evaluate.formatTable(rows));
  console.log(`\nwrote ${join(dir, 'comparison.md')} and comparison.json`);
}

export async function runDemo(o: RunOptions): Promise<number> {
  const { exp, rep, d, dir, dist, lead, zero } = setup(o);
  const ui = lead ? await openUi(o, exp) : null;
  try {
    const teacher = teacherStage(exp, d, rep, { force: o.fresh, dist, zero });
    const resume = !!o.resume;
    const baseline = studentStage(exp, d, rep, join(dir, 'baseline'), undefined, { resume, dist, zero });
    const student = studentStage(exp, d, rep, join(dir, 'student'), teacher.model, { resume, dist, zero });
    if (!lead) return 0; // rank 0 measures and reports
    const rows = compareStage([
      { name: `teacher (${exp.teacher.arch})`, role: 'teacher', model: teacher.model },
      { name: `baseline (${exp.student.arch})`, role: 'baseline', model: baseline.model },
      { name: `distilled (${exp.student.arch})`, role: 'student', model: student.model },
    ], d, dir, rep);
    // The report is the run's picture, not its result: the weights and the table are already
    // saved, so a failure here is a warning (rerun it with `distill report`), not a failed run.
    let report: string | null = null, reportError: string | undefined;
    try {
      report = writeRunReport(dir, { teacher: teacher.model, baseline: baseline.model, student: student.model, test: d.test, val: d.val }).report;
    } catch (e) {
      reportError = (e as Error).message;
      rep.note(`report: not written (${reportError}); retry with \`npx distill report ${dir}\``);
    }
    rep.stop();
    const [t, b, s] = rows;
    const closed = t.accuracy > b.accuracy ? (s.accuracy - b.accuracy) / (t.accuracy - b.accuracy) : null;
    if (!o.json && closed !== null) console.log(`\ndistillation closed ${(closed * 100).toFixed(0)}% of the teacher–baseline gap (${d.name}, T=${JSON.stringify(exp.kd.T)}, α=${JSON.stringify(exp.kd.alpha)})`);
    printRows(rows, dir, o.json, { dataset: d.name, gapClosed: closed, teacherReused: teacher.reused, report, ...(reportError ? { reportError } : {}) });
    if (!o.json && report) console.log(`report: ${report}`);
    return 0;
  } finally {
    dist?.dispose();
    await ui?.close();
  }
}

export async function runTrainTeacher(o: RunOptions): Promise<number> {
  const { exp, rep, d, dir, dist, lead, zero } = setup(o);
  const ui = lead ? await openUi(o, exp) : null;
  try {
    const teacher = teacherStage(exp, d, rep, { force: o.fresh, dir: join(dir, 'teacher'), dist, zero });
    if (!lead) return 0;
    const rows = compareStage([{ name: `teacher (${exp.teacher.arch})`, role: 'teacher', model: teacher.model }], d, join(dir, 'teacher'), rep);
    rep.stop();
    printRows(rows, join(dir, 'teacher'), o.json);
    return 0;
  } finally {
    dist?.dispose();
    await ui?.close();
  }
}

export async function runTrainStudent(o: RunOptions): Promise<number> {
  const { exp, rep, d, dir, dist, lead, zero } = setup(o);
  const ui = lead ? await openUi(o, exp) : null;
  try {
    const out = join(dir, 'baseline');
    const baseline = studentStage(exp, d, rep, out, undefined, { resume: !!o.resume, dist, zero });
    if (!lead) return 0;
    const rows = compareStage([{ name: `baseline (${exp.student.arch})`, role: 'baseline', model: baseline.model }], d, out, rep);
    rep.stop();
    printRows(rows, out, o.json);
    return 0;
  } finally {
    dist?.dispose();
    await ui?.close();
  }
}

export async function runDistill(o: RunOptions): Promise<number> {
  const { exp, rep, d, dir, dist, lead, zero } = setup(o);
  const ui = lead ? await openUi(o, exp) : null;
  try {
    const teacher = teacherStage(exp, d, rep, { dist, zero });
    const out = join(dir, 'student');
    const student = studentStage(exp, d, rep, out, teacher.model, { resume: !!o.resume, dist, zero });
    if (!lead) return 0;
    const rows = compareStage([
      { name: `teacher (${exp.teacher.arch})`, role: 'teacher', model: teacher.model },
      { name: `distilled (${exp.student.arch})`, role: 'student', model: student.model },
    ], d, out, rep);
    rep.stop();
    printRows(rows, out, o.json);
    return 0;
  } finally {
    dist?.dispose();
    await ui?.close();
  }
}

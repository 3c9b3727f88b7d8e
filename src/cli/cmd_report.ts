// `distill report [run]`: rebuilds a run folder's models (teacher.json, config.json,
// baseline/ and student/ weights) and writes its report.html and charts/*.svg.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import { writeRunReport } from '../report/index.js';
import { loadExperiment, type Experiment } from './experiment.js';
import { makeReporter, type Reporter } from './progress.js';
import { applyThreads, prepareData, loadWeights, type PreparedData } from './pipeline.js';
import type { RunOptions } from './cmd_run.js';

export interface ReportOptions extends RunOptions {
  /** A test-set row for the temperature chart instead of the most ambiguous one. */
  example?: string;
}

export interface RunModels {
  teacher?: nn.Module;
  baseline?: nn.Module;
  student?: nn.Module;
}

/**
 * The models a run folder holds, rebuilt from its saved config. Any of them may be
 * missing (a train-student run has no teacher); what exists is loaded.
 */
export function loadRunModels(run: string, exp: Experiment, d: PreparedData, rep: Reporter): RunModels {
  // Dropout layers hold no weights but shift the layer indices in the state-dict keys, so
  // each model is built with the dropout it was trained with.
  const build = (arch: string, dropout: number) => nn.buildArch(arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout });
  const out: RunModels = {};
  const teacherRef = join(run, 'teacher.json');
  if (existsSync(teacherRef)) {
    const t = JSON.parse(readFileSync(teacherRef, 'utf8')) as { weights: string; arch: string; dropout: number };
    if (existsSync(t.weights)) {
      out.teacher = build(t.arch, t.dropout);
      loadWeights(out.teacher, t.weights);
    } else rep.note(`teacher weights ${t.weights} are gone; the report goes without the temperature chart`);
  }
  for (const role of ['baseline', 'student'] as const) {
    const w = join(run, role, 'model.safetensors');
    if (!existsSync(w)) continue;
    out[role] = build(exp.student.arch, exp.student.dropout);
    loadWeights(out[role]!, w);
  }
  return out;
}

export async function runReport(dir: string | undefined, o: ReportOptions = {}): Promise<number> {
  if (o.example !== undefined && !/^\d+$/.test(o.example)) throw new torch.ConfigError(`--example expects a test-set row index (0, 1, …), got '${o.example}'`);
  const run = resolve(dir ?? join('runs', 'demo'));
  const cfgPath = join(run, 'config.json');
  if (!existsSync(cfgPath)) throw new torch.ConfigError(`${run}: not a run folder (no config.json); run \`npx distill demo\` first or pass a run folder`);
  const saved = JSON.parse(readFileSync(cfgPath, 'utf8')) as Experiment;
  const exp = loadExperiment(undefined, saved as unknown as Record<string, unknown>);
  const rep = makeReporter({ json: o.json });
  applyThreads(exp);
  // The same seeded split as training, so the validation line and the test examples match the run's.
  const d = prepareData(exp, rep);
  const models = loadRunModels(run, exp, d, rep);
  const exampleIndex = o.example === undefined ? undefined : Number(o.example);
  rep.note(`report: ${Object.keys(models).join(', ') || 'no models'} on ${d.test.y.shape[0]} test samples`);
  const written = writeRunReport(run, { ...models, test: d.test, val: d.val, exampleIndex });
  rep.stop();
  if (o.json) console.log(JSON.stringify({ runDir: run, ...written }));
  else console.log(`wrote ${written.report}${written.charts.length ? ` and ${written.charts.length} charts in ${join(run, 'charts')}` : ''}`);
  return 0;
}

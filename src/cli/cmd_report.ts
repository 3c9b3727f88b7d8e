// `distill report [run]`: rebuilds a run folder's models (teacher.json, config.json,
// baseline/ and student/ weights) and writes its report.html and charts/*.svg.
import { join } from 'node:path';
import { writeRunReport } from '../report/index.js';
import { openRunFolder } from './run_folder.js';
import type { RunOptions } from './cmd_run.js';

export interface ReportOptions extends RunOptions {
  /** A test-set row for the temperature chart instead of the most ambiguous one. */
  example?: number;
}

export async function runReport(dir: string | undefined, o: ReportOptions = {}): Promise<number> {
  const { run, rep, d, models: m } = openRunFolder(dir, o);
  const models = { teacher: m.teacher?.model, baseline: m.baseline?.model, student: m.student?.model };
  const exampleIndex = o.example;
  rep.note(`report: ${Object.keys(m).join(', ') || 'no models'} on ${d.test.y.shape[0]} test samples`);
  const written = writeRunReport(run, { ...models, test: d.test, val: d.val, exampleIndex });
  rep.stop();
  if (o.json) console.log(JSON.stringify({ runDir: run, ...written }));
  else console.log(`wrote ${written.report}${written.charts.length ? ` and ${written.charts.length} charts in ${join(run, 'charts')}` : ''}`);
  return 0;
}

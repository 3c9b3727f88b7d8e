// Writing a run's report: collect (models + run folder) → render (HTML) → files. Every
// file goes through the atomic write, so a killed report never leaves half a page.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/index.js';
import { collectRunReport, type ReportContext } from './collect.js';
import { chartData, chartSvgs } from './charts.js';
import { renderRunReport } from './render.js';

export interface WrittenReport {
  /** Absolute path of report.html. */
  report: string;
  /** Absolute paths of the static charts (charts/*.svg). */
  charts: string[];
}

/** Writes `runDir/report.html` and `runDir/charts/*.svg` from the run folder and the models in `ctx`. */
export function writeRunReport(runDir: string, ctx: ReportContext): WrittenReport {
  const dir = resolve(runDir);
  const data = collectRunReport(dir, ctx);
  const cd = chartData(data);
  const svgs = chartSvgs(data, cd);
  const charts: string[] = [];
  if (Object.keys(svgs).length) mkdirSync(join(dir, 'charts'), { recursive: true });
  for (const [name, svg] of Object.entries(svgs)) {
    const p = join(dir, 'charts', name);
    writeFileAtomic(p, svg);
    charts.push(p);
  }
  // The page last: it links the charts, so they exist by the time it does.
  const report = join(dir, 'report.html');
  writeFileAtomic(report, renderRunReport(data, { charts: cd }));
  return { report, charts };
}

// `distill sweep`: one teacher distilled into a family of students of several sizes, the
// way R1 was distilled into 1.5B … 70B models. Each size is trained twice from the same
// initial weights (baseline on hard labels, distilled from the teacher), then measured.
// Writes sweep.md / sweep.json and an accuracy-against-size chart (sweep.svg).
import { join } from 'node:path';
import * as evaluate from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import { lineChartSvg } from '../report/index.js';
import { loadExperiment, type Experiment } from './experiment.js';
import { makeReporter } from './progress.js';
import { applyThreads, prepareData, teacherStage, studentStage, compareStage, runDir, writeResolvedConfig } from './pipeline.js';
import { parseOverrides, openUi, type RunOptions } from './cmd_run.js';

export interface SweepRow {
  hidden: number;
  arch: string;
  params: number;
  latencyP50Ms: number;
  baselineAccuracy: number;
  distilledAccuracy: number;
  gain: number;
}

/** --sizes and --layers arrive checked by their commander parsers (src/cli/flags.ts). */
export async function runSweep(o: RunOptions & { sizes?: number[]; layers?: number }): Promise<number> {
  const sizes = o.sizes ?? [16, 32, 64, 128, 256];
  const layers = o.layers ?? 2;
  const exp = loadExperiment(o.config, { name: 'sweep', ...parseOverrides(o) });
  const ui = await openUi(o, exp);
  try {
    return sweep(exp, sizes, layers, o);
  } finally {
    await ui?.close();
  }
}

function sweep(exp: Experiment, sizes: number[], layers: number, o: RunOptions): number {
  const rep = makeReporter({ json: o.json });
  applyThreads(exp);
  const d = prepareData(exp, rep);
  const dir = runDir(exp);
  writeResolvedConfig(dir, exp);
  const teacher = teacherStage(exp, d, rep);
  const [teacherRow] = compareStage([{ name: `teacher (${exp.teacher.arch})`, role: 'teacher', model: teacher.model }], d, join(dir, 'teacher'), rep);
  const rows: SweepRow[] = [];
  for (const h of sizes) {
    const arch = `mlp:${Array(layers).fill(h).join(',')}`;
    const e = { ...exp, student: { ...exp.student, arch } };
    const base = studentStage(e, d, rep, join(dir, `h${h}`, 'baseline'), undefined, { resume: !!o.resume });
    const dist = studentStage(e, d, rep, join(dir, `h${h}`, 'student'), teacher.model, { resume: !!o.resume });
    const [b, s] = compareStage([
      { name: `baseline ${arch}`, role: 'baseline', model: base.model },
      { name: `distilled ${arch}`, role: 'student', model: dist.model },
    ], d, join(dir, `h${h}`), rep);
    rows.push({ hidden: h, arch, params: s.params, latencyP50Ms: s.latencyP50Ms, baselineAccuracy: b.accuracy, distilledAccuracy: s.accuracy, gain: s.accuracy - b.accuracy });
    base.model.dispose();
    dist.model.dispose();
  }
  rep.stop();
  const md = [
    `# Sweep: ${exp.teacher.arch} teacher (${(teacherRow.accuracy * 100).toFixed(2)}%, ${evaluate.formatCount(teacherRow.params)} params) → MLP students on ${d.name}`,
    '',
    '| student | params | latency p50 | baseline | distilled | gain |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.arch} | ${evaluate.formatCount(r.params)} | ${evaluate.formatMs(r.latencyP50Ms)} | ${evaluate.formatPercent(r.baselineAccuracy)} | ${evaluate.formatPercent(r.distilledAccuracy)} | ${(r.gain * 100).toFixed(2)} pts |`),
    '',
    `Best buy: the smallest distilled student within 1 point of the largest one — ${bestBuy(rows)?.arch ?? 'n/a'}.`,
    '',
  ].join('\n');
  writeFileAtomic(join(dir, 'sweep.md'), md);
  writeFileAtomic(join(dir, 'sweep.json'), JSON.stringify({ teacher: teacherRow, rows }, null, 2) + '\n');
  writeFileAtomic(join(dir, 'sweep.svg'), lineChartSvg([
    { name: 'distilled', points: rows.map((r) => ({ x: r.params, y: r.distilledAccuracy, label: r.arch.replace('mlp:', '') })) },
    { name: 'baseline', points: rows.map((r) => ({ x: r.params, y: r.baselineAccuracy })) },
    { name: 'teacher', points: rows.map((r) => ({ x: r.params, y: teacherRow.accuracy })), color: '#888' },
  ], { title: `Accuracy against student size (${d.name})`, xLabel: 'student parameters (log scale)', yLabel: 'test accuracy', logX: true, xFormat: evaluate.formatCount, yFormat: (v) => `${(v * 100).toFixed(1)}%` }));
  if (o.json) console.log(JSON.stringify({ runDir: dir, teacher: teacherRow, rows }));
  else console.log('\n' + md + `\nwrote ${join(dir, 'sweep.md')}, sweep.json and sweep.svg`);
  return 0;
}

function bestBuy(rows: SweepRow[]): SweepRow | undefined {
  const top = Math.max(...rows.map((r) => r.distilledAccuracy));
  return [...rows].sort((a, b) => a.params - b.params).find((r) => r.distilledAccuracy >= top - 0.01);
}

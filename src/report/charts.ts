// Chart-ready series from the report data. The page's uPlot charts and the static
// charts/*.svg files are drawn from the same series, so the two never disagree.
import { className, distinctParts, partLabel, temperatureSeries, type RunReportData } from './data.js';
import { lineChartSvg } from './svg_chart.js';
import { groupedBarsSvg, heatmapSvg } from './svg_bars.js';
import { grayImageSvg } from './markup.js';
import type { ChartData } from './chart_data.js';

export type { ChartData } from './chart_data.js';

// Dark for T = 1 to light for T = 20: the eye reads the order of the temperatures.
const T_COLORS = ['#08306b', '#2171b5', '#6baed6', '#fd8d3c', '#d94801', '#7f2704', '#525252'];
const LINE_COLORS = ['#111111', '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b'];

export function chartData(d: RunReportData): ChartData {
  const out: ChartData = {};
  const t = d.temperature;
  if (t) {
    out.temperature = {
      index: t.index,
      logits: t.logits,
      classes: t.logits.map((_, c) => className(d, c)),
      label: className(d, t.label),
      predicted: className(d, t.predicted),
      series: temperatureSeries(t).map((s, i) => ({ ...s, color: T_COLORS[i % T_COLORS.length] })),
    };
  }
  const steps = d.curves?.student?.steps ?? [];
  if (steps.length) {
    const parts = distinctParts(steps);
    out.loss = {
      x: steps.map((s) => s.step),
      series: [
        { name: 'total loss', values: steps.map((s) => s.loss), color: LINE_COLORS[0] },
        ...parts.map((k, i) => ({ name: partLabel(k), values: steps.map((s) => s.parts[k] ?? null), color: LINE_COLORS[(i + 1) % LINE_COLORS.length] })),
      ],
    };
  }
  const c = d.curves;
  const epochs = [...new Set([...(c?.student?.epochs ?? []), ...(c?.baseline?.epochs ?? [])].map((e) => e.epoch))].sort((a, b) => a - b);
  if (epochs.length) {
    const col = (curve: NonNullable<RunReportData['curves']>['student']) => epochs.map((e) => curve?.epochs.find((r) => r.epoch === e)?.valAccuracy ?? null);
    const series: NonNullable<ChartData['accuracy']>['series'] = [];
    if (c!.student) series.push({ name: 'distilled student', values: col(c!.student), color: LINE_COLORS[2] });
    if (c!.baseline) series.push({ name: 'baseline student', values: col(c!.baseline), color: LINE_COLORS[1] });
    if (c!.teacher) series.push({ name: `teacher (${c!.teacher.split})`, values: epochs.map(() => c!.teacher!.accuracy), color: LINE_COLORS[0], dash: true });
    out.accuracy = { x: epochs.map((e) => e + 1), series }; // epochs shown 1-based, as the CLI prints them
  }
  return out;
}

/** The static charts, by file name under charts/. */
export function chartSvgs(d: RunReportData, cd: ChartData = chartData(d)): Record<string, string> {
  const files: Record<string, string> = {};
  const t = cd.temperature;
  if (t) {
    const img = d.temperature?.image;
    files['temperature.svg'] = groupedBarsSvg(t.classes, t.series.map((s) => ({ name: `T=${s.T}  H=${s.entropy.toFixed(2)} nats`, values: s.probs, color: s.color })), {
      title: `Teacher's soft targets for test #${d.temperature!.index} (true: ${t.label})`, yLabel: 'probability', yMax: 1,
      inset: img ? (x, y) => grayImageSvg(img, { x, y, scale: 3, title: `test sample #${d.temperature!.index}` }) : undefined,
    });
  }
  const points = (x: number[], values: (number | null)[]) => x.flatMap((xv, i) => (values[i] === null ? [] : [{ x: xv, y: values[i] as number }]));
  if (cd.loss) {
    const xs = cd.loss.x;
    const all = cd.loss.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
    const [lo, hi] = [Math.min(0, ...all), Math.max(...all)];
    files['loss.svg'] = lineChartSvg(cd.loss.series.map((s) => ({ name: s.name, color: s.color, dots: xs.length <= 30, points: points(xs, s.values) })), {
      title: 'Training loss of the distilled student', xLabel: 'step', yLabel: 'loss', width: 760, xTicks: ticks(xs[0], xs[xs.length - 1]),
      // Losses are ≥ 0: start the axis at 0 rather than at a padded negative value.
      yRange: hi > lo ? [lo, hi + 0.05 * (hi - lo)] : undefined,
    });
  }
  if (cd.accuracy) {
    const a = cd.accuracy;
    files['accuracy.svg'] = lineChartSvg(a.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash ? '6 4' : undefined, dots: !s.dash, points: points(a.x, s.values) })), {
      title: 'Validation accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy', width: 760,
      xTicks: a.x.length <= 20 ? a.x : ticks(a.x[0], a.x[a.x.length - 1]), yFormat: (v) => `${(v * 100).toFixed(1)}%`,
    });
  }
  if (d.errors) {
    const labels = d.errors.confusion.map((_, i) => className(d, i));
    files['confusion.svg'] = heatmapSvg(d.errors.confusion, labels, { title: 'Distilled student: confusion matrix (test)' });
  }
  return files;
}

/** About six round tick positions over [a, b] (1, 2 or 5 times a power of ten apart). */
function ticks(a: number, b: number): number[] {
  if (!(b > a)) return [a];
  const raw = (b - a) / 6, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(a / step) * step; v <= b + 1e-9; v += step) out.push(Math.round(v * 1e9) / 1e9);
  return out;
}

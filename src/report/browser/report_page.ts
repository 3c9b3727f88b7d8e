// The report page's browser code; render.ts inlines its bundle (dist/browser/report-page.js).
// It draws the uPlot charts from the chart data the page embeds (#report-data, charts.ts's
// ChartData) and reads nothing else but the inlined uPlot global.
//
// Grouped bars: uPlot draws one bar per x value and series; its bars path builder's `disp`
// option places each series' bar at its own offset (x0) and width (size) in x units, so
// the T = 1…20 bars of a class stand side by side around the class's index.
import type UPlot from 'uplot';
import type { ChartData } from '../chart_data.js';

const dataEl = document.getElementById('report-data');
if (!dataEl) throw new Error('the page has no #report-data');
const D = JSON.parse(dataEl.textContent ?? '{}') as ChartData;
const charts: Record<string, UPlot> = {};
window.distillCharts = charts; // for tests and for poking at the charts from the console

const widthOf = (el: HTMLElement) => Math.max(320, Math.min(el.clientWidth || 720, 1000));
const pct = (v: number | null) => (v == null ? '—' : (v * 100).toFixed(2) + '%');
const num = (d: number) => (_u: UPlot, v: number | null) => (v == null ? '—' : v.toFixed(d));

function temperature(t: NonNullable<ChartData['temperature']>, el: HTMLElement): UPlot {
  const n = t.series.length, group = 0.8, bar = group / n;
  const xs = t.classes.map((_, i) => i);
  const series: UPlot.Series[] = [{ label: 'class', value: (_u, v) => (v == null ? '—' : t.classes[v]) }];
  t.series.forEach((s, k) => {
    series.push({
      label: `T=${s.T} (H=${s.entropy.toFixed(2)})`,
      stroke: s.color, fill: s.color, width: 1, points: { show: false }, value: num(4),
      paths: uPlot.paths.bars!({ disp: {
        x0: { unit: 1, values: () => xs.map((x) => x - group / 2 + k * bar) },
        size: { unit: 1, values: () => [bar * 0.9] },
      } }),
    });
  });
  const data = [xs, ...t.series.map((s) => s.probs)] as UPlot.AlignedData;
  return new uPlot({
    title: `Teacher probabilities at T = ${t.series.map((s) => s.T).join(', ')} (true class: ${t.label})`,
    width: widthOf(el), height: 320,
    scales: { x: { time: false, range: () => [-0.55, xs.length - 0.45] }, y: { range: () => [0, 1] } },
    axes: [
      { label: 'class', splits: () => xs, values: (_u, sp) => sp.map((i) => t.classes[i]), grid: { show: false } },
      { label: 'probability', values: (_u, sp) => sp.map((v) => v.toFixed(1)) },
    ],
    series,
  }, data, el);
}

// Steps and epochs are whole numbers: ticks only at integer spacings.
const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000];

type LineChart = NonNullable<ChartData['loss']> | NonNullable<ChartData['accuracy']>;

function lines(c: LineChart, el: HTMLElement, title: string, xLabel: string, yLabel: string, yFmt: (v: number) => string, axisFmt?: (v: number) => string): UPlot {
  const series: UPlot.Series[] = [{ label: xLabel }, ...c.series.map((s): UPlot.Series => {
    const dash = 'dash' in s && s.dash;
    return {
      label: s.name, stroke: s.color, width: 2, dash: dash ? [6, 4] : undefined, spanGaps: true,
      points: { show: !dash && c.x.length <= 40 }, value: (_u, v) => (v == null ? '—' : yFmt(v)),
    };
  })];
  return new uPlot({
    title, width: widthOf(el), height: 300,
    scales: { x: { time: false } },
    axes: [{ label: xLabel, incrs: INT_INCRS }, { label: yLabel, size: 60, values: (_u, sp) => sp.map(axisFmt ?? yFmt) }],
    series,
  }, [c.x, ...c.series.map((s) => s.values)] as UPlot.AlignedData, el);
}

let el: HTMLElement | null;
if (D.temperature && (el = document.getElementById('chart-temperature'))) charts.temperature = temperature(D.temperature, el);
if (D.loss && (el = document.getElementById('chart-loss')))
  charts.loss = lines(D.loss, el, 'Distilled student: total loss and its parts', 'step', 'loss', (v) => `${+v.toPrecision(3)}`);
if (D.accuracy && (el = document.getElementById('chart-accuracy')))
  charts.accuracy = lines(D.accuracy, el, 'Validation accuracy', 'epoch', 'accuracy', (v) => pct(v), (v) => `${(v * 100).toFixed(1)}%`);

window.addEventListener('resize', () => {
  for (const u of Object.values(charts)) u.setSize({ width: widthOf(u.root.parentNode as HTMLElement), height: u.height });
});

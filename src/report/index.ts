// The public surface of the report layer: the per-run HTML report (uPlot charts inlined,
// opens offline) and static SVG charts for terminal users.
// Layer order: cli imports report; report imports kd, eval, data, nn, io and torch, never cli.

// one run's report: collect (models + run folder → data), render (data → HTML), write both
export { writeRunReport, type WrittenReport } from './write.js';
export { collectRunReport, type ReportContext } from './collect.js';
export { renderRunReport, uplotAssets, type UplotAssets } from './render.js';
export { chartData, chartSvgs, type ChartData } from './charts.js';
export {
  softenAt, temperatureSeries, perClassDelta, REPORT_TEMPERATURES,
  type RunReportData, type TemperatureExample, type TrainingCurve, type StepPoint, type EpochPoint, type TraceItem,
} from './data.js';
export { readTrainingCurve, readComparison, readTraces } from './files.js';

// static charts
export { lineChartSvg, type Series, type ChartOptions } from './svg_chart.js';
export { groupedBarsSvg, heatmapSvg, type BarSeries } from './svg_bars.js';

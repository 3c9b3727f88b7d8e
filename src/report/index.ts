// The public surface of the report layer (static charts; the HTML report comes later).
// Layer order: cli imports report; report imports nothing of the project's.
export { lineChartSvg, type Series, type ChartOptions } from './svg_chart.js';

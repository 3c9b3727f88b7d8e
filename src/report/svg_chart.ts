// A small dependency-free SVG line chart, for files a terminal user can open or paste
// into a paper (the HTML report uses a charting library; this is the static twin).
import { esc, svgOpen } from './markup.js';

export interface Series {
  name: string;
  points: { x: number; y: number; label?: string }[];
  color?: string;
  /** SVG stroke-dasharray, e.g. '6 4' for a reference line. */
  dash?: string;
  /** Draw a dot per point (default true); off for long curves such as per-step losses. */
  dots?: boolean;
}
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  width?: number;
  height?: number;
  yFormat?: (v: number) => string;
  xFormat?: (v: number) => string;
  /** Where the x grid lines and labels go (default: at every distinct x, right for a few points). */
  xTicks?: number[];
  /** Fixed y range instead of the data's range plus 10%. */
  yRange?: [number, number];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

export function lineChartSvg(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 640, H = o.height ?? 400, L = 70, R = 160, T = 40, B = 55;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const fx = (v: number) => (o.logX ? Math.log10(v) : v);
  let [x0, x1] = [Math.min(...xs.map(fx)), Math.max(...xs.map(fx))];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const pad = (y1 - y0) * 0.1 || 0.01;
  [y0, y1] = o.yRange ?? [y0 - pad, y1 + pad];
  const px = (v: number) => L + ((fx(v) - x0) / (x1 - x0)) * (W - L - R);
  const py = (v: number) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const yFmt = o.yFormat ?? ((v: number) => v.toFixed(3));
  const xFmt = o.xFormat ?? ((v: number) => String(v));
  const parts: string[] = [];
  parts.push(svgOpen(W, H, o.title));
  for (let i = 0; i <= 5; i++) {
    const v = y0 + ((y1 - y0) * i) / 5, y = py(v);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${esc(yFmt(v))}</text>`);
  }
  for (const v of o.xTicks ?? [...new Set(xs)].sort((a, b) => a - b)) {
    const x = px(v);
    parts.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${x}" y="${H - B + 16}" text-anchor="middle">${esc(xFmt(v))}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = s.color ?? PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of s.dots === false ? [] : pts) {
      parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${c}"><title>${esc(`${s.name}: ${xFmt(p.x)} → ${yFmt(p.y)}${p.label ? ` (${p.label})` : ''}`)}</title></circle>`);
      if (p.label) parts.push(`<text x="${(px(p.x) + 6).toFixed(1)}" y="${(py(p.y) - 6).toFixed(1)}" font-size="10" fill="${c}">${esc(p.label)}</text>`);
    }
    const ly = T + 10 + i * 18;
    parts.push(`<line x1="${W - R + 12}" x2="${W - R + 32}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="${W - R + 38}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

// Static SVG twins of the report's bar chart and heat map, for a terminal user (open the
// file, or paste it into a paper). Dependency-free, like svg_chart.ts.
import { esc, svgOpen } from './markup.js';

export interface BarSeries {
  name: string;
  /** One value per group. */
  values: number[];
  color: string;
}

/**
 * Grouped bars: one group per label on the x axis, one bar per series inside each group.
 * `inset` is extra SVG drawn under the legend (the report puts the example image there).
 */
export function groupedBarsSvg(groups: string[], series: BarSeries[], o: { title: string; yLabel: string; yMax?: number; width?: number; height?: number; inset?: (x: number, y: number) => string }): string {
  const slant = groups.some((g) => g.length > 3); // long class names are slanted under their group
  const W = o.width ?? 760, H = o.height ?? 400, L = 60, R = 200, T = 40, B = slant ? 85 : 45;
  const yMax = o.yMax ?? Math.max(...series.flatMap((s) => s.values), 1e-9);
  const plotW = W - L - R, plotH = H - T - B;
  const groupW = plotW / Math.max(1, groups.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const py = (v: number) => T + (1 - v / yMax) * plotH;
  const parts: string[] = [];
  parts.push(svgOpen(W, H, o.title));
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5, y = py(v);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  groups.forEach((g, gi) => {
    const x0 = L + gi * groupW + groupW * 0.1;
    series.forEach((s, si) => {
      const v = s.values[gi], y = py(v);
      parts.push(`<rect x="${(x0 + si * barW).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW * 0.9).toFixed(1)}" height="${(T + plotH - y).toFixed(1)}" fill="${s.color}"><title>${esc(`${g} · ${s.name}: ${v.toFixed(4)}`)}</title></rect>`);
    });
    const lx = (L + (gi + 0.5) * groupW).toFixed(1), ly = H - B + 16;
    parts.push(`<text x="${lx}" y="${ly}" text-anchor="${slant ? 'end' : 'middle'}"${slant ? ` transform="rotate(-40 ${lx} ${ly})"` : ''}>${esc(g)}</text>`);
  });
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const ly = T + 10 + i * 18;
    parts.push(`<rect x="${W - R + 12}" y="${ly - 6}" width="14" height="12" fill="${s.color}"/><text x="${W - R + 32}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  if (o.inset) parts.push(o.inset(W - R + 12, T + 20 + series.length * 18));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * A confusion matrix as a heat map: m[true][predicted] counts, each cell shaded by its
 * share of the true class's row (so rare classes read as clearly as common ones); the
 * diagonal in blue, the confusions in red.
 */
export function heatmapSvg(m: number[][], labels: string[], o: { title: string }): string {
  const n = m.length, cell = Math.max(22, Math.min(44, Math.floor(440 / Math.max(1, n))));
  // Long names (Fashion-MNIST's 'Ankle boot') are slanted under the columns.
  const slant = labels.some((l) => l.length > 3);
  const L = 90, T = 60, W = L + n * cell + 20, H = T + n * cell + (slant ? 90 : 40);
  const parts: string[] = [];
  parts.push(svgOpen(W, H, o.title, { fontSize: 11, titleY: 20 }));
  parts.push(`<text x="${L + (n * cell) / 2}" y="42" text-anchor="middle">predicted</text>`);
  parts.push(`<text transform="translate(14 ${T + (n * cell) / 2}) rotate(-90)" text-anchor="middle">true</text>`);
  m.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    parts.push(`<text x="${L - 6}" y="${T + t * cell + cell / 2 + 4}" text-anchor="end">${esc(labels[t] ?? String(t))}</text>`);
    row.forEach((v, p) => {
      const share = v / total, rgb = t === p ? '31,119,180' : '214,39,40';
      const x = L + p * cell, y = T + t * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgba(${rgb},${share.toFixed(3)})" stroke="#eee"><title>${esc(`true ${labels[t]} → predicted ${labels[p]}: ${v}`)}</title></rect>`);
      if (v) parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${share > 0.5 ? 'white' : '#222'}">${v}</text>`);
    });
  });
  m.forEach((_, p) => {
    const x = L + p * cell + cell / 2, y = T + n * cell + 16;
    parts.push(`<text x="${x}" y="${y}" text-anchor="${slant ? 'end' : 'middle'}"${slant ? ` transform="rotate(-40 ${x} ${y})"` : ''}>${esc(labels[p] ?? String(p))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

// The "render" half of the report: RunReportData → one self-contained HTML page. Pure
// (no models, no run folder): uPlot's script and stylesheet, the data and the page's own
// script (browser/report_page.ts, bundled at build into dist/browser/report-page.js) are
// inlined, so the file opens offline and can be mailed as one attachment.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RunReportData } from './data.js';
import { chartData, chartSvgs, type ChartData } from './charts.js';
import { comparisonSection, curvesSection, errorsSection, temperatureSection, tracesSection } from './sections.js';
import { readBrowserBundle } from '../io/browser_bundle.js';
import { esc, scriptJson } from './markup.js';

export interface UplotAssets {
  js: string;
  css: string;
}

let cached: UplotAssets | undefined;

/** uPlot's browser build and stylesheet from node_modules, found the way Node resolves the package. */
export function uplotAssets(): UplotAssets {
  if (!cached) {
    const req = createRequire(import.meta.url);
    cached = {
      js: readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return cached;
}

// An inline script ends at the first "</script" whatever the JS means; "<\/script" is the same JS.
const inlineJs = (js: string) => js.replace(/<\/(script)/gi, '<\\/$1');

const STYLE = `
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222; margin: 0 auto; max-width: 1100px; padding: 0 24px 48px; }
h1 { font-size: 24px; margin: 24px 0 4px; } h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.meta, .note { color: #666; font-size: 13px; } .headline { font-size: 16px; background: #f3f8fc; border-left: 4px solid #1f77b4; padding: 8px 12px; }
nav a { margin-right: 14px; font-size: 14px; } dl.settings { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; margin: 8px 0; } dl.settings dt { color: #666; } dl.settings dd { margin: 0 0 0 4px; font-family: ui-monospace, monospace; }
dl.settings div { display: flex; }
table { border-collapse: collapse; font-size: 14px; } th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } td.name { white-space: nowrap; }
table.comparison th { background: #fafafa; } table.comparison tr[data-role="student"] { background: #f2fbf2; }
table.confusion td { text-align: center; min-width: 34px; padding: 5px 4px; font-variant-numeric: tabular-nums; border: 1px solid #f0f0f0; } table.confusion th { text-align: center; }
table.delta .up { color: #1a7f37; } table.delta .down { color: #c62828; } .bar { display: inline-block; height: 10px; } .bar.up { background: #2ca02c; } .bar.down { background: #d62728; }
.row { display: flex; gap: 24px; align-items: flex-start; } .chart { flex: 1; min-width: 320px; }
figure.example { margin: 8px 0; text-align: center; font-size: 13px; color: #444; }
details.trace { border-left: 4px solid #2ca02c; padding: 4px 10px; margin: 8px 0; background: #fafafa; } details.trace.bad { border-color: #d62728; }
details.trace pre { white-space: pre-wrap; font-size: 13px; max-height: 320px; overflow: auto; }
footer { margin-top: 40px; color: #666; font-size: 13px; }
`;

/** The page. `assets` defaults to the installed uPlot; `charts` to the series drawn from `d`. */
export function renderRunReport(d: RunReportData, opts: { assets?: UplotAssets; charts?: ChartData } = {}): string {
  const assets = opts.assets ?? uplotAssets();
  const cd = opts.charts ?? chartData(d);
  const sections: [string, string, string][] = []; // [id, title, html]
  if (d.comparison?.length) sections.push(['comparison', 'Comparison', comparisonSection(d.comparison)]);
  if (cd.temperature) sections.push(['temperature', 'Temperature', temperatureSection(d, cd.temperature)]);
  if (cd.loss || cd.accuracy) sections.push(['curves', 'Training curves', curvesSection(cd)]);
  if (d.errors) sections.push(['errors', 'Errors', errorsSection(d)]);
  if (d.traces) sections.push(['traces', 'Reasoning traces', tracesSection(d)]);
  const settings = d.settings && Object.keys(d.settings).length
    ? `<dl class="settings">${Object.entries(d.settings).map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>` : '';
  const svgs = Object.keys(chartSvgs(d, cd));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(d.title)}</title>
<style>${assets.css}</style>
<style>${STYLE}</style>
</head><body>
<header><h1>${esc(d.title)}</h1>
<p class="meta">${d.dataset ? `${esc(d.dataset)}${d.numClasses ? ` (${d.numClasses} classes)` : ''} · ` : ''}run folder <code>${esc(d.runDir)}</code> · generated ${esc(d.generatedAt)}</p>
${settings}
<nav>${sections.map(([id, title]) => `<a href="#${id}">${title}</a>`).join('')}</nav></header>
<main>
${sections.map(([, , html]) => html).join('\n')}
</main>
<footer>${svgs.length ? `Static copies of the charts: ${svgs.map((f) => `<a href="charts/${f}">charts/${f}</a>`).join(', ')}. ` : ''}Written by <code>distill report</code>; everything on this page is inline and works offline.</footer>
<script type="application/json" id="report-data">${scriptJson(cd)}</script>
<script>${inlineJs(assets.js)}</script>
<script>${readBrowserBundle('report-page')}</script>
</body></html>
`;
}

// The dashboard page: one self-contained HTML document. uPlot's script and stylesheet are
// inlined from node_modules (no CDN: docs/architecture.md allows nothing to download at run time), and
// the page's own script is the bundle of src/serve/browser/ (dist/browser/dashboard.js), and
// the Content-Security-Policy allows exactly those inline scripts, by hash, and requests
// back to this server only.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cspHash as sha } from '../io/http.js';
import { readBrowserBundle } from '../io/browser_bundle.js';

const require = createRequire(import.meta.url);

function asset(rel: string): string {
  try {
    return readFileSync(require.resolve(`uplot/dist/${rel}`), 'utf8');
  } catch {
    throw new Error(`dashboard: cannot read uplot/dist/${rel}; uPlot is an npm dependency of distill (npm install)`);
  }
}

// Inline content must not close its own element early.
const inline = (s: string, tag: string) => s.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);

const STYLE = `
:root { --fg:#1d2433; --muted:#6b7385; --line:#e3e6ee; --bg:#f6f7fb; --card:#fff; --accent:#2f6fde;
  --run:#1a8f4c; --fin:#2f6fde; --stale:#b26a00; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:12px; padding:10px 18px; background:#1d2433; color:#fff; }
header h1 { font-size:16px; margin:0; font-weight:600; } header .dir { color:#aab2c5; font-size:12px; }
#conn { margin-left:auto; font-size:12px; padding:2px 8px; border-radius:10px; background:#3a4257; }
#conn.ok { background:#1a8f4c; } #conn.bad { background:#b23a3a; }
main { display:grid; grid-template-columns: 300px 1fr; gap:16px; padding:16px; }
aside, .box { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px; }
h2, h3 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 8px; }
.run { border-top:1px solid var(--line); padding:6px 0; } .run:first-of-type { border-top:0; }
.run-name { font-weight:600; word-break:break-all; }
.stage { display:grid; grid-template-columns: 1fr auto; gap:2px 8px; padding:4px 6px; margin:2px 0; border-radius:6px; cursor:pointer; }
.stage:hover { background:#eef2fb; } .stage.sel-a { background:#e3ecfd; } .stage.sel-b { background:#fdf0e1; }
.stage .meta { grid-column: 1 / 3; font-size:12px; color:var(--muted); }
.badge { font-size:11px; padding:1px 7px; border-radius:9px; color:#fff; align-self:center; }
.badge.running { background:var(--run); } .badge.finished { background:var(--fin); } .badge.stale { background:var(--stale); }
.bar { height:5px; background:var(--line); border-radius:3px; overflow:hidden; grid-column: 1 / 3; }
.bar > div { height:100%; background:var(--accent); width:0; transition: width .3s; }
#pick { display:flex; gap:16px; flex-wrap:wrap; align-items:center; margin-bottom:12px; }
#pick select { font:inherit; padding:3px 6px; min-width:220px; }
#cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap:12px; margin-bottom:12px; }
.card .title { display:flex; gap:8px; align-items:center; margin-bottom:6px; font-weight:600; }
.card .slot { font-size:11px; font-weight:700; color:#fff; border-radius:4px; padding:0 6px; }
.card .slot.a { background:var(--accent); } .card .slot.b { background:#d9822b; }
.stats { display:grid; grid-template-columns: repeat(3, 1fr); gap:6px 12px; margin-top:8px; }
.stats div span { display:block; font-size:11px; color:var(--muted); } .stats div b { font-size:15px; font-variant-numeric: tabular-nums; }
.opt { float:right; text-transform:none; letter-spacing:0; font-weight:400; cursor:pointer; }
.charts { display:grid; gap:12px; } .chart { min-height:280px; }
.empty { color:var(--muted); padding:24px 0; text-align:center; }
#msg { color:#b23a3a; margin:0 0 8px; }
`;

const BODY = `
<header><h1>distill · live dashboard</h1><span class="dir" id="dir"></span><span id="conn">connecting…</span></header>
<main>
  <aside><h2>Runs</h2><div id="run-list"><div class="empty">loading…</div></div></aside>
  <section>
    <p id="msg" hidden></p>
    <div id="pick">
      <label>Run A <select id="sel-a"></select></label>
      <label>compare with <select id="sel-b"><option value="">(none)</option></select></label>
    </div>
    <div id="cards"></div>
    <div class="charts">
      <div class="box"><h3>Training loss (total and parts) by epoch <label class="opt"><input type="checkbox" id="smooth"> smooth</label></h3><div id="loss-chart" class="chart" data-points="0"></div></div>
      <div class="box"><h3>Validation accuracy per epoch</h3><div id="acc-chart" class="chart" data-points="0"></div></div>
    </div>
  </section>
</main>`;

export interface Page {
  html: string;
  csp: string;
}

/** Builds the page once per server (the assets do not change while it runs). */
export function renderPage(): Page {
  const uplotJs = inline(asset('uPlot.iife.min.js'), 'script');
  const uplotCss = inline(asset('uPlot.min.css'), 'style');
  // The page's own script: src/serve/browser/dashboard.ts, bundled by `npm run build`.
  const client = readBrowserBundle('dashboard');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>distill · dashboard</title><link rel="icon" href="data:,">
<style>${uplotCss}</style><style>${STYLE}</style></head>
<body>${BODY}
<script>${uplotJs}</script>
<script>${client}</script>
</body></html>`;
  const csp = [
    "default-src 'none'",
    `script-src ${sha(uplotJs)} ${sha(client)}`,
    "style-src 'unsafe-inline'", // uPlot positions its legend and cursor with inline styles
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

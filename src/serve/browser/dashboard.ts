// The dashboard's browser code; page.ts inlines its bundle (dist/browser/dashboard.js).
//
// Model: the runs list is polled (cheap, and it shows every run's status); each chosen
// stage ("slot" A, and B to overlay) has its own EventSource, which replays the whole
// metrics file and then follows it, so a reload or a second tab simply starts over.
import type UPlot from 'uplot';
import type { MetricLine, RunInfo, RunsAnswer, StageInfo } from '../dashboard_api.js';
import { dur, num, pct, rate } from './format.js';
import { accTable, lossTable, newSlot, split, stats, type Slot, type SlotName, type Table } from './slot.js';

const KEY = new URLSearchParams(location.search).get('key');
const withKey = (p: string) => (KEY ? p + (p.indexOf('?') < 0 ? '?' : '&') + 'key=' + encodeURIComponent(KEY) : p);
function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}
function el(tag: string, cls?: string | null, text?: string | null): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
const COLORS: Record<SlotName, string[]> = { a: ['#2f6fde', '#16a085', '#8e44ad', '#c0392b', '#7f8c8d'], b: ['#d9822b', '#b8860b', '#d35400', '#a0522d', '#95a5a6'] };
const NAMES: SlotName[] = ['a', 'b'];
let runs: RunInfo[] = [], info: Record<string, StageInfo> = {}, ready = false, renderTimer: ReturnType<typeof setTimeout> | null = null;
const charts: Record<'loss' | 'acc', { plot: UPlot | null; key: string }> = { loss: { plot: null, key: '' }, acc: { plot: null, key: '' } };
const slots: Record<SlotName, Slot> = { a: newSlot('a'), b: newSlot('b') };

// ---- streams, one per slot
function closeSlot(s: Slot): void {
  if (s.es) { s.es.close(); s.es = null; }
}
function select(name: SlotName, id: string, auto?: boolean): void {
  closeSlot(slots[name]);
  const s = slots[name] = newSlot(name);
  s.id = id; s.auto = !!auto;
  if (id) openSlot(s);
  saveHash(); syncSelects(); scheduleRender();
}
function openSlot(s: Slot): void {
  const p = split(s.id);
  const es = new EventSource(withKey('/api/runs/' + encodeURIComponent(p.run) + '/' + encodeURIComponent(p.stage) + '/stream'));
  s.es = es;
  function on<T>(type: string, fn: (d: T) => void): void {
    es.addEventListener(type, (ev) => {
      if (s.es !== es) return; // a stream we already replaced
      let d: T;
      try { d = JSON.parse((ev as MessageEvent<string>).data) as T; } catch { return; }
      fn(d);
    });
  }
  // hello starts every stream, reconnects included: the server resends everything after it.
  on('hello', () => { s.steps = []; s.epochs = []; s.synced = false; s.error = ''; });
  on<MetricLine>('line', (l) => {
    if (l.type === 'step') s.steps.push(l); else if (l.type === 'epoch') s.epochs.push(l);
    if (s.synced) scheduleRender();
  });
  on('synced', () => { s.synced = true; scheduleRender(); });
  on('reset', () => { s.steps = []; s.epochs = []; scheduleRender(); });
  on<{ status: string }>('status', (d) => { s.status = d.status; scheduleRender(); });
  on('done', () => { s.status = 'finished'; s.synced = true; s.doneAt = Date.now(); closeSlot(s); scheduleRender(); });
  es.onopen = () => { s.error = ''; scheduleRender(); };
  es.onerror = () => {
    if (s.es !== es) return;
    s.error = es.readyState === EventSource.CLOSED ? 'stream closed by the server' : 'connection lost, reconnecting…';
    scheduleRender();
  };
}

// ---- selection survives a reload through the URL hash
function saveHash(): void {
  const h = 'a=' + encodeURIComponent(slots.a.id) + (slots.b.id ? '&b=' + encodeURIComponent(slots.b.id) : '');
  if (location.hash.slice(1) !== h) history.replaceState(null, '', location.pathname + location.search + '#' + h);
}
function syncSelects(): void {
  const ids = Object.keys(info);
  for (const n of NAMES) {
    const sel = $<HTMLSelectElement>('sel-' + n), want = (n === 'b' ? [''] : []).concat(ids);
    if (slots[n].id && want.indexOf(slots[n].id) < 0) want.push(slots[n].id);
    if (sel.dataset.ids !== want.join('\n')) {
      sel.textContent = '';
      for (const id of want) {
        const o = el('option', null, id ? id.replace('/', ' / ') : '(none)') as HTMLOptionElement;
        o.value = id;
        sel.appendChild(o);
      }
      sel.dataset.ids = want.join('\n');
    }
    sel.value = slots[n].id;
  }
}

// ---- the runs list, polled
function poll(): void {
  fetch(withKey('/api/runs')).then((r) => {
    if (r.status === 401) throw new Error('this dashboard needs its API key: open it as /?key=<key>');
    if (!r.ok) throw new Error('the server answered ' + r.status);
    return r.json() as Promise<RunsAnswer>;
  }).then((d) => {
    setConn(true, '');
    $('dir').textContent = d.runsDir;
    runs = d.runs; info = {};
    for (const run of runs) for (const st of run.stages) info[run.name + '/' + st.stage] = st;
    if (!ready) {
      ready = true;
      const h = new URLSearchParams(location.hash.slice(1));
      const a = h.get('a'), b = h.get('b');
      if (a) select('a', a);
      if (b) select('b', b);
    }
    // Opened before any run started, or following along (e.g. distill demo --ui: baseline, then student).
    const next = firstRunning();
    if (next && (!slots.a.id || (slots.a.auto && !slots.a.es && slots.a.id !== next))) select('a', next, true);
    for (const n of NAMES) {
      // A finished stage that starts again (a rerun or a resume in the same folder): follow it again.
      const s = slots[n], st = info[s.id];
      if (s.id && !s.es && st && st.status === 'running' && Date.now() - s.doneAt > 5000) select(n, s.id, s.auto);
    }
    renderList(); syncSelects(); scheduleRender();
  }).catch((e: Error) => { setConn(false, e.message); }).then(() => { setTimeout(poll, 2000); });
}
function firstRunning(): string { // the listing is newest first
  const all = Object.keys(info), running = all.filter((id) => info[id].status === 'running');
  return running[0] || (slots.a.id ? '' : all[0]) || '';
}
function setConn(ok: boolean, msg: string): void {
  const c = $('conn'); c.className = ok ? 'ok' : 'bad'; c.textContent = ok ? 'live' : 'offline';
  const m = $('msg'); m.hidden = !msg; m.textContent = msg;
}
function progressBar(fraction: number | null): HTMLElement {
  const bar = el('div', 'bar'), fill = el('div');
  fill.style.width = ((fraction || 0) * 100) + '%';
  bar.appendChild(fill);
  return bar;
}
function renderList(): void {
  const box = $('run-list'); box.textContent = '';
  if (!runs.length) { box.appendChild(el('div', 'empty', 'no runs yet — start one with npx distill')); return; }
  for (const run of runs) {
    const r = el('div', 'run'); r.appendChild(el('div', 'run-name', run.name));
    for (const st of run.stages) {
      const id = run.name + '/' + st.stage, row = el('div', 'stage');
      row.dataset.id = id; row.dataset.status = st.status; row.title = 'click: show as A · shift-click: compare as B';
      row.appendChild(el('span', null, st.stage));
      row.appendChild(el('span', 'badge ' + st.status, st.status));
      row.appendChild(progressBar(st.progress));
      row.appendChild(el('span', 'meta', 'epoch ' + (st.lastEpoch == null ? 0 : st.lastEpoch + 1) + (st.epochs ? ' / ' + st.epochs : '') +
        ' · val ' + pct(st.valAccuracy) + (st.status === 'running' && st.etaSeconds != null ? ' · ETA ' + dur(st.etaSeconds) : '')));
      row.onclick = (ev) => { select(ev.shiftKey ? 'b' : 'a', id); };
      r.appendChild(row);
    }
    box.appendChild(r);
  }
}

function renderCards(): void {
  const box = $('cards'); box.textContent = '';
  for (const n of NAMES) {
    const s = slots[n];
    if (!s.id) continue;
    const x = stats(s, info[s.id] || {}), card = el('div', 'box card');
    card.dataset.slot = n; card.dataset.status = x.status; card.dataset.step = x.step == null ? '' : String(x.step);
    const t = el('div', 'title'); t.appendChild(el('span', 'slot ' + n, n.toUpperCase())); t.appendChild(el('span', null, s.id.replace('/', ' / ')));
    t.appendChild(el('span', 'badge ' + x.status, x.status)); card.appendChild(t);
    card.appendChild(progressBar(x.progress));
    const g = el('div', 'stats');
    const figures: [string, string][] = [['epoch', x.epoch + (x.epochs ? ' / ' + x.epochs : '')], ['step', num(x.step) + (x.total ? ' / ' + num(x.total) : '')],
      ['progress', pct(x.progress)], ['samples/s', rate(x.sps)], ['ETA', x.status === 'finished' ? 'done' : dur(x.eta)], ['val accuracy', pct(x.val)]];
    for (const [k, v] of figures) {
      const d = el('div'); d.appendChild(el('span', null, k)); d.appendChild(el('b', null, v)); g.appendChild(d);
    }
    card.appendChild(g);
    if (s.error) card.appendChild(el('div', 'meta', s.error));
    box.appendChild(card);
  }
}
function markList(): void {
  document.querySelectorAll<HTMLElement>('.stage').forEach((row) => {
    row.classList.toggle('sel-a', row.dataset.id === slots.a.id);
    row.classList.toggle('sel-b', row.dataset.id === slots.b.id && !!slots.b.id);
  });
}

// ---- charts: one uPlot each; both slots' series share the axes (x joined with uPlot.join)
const active = () => NAMES.filter((n) => slots[n].id);
function plot(which: 'loss' | 'acc', elId: string, build: (s: Slot) => Table, xLabel: string, yLabel: string): void {
  const names = active(), parts = names.map((n) => build(slots[n]));
  const series: UPlot.Series[] = [], tables: UPlot.AlignedData[] = [];
  names.forEach((n, i) => {
    parts[i].keys.forEach((k, j) => {
      series.push({ label: n.toUpperCase() + ' ' + k, stroke: COLORS[n][j % 5], width: j ? 1.25 : 2, dash: n === 'b' ? [6, 4] : undefined, spanGaps: true, points: { show: false } });
    });
    tables.push(parts[i].table as UPlot.AlignedData);
  });
  const data: UPlot.AlignedData = tables.length > 1 ? uPlot.join(tables) : tables.length ? tables[0] : [[]];
  const box = $(elId), key = JSON.stringify(series.map((x) => x.label)), chart = charts[which];
  if (!chart.plot || chart.key !== key) {
    if (chart.plot) chart.plot.destroy();
    box.textContent = '';
    chart.plot = new uPlot({
      width: Math.max(300, box.clientWidth), height: 260, series: [{ label: xLabel }, ...series],
      scales: { x: { time: false } }, axes: [{ label: xLabel }, { label: yLabel }], legend: { live: true },
    }, data, box);
    chart.key = key;
  } else chart.plot.setData(data);
  // Plotted points per slot, for the eye and for the browser test.
  box.dataset.points = String(slots.a.id ? parts[names.indexOf('a')].table[0].length : 0);
  box.dataset.pointsB = String(slots.b.id ? parts[names.indexOf('b')].table[0].length : 0);
  box.dataset.smooth = String($<HTMLInputElement>('smooth').checked);
}
function render(): void {
  renderCards(); markList();
  plot('loss', 'loss-chart', (s) => lossTable(s, $<HTMLInputElement>('smooth').checked), 'epoch', 'loss');
  plot('acc', 'acc-chart', accTable, 'epoch', 'accuracy (%)');
}
function scheduleRender(): void {
  if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = null; render(); }, 150);
}

const smooth = $<HTMLInputElement>('smooth');
smooth.checked = localStorage.getItem('distill.smooth') === '1';
smooth.onchange = () => { localStorage.setItem('distill.smooth', smooth.checked ? '1' : '0'); scheduleRender(); };
const selA = $<HTMLSelectElement>('sel-a'), selB = $<HTMLSelectElement>('sel-b');
selA.onchange = () => { select('a', selA.value); };
selB.onchange = () => { select('b', selB.value); };
window.addEventListener('resize', () => {
  for (const w of ['loss', 'acc'] as const) {
    const p = charts[w].plot;
    if (p) p.setSize({ width: Math.max(300, $(w + '-chart').clientWidth), height: 260 });
  }
});
poll();

// The dashboard's browser code, inlined into the page by page.ts (a string here so the build
// needs no bundler and the server ships as plain compiled TypeScript). Plain ES2017, no
// template literals, so it can sit inside this String.raw unchanged.
//
// Model: the runs list is polled (cheap, and it shows every run's status); each chosen
// stage ("slot" A, and B to overlay) has its own EventSource, which replays the whole
// metrics file and then follows it, so a reload or a second tab simply starts over.
export const CLIENT_SCRIPT = String.raw`(function () {
'use strict';
var KEY = new URLSearchParams(location.search).get('key');
function withKey(p) { return KEY ? p + (p.indexOf('?') < 0 ? '?' : '&') + 'key=' + encodeURIComponent(KEY) : p; }
function $(id) { return document.getElementById(id); }
function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
var COLORS = { a: ['#2f6fde', '#16a085', '#8e44ad', '#c0392b', '#7f8c8d'], b: ['#d9822b', '#b8860b', '#d35400', '#a0522d', '#95a5a6'] };
var runs = [], info = {}, ready = false, renderTimer = null;
var charts = { loss: null, acc: null, lossKey: '', accKey: '' };
function newSlot(name) { return { name: name, id: '', auto: false, es: null, steps: [], epochs: [], status: null, synced: false, error: '', doneAt: 0 }; }
var slots = { a: newSlot('a'), b: newSlot('b') };
function split(id) { var i = id.indexOf('/'); return { run: id.slice(0, i), stage: id.slice(i + 1) }; }

// ---- formatting
function pct(v) { return v == null ? '—' : (v * 100).toFixed(1) + '%'; }
function num(v) { return v == null ? '—' : Math.round(v).toLocaleString('en-US'); }
function rate(v) { return v == null ? '—' : v >= 1000 ? (v / 1000).toFixed(1) + 'k/s' : v.toFixed(0) + '/s'; }
function dur(s) {
  if (s == null || !isFinite(s)) return '—';
  s = Math.max(0, Math.round(s));
  var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
  return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (x < 10 ? '0' : '') + x;
}

// ---- streams, one per slot
function closeSlot(s) { if (s.es) { s.es.close(); s.es = null; } }
// auto: chosen by the page, not the user, so it may move on to the next stage that starts.
function select(name, id, auto) {
  var s = slots[name];
  closeSlot(s);
  slots[name] = s = newSlot(name);
  s.id = id; s.auto = !!auto;
  if (id) openSlot(s);
  saveHash(); syncSelects(); scheduleRender();
}
function openSlot(s) {
  var p = split(s.id);
  var es = new EventSource(withKey('/api/runs/' + encodeURIComponent(p.run) + '/' + encodeURIComponent(p.stage) + '/stream'));
  s.es = es;
  function on(type, fn) {
    es.addEventListener(type, function (ev) {
      if (s.es !== es) return; // a stream we already replaced
      var d = {};
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      fn(d);
    });
  }
  // hello starts every stream, reconnects included: the server resends everything after it.
  on('hello', function () { s.steps = []; s.epochs = []; s.synced = false; s.error = ''; });
  on('line', function (l) {
    if (l.type === 'step') s.steps.push(l); else if (l.type === 'epoch') s.epochs.push(l);
    if (s.synced) scheduleRender();
  });
  on('synced', function () { s.synced = true; scheduleRender(); });
  on('reset', function () { s.steps = []; s.epochs = []; scheduleRender(); });
  on('status', function (d) { s.status = d.status; scheduleRender(); });
  on('done', function () { s.status = 'finished'; s.synced = true; s.doneAt = Date.now(); closeSlot(s); scheduleRender(); });
  es.onopen = function () { s.error = ''; scheduleRender(); };
  es.onerror = function () {
    if (s.es !== es) return;
    s.error = es.readyState === 2 ? 'stream closed by the server' : 'connection lost, reconnecting…';
    scheduleRender();
  };
}

// ---- selection survives a reload through the URL hash
function saveHash() {
  var h = 'a=' + encodeURIComponent(slots.a.id) + (slots.b.id ? '&b=' + encodeURIComponent(slots.b.id) : '');
  if (location.hash.slice(1) !== h) history.replaceState(null, '', location.pathname + location.search + '#' + h);
}
function syncSelects() {
  var ids = Object.keys(info);
  ['a', 'b'].forEach(function (n) {
    var sel = $('sel-' + n), want = (n === 'b' ? [''] : []).concat(ids);
    if (slots[n].id && want.indexOf(slots[n].id) < 0) want.push(slots[n].id);
    if (sel.dataset.ids !== want.join('\n')) {
      sel.textContent = '';
      want.forEach(function (id) { var o = el('option', null, id ? id.replace('/', ' / ') : '(none)'); o.value = id; sel.appendChild(o); });
      sel.dataset.ids = want.join('\n');
    }
    sel.value = slots[n].id;
  });
}

// ---- the runs list, polled
function poll() {
  fetch(withKey('/api/runs')).then(function (r) {
    if (r.status === 401) throw new Error('this dashboard needs its API key: open it as /?key=<key>');
    if (!r.ok) throw new Error('the server answered ' + r.status);
    return r.json();
  }).then(function (d) {
    setConn(true, '');
    $('dir').textContent = d.runsDir;
    runs = d.runs; info = {};
    runs.forEach(function (run) { run.stages.forEach(function (st) { info[run.name + '/' + st.stage] = st; }); });
    if (!ready) {
      ready = true;
      var h = new URLSearchParams(location.hash.slice(1));
      if (h.get('a')) select('a', h.get('a'));
      if (h.get('b')) select('b', h.get('b'));
    }
    // Opened before any run started, or following along (e.g. distill demo --ui: baseline, then student).
    var next = firstRunning();
    if (next && (!slots.a.id || (slots.a.auto && !slots.a.es && slots.a.id !== next))) select('a', next, true);
    ['a', 'b'].forEach(function (n) {
      // A finished stage that starts again (a rerun or a resume in the same folder): follow it again.
      var s = slots[n], st = info[s.id];
      if (s.id && !s.es && st && st.status === 'running' && Date.now() - s.doneAt > 5000) select(n, s.id, s.auto);
    });
    renderList(); syncSelects(); scheduleRender();
  }).catch(function (e) { setConn(false, e.message); }).then(function () { setTimeout(poll, 2000); });
}
function firstRunning() { // the listing is newest first
  var all = Object.keys(info), run = all.filter(function (id) { return info[id].status === 'running'; });
  return run[0] || (slots.a.id ? '' : all[0]) || '';
}
function setConn(ok, msg) {
  var c = $('conn'); c.className = ok ? 'ok' : 'bad'; c.textContent = ok ? 'live' : 'offline';
  var m = $('msg'); m.hidden = !msg; m.textContent = msg;
}
function renderList() {
  var box = $('run-list'); box.textContent = '';
  if (!runs.length) { box.appendChild(el('div', 'empty', 'no runs yet — start one with npx distill')); return; }
  runs.forEach(function (run) {
    var r = el('div', 'run'); r.appendChild(el('div', 'run-name', run.name));
    run.stages.forEach(function (st) {
      var id = run.name + '/' + st.stage, row = el('div', 'stage');
      row.dataset.id = id; row.dataset.status = st.status; row.title = 'click: show as A · shift-click: compare as B';
      row.appendChild(el('span', null, st.stage));
      row.appendChild(el('span', 'badge ' + st.status, st.status));
      var bar = el('div', 'bar'), fill = el('div'); fill.style.width = ((st.progress || 0) * 100) + '%'; bar.appendChild(fill); row.appendChild(bar);
      row.appendChild(el('span', 'meta', 'epoch ' + (st.lastEpoch == null ? 0 : st.lastEpoch + 1) + (st.epochs ? ' / ' + st.epochs : '') +
        ' · val ' + pct(st.valAccuracy) + (st.status === 'running' && st.etaSeconds != null ? ' · ETA ' + dur(st.etaSeconds) : '')));
      row.onclick = function (ev) { select(ev.shiftKey ? 'b' : 'a', id); };
      r.appendChild(row);
    });
    box.appendChild(r);
  });
}

// ---- progress and ETA from the stream (fresher than the polled list)
function stats(s) {
  var st = info[s.id] || {}, last = s.steps[s.steps.length - 1], lastE = s.epochs[s.epochs.length - 1];
  var status = s.status || st.status || 'connecting';
  var spe = last ? last.stepsPerEpoch : st.stepsPerEpoch, total = spe && st.epochs ? spe * st.epochs : null;
  var step = last ? last.step : null;
  var rs = s.steps.slice(-5).map(function (l) { return l.samplesPerSec; }).filter(function (v) { return v > 0; }).sort(function (x, y) { return x - y; });
  var sps = rs.length ? rs[Math.floor(rs.length / 2)] : null; // median: one slow interval must not swing the ETA
  return {
    status: status, step: step, total: total, epochs: st.epochs, epoch: lastE ? lastE.epoch + 1 : 0, sps: sps,
    progress: status === 'finished' ? 1 : total && step != null ? Math.min(1, step / total) : null,
    eta: status === 'running' && total && step != null && sps && st.samplesPerStep ? (total - step) * st.samplesPerStep / sps : null,
    val: lastE ? lastE.valAccuracy : null, loss: last ? last.loss : lastE ? lastE.loss : null,
  };
}
function renderCards() {
  var box = $('cards'); box.textContent = '';
  ['a', 'b'].forEach(function (n) {
    var s = slots[n]; if (!s.id) return;
    var x = stats(s), card = el('div', 'box card');
    card.dataset.slot = n; card.dataset.status = x.status; card.dataset.step = x.step == null ? '' : String(x.step);
    var t = el('div', 'title'); t.appendChild(el('span', 'slot ' + n, n.toUpperCase())); t.appendChild(el('span', null, s.id.replace('/', ' / ')));
    t.appendChild(el('span', 'badge ' + x.status, x.status)); card.appendChild(t);
    var bar = el('div', 'bar'), fill = el('div'); fill.style.width = ((x.progress || 0) * 100) + '%'; bar.appendChild(fill); card.appendChild(bar);
    var g = el('div', 'stats');
    [['epoch', x.epoch + (x.epochs ? ' / ' + x.epochs : '')], ['step', num(x.step) + (x.total ? ' / ' + num(x.total) : '')], ['progress', pct(x.progress)],
      ['samples/s', rate(x.sps)], ['ETA', x.status === 'finished' ? 'done' : dur(x.eta)], ['val accuracy', pct(x.val)]].forEach(function (kv) {
      var d = el('div'); d.appendChild(el('span', null, kv[0])); d.appendChild(el('b', null, kv[1])); g.appendChild(d);
    });
    card.appendChild(g);
    if (s.error) card.appendChild(el('div', 'meta', s.error));
    box.appendChild(card);
  });
}
function markList() {
  var rows = document.querySelectorAll('.stage');
  for (var i = 0; i < rows.length; i++) {
    rows[i].classList.toggle('sel-a', rows[i].dataset.id === slots.a.id);
    rows[i].classList.toggle('sel-b', rows[i].dataset.id === slots.b.id && !!slots.b.id);
  }
}

// ---- charts: one uPlot each; both slots' series share the axes (x joined with uPlot.join)
function active() { return ['a', 'b'].filter(function (n) { return slots[n].id; }); }
// Per-step losses are noisy; 'smooth' shows a debiased exponential moving average (as TensorBoard does).
function ema(ys, beta) {
  var m = 0, n = 0;
  return ys.map(function (y) { if (y == null) return null; m = beta * m + (1 - beta) * y; n++; return m / (1 - Math.pow(beta, n)); });
}
function lossTable(s) {
  var keys = ['loss'], smooth = $('smooth').checked;
  s.steps.forEach(function (l) { Object.keys(l.parts || {}).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
  // A single loss reports itself as a part too (parts.hinton === loss): one line is enough.
  keys = keys.filter(function (k) { return k === 'loss' || !s.steps.every(function (l) { return (l.parts || {})[k] === l.loss; }); });
  var t = [s.steps.map(function (l) { return l.epoch + l.stepInEpoch / l.stepsPerEpoch; })];
  keys.forEach(function (k) {
    var ys = s.steps.map(function (l) { var v = k === 'loss' ? l.loss : (l.parts || {})[k]; return v == null ? null : v; });
    t.push(smooth ? ema(ys, 0.9) : ys);
  });
  return { keys: keys.map(function (k) { return k === 'loss' ? 'total' : k; }), table: t };
}
function accTable(s) {
  var keys = ['val accuracy'], t = [s.epochs.map(function (l) { return l.epoch + 1; }), s.epochs.map(function (l) { return l.valAccuracy == null ? null : l.valAccuracy * 100; })];
  if (s.epochs.some(function (l) { return l.teacherAgreement != null; })) {
    keys.push('agreement with teacher'); t.push(s.epochs.map(function (l) { return l.teacherAgreement == null ? null : l.teacherAgreement * 100; }));
  }
  return { keys: keys, table: t };
}
function plot(which, elId, build, xLabel, yLabel) {
  var names = active(), parts = names.map(function (n) { return build(slots[n]); });
  var series = [], tables = [];
  names.forEach(function (n, i) {
    parts[i].keys.forEach(function (k, j) {
      series.push({ label: n.toUpperCase() + ' ' + k, stroke: COLORS[n][j % 5], width: j ? 1.25 : 2, dash: n === 'b' ? [6, 4] : undefined, spanGaps: true, points: { show: false } });
    });
    tables.push(parts[i].table);
  });
  var data = tables.length > 1 ? uPlot.join(tables) : tables.length ? tables[0] : [[]];
  var box = $(elId), key = JSON.stringify(series.map(function (x) { return x.label; }));
  if (!charts[which] || charts[which + 'Key'] !== key) {
    if (charts[which]) charts[which].destroy();
    box.textContent = '';
    charts[which] = new uPlot({
      width: Math.max(300, box.clientWidth), height: 260, series: [{ label: xLabel }].concat(series),
      scales: { x: { time: false } }, axes: [{ label: xLabel }, { label: yLabel }], legend: { live: true },
    }, data, box);
    charts[which + 'Key'] = key;
  } else charts[which].setData(data);
  // Plotted points per slot, for the eye and for the browser test.
  box.dataset.points = String(slots.a.id ? parts[names.indexOf('a')].table[0].length : 0);
  box.dataset.pointsB = String(slots.b.id ? parts[names.indexOf('b')].table[0].length : 0);
  box.dataset.smooth = String($('smooth').checked);
}
function render() {
  renderCards(); markList();
  plot('loss', 'loss-chart', lossTable, 'epoch', 'loss');
  plot('acc', 'acc-chart', accTable, 'epoch', 'accuracy (%)');
}
function scheduleRender() { if (!renderTimer) renderTimer = setTimeout(function () { renderTimer = null; render(); }, 150); }

$('smooth').checked = localStorage.getItem('distill.smooth') === '1';
$('smooth').onchange = function () { localStorage.setItem('distill.smooth', this.checked ? '1' : '0'); scheduleRender(); };
$('sel-a').onchange = function () { select('a', this.value); };
$('sel-b').onchange = function () { select('b', this.value); };
window.addEventListener('resize', function () {
  ['loss', 'acc'].forEach(function (w) { if (charts[w]) charts[w].setSize({ width: Math.max(300, $(w + '-chart').clientWidth), height: 260 }); });
});
poll();
})();
`;

// The HTML of each report section, from the report data. Every number a test or a reader
// may want to check keeps its raw value in a data-value attribute next to the formatted text.
import { formatBytes, formatCount, formatMs, formatRate, type ComparisonRow } from '../eval/index.js';
import { className, perClassDelta, type RunReportData, type TraceItem } from './data.js';
import type { ChartData } from './charts.js';
import { esc, grayImageSvg } from './markup.js';

const pct = (v: number | null, digits = 2) => (v === null ? '—' : `${(v * 100).toFixed(digits)}%`);
/** A table cell with its exact value: String(v) round-trips a double, so the attribute equals the file's number. */
const td = (field: string, raw: number | string | null, text: string, cls = '') =>
  `<td data-field="${field}" data-value="${esc(raw === null ? 'null' : String(raw))}"${cls ? ` class="${cls}"` : ''}>${esc(text)}</td>`;

const COLUMNS: [keyof ComparisonRow, string, (r: ComparisonRow) => string][] = [
  ['params', 'parameters', (r) => formatCount(r.params)],
  ['fileBytes', 'file', (r) => formatBytes(r.fileBytes)],
  ['latencyP50Ms', 'latency p50', (r) => formatMs(r.latencyP50Ms)],
  ['latencyP95Ms', 'latency p95', (r) => formatMs(r.latencyP95Ms)],
  ['throughputPerS', 'throughput', (r) => formatRate(r.throughputPerS)],
  ['peakMemoryBytes', 'memory', (r) => formatBytes(r.peakMemoryBytes)],
  ['accuracy', 'accuracy', (r) => pct(r.accuracy)],
  ['agreementWithTeacher', 'agreement with teacher', (r) => pct(r.agreementWithTeacher)],
];

/** One sentence of what the table proves: how much of the teacher–baseline gap distillation closed. */
export function headline(rows: ComparisonRow[]): string | undefined {
  const t = rows.find((r) => r.role === 'teacher'), b = rows.find((r) => r.role === 'baseline'), s = rows.find((r) => r.role === 'student');
  if (!b || !s) return undefined;
  const diff = (s.accuracy - b.accuracy) * 100;
  let text = `The distilled student scores ${pct(s.accuracy)} against the same-size baseline's ${pct(b.accuracy)} (${diff >= 0 ? '+' : '−'}${Math.abs(diff).toFixed(2)} points)`;
  // "Closing −155% of the gap" reads as nonsense: a negative share is said as what it is.
  if (t && t.accuracy > b.accuracy && s.accuracy >= b.accuracy) text += `, closing ${(((s.accuracy - b.accuracy) / (t.accuracy - b.accuracy)) * 100).toFixed(0)}% of the teacher–baseline gap`;
  else if (t && t.accuracy > b.accuracy) text += `; the teacher is ${((t.accuracy - b.accuracy) * 100).toFixed(2)} points above the baseline, so distillation widened the gap`;
  if (s.agreementWithTeacher !== null && b.agreementWithTeacher !== null)
    text += `; it agrees with the teacher on ${pct(s.agreementWithTeacher, 1)} of test samples (baseline ${pct(b.agreementWithTeacher, 1)})`;
  return text + '.';
}

export function comparisonSection(rows: ComparisonRow[]): string {
  const head = `<tr><th>model</th><th>role</th>${COLUMNS.map(([, h]) => `<th>${h}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr data-role="${esc(r.role)}">${td('name', r.name, r.name, 'name')}${td('role', r.role, r.role)}` +
    COLUMNS.map(([k, , f]) => td(k, r[k] as number | null, f(r), 'num')).join('') + '</tr>').join('\n');
  const h = headline(rows);
  return `<section id="comparison"><h2>Teacher, baseline and distilled student</h2>${h ? `<p class="headline">${esc(h)}</p>` : ''}
<table class="comparison"><thead>${head}</thead><tbody>
${body}
</tbody></table>
<p class="note">Latency at batch 1 (median and 95th percentile), throughput and memory at batch 256, accuracy and agreement on the test set; the exact figures are in comparison.json.</p></section>`;
}

export function temperatureSection(d: RunReportData, cd: NonNullable<ChartData['temperature']>): string {
  const t = d.temperature!;
  const img = t.image ? `<figure class="example">${grayImageSvg(t.image, { scale: 5, title: `test sample #${t.index}` })}<figcaption>test sample #${t.index}<br>true class: <b>${esc(cd.label)}</b></figcaption></figure>` : '';
  const rows = cd.series.map((s) => {
    const top = s.probs.indexOf(Math.max(...s.probs));
    return `<tr data-t="${s.T}"><td>T = ${s.T}</td>${td('entropy', s.entropy, `${s.entropy.toFixed(3)} nats`, 'num')}${td('pTrue', s.probs[t.label], pct(s.probs[t.label], 1), 'num')}<td>${esc(className(d, top))}</td></tr>`;
  }).join('');
  return `<section id="temperature"><h2>Temperature: the teacher's soft targets</h2>
<p>p<sub>i</sub> = exp(z<sub>i</sub>/T) / Σ<sub>j</sub> exp(z<sub>j</sub>/T) for one test example the teacher finds ambiguous: ${esc(t.why)}. A higher T flattens the distribution and shows which wrong classes the teacher thinks are close — the "dark knowledge" the student learns from (Hinton, Vinyals &amp; Dean 2015).</p>
<div class="row">${img}<div class="chart" id="chart-temperature" data-series="${cd.series.length}"></div></div>
<table class="small"><thead><tr><th>temperature</th><th>entropy</th><th>p(true class)</th><th>top class</th></tr></thead><tbody>${rows}</tbody></table>
<p class="note">The maximum entropy for ${cd.classes.length} classes is ln ${cd.classes.length} = ${Math.log(cd.classes.length).toFixed(3)} nats.</p></section>`;
}

export function curvesSection(cd: ChartData): string {
  const parts: string[] = [];
  if (cd.loss) parts.push(`<h3>Loss of the distilled student per logged step</h3><p class="note">The total is what the optimizer minimises; the parts are unweighted (the total weights them, e.g. α·hard + (1−α)·T²·KL for 'hinton').</p><div class="chart" id="chart-loss" data-series="${cd.loss.series.length}"></div>`);
  if (cd.accuracy) parts.push(`<h3>Validation accuracy per epoch</h3><div class="chart" id="chart-accuracy" data-series="${cd.accuracy.series.length}"></div>`);
  return `<section id="curves"><h2>Training curves</h2>${parts.join('\n')}</section>`;
}

export function errorsSection(d: RunReportData): string {
  const e = d.errors!;
  const n = e.confusion.length;
  const names = Array.from({ length: n }, (_, c) => className(d, c));
  const head = `<tr><th class="corner">true \\ predicted</th>${names.map((c) => `<th>${esc(c)}</th>`).join('')}<th>recall</th></tr>`;
  const body = e.confusion.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    const cells = row.map((v, p) => {
      const share = v / total, rgb = t === p ? '31,119,180' : '214,39,40';
      return `<td data-value="${v}" title="${esc(`true ${names[t]} → predicted ${names[p]}: ${v} (${(share * 100).toFixed(1)}%)`)}" style="background:rgba(${rgb},${share.toFixed(3)});${share > 0.5 ? 'color:white' : ''}">${v || ''}</td>`;
    }).join('');
    return `<tr><th>${esc(names[t])}</th>${cells}${td('recall', e.perClass.student[t], pct(e.perClass.student[t], 1), 'num')}</tr>`;
  }).join('\n');
  let delta = '';
  if (e.perClass.baseline) {
    const ds = perClassDelta(e.perClass.student, e.perClass.baseline);
    const best = ds[0], worst = ds[ds.length - 1];
    const say = (x: typeof best) => `'${className(d, x.cls)}' (${x.delta >= 0 ? '+' : '−'}${Math.abs(x.delta * 100).toFixed(1)} points)`;
    const summary = ds.length ? `KD helped most on ${say(best)} and ${worst.delta < 0 ? `hurt most on ${say(worst)}` : 'hurt no class'}.` : '';
    const shown = ds.length <= 20 ? ds : [...ds.slice(0, 5), ...ds.slice(-5)];
    const rows = shown.map((x) => `<tr data-class="${x.cls}"><th>${esc(className(d, x.cls))}</th>${td('baseline', x.baseline, pct(x.baseline, 1), 'num')}${td('student', x.student, pct(x.student, 1), 'num')}` +
      `${td('delta', x.delta, `${x.delta >= 0 ? '+' : '−'}${Math.abs(x.delta * 100).toFixed(1)}`, `num ${x.delta > 0 ? 'up' : x.delta < 0 ? 'down' : ''}`)}<td><span class="bar ${x.delta >= 0 ? 'up' : 'down'}" style="width:${Math.min(100, Math.abs(x.delta) * 400).toFixed(0)}px"></span></td></tr>`).join('\n');
    delta = `<h3>Where distillation helped or hurt</h3><p>${esc(summary)}</p>
<table class="small delta"><thead><tr><th>class</th><th>baseline</th><th>distilled</th><th>Δ points</th><th></th></tr></thead><tbody>
${rows}
</tbody></table>`;
  }
  return `<section id="errors"><h2>Error analysis</h2><h3>Confusion matrix of the distilled student (test set)</h3>
<table class="confusion"><thead>${head}</thead><tbody>
${body}
</tbody></table>
${delta}</section>`;
}

const traceItem = (t: TraceItem) => `<details class="trace ${t.verified ? 'ok' : 'bad'}"><summary>${esc(t.question.slice(0, 160) || '(no question)')}</summary>
<pre>${esc(t.trace)}</pre><dl>${t.answer !== undefined ? `<dt>teacher's answer</dt><dd>${esc(t.answer)}</dd>` : ''}${t.expected !== undefined ? `<dt>expected</dt><dd>${esc(t.expected)}</dd>` : ''}<dt>student's answer</dt><dd>${esc(t.studentAnswer ?? '—')}</dd></dl></details>`;

export function tracesSection(d: RunReportData): string {
  const t = d.traces!;
  return `<section id="traces"><h2>Reasoning traces</h2><p>${t.counts.verified} verified traces kept for fine-tuning, ${t.counts.rejected} rejected (rejection sampling: only traces whose answer checks out teach the student).</p>
<h3>Verified</h3>${t.verified.map(traceItem).join('\n') || '<p>none</p>'}
<h3>Rejected</h3>${t.rejected.map(traceItem).join('\n') || '<p>none</p>'}</section>`;
}

// The proof table as text: aligned for the terminal, Markdown for docs and the report,
// and the files `comparison.md` + `comparison.json` (exact figures) written atomically.
import fs from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/index.js';
import type { ComparisonRow } from './compare.js';
import { formatBytes, formatCount, formatMs, formatPercent, formatRate } from './format.js';

interface Column {
  title: string;
  /** Numbers are right-aligned so their units line up. */
  numeric: boolean;
  cell: (r: ComparisonRow) => string;
}

const COLUMNS: Column[] = [
  { title: 'model', numeric: false, cell: (r) => r.name },
  { title: 'role', numeric: false, cell: (r) => r.role },
  { title: 'params', numeric: true, cell: (r) => formatCount(r.params) },
  { title: 'file', numeric: true, cell: (r) => formatBytes(r.fileBytes) },
  { title: 'latency p50', numeric: true, cell: (r) => formatMs(r.latencyP50Ms) },
  { title: 'latency p95', numeric: true, cell: (r) => formatMs(r.latencyP95Ms) },
  { title: 'throughput', numeric: true, cell: (r) => formatRate(r.throughputPerS) },
  { title: 'memory', numeric: true, cell: (r) => formatBytes(r.peakMemoryBytes) },
  { title: 'accuracy', numeric: true, cell: (r) => formatPercent(r.accuracy) },
  { title: 'agreement', numeric: true, cell: (r) => formatPercent(r.agreementWithTeacher) },
];

/** What each column means, printed under the Markdown table so the file stands alone. */
const LEGEND = [
  'params: all parameters (buffers excluded). file: safetensors file size (1 MB = 10^6 bytes).',
  'latency: per-call wall time at batch 1, median and 95th percentile. throughput: samples/s at batch 256.',
  'memory: tensor bytes of inference at batch 256 (weights + input + peak activations; libtorch scratch not counted).',
  'accuracy: top-1 on the evaluation set. agreement: fraction of samples where the model predicts the teacher\'s class.',
  'All models measured in one run on one machine: compare the figures as ratios.',
].join('\n');

/** An aligned plain-text table for the terminal, one line per row. */
export function formatTable(rows: readonly ComparisonRow[]): string {
  const cells = rows.map((r) => COLUMNS.map((c) => c.cell(r)));
  const widths = COLUMNS.map((c, j) => Math.max(c.title.length, ...cells.map((row) => row[j].length)));
  const line = (vals: string[]) =>
    vals.map((v, j) => (COLUMNS[j].numeric ? v.padStart(widths[j]) : v.padEnd(widths[j]))).join('  ').trimEnd();
  return [line(COLUMNS.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

// A '|' in a model name would split its cell; backslash first so the escape is not doubled.
const md = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A GitHub-flavoured Markdown table, numeric columns right-aligned. */
export function tableMarkdown(rows: readonly ComparisonRow[]): string {
  const line = (vals: string[]) => `| ${vals.join(' | ')} |`;
  return [
    line(COLUMNS.map((c) => c.title)),
    line(COLUMNS.map((c) => (c.numeric ? '---:' : ':---'))),
    ...rows.map((r) => line(COLUMNS.map((c) => md(c.cell(r))))),
  ].join('\n');
}

/**
 * Writes `comparison.md` (the table and its legend) and `comparison.json` (the rows with
 * exact figures) into `dir`, creating it if needed. Each file is replaced atomically, so
 * a reader never sees half a table. Returns the two paths.
 */
export function writeComparison(dir: string, rows: readonly ComparisonRow[]): { markdownPath: string; jsonPath: string } {
  fs.mkdirSync(dir, { recursive: true });
  const markdownPath = join(dir, 'comparison.md');
  const jsonPath = join(dir, 'comparison.json');
  writeFileAtomic(jsonPath, `${JSON.stringify(rows, null, 2)}\n`);
  writeFileAtomic(markdownPath, `${tableMarkdown(rows)}\n\n${LEGEND}\n`);
  return { markdownPath, jsonPath };
}

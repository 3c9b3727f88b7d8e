// The user's own tabular data: CSV (header row, RFC 4180 quoting) or JSONL (one object per
// line). Every column except the label is a numeric feature; x is (N, F) float32.
//
// Labels are either non-negative integers (class indices) or, when any label is not an
// integer, class names: the sorted distinct names become classNames and their positions the
// class indices, so "cat,dog" files need no preprocessing and the mapping is reproducible.
import { extname } from 'node:path';
import { ConfigError, FormatError } from '../torch/index.js';
import { readDataText } from './files.js';
import { datasetFromArrays, type Dataset } from './dataset.js';

export interface TabularOptions {
  /** Column (CSV header) or key (JSONL) holding the class; default 'label'. */
  labelColumn?: string;
  numClasses?: number;
  name?: string;
  /** 'csv' | 'jsonl'; default from the extension (.csv, .jsonl/.ndjson, optionally .gz). */
  format?: 'csv' | 'jsonl';
}

/** One CSV record per data line; quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string, source: string): { rows: string[][]; lines: number[] } {
  const rows: string[][] = [];
  const lines: number[] = []; // 1-based line where each record starts
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const endRow = () => {
    row.push(field);
    field = '';
    // A blank line (one empty unquoted field) is skipped, so trailing newlines are harmless.
    if (!(row.length === 1 && row[0] === '')) {
      rows.push(row);
      lines.push(rowLine);
    }
    row = [];
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      i++;
      continue;
    }
    if (ch === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      field += ch;
    }
    i++;
  }
  if (quoted) throw new FormatError(`${source}: line ${rowLine}: unterminated quoted field`);
  if (field !== '' || row.length) endRow();
  return { rows, lines };
}

/** A cell as a finite number, or undefined. Number('') is 0 and Number('0x1') is 1: both refused. */
function toNumber(cell: string): number | undefined {
  const s = cell.trim();
  if (s === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/** Raw labels (numbers or strings) → class indices, classNames when they are names. */
function encodeLabels(raw: (number | string)[], source: string, where: (i: number) => string): { labels: Int32Array; classNames?: string[] } {
  const allInts = raw.every((v) => typeof v === 'number' || toNumber(v) !== undefined);
  if (allInts) {
    const labels = new Int32Array(raw.length);
    raw.forEach((v, i) => {
      const n = typeof v === 'number' ? v : (toNumber(v) as number);
      if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff)
        throw new FormatError(`${source}: ${where(i)}: label ${JSON.stringify(v)} is not a non-negative integer class index`);
      labels[i] = n;
    });
    return { labels };
  }
  const names = [...new Set(raw.map(String))].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  return { labels: Int32Array.from(raw, (v) => index.get(String(v)) as number), classNames: names };
}

function fromCsv(text: string, path: string, labelColumn: string) {
  const { rows, lines } = parseCsv(text, path);
  if (rows.length === 0) throw new FormatError(`${path}: empty CSV file (no header row)`);
  const header = rows[0].map((h) => h.trim());
  const labelAt = header.indexOf(labelColumn);
  if (labelAt < 0) throw new ConfigError(`${path}: no label column "${labelColumn}" in the header (columns: ${header.join(', ')})`);
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup !== undefined) throw new FormatError(`${path}: column "${dup}" appears twice in the header`);
  const featureCols = header.map((_, i) => i).filter((i) => i !== labelAt);
  const n = rows.length - 1;
  const x = new Float32Array(n * featureCols.length);
  const raw: string[] = [];
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r];
    if (row.length !== header.length)
      throw new FormatError(`${path}: line ${lines[r]} (row ${r}) has ${row.length} cells, the header has ${header.length}`);
    featureCols.forEach((c, f) => {
      const v = toNumber(row[c]);
      if (v === undefined)
        throw new FormatError(`${path}: line ${lines[r]} (row ${r}), column "${header[c]}": ${JSON.stringify(row[c])} is not a number`);
      x[(r - 1) * featureCols.length + f] = v;
    });
    raw.push(row[labelAt].trim());
  }
  return { x, features: featureCols.length, raw, where: (i: number) => `line ${lines[i + 1]} (row ${i + 1}), column "${labelColumn}"` };
}

function fromJsonl(text: string, path: string, labelColumn: string) {
  const lines = text.split(/\r?\n/);
  let keys: string[] | undefined;
  let widths: number[] = [];
  let isArr: boolean[] = [];
  let F = 0;
  const values: number[] = [];
  const raw: (number | string)[] = [];
  const lineOf: number[] = [];
  lines.forEach((l, li) => {
    if (l.trim() === '') return;
    const at = `line ${li + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(l);
    } catch (e) {
      throw new FormatError(`${path}: ${at}: not valid JSON (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new FormatError(`${path}: ${at}: expected a JSON object`);
    const rec = obj as Record<string, unknown>;
    if (!(labelColumn in rec)) throw new FormatError(`${path}: ${at}: no "${labelColumn}" key (keys: ${Object.keys(rec).join(', ')})`);
    const label = rec[labelColumn];
    if (typeof label !== 'number' && typeof label !== 'string')
      throw new FormatError(`${path}: ${at}, key "${labelColumn}": label ${JSON.stringify(label)} must be a number or a string`);
    // The first record fixes the feature keys and their widths (a key may hold a numeric array, flattened).
    if (!keys) {
      keys = Object.keys(rec).filter((k) => k !== labelColumn);
      isArr = keys.map((k) => Array.isArray(rec[k]));
      widths = keys.map((k) => (Array.isArray(rec[k]) ? (rec[k] as unknown[]).length : 1));
      F = widths.reduce((a, b) => a + b, 0);
    }
    for (const [ki, k] of keys.entries()) {
      if (!(k in rec)) throw new FormatError(`${path}: ${at}: missing key "${k}" that the first record has`);
      const v = rec[k];
      const cells = Array.isArray(v) ? v : [v];
      if (Array.isArray(v) !== isArr[ki])
        throw new FormatError(`${path}: ${at}, key "${k}": ${isArr[ki] ? 'expected an array like the first record' : 'expected a single number like the first record'}, got ${JSON.stringify(v)}`);
      if (cells.length !== widths[ki])
        throw new FormatError(`${path}: ${at}, key "${k}": ${cells.length} values, the first record has ${widths[ki]}`);
      cells.forEach((c, j) => {
        if (typeof c !== 'number' || !Number.isFinite(c))
          throw new FormatError(`${path}: ${at}, key "${k}"${Array.isArray(v) ? `[${j}]` : ''}: ${JSON.stringify(c)} is not a number`);
        values.push(c);
      });
    }
    const extra = Object.keys(rec).find((k) => k !== labelColumn && !keys!.includes(k));
    if (extra !== undefined) throw new FormatError(`${path}: ${at}: key "${extra}" is not in the first record`);
    raw.push(label);
    lineOf.push(li + 1);
  });
  return { x: Float32Array.from(values), features: F, raw, where: (i: number) => `line ${lineOf[i]}, key "${labelColumn}"` };
}

/** A classification dataset from a .csv or .jsonl file (optionally gzipped); x (N, F) float32. */
export function loadTabular(path: string, opts: TabularOptions = {}): Dataset {
  const labelColumn = opts.labelColumn ?? 'label';
  const ext = extname(path.replace(/\.gz$/i, '')).toLowerCase();
  const format = opts.format ?? (ext === '.csv' ? 'csv' : ext === '.jsonl' || ext === '.ndjson' ? 'jsonl' : undefined);
  if (!format) throw new ConfigError(`${path}: cannot tell the format from the extension "${ext}"; use .csv or .jsonl, or pass format`);
  const text = readDataText(path);
  const parsed = format === 'csv' ? fromCsv(text, path, labelColumn) : fromJsonl(text, path, labelColumn);
  if (parsed.raw.length === 0) throw new FormatError(`${path}: no data rows (the dataset is empty)`);
  if (parsed.features === 0) throw new FormatError(`${path}: no feature columns besides "${labelColumn}"`);
  const { labels, classNames } = encodeLabels(parsed.raw, path, parsed.where);
  if (classNames && opts.numClasses !== undefined && classNames.length > opts.numClasses)
    throw new FormatError(`${path}: ${classNames.length} distinct class names (${classNames.join(', ')}), more than numClasses=${opts.numClasses}`);
  const numClasses = opts.numClasses ?? classNames?.length;
  return datasetFromArrays({
    name: opts.name ?? path, source: path, x: parsed.x, featureShape: [parsed.features], labels, numClasses,
    // Named classes beyond those seen in the file have no name to give; then no classNames at all.
    classNames: classNames && classNames.length === numClasses ? classNames : undefined,
  });
}

// Importers for outside problem sets: GSM8K jsonl ({question, answer} with "#### 42"), MATH jsonl
// ({problem, solution} with \boxed{…}) and plain jsonl ({question, answer}).
//
// Ids are `family:` + the first 16 hex digits of sha256 of the whitespace-collapsed question, so
// the same question gets the same id in any file, order or copy (what resume and the train/eval
// contamination check key on). A question repeated within one file is kept once.
// Every error names the file and the 1-based line, so a bad line in a 7,000-line file is findable.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { FormatError } from '../../torch/errors.js';
import type { Problem } from '../types.js';
import { lastBoxed, parseNumericAnswer } from '../verify.js';

export type ImportFormat = 'gsm8k' | 'math' | 'jsonl';

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]/;

/** 'zh' when the text holds any CJK character, else 'en'. */
export function detectLang(text: string): 'en' | 'zh' {
  return CJK.test(text) ? 'zh' : 'en';
}

export function problemIdFor(family: string, question: string): string {
  const norm = question.replace(/\s+/g, ' ').trim();
  return `${family}:${createHash('sha256').update(norm).digest('hex').slice(0, 16)}`;
}

type Row = Record<string, unknown>;

/** Parses non-blank lines as JSON objects, calling `make` with each; errors carry file:line. */
function parseLines(text: string, file: string, family: string, make: (row: Row, where: string) => Omit<Problem, 'id' | 'family' | 'lang'>): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!.trim();
    if (line === '') continue;
    const where = `${file}:${k + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new FormatError(`${where}: malformed JSON (${(e as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new FormatError(`${where}: expected a JSON object`);
    const p = make(row as Row, where);
    const id = problemIdFor(family, p.question);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ id, family, lang: detectLang(p.question), ...p });
  }
  return out;
}

function field(row: Row, name: string, where: string): string {
  const v = row[name];
  if (v === undefined || v === null) throw new FormatError(`${where}: missing field '${name}'`);
  if (typeof v !== 'string' && typeof v !== 'number') throw new FormatError(`${where}: field '${name}' must be a string, got ${typeof v}`);
  const s = String(v);
  if (s.trim() === '') throw new FormatError(`${where}: field '${name}' is empty`);
  return s;
}

/** GSM8K: the answer is the number after the last "####" (commas allowed: "1,234"). */
export function parseGsm8k(text: string, file = '<gsm8k>'): Problem[] {
  return parseLines(text, file, 'gsm8k', (row, where) => {
    const question = field(row, 'question', where);
    const full = field(row, 'answer', where);
    const at = full.lastIndexOf('####');
    if (at < 0) throw new FormatError(`${where}: no extractable answer (no '####' in 'answer')`);
    const answer = full.slice(at + 4).trim();
    const values = parseNumericAnswer(answer);
    if (!values) throw new FormatError(`${where}: no extractable answer ('#### ${answer}' is not a number)`);
    return { question, answer, values };
  });
}

/** MATH: the answer is the last \boxed{…} of the solution; non-numeric answers keep text, values []. */
export function parseMath(text: string, file = '<math>'): Problem[] {
  return parseLines(text, file, 'math', (row, where) => {
    const question = field(row, 'problem', where);
    const solution = field(row, 'solution', where);
    const boxed = lastBoxed(solution);
    if (boxed === null || boxed.trim() === '') throw new FormatError(`${where}: no extractable answer (no complete \\boxed{…} in 'solution')`);
    const answer = boxed.trim();
    return { question, answer, values: parseNumericAnswer(answer) ?? [] };
  });
}

/** Plain {question, answer}: a number, a numeric string ("6, 4"), or text (values []). "#### x" is honoured. */
export function parseJsonl(text: string, file = '<jsonl>'): Problem[] {
  return parseLines(text, file, 'jsonl', (row, where) => {
    const question = field(row, 'question', where);
    const raw = field(row, 'answer', where);
    const at = raw.lastIndexOf('####');
    const answer = (at >= 0 ? raw.slice(at + 4) : raw).trim();
    if (answer === '') throw new FormatError(`${where}: no extractable answer (nothing after '####')`);
    return { question, answer, values: parseNumericAnswer(answer) ?? [] };
  });
}

/** Reads `path` and parses it as `format`. */
export function importProblems(path: string, format: ImportFormat): Problem[] {
  const parse = { gsm8k: parseGsm8k, math: parseMath, jsonl: parseJsonl }[format];
  if (!parse) throw new FormatError(`importProblems: unknown format '${String(format)}' (gsm8k, math, jsonl)`);
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parse(text, path);
}

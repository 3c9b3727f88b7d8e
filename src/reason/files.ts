// The pipeline's JSONL files read back and written: problems.jsonl (one Problem per line, what
// `distill reason problems` writes and `traces` reads) and traces.jsonl (generateTraces' log).
// A bad line is one FormatError naming the file and its 1-based line, so a hand-edited or
// foreign file is fixable from the message alone.
import fs from 'node:fs';
import { dirname, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { FormatError } from '../torch/errors.js';
import type { Problem, Trace } from './types.js';

/** Non-blank lines of `path` with their 1-based numbers; an unreadable file is a FormatError. */
function lines(path: string, what: string): { text: string; no: number; last: boolean }[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FormatError(code === 'ENOENT' ? `${what} file not found: ${path}` : `cannot read ${what} file ${path}: ${(e as Error).message}`);
  }
  const all = text.split('\n');
  const out: { text: string; no: number; last: boolean }[] = [];
  all.forEach((l, i) => {
    if (l.trim() !== '') out.push({ text: l, no: i + 1, last: i === all.length - 1 });
  });
  return out;
}

function parseObject(l: { text: string; no: number }, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(l.text);
  } catch (e) {
    throw new FormatError(`${path}:${l.no}: malformed JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormatError(`${path}:${l.no}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Checks one line's fields against Problem; the message names the first wrong field. */
function asProblem(o: Record<string, unknown>, where: string): Problem {
  const str = (k: string) => {
    if (typeof o[k] !== 'string' || (o[k] as string).trim() === '') throw new FormatError(`${where}: field '${k}' must be a non-empty string`);
    return o[k] as string;
  };
  const id = str('id'), family = str('family'), question = str('question');
  const answer = typeof o.answer === 'number' ? String(o.answer) : str('answer');
  if (o.lang !== 'en' && o.lang !== 'zh') throw new FormatError(`${where}: field 'lang' must be "en" or "zh"`);
  const values = o.values ?? [];
  if (!Array.isArray(values) || !values.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new FormatError(`${where}: field 'values' must be an array of numbers`);
  if (o.solution !== undefined && typeof o.solution !== 'string') throw new FormatError(`${where}: field 'solution' must be a string`);
  const p: Problem = { id, family, lang: o.lang, question, answer, values: values as number[] };
  if (typeof o.solution === 'string') p.solution = o.solution;
  return p;
}

/**
 * Problems from a problems.jsonl. A repeated id with the same question is kept once; with a
 * different question it is an error (the id is the resume key of every trace of the problem).
 */
export function readProblemsFile(path: string): Problem[] {
  const out: Problem[] = [];
  const seen = new Map<string, { line: number; question: string }>();
  for (const l of lines(path, 'problems')) {
    const where = `${path}:${l.no}`;
    const p = asProblem(parseObject(l, path), where);
    const before = seen.get(p.id);
    if (before) {
      if (before.question !== p.question) throw new FormatError(`${where}: problem id '${p.id}' was already used on line ${before.line} for another question`);
      continue;
    }
    seen.set(p.id, { line: l.no, question: p.question });
    out.push(p);
  }
  if (out.length === 0) throw new FormatError(`${path}: no problems in the file`);
  return out;
}

/** Writes problems as JSONL, atomically (a reader never sees half a file). */
export function writeProblemsFile(path: string, problems: readonly Problem[]): void {
  writeFileAtomic(path, problems.map((p) => JSON.stringify(p) + '\n').join(''));
}

/**
 * Traces from a traces.jsonl. A torn last line (a killed writer; no newline after it) is
 * skipped, as the generator itself cuts it on resume; any other bad line is an error.
 */
export function readTracesFile(path: string): Trace[] {
  const out: Trace[] = [];
  for (const l of lines(path, 'traces')) {
    let o: Record<string, unknown>;
    try {
      o = parseObject(l, path);
    } catch (e) {
      if (l.last) continue;
      throw e;
    }
    const v = o.verdict as { ok?: unknown } | undefined;
    if (typeof o.id !== 'string' || typeof o.problemId !== 'string' || typeof o.question !== 'string' || typeof v?.ok !== 'boolean')
      throw new FormatError(`${path}:${l.no}: not a trace (needs id, problemId, question and verdict)`);
    // A trace's top-k store is named relative to its file's folder (traces/topk_traces.ts).
    if (typeof o.topk === 'string') o.topk = resolve(dirname(path), o.topk);
    out.push(o as unknown as Trace);
  }
  return out;
}

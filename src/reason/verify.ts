// Answer extraction and checking for teacher completions.
//
// Where the answer is taken from, in order of preference:
//   1. the LAST complete `\boxed{…}` (braces matched, so `\boxed{\frac{3}{4}}` works; an unclosed
//      box from a truncated completion is skipped);
//   2. the last `#### x` line (GSM8K style);
//   3. the last line holding a number, after `</think>` when there is one ('last-number').
//
// Number rules (one place, used everywhere, including the importers):
//   - `-` is a sign only when not preceded by a digit, letter, `)`, `]`, `}` or `.`: "28-20" is
//     28 and 20, "x=-5" is −5. Unicode minus and full-width digits are folded to ASCII.
//   - A comma directly between digits, followed by exactly three digits and no fourth, joins a
//     thousands group: "1,234" is 1234, "6,400" is 6400. Every other comma separates values:
//     "6, 4" and "6,4" are two values. Chinese "，" "、" "；", ";", "and", "和", "与", "及" separate too.
//   - "3/4" and `\frac{3}{4}` are 0.75; decimals "2.5" and ".5" parse; a trailing "." does not.
//   - In each separated item only what follows the last "=" counts, so "x=6, y=4" is [6, 4] and
//     "y=8/2=4" is [4]; then every number in the item counts ("鸡6只" → 6, "x_1" is no number).
//   - Digits glued to a preceding letter or "_" are a name, not a number ("x2", "x_1").
//   - Chinese numerals (六) are not read.
import type { Problem, Verdict } from './types.js';

export type AnswerSource = 'boxed' | '####' | 'last-number';
export interface ExtractedAnswer {
  values: number[];
  text: string;
  source: AnswerSource;
}

/** The content of the last complete `\boxed{…}` (or `\fbox{…}`, or `\boxed 5`), or null. */
export function lastBoxed(text: string): string | null {
  let found: string | null = null;
  for (const m of text.matchAll(/\\(?:boxed|fbox)(\s*\{|\s+)/g)) {
    const start = m.index + m[0].length;
    if (!m[1]!.includes('{')) {
      const bare = /^[^\s$]+/.exec(text.slice(start));
      if (bare) found = bare[0];
      continue;
    }
    let depth = 1;
    let i = start;
    for (; i < text.length && depth > 0; i++) {
      const ch = text[i];
      if (ch === '\\') i++; // \{ and \} are literal braces
      else if (ch === '{') depth++;
      else if (ch === '}') depth--;
    }
    if (depth === 0) found = text.slice(start, i - 1);
  }
  return found;
}

/** Folds LaTeX and Unicode spellings of numbers into plain ASCII ones (see the rules above). */
export function normaliseNumbers(s: string): string {
  return s
    .replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0))
    .replace(/[−－]/g, '-')
    .replace(/＝/g, '=')
    .replace(/\{,\}/g, '') // MATH writes 10{,}000
    .replace(/(\d)\\,(\d{3})(?!\d)/g, '$1$2') // LaTeX thin-space thousands: 1\,234
    .replace(/\\[dt]?frac\s*\{\s*(-?[\d.]+)\s*\}\s*\{\s*(-?[\d.]+)\s*\}/g, '$1/$2')
    .replace(/\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}/g, ' $1 ')
    .replace(/\\(?:left|right)\b/g, '')
    .replace(/\^\s*\{?\\circ\}?/g, '')
    .replace(/\\[,!;: ]/g, ' ')
    .replace(/\\?[$%]/g, '');
}

const NUM_SRC = String.raw`(?<![\w)\]}.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?|\.\d+)(?:\/-?\d+(?:\.\d+)?)?`;
const SEPARATOR = /(?<!\d),|,(?!\d{3}(?!\d))|[;，、；]|\band\b|和|与|及/;

function toNumber(tok: string): number {
  const [a, b] = tok.replace(/,/g, '').split('/');
  return b === undefined ? Number(a) : Number(a) / Number(b);
}

/** Every number in `s`, in order (no item or "=" logic). */
function numbersIn(s: string): number[] {
  return [...s.matchAll(new RegExp(NUM_SRC, 'g'))].map((m) => toNumber(m[0])).filter(Number.isFinite);
}

/** The values stated by an answer segment, per the rules at the top of this file. */
export function parseValues(segment: string): number[] {
  const out: number[] = [];
  for (const item of normaliseNumbers(segment).split(SEPARATOR)) {
    const eq = item.lastIndexOf('=');
    out.push(...numbersIn(eq >= 0 ? item.slice(eq + 1) : item));
  }
  return out;
}

/**
 * The values of an answer that is nothing but numbers ("42", "-3.5", "1,234", "\frac{3}{4}",
 * "6, 4", "\$18.90", "90^\circ"); null for anything else ("\sqrt{2}", "(3, 4)", "x+1", "Paris").
 */
export function parseNumericAnswer(text: string): number[] | null {
  const items = normaliseNumbers(text).trim().replace(/\.$/, '').split(SEPARATOR).map((x) => x.trim());
  const whole = new RegExp(`^${NUM_SRC}$`);
  if (items.length === 0 || !items.every((x) => whole.test(x))) return null;
  const values = items.map(toNumber);
  return values.every(Number.isFinite) ? values : null;
}

/** The final answer of a completion, or null when it states none (see the preference order above). */
export function extractAnswer(text: string): ExtractedAnswer | null {
  const boxed = lastBoxed(text);
  if (boxed !== null && boxed.trim() !== '') return { values: parseValues(boxed), text: boxed.trim(), source: 'boxed' };
  const hashes = [...text.matchAll(/####\s*([^\n]*)/g)];
  for (let k = hashes.length - 1; k >= 0; k--) {
    const line = hashes[k]![1]!.trim();
    const values = parseValues(line);
    if (values.length > 0) return { values, text: line, source: '####' };
  }
  const close = text.lastIndexOf('</think>');
  const after = close >= 0 ? text.slice(close + '</think>'.length) : '';
  const tail = numbersIn(normaliseNumbers(after)).length > 0 ? after : text;
  const lines = tail.split('\n');
  for (let k = lines.length - 1; k >= 0; k--) {
    const values = parseValues(lines[k]!);
    if (values.length > 0) return { values, text: lines[k]!.trim(), source: 'last-number' };
  }
  return null;
}

/** Answer text compared when a problem has no numeric values (MATH "\sqrt{2}", "(1, 2)"). */
export function normaliseAnswerText(s: string): string {
  return normaliseNumbers(s.replace(/\\[dt]frac/g, '\\frac'))
    .replace(/\s+/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/** |a−b| ≤ 1e-6·max(1, |a|, |b|): relative for large values, absolute near zero. */
export function sameNumber(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * Verdict for a completion against a problem. Multi-value answers are order-sensitive and must
 * match in count; only a 'last-number' extraction (free text) may carry extra leading numbers,
 * of which the last `values.length` are compared ("After 3 steps the answer is 42" → 42).
 */
export function checkAnswer(text: string, problem: Pick<Problem, 'answer' | 'values'>): Verdict {
  const ex = extractAnswer(text);
  if (!ex) return { ok: false, reason: 'no-answer', extracted: null };
  if (problem.values.length === 0) {
    const ok = normaliseAnswerText(ex.text) === normaliseAnswerText(problem.answer);
    return { ok, reason: ok ? 'correct' : 'wrong-answer', extracted: ex.values };
  }
  const k = problem.values.length;
  const got = ex.source === 'last-number' && ex.values.length > k ? ex.values.slice(-k) : ex.values;
  const ok = got.length === k && got.every((v, i) => sameNumber(v, problem.values[i]!));
  return { ok, reason: ok ? 'correct' : 'wrong-answer', extracted: got };
}

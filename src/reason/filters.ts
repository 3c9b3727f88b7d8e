// Quality filters for teacher traces, applied after the answer check. A trace that is right but
// rambling, looping or switching language teaches a small student the wrong habits, so it is dropped.
// Checks run cheapest first; the first failure is the reason.

export type FilterReason = 'too-long' | 'repetitive' | 'mixed-language';

export interface FilterOptions {
  /** Reasoning + content longer than this (in UTF-16 units) is 'too-long'. Default 8000. */
  maxChars?: number;
  /** Share of repeated 4-grams (1 − distinct/total) above which a trace is 'repetitive'. Default 0.5. */
  maxRepeatRatio?: number;
  /** A line (≥ 5 characters) occurring this many times or more is 'repetitive'. Default 5. */
  maxLineRepeats?: number;
  /** Extra Latin words allowed in a ZH trace (lower case). */
  allowWords?: string[];
}

// Han, kana, Hangul, CJK punctuation and full-width forms: none belongs in an EN trace.
const CJK = /[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff00-\uffef]/;

// Latin words a ZH math trace may hold: units, function names, "think"/"boxed" markup leftovers.
// LaTeX commands (\frac, \times, …) are removed before the check, so they need no entry here.
const ZH_ALLOWED = new Set([
  'think', 'boxed', 'km', 'cm', 'mm', 'kg', 'mg', 'ml', 'min', 'max', 'sin', 'cos', 'tan', 'log', 'ln',
  'exp', 'gcd', 'lcm', 'mod', 'sqrt', 'pi', 'kmh', 'km/h', 'ok',
]);

/** n-gram repeat share 1 − distinct/total; 0 when there are fewer than `minGrams` n-grams. */
export function repeatRatio(tokens: readonly string[], n = 4, minGrams = 20): number {
  const total = tokens.length - n + 1;
  if (total < minGrams) return 0;
  const seen = new Set<string>();
  for (let i = 0; i < total; i++) seen.add(tokens.slice(i, i + n).join('\u0001'));
  return 1 - seen.size / total;
}

function maxLineCount(text: string): number {
  const counts = new Map<string, number>();
  let max = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.length < 5) continue;
    const c = (counts.get(line) ?? 0) + 1;
    counts.set(line, c);
    if (c > max) max = c;
  }
  return max;
}

/** A run of ≥ 10 back-to-back copies of a unit holding a letter ("hahaha…", "的的的…"): a decoding loop. */
function hasLoop(text: string): boolean {
  for (const m of text.matchAll(/(\S[^]{0,49}?)\1{9,}/g)) if (/\p{L}/u.test(m[1]!)) return true;
  return false;
}

/** Latin words (2+ letters) of a ZH trace outside the allow-list; single-letter variables pass. */
export function foreignWords(text: string, allow: ReadonlySet<string> = ZH_ALLOWED): string[] {
  const stripped = text.replace(/<\/?think>/g, ' ').replace(/\\[A-Za-z]+/g, ' ');
  const out: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z]+(?:\/[A-Za-z]+)?/g)) {
    const w = m[0];
    if (w.length < 2 || allow.has(w.toLowerCase())) continue;
    if (/^[A-Z]{2,3}$/.test(w)) continue; // point and segment names: AB, ABC
    out.push(w);
  }
  return out;
}

/**
 * null when the trace passes, else why it fails. `lang` is the problem's language: an EN trace
 * may hold no CJK text, a ZH trace no English words beyond single letters and the allow-list.
 */
export function filterTrace(
  trace: { reasoning: string; content: string },
  lang: 'en' | 'zh',
  opts: FilterOptions = {},
): FilterReason | null {
  const { maxChars = 8000, maxRepeatRatio = 0.5, maxLineRepeats = 5 } = opts;
  const text = `${trace.reasoning}\n${trace.content}`;
  if (trace.reasoning.length + trace.content.length > maxChars) return 'too-long';

  if (maxLineCount(text) >= maxLineRepeats || hasLoop(text)) return 'repetitive';
  // Words for EN; characters for ZH, which has no spaces between words.
  const tokens = lang === 'en' ? text.split(/\s+/).filter(Boolean) : [...text.replace(/\s+/g, '')];
  if (repeatRatio(tokens) > maxRepeatRatio) return 'repetitive';

  if (lang === 'en') {
    if (CJK.test(text)) return 'mixed-language';
  } else {
    const allow = opts.allowWords ? new Set([...ZH_ALLOWED, ...opts.allowWords.map((w) => w.toLowerCase())]) : ZH_ALLOWED;
    if (foreignWords(text, allow).length > 0) return 'mixed-language';
  }
  return null;
}

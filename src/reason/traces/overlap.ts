// Contamination check: does any training/validation question share a long n-gram with an
// evaluation question? Word 8-grams for space-separated text and character 13-grams for CJK text
// (which has no spaces): GPT-3 decontaminated with word 13-grams over long documents; word
// problems are a few dozen words, so 8 words is the default. Texts are lower-cased and stripped of
// punctuation first, so "How many?" and "how many" match. A text shorter than n tokens is
// compared whole. Items that carry the same problem id also count (an EN and a ZH wording of the
// same numbers never share an n-gram, but are the same problem).
// Built-in problems (an id whose prefix is a built-in family) are compared by id only: their
// wording comes from a few templates, so n-grams would pair every two problems of one template,
// while their ids are exact (the numbers that define the problem).
import { ConfigError } from '../../torch/errors.js';
import { FAMILIES } from '../problems/generate.js';

export interface OverlapOptions {
  /** Word n-gram length for non-CJK text. Default 8. */
  wordN?: number;
  /** Character n-gram length for CJK text. Default 13. */
  charN?: number;
}

export type OverlapItem = string | { id?: string; question: string };

export interface OverlapPair {
  /** Index into the train list and the eval list. */
  train: number;
  eval: number;
  trainId?: string;
  evalId?: string;
  /** 'ngram': `match` is the first shared n-gram; 'id': `match` is the shared problem id. */
  kind: 'ngram' | 'id';
  match: string;
}

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]/;

/** The n-grams of one text (see the header for the rules). */
export function ngrams(text: string, opts: OverlapOptions = {}): Set<string> {
  const { wordN = 8, charN = 13 } = opts;
  const norm = text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
  const cjk = CJK.test(norm);
  const tokens = cjk ? [...norm.replace(/ /g, '')] : norm.split(' ').filter(Boolean);
  const n = cjk ? charN : wordN;
  const sep = cjk ? '' : ' ';
  const out = new Set<string>();
  if (tokens.length === 0) return out;
  if (tokens.length < n) out.add(tokens.join(sep));
  for (let i = 0; i + n <= tokens.length; i++) out.add(tokens.slice(i, i + n).join(sep));
  return out;
}

const textOf = (x: OverlapItem) => (typeof x === 'string' ? x : x.question);
const idOf = (x: OverlapItem) => (typeof x === 'string' ? undefined : x.id);
const templated = (x: OverlapItem) => {
  const id = idOf(x);
  return id !== undefined && Object.hasOwn(FAMILIES, id.slice(0, id.indexOf(':')));
};

function push(m: Map<string, number[]>, k: string, v: number): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** Every (train, eval) pair that shares an n-gram or a problem id, in train order. */
export function findOverlap(train: readonly OverlapItem[], evalSet: readonly OverlapItem[], opts: OverlapOptions = {}): OverlapPair[] {
  for (const [k, v] of Object.entries(opts)) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new ConfigError(`findOverlap: ${k} must be a whole number ≥ 1, got ${v}`);
  }
  const byGram = new Map<string, number[]>();
  const byId = new Map<string, number[]>();
  evalSet.forEach((e, j) => {
    if (!templated(e)) for (const g of ngrams(textOf(e), opts)) push(byGram, g, j);
    const id = idOf(e);
    if (id !== undefined) push(byId, id, j);
  });
  const pairs: OverlapPair[] = [];
  train.forEach((t, i) => {
    const hit = new Map<number, OverlapPair>(); // one pair per eval item, the first reason found
    const base = (j: number) => ({ train: i, eval: j, trainId: idOf(t), evalId: idOf(evalSet[j]!) });
    const id = idOf(t);
    if (id !== undefined) for (const j of byId.get(id) ?? []) hit.set(j, { ...base(j), kind: 'id', match: id });
    for (const g of templated(t) ? [] : ngrams(textOf(t), opts)) {
      for (const j of byGram.get(g) ?? []) if (!hit.has(j)) hit.set(j, { ...base(j), kind: 'ngram', match: g });
    }
    pairs.push(...[...hit.values()].sort((a, b) => a.eval - b.eval));
  });
  return pairs;
}

/** Throws a ConfigError naming up to 5 offending pairs when any train item overlaps the eval set. */
export function assertNoOverlap(train: readonly OverlapItem[], evalSet: readonly OverlapItem[], opts: OverlapOptions = {}): void {
  const pairs = findOverlap(train, evalSet, opts);
  if (pairs.length === 0) return;
  const show = pairs.slice(0, 5).map((p) => `train[${p.train}]${p.trainId ? ` (${p.trainId})` : ''} ~ eval[${p.eval}]${p.evalId ? ` (${p.evalId})` : ''}: ${p.kind} "${p.match}"`);
  throw new ConfigError(
    `contaminated split: ${pairs.length} train/eval pair(s) overlap; refusing to continue.\n  ${show.join('\n  ')}${pairs.length > 5 ? '\n  …' : ''}`,
  );
}

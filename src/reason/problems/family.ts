// The shape every built-in problem family shares. A family is a small, fully listable space of
// parameter tuples (hundreds to a few thousand), so generation can enumerate it, split it by id
// and stop when it is exhausted instead of sampling forever.
import type { Problem } from '../types.js';

export type Lang = 'en' | 'zh';

export interface ProblemFamily {
  readonly name: string;
  /** How many distinct problems (parameter tuples) the family holds. */
  readonly size: number;
  /** The id of problem `i` (0 ≤ i < size): family + defining numbers, never phrasing or language. */
  idAt(i: number): string;
  /** How many phrasings the family has in `lang`. */
  phrasings(lang: Lang): number;
  /** Problem `i` worded with phrasing `phrasing` (taken modulo the phrasing count). */
  make(i: number, lang: Lang, phrasing: number): Problem;
}

/** What a family file writes; `defineFamily` turns it into a ProblemFamily. */
export interface FamilySpec<P> {
  name: string;
  /** Every parameter tuple, in a fixed order. */
  all(): P[];
  /** The numbers that define the problem as stated (they make the id). */
  key(p: P): number[];
  /** Answer values, in the order the question asks for them. */
  values(p: P): number[];
  en: ((p: P) => string)[];
  zh: ((p: P) => string)[];
  /** First line of the reference solution ("Let x=…" / "设…"): the only prose in it. */
  first: Record<Lang, string>;
  /** The symbolic steps of the reference solution, one equation per line. */
  steps(p: P): string[];
}

/** The reference chain of thought: `<think>`, first line, steps, `</think>`, `\boxed{answer}`. */
export function referenceSolution(first: string, steps: string[], answer: string): string {
  return ['<think>', first, ...steps, '</think>', `\\boxed{${answer}}`].join('\n');
}

export function defineFamily<P>(spec: FamilySpec<P>): ProblemFamily {
  let params: P[] | undefined; // listed on first use: importing the module costs nothing
  const list = (): P[] => (params ??= spec.all());
  const at = (i: number): P => {
    const p = list()[i];
    if (p === undefined) throw new RangeError(`${spec.name}: no problem ${i} (size ${list().length})`);
    return p;
  };
  const idOf = (p: P) => [spec.name, ...spec.key(p)].join(':');
  return {
    name: spec.name,
    get size() {
      return list().length;
    },
    idAt: (i) => idOf(at(i)),
    phrasings: (lang) => spec[lang].length,
    make(i, lang, phrasing) {
      const p = at(i);
      const templates = spec[lang];
      const values = spec.values(p);
      const answer = values.join(', ');
      return {
        id: idOf(p),
        family: spec.name,
        lang,
        question: templates[((phrasing % templates.length) + templates.length) % templates.length]!(p),
        answer,
        values,
        solution: referenceSolution(spec.first[lang], spec.steps(p), answer),
      };
    },
  };
}

// Seeded generation of built-in problems, split into train/test by a hash of the problem id.
// Splitting by id (not by draw order) means no seed, n or family list can ever put the same
// problem in both splits, and an EN and a ZH problem with the same numbers land together.
import { mulberry32 } from '../../torch/prng.js';
import { createHash } from 'node:crypto';
import { ConfigError } from '../../torch/errors.js';
import type { Problem } from '../types.js';
import type { Lang, ProblemFamily } from './family.js';
import { chickensRabbits } from './chickens_rabbits.js';
import { ages } from './ages.js';
import { sumDifference } from './sum_difference.js';
import { workRates } from './work_rates.js';
import { meeting } from './meeting.js';

export const FAMILIES: Readonly<Record<string, ProblemFamily>> = Object.freeze(
  Object.fromEntries([chickensRabbits, ages, sumDifference, workRates, meeting].map((f) => [f.name, f])),
);

export interface GenerateOptions {
  /** Family names (default: all, in FAMILIES order). */
  families?: string[];
  n: number;
  seed: number;
  split: 'train' | 'test';
  /** Default 'both': each problem may appear once per language. */
  lang?: Lang | 'both';
  /** Share of problem ids that belong to the test split (default 0.2). */
  testFraction?: number;
}

export { mulberry32 };

/** The split a problem id belongs to: the first 32 bits of sha256(id) as a fraction of 2^32. */
export function splitOf(id: string, testFraction = 0.2): 'train' | 'test' {
  const h = createHash('sha256').update(id).digest().readUInt32BE(0) / 4294967296;
  return h < testFraction ? 'test' : 'train';
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/**
 * Up to `n` distinct problems of `split`, drawn round-robin over the families (so a small family
 * is not drowned by a large one) from a seeded shuffle of each family's problems in that split.
 * Returns fewer than n when the split holds fewer. Same options, same problems, same order.
 */
export function generateProblems(opts: GenerateOptions): Problem[] {
  const { n, seed, split, lang = 'both', testFraction = 0.2 } = opts;
  const names = opts.families ?? Object.keys(FAMILIES);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`generateProblems: n must be a whole number ≥ 0, got ${n}`);
  if (!Number.isFinite(seed)) throw new ConfigError(`generateProblems: seed must be a number, got ${seed}`);
  if (split !== 'train' && split !== 'test') throw new ConfigError(`generateProblems: split must be 'train' or 'test', got ${String(split)}`);
  if (!(testFraction >= 0 && testFraction <= 1)) throw new ConfigError(`generateProblems: testFraction must be in [0, 1], got ${testFraction}`);
  if (!['en', 'zh', 'both'].includes(lang)) throw new ConfigError(`generateProblems: lang must be 'en', 'zh' or 'both', got ${String(lang)}`);
  if (names.length === 0) throw new ConfigError('generateProblems: families is empty');
  const families = [...new Set(names)].map((name) => {
    const f = FAMILIES[name];
    if (!f) throw new ConfigError(`generateProblems: unknown family '${name}' (known: ${Object.keys(FAMILIES).join(', ')})`);
    return f;
  });
  const langs: Lang[] = lang === 'both' ? ['en', 'zh'] : [lang];
  const rand = mulberry32(seed);
  const pools = families.map((f) => {
    const pool: { i: number; lang: Lang }[] = [];
    for (let i = 0; i < f.size; i++) if (splitOf(f.idAt(i), testFraction) === split) for (const l of langs) pool.push({ i, lang: l });
    return shuffle(pool, rand);
  });
  const out: Problem[] = [];
  for (let k = 0; out.length < n; k++) {
    let any = false;
    for (let j = 0; j < families.length && out.length < n; j++) {
      const pick = pools[j]![k];
      if (!pick) continue;
      any = true;
      const f = families[j]!;
      out.push(f.make(pick.i, pick.lang, Math.floor(rand() * f.phrasings(pick.lang))));
    }
    if (!any) break; // every pool exhausted
  }
  return out;
}

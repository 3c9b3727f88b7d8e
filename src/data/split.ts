// Seeded train/val/test splits and the transfer sets knowledge distillation trains students on.
//
// Every split is a pure function of (dataset order, fractions, seed): a resumed or repeated
// run sees the same samples in each part, and the parts are disjoint by construction (each
// index is assigned to exactly one part). Indices inside a part stay in ascending order, so a
// part keeps the source's sample order and only the DataLoader shuffles.
import { ConfigError } from '../torch/index.js';
import { datasetSize, labelsOf, subsetDataset, type Dataset } from './dataset.js';
import { Rng, checkSeed, permutation } from './rng.js';

const SPLIT_SALT = 0x5b17;
const TRANSFER_SALT = 0x7ea5;

export interface SplitOptions {
  /** [train, val] or [train, val, test], summing to 1. */
  fractions?: readonly [number, number] | readonly [number, number, number];
  /** Shorthand for fractions [1 − valFraction, valFraction]. */
  valFraction?: number;
  seed?: number;
  /** Split each class separately so every part keeps the class proportions; default false. */
  stratify?: boolean;
}

export interface Splits {
  train: Dataset;
  val: Dataset;
  test?: Dataset;
}

function parseFractions(opts: SplitOptions): number[] {
  if (opts.fractions && opts.valFraction !== undefined) throw new ConfigError('splitDataset: give fractions or valFraction, not both');
  const f = opts.fractions ? [...opts.fractions] : opts.valFraction !== undefined ? [1 - opts.valFraction, opts.valFraction] : undefined;
  if (!f) throw new ConfigError('splitDataset: fractions ([train, val] or [train, val, test]) or valFraction is required');
  if (f.length < 2 || f.length > 3) throw new ConfigError(`splitDataset: fractions must have 2 or 3 entries, got ${f.length}`);
  if (f.some((v) => !(v >= 0 && v <= 1))) throw new ConfigError(`splitDataset: fractions must lie in [0, 1], got [${f.join(', ')}]`);
  const sum = f.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) throw new ConfigError(`splitDataset: fractions must sum to 1, got [${f.join(', ')}] = ${sum}`);
  if (!(f[0] > 0) || !(f[1] > 0)) throw new ConfigError(`splitDataset: train and val fractions must be > 0, got [${f.join(', ')}]`);
  return f;
}

/** Cuts `count` shuffled items into parts: val and test get round(count·f), train the rest. */
function cut(count: number, f: number[]): number[] {
  const sizes = f.map((v) => Math.round(count * v));
  sizes[0] = count - sizes.slice(1).reduce((a, b) => a + b, 0);
  return sizes;
}

/** Seeded split into train/val(/test) datasets (copies; free them with disposeDataset). */
export function splitDataset(ds: Dataset, opts: SplitOptions): Splits {
  const f = parseFractions(opts);
  const seed = checkSeed(opts.seed ?? 0);
  const n = datasetSize(ds);
  const parts: number[][] = f.map(() => []);
  if (opts.stratify) {
    const labels = labelsOf(ds);
    const byClass: number[][] = Array.from({ length: ds.numClasses }, () => []);
    labels.forEach((l, i) => byClass[l].push(i));
    byClass.forEach((members, c) => {
      const order = new Rng(seed, SPLIT_SALT, c).shuffle(Int32Array.from(members));
      let at = 0;
      cut(members.length, f).forEach((size, p) => {
        for (let k = 0; k < size; k++) parts[p].push(order[at++]);
      });
    });
  } else {
    const order = permutation(n, seed, SPLIT_SALT);
    let at = 0;
    cut(n, f).forEach((size, p) => {
      for (let k = 0; k < size; k++) parts[p].push(order[at++]);
    });
  }
  const names = ['train', 'val', 'test'];
  parts.forEach((p, i) => {
    if (p.length === 0 && f[i] > 0)
      throw new ConfigError(`splitDataset: ${ds.name} has ${n} samples; a ${names[i]} fraction of ${f[i]} leaves the ${names[i]} part empty`);
  });
  const make = (i: number) => subsetDataset(ds, parts[i].sort((a, b) => a - b), `${ds.name}/${names[i]}`);
  const out: Splits = { train: make(0), val: make(1) };
  if (f.length === 3 && parts[2].length > 0) out.test = make(2);
  return out;
}

export interface TransferSetOptions {
  /** Classes the student never sees (Hinton et al. 2015, §3: the MNIST student trained with no 3s). */
  omitClasses?: readonly number[];
  /** Keep only this many samples (a seeded random choice among those left). */
  subset?: number;
  seed?: number;
}

/**
 * The transfer set a student is distilled on: `ds` minus the omitted classes, optionally a
 * random subset. Hinton, Vinyals & Dean 2015 ("Distilling the Knowledge in a Neural Network")
 * show that a student that never saw a "3" still recognises most 3s from the teacher's soft
 * targets on the other digits; numClasses stays the same, since the student keeps an output
 * for the omitted class.
 */
export function makeTransferSet(ds: Dataset, opts: TransferSetOptions = {}): Dataset {
  const seed = checkSeed(opts.seed ?? 0);
  const omit = new Set(opts.omitClasses ?? []);
  for (const c of omit)
    if (!Number.isInteger(c) || c < 0 || c >= ds.numClasses)
      throw new ConfigError(`makeTransferSet: omitted class ${c} is not a class of ${ds.name} (0..${ds.numClasses - 1})`);
  const labels = labelsOf(ds);
  let keep: number[] = [];
  labels.forEach((l, i) => {
    if (!omit.has(l)) keep.push(i);
  });
  if (keep.length === 0) throw new ConfigError(`makeTransferSet: omitting classes [${[...omit].join(', ')}] leaves ${ds.name} empty`);
  if (opts.subset !== undefined) {
    if (!Number.isInteger(opts.subset) || opts.subset < 1)
      throw new ConfigError(`makeTransferSet: subset must be a positive integer, got ${opts.subset}`);
    if (opts.subset > keep.length)
      throw new ConfigError(`makeTransferSet: subset ${opts.subset} is larger than the ${keep.length} samples of ${ds.name} left after omitting classes`);
    const order = permutation(keep.length, seed, TRANSFER_SALT);
    keep = Array.from(order.subarray(0, opts.subset), (j) => keep[j]).sort((a, b) => a - b);
  }
  const tag = omit.size ? `-no${[...omit].sort((a, b) => a - b).join('')}` : '';
  return subsetDataset(ds, keep, `${ds.name}/transfer${tag}${opts.subset !== undefined ? `-${opts.subset}` : ''}`);
}

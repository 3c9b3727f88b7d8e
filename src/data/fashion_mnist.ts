// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 70k 28×28 grey images of 10 clothing classes,
// a drop-in for MNIST that is hard enough for a teacher/student gap to show. Debian's
// `dataset-fashion-mnist` package puts the original IDX files in /usr/share/datasets/fashion-mnist.
import fs from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../torch/index.js';
import { loadIdx } from './idx.js';
import type { Dataset } from './dataset.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The class names in label order, as the dataset's authors list them. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

export type Split = 'train' | 'test';

export interface FashionMnistOptions {
  /** Folder with the IDX files; default $DISTILL_FASHION_MNIST, else /usr/share/datasets/fashion-mnist. */
  dir?: string;
  split: Split;
}

// The file names of the original release; the gzipped ones are what Debian ships, the raw
// ones are what torchvision's `raw/` folder holds after unpacking.
const PREFIX: Record<Split, string> = { train: 'train', test: 't10k' };

function pick(dir: string, base: string): string {
  const gz = join(dir, `${base}.gz`);
  if (fs.existsSync(gz)) return gz;
  const raw = join(dir, base);
  return fs.existsSync(raw) ? raw : gz; // the missing .gz gives the error message
}

/** Fashion-MNIST `split`: train 60000 samples, test 10000; x (N, 1, 28, 28) in [0, 1]. */
export function loadFashionMnist(opts: FashionMnistOptions): Dataset {
  const split = opts?.split;
  if (split !== 'train' && split !== 'test') throw new ConfigError(`loadFashionMnist: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const fromEnv = process.env.DISTILL_FASHION_MNIST;
  const dir = opts.dir ?? (fromEnv || FASHION_MNIST_DIR);
  const hint = dir === FASHION_MNIST_DIR
    ? '`sudo apt-get install dataset-fashion-mnist` provides the Fashion-MNIST files there (or set DISTILL_FASHION_MNIST to a folder holding them)'
    : `expected the Fashion-MNIST IDX files (${PREFIX[split]}-images-idx3-ubyte[.gz], ${PREFIX[split]}-labels-idx1-ubyte[.gz]) in ${dir}; ` +
      '`sudo apt-get install dataset-fashion-mnist` provides them in ' + FASHION_MNIST_DIR;
  return loadIdx(pick(dir, `${PREFIX[split]}-images-idx3-ubyte`), pick(dir, `${PREFIX[split]}-labels-idx1-ubyte`), {
    name: `fashion-mnist-${split}`,
    numClasses: 10,
    classNames: [...FASHION_MNIST_CLASSES],
    missingHint: hint,
  });
}

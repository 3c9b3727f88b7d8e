// The real Fashion-MNIST files (Debian dataset-fashion-mnist): counts, the published label
// histogram (exactly 6000 per class in train, 1000 in test), and pixel values equal to
// PyTorch's own read of the same files (torch.frombuffer(...).float().div(255), i.e.
// torchvision's ToTensor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ConfigError } from '../../src/torch/index.js';
import {
  loadFashionMnist, classCounts, disposeDataset, saveIdx, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, type Dataset,
} from '../../src/data/index.js';
import { PYTHON } from '../helpers/oracle.js';
import { floats, ints, tempDir, throwsClean } from './helpers.js';
import { prerequisite } from '../helpers/prerequisite.js';

const fashion = prerequisite(`Fashion-MNIST (${FASHION_MNIST_DIR})`, fs.existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')), 'npm run setup (installs the Debian package dataset-fashion-mnist)');
const skip = fashion.skip;

/** PyTorch's reading of samples `idx` of a split: pixels /255 as float32, and labels. */
function oracle(prefix: string, idx: number[]): { x: number[][]; y: number[]; n: number } {
  const code = `
import gzip, json, sys, torch
d, p, idx = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
img = gzip.open(f"{d}/{p}-images-idx3-ubyte.gz").read()
lab = gzip.open(f"{d}/{p}-labels-idx1-ubyte.gz").read()
n = int.from_bytes(img[4:8], "big")
x = torch.frombuffer(bytearray(img[16:]), dtype=torch.uint8).reshape(n, 1, 28, 28).float().div(255)
y = torch.frombuffer(bytearray(lab[8:]), dtype=torch.uint8).long()
print(json.dumps({"x": [x[i].flatten().tolist() for i in idx], "y": y[:200].tolist(), "n": n}))
`;
  return JSON.parse(execFileSync(PYTHON, ['-c', code, FASHION_MNIST_DIR, prefix, JSON.stringify(idx)], { encoding: 'utf8', maxBuffer: 1 << 26 }));
}

function checkAgainstOracle(ds: Dataset, prefix: string, idx: number[]): void {
  const ref = oracle(prefix, idx);
  assert.equal(ds.y.shape[0], ref.n);
  const x = floats(ds.x);
  for (const [k, i] of idx.entries()) {
    const ours = Array.from(x.subarray(i * 784, (i + 1) * 784));
    assert.deepEqual(ours, ref.x[k], `sample ${i}: pixels differ from PyTorch's read`);
  }
  assert.deepEqual(ints(ds.y).slice(0, 200), ref.y, 'first 200 labels');
}

test('Fashion-MNIST train: 60000 samples, 6000 per class, pixels equal PyTorch', { skip }, () => {
  fashion.check();
  const ds = loadFashionMnist({ split: 'train' });
  assert.equal(ds.name, 'fashion-mnist-train');
  assert.deepEqual([...ds.x.shape], [60000, 1, 28, 28]);
  assert.deepEqual([...ds.y.shape], [60000]);
  assert.equal(ds.numClasses, 10);
  assert.deepEqual(ds.classNames, [...FASHION_MNIST_CLASSES]);
  assert.equal(ds.classNames![0], 'T-shirt/top');
  assert.equal(ds.classNames![9], 'Ankle boot');
  assert.deepEqual(classCounts(ds), new Array(10).fill(6000));
  assert.equal(torch.tidy(() => torch.min(ds.x).item()), 0);
  assert.equal(torch.tidy(() => torch.max(ds.x).item()), 1);
  checkAgainstOracle(ds, 'train', [0, 1, 12345, 59999]);
  disposeDataset(ds);
});

test('Fashion-MNIST test: 10000 samples, 1000 per class, pixels equal PyTorch', { skip }, () => {
  fashion.check();
  const ds = loadFashionMnist({ split: 'test' });
  assert.deepEqual([...ds.x.shape], [10000, 1, 28, 28]);
  assert.deepEqual(classCounts(ds), new Array(10).fill(1000));
  checkAgainstOracle(ds, 't10k', [0, 4321, 9999]);
  disposeDataset(ds);
});

test('Fashion-MNIST from another folder (option or DISTILL_FASHION_MNIST), raw or gzipped files', () => {
  const dir = tempDir();
  const px = Uint8Array.from({ length: 3 * 784 }, (_, i) => i % 256);
  saveIdx(join(dir, 't10k-images-idx3-ubyte'), px, [3, 28, 28]); // raw, as torchvision's raw/ folder
  saveIdx(join(dir, 't10k-labels-idx1-ubyte.gz'), Uint8Array.from([9, 0, 4]), [3]);
  const a = loadFashionMnist({ dir, split: 'test' });
  assert.deepEqual(ints(a.y), [9, 0, 4]);
  const prev = process.env.DISTILL_FASHION_MNIST;
  process.env.DISTILL_FASHION_MNIST = dir;
  try {
    const b = loadFashionMnist({ split: 'test' });
    assert.deepEqual([...b.x.shape], [3, 1, 28, 28]);
    disposeDataset(b);
    throwsClean(() => loadFashionMnist({ split: 'train' }), ConfigError, /train-images-idx3-ubyte\.gz/, /file not found/, /apt-get install dataset-fashion-mnist/);
  } finally {
    if (prev === undefined) delete process.env.DISTILL_FASHION_MNIST;
    else process.env.DISTILL_FASHION_MNIST = prev;
  }
  disposeDataset(a);
});

test('Fashion-MNIST: a missing default folder says which package provides it; a bad split is refused', () => {
  throwsClean(() => loadFashionMnist({ dir: '/nonexistent/fmnist', split: 'train' }), ConfigError,
    /\/nonexistent\/fmnist\/train-images-idx3-ubyte\.gz/, /sudo apt-get install dataset-fashion-mnist/);
  throwsClean(() => loadFashionMnist({ split: 'validation' as 'train' }), ConfigError, /split must be 'train' or 'test'/);
});

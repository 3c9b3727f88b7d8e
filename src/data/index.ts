// The public surface of the data layer: datasets (Fashion-MNIST, the `mnist` package's digits,
// IDX files, the user's CSV/JSONL), seeded splits and transfer sets, the DataLoader and
// batch-level augmentations. Everything random is a pure function of explicit seeds.
export {
  type Dataset, datasetSize, datasetFromArrays, subsetDataset, disposeDataset, checkDataset, labelsOf, classCounts,
  indexTensor,
} from './dataset.js';
export { loadIdx, parseIdx, encodeIdx, saveIdx, type LoadIdxOptions, type IdxArray } from './idx.js';
export { loadFashionMnist, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, type FashionMnistOptions, type Split } from './fashion_mnist.js';
export { loadMnistDigits, mnistDigitsSourceIds, mnistDigitsDir, type MnistDigitsOptions } from './mnist_digits.js';
export { loadTabular, parseCsv, type TabularOptions } from './tabular.js';
export { splitDataset, makeTransferSet, type SplitOptions, type Splits, type TransferSetOptions } from './split.js';
export { DataLoader, disposeBatch, type Batch, type DataLoaderOptions } from './loader.js';
export { DistributedSampler, type Sampler, type DistributedSamplerOptions } from './sampler.js';
export {
  randomShift, randomFlip, gaussianJitter, composeAugments, arrayAugment,
  type Augment, type AugmentContext, type ArrayAugment, type ArrayOp,
} from './augment.js';
export { mixup, mixupDraw, type MixupOptions, type MixupResult } from './mixup.js';
export { Rng, hashSeed, permutation } from './rng.js';

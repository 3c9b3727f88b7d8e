// The in-memory dataset every loader produces and every trainer consumes, and the helpers
// that build, check and subset it.
//
// Why whole-dataset tensors: the datasets here are small (Fashion-MNIST train is 60k×784
// floats, 188 MB), so holding them as one contiguous tensor lets the DataLoader build each
// batch with a single indexSelect instead of per-sample work.
import * as torch from '../torch/index.js';
import { ConfigError, FormatError, type Tensor } from '../torch/index.js';

export interface Dataset {
  name: string;
  /** (N, ...featureShape) float32; images are (N, 1, H, W) scaled to [0, 1], tabular rows (N, F). */
  x: Tensor;
  /** (N,) int64 class indices in [0, numClasses). */
  y: Tensor;
  numClasses: number;
  classNames?: string[];
}

/** Number of samples. */
export const datasetSize = (ds: Dataset): number => ds.y.shape[0];

/**
 * Builds a dataset from JS arrays (one copy into libtorch each), checking that labels fit
 * `numClasses`. `numClasses` defaults to max(label)+1. `source` names the file or origin
 * in error messages.
 */
export function datasetFromArrays(args: {
  name: string;
  source: string;
  x: Float32Array;
  featureShape: readonly number[];
  labels: Int32Array;
  numClasses?: number;
  classNames?: string[];
}): Dataset {
  const { name, source, x, featureShape, labels } = args;
  const n = labels.length;
  if (n === 0) throw new FormatError(`${source}: the dataset is empty (0 samples)`);
  const per = featureShape.reduce((a, b) => a * b, 1);
  if (x.length !== n * per)
    throw new FormatError(`${source}: ${x.length} feature values for ${n} samples of shape [${featureShape.join(', ')}]`);
  const numClasses = resolveNumClasses(labels, args.numClasses, source);
  if (args.classNames && args.classNames.length !== numClasses)
    throw new ConfigError(`${source}: ${args.classNames.length} class names for ${numClasses} classes`);
  const y64 = new BigInt64Array(n);
  for (let i = 0; i < n; i++) y64[i] = BigInt(labels[i]);
  const ds: Dataset = {
    name,
    x: torch.tensor(x, { shape: [n, ...featureShape] }),
    y: torch.tensor(y64),
    numClasses,
  };
  if (args.classNames) ds.classNames = [...args.classNames];
  return ds;
}

/** Validates labels against `numClasses` (or infers it); the error names the first bad sample. */
export function resolveNumClasses(labels: Int32Array, numClasses: number | undefined, source: string): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0) throw new FormatError(`${source}: sample ${i} has negative label ${l}`);
    if (numClasses !== undefined && l >= numClasses)
      throw new FormatError(`${source}: sample ${i} has label ${l}, out of range for numClasses=${numClasses} (labels must be 0..${numClasses - 1})`);
    if (l > max) max = l;
  }
  if (numClasses === undefined) return max + 1;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ConfigError(`numClasses must be a positive integer, got ${numClasses}`);
  return numClasses;
}

/** The labels as a JS array (one copy out of libtorch). */
export function labelsOf(ds: Dataset): Int32Array {
  const y = ds.y.dataSync();
  const out = new Int32Array(y.length);
  if (y instanceof BigInt64Array) for (let i = 0; i < y.length; i++) out[i] = Number(y[i]);
  else for (let i = 0; i < y.length; i++) out[i] = Number((y as ArrayLike<number>)[i]);
  return out;
}

/** Samples per class: `counts[c]` is how many samples have label c. */
export function classCounts(ds: Dataset): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (const l of labelsOf(ds)) counts[l]++;
  return counts;
}

/** An int64 index tensor from JS indices (one copy). */
export function indexTensor(indices: ArrayLike<number>): Tensor {
  const b = new BigInt64Array(indices.length);
  for (let i = 0; i < indices.length; i++) b[i] = BigInt(indices[i]);
  return torch.tensor(b);
}

/**
 * The samples at `indices`, in that order (repeats allowed), as a new dataset with its own
 * tensors (a copy: the subset outlives the source and can be freed separately).
 */
export function subsetDataset(ds: Dataset, indices: ArrayLike<number> | Tensor, name?: string): Dataset {
  const n = datasetSize(ds);
  const idx = indices instanceof torch.Tensor ? Array.from(indices.dataSync() as ArrayLike<number | bigint>, Number) : indices;
  if (idx.length === 0) throw new ConfigError(`subset of ${ds.name}: no indices given (the dataset would be empty)`);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i];
    if (!Number.isInteger(k) || k < 0 || k >= n)
      throw new ConfigError(`subset of ${ds.name}: index ${k} (position ${i}) is out of range for ${n} samples`);
  }
  return torch.tidy(() => {
    const t = indexTensor(idx);
    const out: Dataset = {
      name: name ?? ds.name,
      x: torch.indexSelect(ds.x, 0, t),
      y: torch.indexSelect(ds.y, 0, t),
      numClasses: ds.numClasses,
    };
    if (ds.classNames) out.classNames = [...ds.classNames];
    return out;
  });
}

/** Frees a dataset's tensors. */
export function disposeDataset(ds: Dataset): void {
  ds.x.dispose();
  ds.y.dispose();
}

/** Checks the shape contract (x (N, ...), y (N,) int64, labels in range); throws ConfigError naming what is wrong. */
export function checkDataset(ds: Dataset): void {
  const where = `dataset ${ds.name}`;
  if (ds.y.ndim !== 1) throw new ConfigError(`${where}: y must be 1-D (N,), got [${ds.y.shape.join(', ')}]`);
  if (ds.y.dtype !== 'int64') throw new ConfigError(`${where}: y must be int64, got ${ds.y.dtype}`);
  if (ds.x.ndim < 1 || ds.x.shape[0] !== ds.y.shape[0])
    throw new ConfigError(`${where}: x [${ds.x.shape.join(', ')}] and y [${ds.y.shape.join(', ')}] disagree on N`);
  if (ds.x.dtype !== 'float32') throw new ConfigError(`${where}: x must be float32, got ${ds.x.dtype}`);
  if (ds.y.shape[0] === 0) throw new ConfigError(`${where}: the dataset is empty`);
  resolveNumClasses(labelsOf(ds), ds.numClasses, where);
}

// The IDX file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/):
//   bytes 0-1  zero
//   byte  2    element type (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)
//   byte  3    number of dimensions
//   then one big-endian uint32 per dimension, then the data, row-major.
// Images are 0x00000803 (N, rows, cols); labels are 0x00000801 (N). Only unsigned bytes
// are accepted: every MNIST-family file uses them, and anything else here is a wrong file.
import { gzipSync } from 'node:zlib';
import * as torch from '../torch/index.js';
import { ConfigError, FormatError } from '../torch/index.js';
import { writeFileAtomic } from '../io/index.js';
import { readDataFile } from './files.js';
import { resolveNumClasses, type Dataset } from './dataset.js';

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64',
};
const UBYTE = 0x08;

export interface IdxArray {
  dims: number[];
  /** The element bytes (a view into the file's buffer, no copy). */
  data: Uint8Array;
}

const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;

/**
 * Parses an unsigned-byte IDX array with `expectDims` dimensions. Every inconsistency
 * (wrong magic, truncated header or data, trailing bytes) is a FormatError naming `source`.
 */
export function parseIdx(bytes: Uint8Array, source: string, expectDims: number, what: string): IdxArray {
  const expected = hex(0x800 | expectDims);
  if (bytes.length < 4) throw new FormatError(`${source}: not an IDX file: only ${bytes.length} bytes, too short for the 4-byte magic`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, false);
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(bytes[2] in TYPE_NAMES))
    throw new FormatError(`${source}: not an IDX file: bad magic number ${hex(magic)}, expected ${expected} (${what})`);
  if (bytes[2] !== UBYTE)
    throw new FormatError(`${source}: IDX element type ${TYPE_NAMES[bytes[2]]} (magic ${hex(magic)}) is not supported; expected unsigned byte, magic ${expected} (${what})`);
  const ndims = bytes[3];
  if (ndims !== expectDims) {
    const guess = ndims === 1 ? ' — this looks like a labels file' : ndims === 3 ? ' — this looks like an images file' : '';
    throw new FormatError(`${source}: IDX magic ${hex(magic)} has ${ndims} dimensions, expected ${expected} (${what})${guess}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes)
    throw new FormatError(`${source}: truncated IDX header: ${bytes.length} bytes, the header needs ${headerBytes}`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(dv.getUint32(4 + 4 * i, false));
  const need = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerBytes;
  if (have < need)
    throw new FormatError(`${source}: truncated IDX data: the header says [${dims.join(', ')}] = ${need} bytes, the file holds ${have}`);
  if (have > need)
    throw new FormatError(`${source}: corrupt IDX file: ${have - need} bytes after the [${dims.join(', ')}] array the header declares`);
  return { dims, data: bytes.subarray(headerBytes) };
}

/** An unsigned-byte IDX file's bytes for `data` of shape `dims`. */
export function encodeIdx(data: Uint8Array, dims: readonly number[]): Uint8Array {
  const n = dims.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new ConfigError(`encodeIdx: ${data.length} bytes for dims [${dims.join(', ')}] (${n})`);
  if (dims.length < 1 || dims.length > 255) throw new ConfigError(`encodeIdx: ${dims.length} dimensions; IDX holds 1 to 255`);
  const out = new Uint8Array(4 + 4 * dims.length + n);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x800 | dims.length, false);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Writes an unsigned-byte IDX file atomically; gzipped when `gzip` is set (or the path ends in .gz). */
export function saveIdx(path: string, data: Uint8Array, dims: readonly number[], opts: { gzip?: boolean } = {}): void {
  const bytes = encodeIdx(data, dims);
  writeFileAtomic(path, (opts.gzip ?? path.endsWith('.gz')) ? gzipSync(bytes) : bytes);
}

export interface LoadIdxOptions {
  name?: string;
  /** Labels must lie in [0, numClasses); default max(label)+1. */
  numClasses?: number;
  classNames?: string[];
  /** Appended to a "file not found" error (which package provides the files). */
  missingHint?: string;
}

/**
 * An image-classification dataset from an IDX images file (N, rows, cols) and an IDX labels
 * file (N), raw or gzipped. x is (N, 1, rows, cols) float32 in [0, 1], computed as
 * `uint8.float() / 255` exactly like torchvision's ToTensor, so values equal PyTorch's bit for bit.
 */
export function loadIdx(imagesPath: string, labelsPath: string, opts: LoadIdxOptions = {}): Dataset {
  const images = parseIdx(readDataFile(imagesPath, opts.missingHint), imagesPath, 3, 'unsigned-byte images, N×rows×cols');
  const labels = parseIdx(readDataFile(labelsPath, opts.missingHint), labelsPath, 1, 'unsigned-byte labels, N');
  const [n, rows, cols] = images.dims;
  if (labels.dims[0] !== n)
    throw new FormatError(`${imagesPath} holds ${n} images but ${labelsPath} holds ${labels.dims[0]} labels; the counts must match`);
  if (n === 0) throw new FormatError(`${imagesPath}: the dataset is empty (0 images)`);
  if (rows === 0 || cols === 0) throw new FormatError(`${imagesPath}: images of size ${rows}×${cols}`);
  const numClasses = resolveNumClasses(Int32Array.from(labels.data), opts.numClasses, labelsPath);
  if (opts.classNames && opts.classNames.length !== numClasses)
    throw new ConfigError(`${labelsPath}: ${opts.classNames.length} class names for ${numClasses} classes`);
  return torch.tidy(() => {
    const ds: Dataset = {
      name: opts.name ?? imagesPath,
      // uint8 → float32 → /255 in libtorch: one pass each, no JS loop over 47M pixels; the
      // division is in place so the 188 MB float copy of Fashion-MNIST train exists once.
      x: torch.fromBytes(images.data, [n, 1, rows, cols], 'uint8').toDtype('float32').div_(255),
      y: torch.fromBytes(labels.data, [n], 'uint8').toDtype('int64'),
      numClasses,
    };
    if (opts.classNames) ds.classNames = [...opts.classNames];
    return ds;
  });
}

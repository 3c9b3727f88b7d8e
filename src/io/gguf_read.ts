// GGUF reader (versions 2 and 3; ggml/docs/gguf.md): header, metadata, tensor infos, and
// tensor data read on demand from the open file, one tensor at a time, dequantized to
// float32 (gguf_quants.ts). A multi-gigabyte file is never held in memory: opening reads
// the header through a small window, and a tensor is read in chunks of at most 16 MiB
// straight into its float32 output.
//
// File layout (little-endian):
//   u32 magic 'GGUF' | u32 version | u64 tensor_count | u64 metadata_kv_count
//   metadata_kv × n:  string key | u32 value_type | value
//   tensor_info × n:  string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset
//   padding to general.alignment (default 32) | tensor data
// string = u64 byte length + UTF-8 bytes; array = u32 element type + u64 count + elements
// (elements may be arrays: nested arrays are legal in the spec, though ggml itself rejects
// them); ne[] lists dimensions fastest-varying first, so a PyTorch (out, in) matrix has
// ne = [in, out]; a tensor's offset is relative to the start of the data section and a
// multiple of the alignment. Version 1 (u32 counts) and big-endian files are refused.
//
// Checks, as ggml's gguf_init_from_file makes them: the magic, the version, no duplicate
// key or tensor name, general.alignment a u32 power of two, at most 4 dimensions, a known
// tensor type, ne[0] a whole number of blocks, offsets aligned. Beyond ggml: every tensor's
// bytes must lie inside the file, so a truncated file fails at open, naming what is cut.
// Each problem is one FormatError naming the file; nothing large is allocated before the
// sizes it depends on are known to fit in the file.
import fs from 'node:fs';
import { endianness } from 'node:os';
import { ConfigError, FormatError } from '../torch/errors.js';
import { GGML_TYPES, describeGgmlType, ggmlBytes } from './gguf_types.js';
import { canDequantize, dequantize, DEQUANTIZABLE } from './gguf_quants.js';

/** gguf.md `gguf_metadata_value_type`. */
export const GGUF_VALUE_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
const VT_NAME = Object.fromEntries(Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, string>;
const VT_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/**
 * A metadata value: integers and floats as numbers (a u64/i64 beyond 2^53 as a bigint),
 * bools, strings (UTF-8 decoded; invalid bytes become U+FFFD), arrays of these.
 */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml order: fastest-varying dimension first. */
  ne: number[];
  /** PyTorch order: ne reversed, a (out, in) matrix for ne = [in, out]. */
  shape: number[];
  /** ggml type id; typeName its name ('Q4_K'). */
  type: number;
  typeName: string;
  numel: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  nbytes: number;
}

export interface GgufHeader {
  path: string;
  version: number;
  alignment: number;
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
  /** Key → value, in file order. */
  metadata: Record<string, GgufValue>;
  /** Key → value type as gguf.md names it, lower case: 'uint32', 'string', 'array<string>', 'array<array<int32>>'. */
  metadataTypes: Record<string, string>;
  /** In file order. */
  tensors: GgufTensorInfo[];
}

const GGUF_MAGIC = 0x46554747; // 'GGUF' read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_ARRAY_DEPTH = 8;
const WINDOW = 1 << 20;
const READ_CHUNK = 16 << 20;

// Sets a key even when it is "__proto__", which plain assignment would not.
function put<V>(obj: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Sequential little-endian reads from a file through a window of the header. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly fd: number, readonly size: number, readonly path: string) {}

  fail(problem: string): never {
    throw new FormatError(`${this.path}: not a valid GGUF file: ${problem}`);
  }

  /**
   * Makes bytes [pos, pos + n) available and returns their index in `buf` (read `buf` only
   * after calling: the window may move). `what` (after `prefix`) names them in the
   * truncation error; the two parts are joined only on failure, keeping the hot path free
   * of string building.
   */
  private need(n: number, what: string, prefix = ''): number {
    if (this.pos + n > this.size)
      throw new FormatError(`${this.path}: truncated GGUF file: ${prefix}${what} needs bytes [${this.pos}, ${this.pos + n}) but the file has ${this.size} bytes`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, WINDOW), this.size - this.pos);
      this.buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const r = fs.readSync(this.fd, this.buf, got, len - got, this.pos + got);
        if (r === 0) throw new FormatError(`${this.path}: truncated GGUF file: the file ended at byte ${this.pos + got} while reading ${prefix}${what}`);
        got += r;
      }
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u32(what: string, prefix = ''): number {
    const at = this.need(4, what, prefix);
    return this.buf.readUInt32LE(at);
  }
  /** A u64 that must be a safe integer (a count, a length, a dimension, an offset). */
  size64(what: string, prefix = ''): number {
    const at = this.need(8, what, prefix);
    const lo = this.buf.readUInt32LE(at), hi = this.buf.readUInt32LE(at + 4);
    if (hi > 0x1fffff) this.fail(`${prefix}${what} is ${this.buf.readBigUInt64LE(at)}, beyond what a file can hold`);
    return hi * 4294967296 + lo;
  }
  str(what: string): string {
    const n = this.size64(what, 'the length of ');
    const at = this.need(n, what); // throws the truncation error before allocating when n is too large
    return this.buf.toString('utf8', at, at + n);
  }

  /** One value of type `t` (not an array). */
  scalar(t: number, what: string): GgufValue {
    if (t === 8) return this.str(what);
    const size = VT_SIZE[t];
    if (size === undefined) return this.fail(`${what} has unknown value type ${t}`);
    const at = this.need(size, what), b = this.buf;
    switch (t) {
      case 0: return b.readUInt8(at);
      case 1: return b.readInt8(at);
      case 2: return b.readUInt16LE(at);
      case 3: return b.readInt16LE(at);
      case 4: return b.readUInt32LE(at);
      case 5: return b.readInt32LE(at);
      case 6: return b.readFloatLE(at);
      case 7: {
        const v = b.readUInt8(at);
        if (v > 1) this.fail(`${what}: a bool must be 0 or 1, got ${v}`);
        return v === 1;
      }
      case 10: return safeBig(b.readBigUInt64LE(at));
      case 11: return safeBig(b.readBigInt64LE(at));
      default: return b.readDoubleLE(at); // 12
    }
  }

  /** A value of type `t` (arrays recursively); returns it with its type name. */
  value(t: number, what: string, depth = 0): [GgufValue, string] {
    if (t !== GGUF_VALUE_TYPE.ARRAY) {
      if (!(t in VT_NAME)) this.fail(`${what} has unknown value type ${t}`);
      return [this.scalar(t, what), VT_NAME[t]];
    }
    if (depth >= MAX_ARRAY_DEPTH) this.fail(`${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
    const et = this.u32(what, 'the element type of ');
    const n = this.size64(what, 'the length of ');
    // Each element takes at least 1 byte (8 for a string, 12 for an array): a count the
    // rest of the file cannot hold is a truncation, found before allocating anything.
    const least = et === GGUF_VALUE_TYPE.STRING ? 8 : et === GGUF_VALUE_TYPE.ARRAY ? 12 : (VT_SIZE[et] ?? 1);
    if (n * least > this.size - this.pos) this.need(n * least, `${n} elements of ${what}`);
    if (et !== GGUF_VALUE_TYPE.ARRAY && !(et in VT_NAME)) this.fail(`${what} has unknown value type ${et}`);
    const out: GgufValue[] = new Array(n);
    if (et !== GGUF_VALUE_TYPE.ARRAY) {
      for (let i = 0; i < n; i++) out[i] = this.scalar(et, what);
      return [out, `array<${VT_NAME[et]}>`];
    }
    let type = 'array<array>';
    for (let i = 0; i < n; i++) {
      const [v, vt] = this.value(et, what, depth + 1);
      out[i] = v;
      if (i === 0) type = `array<${vt}>`;
    }
    return [out, type];
  }
}

function safeBig(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function checkHost(): void {
  if (endianness() !== 'LE') throw new ConfigError('GGUF: big-endian hosts are not supported');
}

function parseHeader(c: Cursor): GgufHeader {
  const magic = c.u32('the magic');
  if (magic !== GGUF_MAGIC) c.fail(`the file does not start with 'GGUF' (got bytes ${magic.toString(16).padStart(8, '0').match(/../g)!.reverse().join(' ')})`);
  const version = c.u32('the version');
  if (version === 1) c.fail('GGUF version 1 is not supported (versions 2 and 3 are); re-convert the model with a current llama.cpp');
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24 | (version & 0xff00) << 8 | (version >>> 8) & 0xff00 | version >>> 24) >>> 0;
    if (swapped === 2 || swapped === 3) c.fail(`big-endian GGUF (version ${swapped}) is not supported`);
    c.fail(`GGUF version ${version} is not supported (versions 2 and 3 are)`);
  }
  const nTensors = c.size64('the tensor count');
  const nKv = c.size64('the metadata count');

  const metadata: Record<string, GgufValue> = {};
  const metadataTypes: Record<string, string> = {};
  for (let i = 0; i < nKv; i++) {
    const key = c.str(`metadata key ${i}`);
    if (Object.prototype.hasOwnProperty.call(metadata, key)) c.fail(`duplicate metadata key '${key}'`);
    const t = c.u32(`the value type of '${key}'`);
    const [v, type] = c.value(t, `metadata '${key}'`);
    put(metadata, key, v);
    put(metadataTypes, key, type);
  }
  let alignment = DEFAULT_ALIGNMENT;
  if (Object.prototype.hasOwnProperty.call(metadata, 'general.alignment')) {
    const a = metadata['general.alignment'];
    if (metadataTypes['general.alignment'] !== 'uint32') c.fail(`general.alignment must be a uint32, got ${metadataTypes['general.alignment']}`);
    if (typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) c.fail(`general.alignment ${String(a)} is not a power of 2`);
    alignment = a as number;
  }

  const tensors: GgufTensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.str(`the name of tensor ${i}`);
    if (seen.has(name)) c.fail(`duplicate tensor name '${name}'`);
    seen.add(name);
    const nDims = c.u32(`the dimension count of '${name}'`);
    if (nDims > MAX_DIMS) c.fail(`tensor '${name}' has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.size64(`dimension ${d} of '${name}'`));
    const type = c.u32(`the type of '${name}'`);
    const offset = c.size64(`the offset of '${name}'`);
    const info = GGML_TYPES.get(type);
    if (!info) c.fail(`tensor '${name}' has ${describeGgmlType(type)}, which ggml does not define`);
    const numel = ne.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(numel)) c.fail(`tensor '${name}' has ${ne.join(' × ')} elements, too many`);
    if ((ne[0] ?? 1) % info.blockSize !== 0)
      c.fail(`tensor '${name}' of type ${info.name} has rows of ${ne[0]} elements, not a multiple of its block size ${info.blockSize}`);
    if (offset % alignment !== 0) c.fail(`tensor '${name}' has offset ${offset}, not a multiple of the alignment ${alignment}`);
    tensors.push({ name, ne, shape: [...ne].reverse(), type, typeName: info.name, numel, offset, nbytes: ggmlBytes(info, numel) });
  }
  // The data section starts at the next multiple of the alignment (gguf.md; ggml pads only when there are tensors).
  const dataOffset = nTensors > 0 ? Math.ceil(c.pos / alignment) * alignment : c.pos;
  for (const t of tensors) {
    t.offset += dataOffset;
    if (t.offset + t.nbytes > c.size)
      throw new FormatError(`${c.path}: truncated GGUF file: tensor '${t.name}' (${t.typeName}, ${t.ne.join(' × ')}) needs bytes [${t.offset}, ${t.offset + t.nbytes}) but the file has ${c.size} bytes`);
  }
  return { path: c.path, version, alignment, dataOffset, fileSize: c.size, metadata, metadataTypes, tensors };
}

/** Reads and checks only the header of a GGUF file (no tensor data is read). */
export function readGgufHeader(path: string): GgufHeader {
  checkHost();
  const fd = fs.openSync(path, 'r');
  try {
    return parseHeader(new Cursor(fd, fs.fstatSync(fd).size, path));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * An open GGUF file: the checked header, and tensors read on demand by offset. Close it
 * (or `using` it) when done; the descriptor stays open until then.
 */
export class GgufFile implements Disposable {
  readonly header: GgufHeader;
  private fd: number | undefined;
  private readonly byName = new Map<string, GgufTensorInfo>();

  private constructor(fd: number, header: GgufHeader) {
    this.fd = fd;
    this.header = header;
    for (const t of header.tensors) this.byName.set(t.name, t);
  }

  static open(path: string): GgufFile {
    checkHost();
    const fd = fs.openSync(path, 'r');
    try {
      return new GgufFile(fd, parseHeader(new Cursor(fd, fs.fstatSync(fd).size, path)));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get path(): string { return this.header.path; }
  get metadata(): Record<string, GgufValue> { return this.header.metadata; }
  get tensors(): GgufTensorInfo[] { return this.header.tensors; }

  has(name: string): boolean { return this.byName.has(name); }

  /** The info of one tensor; a missing name is a FormatError. */
  tensor(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new FormatError(`${this.path}: no tensor named '${name}' (the file has ${this.byName.size} tensors)`);
    return t;
  }

  private readInto(buf: Uint8Array, position: number): void {
    if (this.fd === undefined) throw new ConfigError(`${this.path}: the GGUF file is closed`);
    let got = 0;
    while (got < buf.byteLength) {
      const r = fs.readSync(this.fd, buf, got, buf.byteLength - got, position + got);
      if (r === 0) throw new FormatError(`${this.path}: truncated GGUF file: it ended at byte ${position + got} (was it cut after opening?)`);
      got += r;
    }
  }

  /** The stored bytes of a tensor, as they are in the file. */
  readBytes(t: string | GgufTensorInfo): Uint8Array {
    const info = typeof t === 'string' ? this.tensor(t) : t;
    const buf = new Uint8Array(info.nbytes);
    this.readInto(buf, info.offset);
    return buf;
  }

  /**
   * A tensor's values as float32 (row-major in PyTorch order `shape`), dequantized from
   * its type; read in chunks of whole blocks so that only the output is held in full.
   * A type without a dequantizer is a FormatError naming the tensor and the type.
   */
  read(t: string | GgufTensorInfo): Float32Array {
    const info = typeof t === 'string' ? this.tensor(t) : t;
    if (!canDequantize(info.type))
      throw new FormatError(`${this.path}: tensor '${info.name}' has type ${describeGgmlType(info.type)}, which this reader cannot dequantize; supported types: ${DEQUANTIZABLE.join(', ')}`);
    const type = GGML_TYPES.get(info.type)!;
    const out = new Float32Array(info.numel);
    const blocksPerChunk = Math.max(1, Math.floor(READ_CHUNK / type.typeSize));
    const nBlocks = info.numel / type.blockSize;
    let chunk = new Uint8Array(Math.min(nBlocks, blocksPerChunk) * type.typeSize);
    for (let b = 0; b < nBlocks; b += blocksPerChunk) {
      const n = Math.min(blocksPerChunk, nBlocks - b);
      if (n * type.typeSize !== chunk.byteLength) chunk = chunk.subarray(0, n * type.typeSize);
      this.readInto(chunk, info.offset + b * type.typeSize);
      dequantize(chunk, info.type, n * type.blockSize, out, b * type.blockSize);
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

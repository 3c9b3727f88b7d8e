// safetensors: the project's only weight format (docs/architecture.md: "never pickle"), readable by
// PyTorch and Hugging Face.
//
// Layout (spec: https://github.com/huggingface/safetensors, README "Format"):
//   bytes [0, 8)        N, the header length, u64 little-endian
//   bytes [8, 8+N)      UTF-8 JSON object:
//                         { "__metadata__"?: {string: string},
//                           "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ... }
//   bytes [8+N, EOF)    the byte buffer; offsets are relative to its start; tensors are
//                       row-major ("C" order), little-endian.
//
// Writing follows the reference Rust implementation (safetensors/src/tensor.rs, `prepare`) so
// our files are byte-identical to `safetensors.torch.save_file` for the same tensors:
//   - tensors are ordered by dtype, larger alignment first (the crate's `Dtype` enum order,
//     descending), then by name (byte order of UTF-8); the header lists them in that order;
//   - "__metadata__" comes first; the JSON is compact (serde_json's `to_string`);
//   - the header is padded with spaces to a multiple of 8 bytes, so with the alignment-first
//     order every tensor's data starts aligned to its element size.
//   (The crate keeps metadata in a HashMap, so its key order is unspecified; we sort it.)
//
// Reading is as strict as the crate's `read_metadata` + `validate`: the header must be valid
// UTF-8 JSON, each entry's byte range must equal numel × item size, the ranges sorted by offset
// must tile the buffer with no gap or overlap, and the buffer must end exactly at end of file.
// Every violation is a FormatError naming the file and the problem; nothing is allocated
// before the whole header is validated.
import fs from 'node:fs';
import { endianness } from 'node:os';
import * as torch from '../torch/index.js';
import { ConfigError, FormatError, type DType, type Tensor } from '../torch/index.js';
import { writeFileAtomic } from './atomic.js';

/** safetensors dtype names of the dtypes the engine holds. */
const ST_NAME: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16',
  int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const DTYPE_OF: Record<string, DType> = Object.fromEntries(Object.entries(ST_NAME).map(([d, s]) => [s, d as DType]));
/** Valid in the spec but with no libtorch 1.13 counterpart in this engine. */
const SPEC_ONLY = new Set(['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);
/** Position in the crate's `Dtype` enum ("MUST be in increasing alignment order"); higher is written first. */
const WRITE_RANK: Record<DType, number> = {
  bool: 0, uint8: 1, int8: 2, int16: 5, float16: 7, bfloat16: 8, int32: 9, float32: 11, float64: 12, int64: 13,
};

/** Same limit as the reference crate: a larger header means a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's header entry. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** [begin, end) relative to the start of the data buffer. */
  dataOffsets: [number, number];
}
/** A validated header. */
export interface SafetensorsHeader {
  /** N: the JSON header's length in bytes (padding included); data starts at 8 + N. */
  headerLength: number;
  /** Entries sorted by data offset. */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Bytes in the data buffer. */
  dataLength: number;
}
export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

function checkHost(): void {
  // The format is little-endian and tensors are copied byte for byte.
  if (endianness() !== 'LE') throw new ConfigError('safetensors: big-endian hosts are not supported');
}

// Sets a key even when it is "__proto__" (a legal tensor name), which plain assignment would not.
function put<V>(obj: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const LONE_SURROGATE = /\p{Cs}/u;
const utf8 = (s: string) => Buffer.from(s, 'utf8');

// ───────────────────────────── writing ─────────────────────────────

/** The file as a list of chunks (header, then each tensor's bytes), ready for `writeFileAtomic`. */
export function encodeSafetensorsChunks(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array[] {
  checkHost();
  if (tensors === null || typeof tensors !== 'object') throw new ConfigError('safetensors: tensors must be an object mapping names to Tensors');
  const items = Object.keys(tensors).map((name) => {
    const t = tensors[name];
    if (!(t instanceof torch.Tensor)) throw new ConfigError(`safetensors: '${name}' is not a Tensor`);
    if (name === '__metadata__') throw new ConfigError("safetensors: '__metadata__' is reserved by the format and cannot name a tensor");
    if (LONE_SURROGATE.test(name)) throw new ConfigError(`safetensors: tensor name ${JSON.stringify(name)} is not valid Unicode`);
    return { name, t, dtype: t.dtype, shape: [...t.shape], key: utf8(name) };
  });
  items.sort((a, b) => WRITE_RANK[b.dtype] - WRITE_RANK[a.dtype] || Buffer.compare(a.key, b.key));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object') throw new ConfigError('safetensors: metadata must be an object of string values');
    const keys = Object.keys(metadata).sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
    const kv = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new ConfigError(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) throw new ConfigError(`safetensors: metadata '${k}' is not valid Unicode`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${kv.join(',')}}`);
  }
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const it of items) {
    const bytes = it.t.bytes(); // one contiguous, detached copy in the tensor's own dtype
    const end = offset + bytes.byteLength;
    // Built by hand, not via an object: JS objects put integer-like keys ("0", "1") first.
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${ST_NAME[it.dtype]}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    data.push(bytes);
    offset = end;
  }
  const json = utf8(`{${parts.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const head = Buffer.alloc(8 + n, 0x20); // pad with spaces, as the spec and the crate do
  head.writeBigUInt64LE(BigInt(n), 0);
  json.copy(head, 8);
  return [head, ...data];
}

/** The whole file in memory. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  return Buffer.concat(encodeSafetensorsChunks(tensors, metadata));
}

/** Writes `tensors` (and string metadata) to `path` atomically. Tensors are not modified or freed. */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensorsChunks(tensors, metadata));
}

// ───────────────────────────── reading ─────────────────────────────

function fail(source: string, problem: string): never {
  throw new FormatError(`${source}: not a valid safetensors file: ${problem}`);
}

/** N from the first 8 bytes, checked against the file size. */
function headerLengthOf(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) fail(source, `the file is ${fileSize} bytes, shorter than the 8-byte header length that starts the format`);
  const n = Buffer.from(first8.buffer, first8.byteOffset, 8).readBigUInt64LE(0);
  if (n + 8n > BigInt(fileSize))
    fail(source, `the header length ${n} runs past the end of the file (${fileSize} bytes): the file is truncated or not safetensors`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(source, `the header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  return Number(n);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Validates the JSON header (`json` = bytes [8, 8+N)) against a file of `fileSize` bytes. */
function parseHeader(json: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const n = json.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    fail(source, 'the header is not valid UTF-8');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(source, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(source, 'the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(raw as Record<string, unknown>)) {
    const what = `tensor ${JSON.stringify(name)}`;
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(source, '"__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `"__metadata__" value ${JSON.stringify(k)} must be a string, got ${v === null ? 'null' : typeof v}`);
        put(metadata, k, v);
      }
      continue;
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(source, `${what}: entry is not an object`);
    const { dtype: st, shape, data_offsets: offs } = info as Record<string, unknown>;
    if (typeof st !== 'string') fail(source, `${what}: missing "dtype"`);
    const dtype = DTYPE_OF[st];
    if (!dtype) {
      const known = Object.keys(DTYPE_OF).join(', ');
      if (SPEC_ONLY.has(st)) fail(source, `${what}: dtype ${st} is valid safetensors but not supported by this engine (supported: ${known})`);
      fail(source, `${what}: unknown dtype ${JSON.stringify(st)} (supported: ${known})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(source, `${what}: "shape" must be an array of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount))
      fail(source, `${what}: "data_offsets" must be [begin, end] with non-negative integers`);
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(source, `${what}: data_offsets [${begin}, ${end}] end before they begin`);
    let need = torch.ITEM_SIZE[dtype];
    for (const s of shape as number[]) need *= s;
    if (!Number.isSafeInteger(need)) fail(source, `${what}: shape [${shape.join(', ')}] is too large`);
    if (end - begin !== need)
      fail(source, `${what}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape.join(', ')}] × ${st} needs ${need}`);
    entries.push({ name, dtype, shape: shape as number[], dataOffsets: [begin, end] });
  }

  // The ranges, sorted by offset, must tile [0, dataLength) exactly (as the crate's `validate`).
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let pos = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of entries) {
    const [b, en] = e.dataOffsets;
    if (b < pos)
      fail(source, `tensor ${JSON.stringify(e.name)} data_offsets [${b}, ${en}] overlap tensor ${JSON.stringify(prev!.name)} [${prev!.dataOffsets.join(', ')}]`);
    if (b > pos) fail(source, `${b - pos} unclaimed bytes before tensor ${JSON.stringify(e.name)} (data_offsets [${b}, ${en}]): offsets must tile the data buffer`);
    pos = en;
    prev = e;
  }
  const dataLength = fileSize - 8 - n;
  if (pos > dataLength)
    fail(source, `truncated: the header describes ${pos} data bytes but the file holds ${dataLength} (file is ${fileSize} bytes, expected ${8 + n + pos})`);
  if (pos < dataLength) fail(source, `${dataLength - pos} unexpected bytes after the last tensor`);
  return { headerLength: n, entries, metadata, dataLength };
}

/** Tensors from validated entries; `read(entry)` gives each one's bytes. Frees what it made if one fails. */
function materialize(header: SafetensorsHeader, read: (e: SafetensorsEntry) => Uint8Array, source: string): SafetensorsContent {
  const tensors: Record<string, Tensor> = {};
  try {
    for (const e of header.entries) {
      const bytes = read(e);
      if (e.dtype === 'bool') {
        // libtorch assumes bool bytes are 0 or 1; anything else is undefined behaviour there.
        const bad = bytes.findIndex((v) => v > 1);
        if (bad >= 0) fail(source, `tensor ${JSON.stringify(e.name)} (BOOL) holds byte ${bytes[bad]} at element ${bad}; only 0 and 1 are valid`);
      }
      put(tensors, e.name, torch.fromBytes(bytes, e.shape, e.dtype));
    }
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  return { tensors, metadata: header.metadata };
}

/** Parses a whole safetensors file held in memory; `source` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContent {
  checkHost();
  const n = headerLengthOf(bytes.subarray(0, 8), bytes.byteLength, source);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, source);
  const base = 8 + n;
  return materialize(header, (e) => bytes.subarray(base + e.dataOffsets[0], base + e.dataOffsets[1]), source);
}

function readExactly(fd: number, length: number, position: number, source: string): Uint8Array {
  const buf = Buffer.allocUnsafe(length); // filled completely below, or we throw
  let got = 0;
  while (got < length) {
    const r = fs.readSync(fd, buf, got, length - got, position + got);
    if (r === 0) fail(source, `truncated: the file ended at byte ${position + got} while reading ${length} bytes at ${position}`);
    got += r;
  }
  return buf;
}

function withFile<R>(path: string, fn: (fd: number, size: number) => R): R {
  const fd = fs.openSync(path, 'r');
  try {
    return fn(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

function headerOf(fd: number, size: number, source: string): SafetensorsHeader {
  const n = headerLengthOf(size < 8 ? new Uint8Array(8) : readExactly(fd, 8, 0, source), size, source);
  return parseHeader(readExactly(fd, n, 8, source), size, source);
}

/** Reads and validates only the header of a file (no tensor data is read). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  checkHost();
  return withFile(path, (fd, size) => headerOf(fd, size, path));
}

/**
 * Loads every tensor of a safetensors file. The header is validated against the file size
 * before any data is read, then each tensor is read straight into its own buffer (peak
 * memory: one tensor, not the whole file). The caller owns (and disposes) the tensors.
 */
export function loadSafetensors(path: string): SafetensorsContent {
  checkHost();
  return withFile(path, (fd, size) => {
    const header = headerOf(fd, size, path);
    const base = 8 + header.headerLength;
    return materialize(header, (e) => readExactly(fd, e.dataOffsets[1] - e.dataOffsets[0], base + e.dataOffsets[0], path), path);
  });
}

/**
 * Streams a file's tensors in pieces: for each entry that `want` accepts, in file order,
 * `fn(entry, piece, start)` with `piece` a 1-D tensor of the entry's elements from flat
 * index `start` on, at most `chunkBytes` long, freed when `fn` returns. The pieces go
 * through one small reused buffer, so a loader that copies each piece into its parameter
 * keeps the staging bytes in cache and never allocates a tensor-sized temporary.
 */
export function forEachSafetensorChunk(
  path: string,
  want: (e: SafetensorsEntry) => boolean,
  fn: (e: SafetensorsEntry, piece: Tensor, start: number) => void,
  chunkBytes = 1 << 20,
): SafetensorsHeader {
  checkHost();
  return withFile(path, (fd, size) => {
    const header = headerOf(fd, size, path);
    const base = 8 + header.headerLength;
    const scratch = Buffer.allocUnsafe(chunkBytes);
    for (const e of header.entries.filter(want)) {
      const item = torch.ITEM_SIZE[e.dtype];
      const step = Math.max(item, chunkBytes - (chunkBytes % item));
      const [begin, end] = e.dataOffsets;
      const buf = step > scratch.byteLength ? Buffer.allocUnsafe(step) : scratch;
      for (let at = begin; at < end; at += step) {
        const n = Math.min(step, end - at);
        for (let got = 0; got < n; ) {
          const r = fs.readSync(fd, buf, got, n - got, base + at + got);
          if (r === 0) fail(path, `truncated: the file ended while reading tensor ${JSON.stringify(e.name)}`);
          got += r;
        }
        const piece = torch.fromBytes(buf.subarray(0, n), [n / item], e.dtype);
        try {
          fn(e, piece, (at - begin) / item);
        } finally {
          piece.dispose();
        }
      }
    }
    return header;
  });
}

// GGUF writer (version 3; ggml/docs/gguf.md), the counterpart of gguf_read.ts: metadata in
// the reader's form (values + type names), tensors as ggml type + bytes (gguf_quants.ts's
// quantizeTensor makes them), laid out as ggml's gguf_write_to_file lays them out: the
// header, every KV in the given order, the tensor infos with offsets packed in order, each
// tensor padded to the alignment, the data section starting at the next multiple of it.
// So a file read by readGgufHeader and written back is byte-identical, and a file built
// the way llama-quantize builds it (test/io/gguf_write.test.ts) is byte-identical to its.
// Written atomically (atomic.ts). Every problem is one ConfigError naming the key or tensor,
// before anything is written.
import { ConfigError } from '../torch/errors.js';
import { writeFileAtomic } from './atomic.js';
import { GGML_TYPES, describeGgmlType, ggmlBytes } from './gguf_types.js';
import { GGUF_VALUE_TYPE, type GgufValue } from './gguf_read.js';

export interface GgufWriteTensor {
  name: string;
  /** ggml order: fastest-varying dimension first (a PyTorch (out, in) matrix is [in, out]). */
  ne: number[];
  /** ggml type id (GGML_TYPE). */
  type: number;
  /** The encoded values: ggmlBytes(type, numel) bytes. */
  data: Uint8Array;
}

export interface GgufWriteInput {
  /** Key → value, written in this order. */
  metadata: Record<string, GgufValue>;
  /** Key → type as gguf_read.ts names it ('uint32', 'string', 'array<float32>', 'array<array<int32>>'). */
  metadataTypes: Record<string, string>;
  tensors: GgufWriteTensor[];
}

const VT: Record<string, number> = Object.fromEntries(Object.entries(GGUF_VALUE_TYPE).map(([k, v]) => [k.toLowerCase(), v]));
const INT_RANGE: Record<string, [number, number]> = {
  uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767], uint32: [0, 4294967295], int32: [-2147483648, 2147483647],
};

/** Little-endian byte sink in chunks of up to 1 MiB (tensor data goes in as its own chunks). */
class Sink {
  readonly parts: Uint8Array[] = [];
  length = 0;
  private buf = Buffer.alloc(1 << 20);
  private used = 0;
  private room(n: number): Buffer {
    if (this.used + n > this.buf.length) this.flush(Math.max(n, 1 << 20));
    return this.buf;
  }
  private flush(next = 1 << 20): void {
    if (this.used) this.parts.push(this.buf.subarray(0, this.used));
    this.buf = Buffer.alloc(next);
    this.used = 0;
  }
  private advance(n: number): void { this.used += n; this.length += n; }
  u8(v: number): void { this.room(1).writeUInt8(v, this.used); this.advance(1); }
  u32(v: number): void { this.room(4).writeUInt32LE(v, this.used); this.advance(4); }
  u64(v: number | bigint): void { this.room(8).writeBigUInt64LE(BigInt(v), this.used); this.advance(8); }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  bytes(b: Uint8Array): void {
    if (b.byteLength < 4096) { this.room(b.byteLength).set(b, this.used); this.advance(b.byteLength); return; }
    this.flush();
    this.parts.push(b);
    this.length += b.byteLength;
  }
  pad(align: number): void {
    const n = (align - (this.length % align)) % align;
    if (n) this.bytes(new Uint8Array(n));
  }
  done(): Uint8Array[] { this.flush(0); return this.parts; }
}

/** The element type of an 'array<T>' type name, or undefined for a scalar type. */
function elementType(type: string): string | undefined {
  const m = /^array<(.*)>$/.exec(type);
  return m ? m[1] : undefined;
}

function writeValue(s: Sink, type: string, v: GgufValue, key: string): void {
  const bad = (why: string): never => { throw new ConfigError(`GGUF write: metadata '${key}' (${type}): ${why}`); };
  const et = elementType(type);
  if (et !== undefined) {
    if (!Array.isArray(v)) bad(`expected an array, got ${typeof v}`);
    const arr = v as GgufValue[];
    const etId = elementType(et) !== undefined || et === 'array' ? GGUF_VALUE_TYPE.ARRAY : VT[et];
    if (etId === undefined || etId === GGUF_VALUE_TYPE.ARRAY && et === 'array' && arr.length) bad(`unknown element type '${et}'`);
    s.u32(etId);
    s.u64(arr.length);
    for (const x of arr) writeValue(s, et, x, key);
    return;
  }
  switch (type) {
    case 'string': if (typeof v !== 'string') bad(`expected a string, got ${typeof v}`); return s.str(v as string);
    case 'bool': if (typeof v !== 'boolean') bad(`expected a boolean, got ${typeof v}`); return s.u8(v ? 1 : 0);
    case 'float32': case 'float64': {
      if (typeof v !== 'number') bad(`expected a number, got ${typeof v}`);
      const b = Buffer.alloc(type === 'float32' ? 4 : 8);
      if (type === 'float32') b.writeFloatLE(v as number); else b.writeDoubleLE(v as number);
      return s.bytes(b);
    }
    case 'uint64': case 'int64': {
      if (typeof v !== 'bigint' && !Number.isInteger(v)) bad(`expected an integer, got ${String(v)}`);
      const big = BigInt(v as number | bigint);
      const [lo, hi] = type === 'uint64' ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
      if (big < lo || big > hi) bad(`${big} is out of range`);
      return s.u64(BigInt.asUintN(64, big));
    }
    default: {
      const range = INT_RANGE[type];
      if (!range) bad('unknown type');
      if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) bad(`${String(v)} is not an integer in [${range[0]}, ${range[1]}]`);
      const n = v as number, size = type.endsWith('8') ? 1 : type.endsWith('16') ? 2 : 4;
      const b = Buffer.alloc(size);
      b.writeUIntLE(n < 0 ? n + 2 ** (8 * size) : n, 0, size);
      return s.bytes(b);
    }
  }
}

/** The top-level value type id of a type name ('array<…>' → ARRAY). */
function typeId(type: string, key: string): number {
  if (elementType(type) !== undefined) return GGUF_VALUE_TYPE.ARRAY;
  const id = VT[type];
  if (id === undefined || id === GGUF_VALUE_TYPE.ARRAY) throw new ConfigError(`GGUF write: metadata '${key}' has unknown type '${type}'`);
  return id;
}

/** The whole file as byte chunks (nothing written); checks everything first. */
export function encodeGguf(input: GgufWriteInput): Uint8Array[] {
  const keys = Object.keys(input.metadata);
  for (const k of keys) if (!Object.prototype.hasOwnProperty.call(input.metadataTypes, k)) throw new ConfigError(`GGUF write: metadata '${k}' has no type in metadataTypes`);
  let alignment = 32;
  if (keys.includes('general.alignment')) {
    const a = input.metadata['general.alignment'];
    if (input.metadataTypes['general.alignment'] !== 'uint32' || typeof a !== 'number' || a <= 0 || (a & (a - 1)) !== 0)
      throw new ConfigError(`GGUF write: general.alignment must be a uint32 power of 2, got ${String(a)} (${input.metadataTypes['general.alignment']})`);
    alignment = a;
  }
  const names = new Set<string>();
  for (const t of input.tensors) {
    const info = GGML_TYPES.get(t.type);
    if (!info) throw new ConfigError(`GGUF write: tensor '${t.name}' has ${describeGgmlType(t.type)}`);
    if (names.has(t.name)) throw new ConfigError(`GGUF write: duplicate tensor name '${t.name}'`);
    names.add(t.name);
    if (t.ne.length < 1 || t.ne.length > 4 || t.ne.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new ConfigError(`GGUF write: tensor '${t.name}' has dimensions [${t.ne.join(', ')}]; 1 to 4 non-negative integers`);
    if (t.ne[0] % info.blockSize !== 0) throw new ConfigError(`GGUF write: tensor '${t.name}' (${info.name}) has rows of ${t.ne[0]}, not a multiple of its block size ${info.blockSize}`);
    const want = ggmlBytes(info, t.ne.reduce((a, b) => a * b, 1));
    if (t.data.byteLength !== want) throw new ConfigError(`GGUF write: tensor '${t.name}' (${info.name}, ${t.ne.join(' × ')}) needs ${want} bytes, got ${t.data.byteLength}`);
  }

  const s = new Sink();
  s.bytes(Buffer.from('GGUF', 'ascii'));
  s.u32(3);
  s.u64(input.tensors.length);
  s.u64(keys.length);
  for (const k of keys) {
    const type = input.metadataTypes[k];
    s.str(k);
    s.u32(typeId(type, k));
    writeValue(s, type, input.metadata[k], k);
  }
  let offset = 0;
  for (const t of input.tensors) {
    s.str(t.name);
    s.u32(t.ne.length);
    for (const d of t.ne) s.u64(d);
    s.u32(t.type);
    s.u64(offset);
    offset += Math.ceil(t.data.byteLength / alignment) * alignment;
  }
  if (input.tensors.length) s.pad(alignment);
  for (const t of input.tensors) {
    s.bytes(t.data);
    s.pad(alignment);
  }
  return s.done();
}

/** Writes a GGUF file atomically; returns its size in bytes. */
export function writeGguf(path: string, input: GgufWriteInput): number {
  const chunks = encodeGguf(input);
  writeFileAtomic(path, chunks);
  return chunks.reduce((n, c) => n + c.byteLength, 0);
}

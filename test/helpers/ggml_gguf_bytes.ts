// GGUF files built byte by byte for the reader's tests: nested arrays (which ggml's own
// writer cannot make), other alignments and versions, and deliberately malformed files.
// Written from ggml/docs/gguf.md, independently of src/io/gguf_read.ts.

/** A typed metadata value; arrays name their element type, nested arrays hold typed values. */
export type Typed =
  | { t: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64' | 'bool'; v: number | boolean }
  | { t: 'u64' | 'i64'; v: bigint }
  | { t: 'str'; v: string }
  | { t: 'arr'; et: Typed['t']; v: (number | bigint | boolean | string | Typed)[] };

export const VT: Record<Typed['t'], number> = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 };

export interface RawTensor {
  name: string;
  ne: number[];
  type: number;
  data: Uint8Array;
  /** Overrides the computed offset (relative to the data section). */
  offset?: number;
}

class Bytes {
  parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.parts.push(b); this.length += b.length; }
  num(kind: string, v: number | bigint | boolean): void {
    const size = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 }[kind]!;
    const b = Buffer.alloc(size);
    switch (kind) {
      case 'u8': case 'bool': b.writeUInt8(Number(v)); break;
      case 'i8': b.writeInt8(Number(v)); break;
      case 'u16': b.writeUInt16LE(Number(v)); break;
      case 'i16': b.writeInt16LE(Number(v)); break;
      case 'u32': b.writeUInt32LE(Number(v)); break;
      case 'i32': b.writeInt32LE(Number(v)); break;
      case 'f32': b.writeFloatLE(Number(v)); break;
      case 'f64': b.writeDoubleLE(Number(v)); break;
      case 'u64': b.writeBigUInt64LE(BigInt(v)); break;
      case 'i64': b.writeBigInt64LE(BigInt(v)); break;
    }
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.num('u64', BigInt(b.length));
    this.push(b);
  }
  /** The value without its type tag. */
  payload(x: Typed): void {
    if (x.t === 'str') return this.str(x.v);
    if (x.t !== 'arr') return this.num(x.t, x.v);
    this.num('u32', VT[x.et]);
    this.num('u64', BigInt(x.v.length));
    for (const e of x.v) this.payload(typeof e === 'object' && e !== null && 't' in (e as object) ? (e as Typed) : ({ t: x.et, v: e } as Typed));
  }
}

/** A whole GGUF file: header, metadata, tensor infos, padding, data (each tensor padded to the alignment). */
export function ggufBytes(o: { version?: number; kvs: [string, Typed][]; tensors?: RawTensor[]; alignment?: number }): Uint8Array {
  const align = o.alignment ?? 32;
  const b = new Bytes();
  b.push(Buffer.from('GGUF'));
  b.num('u32', o.version ?? 3);
  const tensors = o.tensors ?? [];
  b.num('u64', BigInt(tensors.length));
  b.num('u64', BigInt(o.kvs.length));
  for (const [k, v] of o.kvs) {
    b.str(k);
    b.num('u32', VT[v.t]);
    b.payload(v);
  }
  let offset = 0;
  for (const t of tensors) {
    b.str(t.name);
    b.num('u32', t.ne.length);
    for (const d of t.ne) b.num('u64', BigInt(d));
    b.num('u32', t.type);
    b.num('u64', BigInt(t.offset ?? offset));
    offset += Math.ceil(t.data.length / align) * align;
  }
  const pad = () => b.push(Buffer.alloc((align - (b.length % align)) % align));
  if (tensors.length) pad();
  for (const t of tensors) {
    b.push(Buffer.from(t.data));
    pad();
  }
  return new Uint8Array(Buffer.concat(b.parts));
}

// A sharded, append-only store of a teacher's per-token top-k distributions: what offline KD
// reads instead of JSON logprobs (≈ 180 bytes per token at k = 64 over a 152k vocabulary, against
// ≈ 5 KB of JSON). The bit coding of one token is in topk_codec.ts.
//
// Files: a folder of shards `topk-00000.bin`, `topk-00001.bin`, … Each shard is
//   "DSTOPK01"  u32 n  n bytes of JSON header  then records.
// The header names the teacher, the tokenizer's hash, k, the vocabulary size and the
// quantization; every shard of a folder must agree, and a reader (or a writer adding shards)
// that expects another teacher or tokenizer is refused with one ConfigError saying both.
// A record is one sequence (a trace's reply) keyed by a string (the trace id):
//   u32 L  u32 crc32(payload)  payload = u16 keyBytes, key, u32 nTokens, f32 × 2·nTokens, bit stream
// Append-only and crash-safe: a writer owns a shard it created exclusively ('wx'), so writers in
// several processes never share a file; a record goes out in one write(2) and a failed write is
// cut back. A kill mid-write leaves at worst a torn final record: on open the reader checks the
// last record of each shard (its length fits the file, its CRC matches) and drops it if not.
// Any other record is checked (CRC) when read, so silent corruption is a FormatError, not
// wrong numbers. A key appended again (a resumed job: later in a shard, or in a newer shard)
// reads as its last record in shard order.
//
// Reading: node has no mmap. Opening scans each shard's record headers with positional reads
// (fs.readSync at the offsets; one small read per record) into an in-memory index key →
// (shard, offset, length); `get` then reads one record with one positional read into a Buffer
// and decodes it. Memory stays the index only, however large the store.
import fs from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ConfigError, FormatError } from '../torch/errors.js';
import { fsyncDir } from './atomic.js';
import { DEFAULT_QUANT, decodeTopk, encodeTopk, type TopkEntry, type TopkQuant } from './topk_codec.js';

export { DEFAULT_QUANT, type TopkEntry, type TopkQuant } from './topk_codec.js';

export interface TopkStoreHeader {
  /** The teacher's identity, e.g. its model name or checkpoint path. */
  teacher: string;
  /** sha256 of the tokenizer (its toJSON()): ids mean the same tokens only under the same tokenizer. */
  tokenizerHash: string;
  /** Alternatives per token at most. */
  k: number;
  vocabSize: number;
  quant: TopkQuant;
}

interface StoredHeader extends TopkStoreHeader {
  format: 'distill-topk';
  version: 1;
}

const MAGIC = Buffer.from('DSTOPK01', 'latin1');
const SHARD = /^topk-(\d{5})\.bin$/;
const shardName = (i: number) => `topk-${String(i).padStart(5, '0')}.bin`;
/** Bytes read to learn a record's length, CRC and key (the key is at most 1 KiB). */
const HEAD = 8 + 2 + 1024;

/** Shards of `dir` in order (none when the folder does not exist). */
function shardFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => SHARD.test(f)).sort();
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

function readHeader(fd: number, path: string): { header: StoredHeader; end: number } {
  const head = readExactly(fd, 12, 0);
  if (head.length < 12 || !head.subarray(0, 8).equals(MAGIC)) throw new FormatError(`${path} is not a top-k store shard (bad magic)`);
  const n = head.readUInt32LE(8);
  const json = readExactly(fd, n, 12);
  if (json.length < n) throw new FormatError(`${path}: its header is cut short (${json.length} of ${n} bytes)`);
  let header: StoredHeader;
  try {
    header = JSON.parse(json.toString('utf8')) as StoredHeader;
  } catch {
    throw new FormatError(`${path}: its header is not JSON`);
  }
  if (header.format !== 'distill-topk' || header.version !== 1) throw new FormatError(`${path}: unknown top-k store format ${JSON.stringify(header.format)} v${header.version}`);
  return { header, end: 12 + n };
}

/** What the caller expects of a store; a field left out is not checked. */
export interface TopkExpectation {
  teacher?: string;
  tokenizerHash?: string;
  k?: number;
}

function checkExpected(dir: string, h: TopkStoreHeader, want: TopkExpectation): void {
  const wrong: string[] = [];
  if (want.teacher !== undefined && want.teacher !== h.teacher) wrong.push(`teacher ${JSON.stringify(h.teacher)}, not ${JSON.stringify(want.teacher)}`);
  if (want.tokenizerHash !== undefined && want.tokenizerHash !== h.tokenizerHash) wrong.push(`a tokenizer with hash ${h.tokenizerHash.slice(0, 12)}…, not ${want.tokenizerHash.slice(0, 12)}…`);
  if (want.k !== undefined && want.k !== h.k) wrong.push(`k = ${h.k}, not ${want.k}`);
  if (wrong.length) throw new ConfigError(`the top-k store ${dir} holds distributions of ${wrong.join(' and ')}; its token ids and probabilities do not apply here. Use the store of this teacher and tokenizer, or regenerate it.`);
}

const sameHeader = (a: TopkStoreHeader, b: TopkStoreHeader) =>
  a.teacher === b.teacher && a.tokenizerHash === b.tokenizerHash && a.k === b.k && a.vocabSize === b.vocabSize && a.quant.bits === b.quant.bits && a.quant.step === b.quant.step;

export interface TopkWriterOptions extends Omit<TopkStoreHeader, 'quant'> {
  quant?: TopkQuant;
  /** A new shard once the current one passes this size (default 1 GiB). */
  shardBytes?: number;
}

export class TopkStoreWriter {
  readonly header: TopkStoreHeader;
  #fd = -1;
  #size = 0;
  #shard = -1;
  #shardRecords = 0;
  #closed = false;
  /** Records and tokens appended by this writer. */
  records = 0;
  tokens = 0;

  private constructor(readonly dir: string, header: TopkStoreHeader, readonly shardBytes: number) {
    this.header = header;
  }

  /**
   * Opens `dir` for appending (the folder and a shard are created by the first append). Shards already there must have been written with
   * the same header: a store is one teacher's, under one tokenizer.
   */
  static open(dir: string, o: TopkWriterOptions): TopkStoreWriter {
    const header: TopkStoreHeader = { teacher: o.teacher, tokenizerHash: o.tokenizerHash, k: o.k, vocabSize: o.vocabSize, quant: o.quant ?? DEFAULT_QUANT };
    if (!(Number.isInteger(header.k) && header.k >= 1 && header.k <= 65535)) throw new ConfigError(`top-k store: k must be an integer in [1, 65535], got ${header.k}`);
    if (!(Number.isInteger(header.quant.bits) && header.quant.bits >= 1 && header.quant.bits <= 16 && header.quant.step > 0)) throw new ConfigError(`top-k store: quant.bits must be in [1, 16] and step > 0, got ${JSON.stringify(header.quant)}`);
    for (const f of shardFiles(dir)) {
      const fd = fs.openSync(join(dir, f), 'r');
      try {
        let h: StoredHeader;
        try {
          h = readHeader(fd, join(dir, f)).header;
        } catch (e) {
          if (e instanceof FormatError && (fs.fstatSync(fd).size < 12 || /cut short/.test(e.message))) continue; // a stub: see the reader
          throw e;
        }
        checkExpected(dir, h, { teacher: header.teacher, tokenizerHash: header.tokenizerHash, k: header.k });
        if (!sameHeader(h, header)) throw new ConfigError(`the top-k store ${dir} was written with vocabSize ${h.vocabSize} and quantization ${JSON.stringify(h.quant)}; this writer has ${header.vocabSize} and ${JSON.stringify(header.quant)}`);
      } finally {
        fs.closeSync(fd);
      }
    }
    // The shard itself is created by the first append: a run with nothing to add leaves no file.
    return new TopkStoreWriter(dir, header, o.shardBytes ?? 1 << 30);
  }

  /** Starts a shard of our own: the next free number, claimed with an exclusive create. */
  #rotate(): void {
    if (this.#fd >= 0) {
      fs.fdatasyncSync(this.#fd);
      fs.closeSync(this.#fd);
      this.#fd = -1;
    }
    fs.mkdirSync(this.dir, { recursive: true });
    const taken = shardFiles(this.dir).map((f) => Number(SHARD.exec(f)![1]));
    for (let i = taken.length ? Math.max(...taken) + 1 : 0; ; i++) {
      const path = join(this.dir, shardName(i));
      let fd: number;
      try {
        fd = fs.openSync(path, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // another writer took it
        throw e;
      }
      const json = Buffer.from(JSON.stringify({ format: 'distill-topk', version: 1, ...this.header } satisfies StoredHeader), 'utf8');
      const head = Buffer.alloc(12);
      MAGIC.copy(head);
      head.writeUInt32LE(json.length, 8);
      const all = Buffer.concat([head, json]);
      fs.writeSync(fd, all, 0, all.length, 0);
      fs.fdatasyncSync(fd);
      fsyncDir(this.dir);
      this.#fd = fd;
      this.#size = all.length;
      this.#shard = i;
      this.#shardRecords = 0;
      return;
    }
  }

  /** The shard being written (null before the first append). */
  get shard(): string | null {
    return this.#shard < 0 ? null : join(this.dir, shardName(this.#shard));
  }

  /**
   * Appends one sequence's top-k under `key`: per token, alternatives (≤ k, any order) with their
   * log-probabilities. One write(2); on failure the shard is cut back to its previous end.
   */
  append(key: string, tokens: readonly { ids: readonly number[]; logprobs: readonly number[] }[]): void {
    if (this.#closed) throw new ConfigError(`top-k store ${this.dir}: the writer is closed`);
    const keyBytes = Buffer.from(key, 'utf8');
    if (keyBytes.length > 1024) throw new ConfigError(`top-k store: key over 1024 bytes`);
    tokens.forEach((t, i) => {
      const bad = t.ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < this.header.vocabSize));
      if (bad !== undefined) throw new ConfigError(`top-k store: token ${i} of ${JSON.stringify(key)} has id ${bad}, outside the vocabulary of ${this.header.vocabSize}`);
      if (t.ids.length > this.header.k) throw new ConfigError(`top-k store: token ${i} of ${JSON.stringify(key)} has ${t.ids.length} alternatives; the store keeps k = ${this.header.k}`);
    });
    const { floats, bits } = encodeTopk(tokens, this.header.k, this.header.quant);
    const payload = Buffer.alloc(2 + keyBytes.length + 4 + floats.byteLength + bits.length);
    let at = payload.writeUInt16LE(keyBytes.length, 0);
    at += keyBytes.copy(payload, at);
    at = payload.writeUInt32LE(tokens.length, at);
    at += Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).copy(payload, at);
    Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).copy(payload, at);
    const rec = Buffer.alloc(8 + payload.length);
    rec.writeUInt32LE(payload.length, 0);
    rec.writeUInt32LE(crc32(payload), 4);
    payload.copy(rec, 8);
    if (this.#fd < 0 || (this.#shardRecords > 0 && this.#size + rec.length > this.shardBytes)) this.#rotate();
    try {
      for (let done = 0; done < rec.length; ) done += fs.writeSync(this.#fd, rec, done, rec.length - done, this.#size + done);
    } catch (e) {
      try {
        fs.ftruncateSync(this.#fd, this.#size);
      } catch {
        /* the reader drops a torn tail anyway */
      }
      throw e;
    }
    this.#size += rec.length;
    this.#shardRecords++;
    this.records++;
    this.tokens += tokens.length;
  }

  /** Makes every appended record durable (fdatasync). */
  flush(): void {
    if (this.#fd >= 0) fs.fdatasyncSync(this.#fd);
  }

  close(): void {
    this.#closed = true;
    if (this.#fd < 0) return;
    this.flush();
    fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

interface Located {
  shard: number;
  offset: number;
  length: number;
  tokens: number;
}

export class TopkStoreReader {
  readonly header: TopkStoreHeader;
  /** Bytes of torn final records dropped on open (a writer killed mid-record), per shard path. */
  readonly dropped = new Map<string, number>();
  readonly #index = new Map<string, Located>();
  readonly #fds: number[] = [];
  readonly #paths: string[] = [];

  private constructor(readonly dir: string, header: TopkStoreHeader) {
    this.header = header;
  }

  /** Opens every shard of `dir`, refusing a store of another teacher/tokenizer/k than `expect` says. */
  static open(dir: string, expect: TopkExpectation = {}): TopkStoreReader {
    const files = shardFiles(dir);
    if (!files.length) throw new ConfigError(`no top-k store at ${dir} (no topk-*.bin shards)`);
    let r: TopkStoreReader | null = null;
    const stubs = new Map<string, number>();
    try {
      for (const f of files) {
        const path = join(dir, f);
        const fd = fs.openSync(path, 'r');
        let h: { header: StoredHeader; end: number };
        try {
          h = readHeader(fd, path);
        } catch (e) {
          // A writer killed between creating a shard and writing its header leaves a stub with no records.
          const size = fs.fstatSync(fd).size;
          fs.closeSync(fd);
          if (e instanceof FormatError && (size < 12 || /cut short/.test(e.message))) {
            (r?.dropped ?? stubs).set(path, size);
            continue;
          }
          throw e;
        }
        const header: TopkStoreHeader = { teacher: h.header.teacher, tokenizerHash: h.header.tokenizerHash, k: h.header.k, vocabSize: h.header.vocabSize, quant: h.header.quant };
        if (!r) {
          try {
            checkExpected(dir, header, expect);
          } catch (e) {
            fs.closeSync(fd);
            throw e;
          }
          r = new TopkStoreReader(dir, header);
          for (const [p, n] of stubs) r.dropped.set(p, n);
        } else if (!sameHeader(r.header, header)) {
          fs.closeSync(fd);
          throw new FormatError(`${path} was written by another teacher or with other settings than the rest of ${dir}`);
        }
        r.#fds.push(fd);
        r.#paths.push(path);
        r.#scan(r.#fds.length - 1, h.end);
      }
      if (!r) throw new ConfigError(`no readable top-k store shard at ${dir}`);
      return r;
    } catch (e) {
      r?.close();
      throw e;
    }
  }

  /** Indexes one shard's records; a torn final record is dropped (and counted in `dropped`). */
  #scan(s: number, start: number): void {
    const fd = this.#fds[s];
    const size = fs.fstatSync(fd).size;
    let pos = start;
    let last: { key: string; at: Located; previous: Located | undefined } | null = null;
    while (pos < size) {
      const head = readExactly(fd, Math.min(HEAD, size - pos), pos);
      if (head.length < 14) break; // not even a record header: torn
      const length = head.readUInt32LE(0);
      const keyLen = head.readUInt16LE(8);
      if (pos + 8 + length > size || keyLen + 6 > length || head.length < 10 + keyLen + 4) break; // runs past the end: torn
      const key = head.toString('utf8', 10, 10 + keyLen);
      const at: Located = { shard: s, offset: pos, length, tokens: head.readUInt32LE(10 + keyLen) };
      last = { key, at, previous: this.#index.get(key) };
      this.#index.set(key, at);
      pos += 8 + length;
    }
    // The last complete-looking record may still be torn (size extended, data not written): check its CRC.
    if (last && !this.#crcOk(last.at)) {
      pos = last.at.offset;
      if (last.previous) this.#index.set(last.key, last.previous);
      else this.#index.delete(last.key);
    }
    if (pos < size) this.dropped.set(this.#paths[s], size - pos);
  }

  #crcOk(at: Located): boolean {
    const rec = readExactly(this.#fds[at.shard], 8 + at.length, at.offset);
    return rec.length === 8 + at.length && crc32(rec.subarray(8)) === rec.readUInt32LE(4);
  }

  /** Keys of the stored sequences. */
  keys(): IterableIterator<string> {
    return this.#index.keys();
  }

  has(key: string): boolean {
    return this.#index.has(key);
  }

  get size(): number {
    return this.#index.size;
  }

  /** Tokens of one sequence, or undefined. */
  tokensOf(key: string): number | undefined {
    return this.#index.get(key)?.tokens;
  }

  /** The top-k of every token of `key`'s sequence (undefined when absent). A record whose CRC fails is a FormatError. */
  get(key: string): TopkEntry[] | undefined {
    const at = this.#index.get(key);
    if (!at) return undefined;
    const rec = readExactly(this.#fds[at.shard], 8 + at.length, at.offset);
    const payload = rec.subarray(8);
    if (rec.length !== 8 + at.length || crc32(payload) !== rec.readUInt32LE(4))
      throw new FormatError(`${this.#paths[at.shard]}: the record of ${JSON.stringify(key)} at byte ${at.offset} is corrupt (CRC mismatch)`);
    const keyLen = payload.readUInt16LE(0);
    const n = payload.readUInt32LE(2 + keyLen);
    const fStart = 6 + keyLen;
    // Copy the floats out: a Float32Array view needs 4-byte alignment, which a Buffer slice need not have.
    const floats = new Float32Array(n * 2);
    Buffer.from(floats.buffer).set(payload.subarray(fStart, fStart + n * 8));
    try {
      return decodeTopk(floats, payload.subarray(fStart + n * 8), n, this.header.k, this.header.quant);
    } catch (e) {
      throw new FormatError(`${this.#paths[at.shard]}: the record of ${JSON.stringify(key)} does not decode: ${(e as Error).message}`);
    }
  }

  close(): void {
    for (const fd of this.#fds.splice(0)) fs.closeSync(fd);
  }
}

// The top-k store: what is read back against what was written (exact ids, log-probabilities
// within half a grid step, the tail mass, KL to the exact top-k below 1e-3 nats at ≤ 200 bytes
// per token for k = 64 over a Qwen-size vocabulary), refusal of another teacher's or
// tokenizer's store, a torn final record cut at every byte offset, corruption, shards and
// concurrent writers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TopkStoreReader, TopkStoreWriter, DEFAULT_QUANT } from '../../src/io/topk_store.js';
import { mulberry32 } from '../../src/torch/prng.js';

const tmp = () => fs.mkdtempSync(join(tmpdir(), 'topk-'));
const QWEN_VOCAB = 151_936;

/** Top-k of softmax(z / T) for random logits with a heavy upper tail (a few tokens stand out, as in an LM). */
function topkOf(rand: () => number, V: number, k: number, T: number): { ids: number[]; logprobs: number[] } {
  const z = new Float64Array(V);
  for (let v = 0; v < V; v++) z[v] = (-Math.log(-Math.log(rand() + 1e-12) + 1e-12)) / T; // Gumbel(0,1) / T
  let m = -Infinity;
  for (const x of z) m = Math.max(m, x);
  let s = 0;
  for (const x of z) s += Math.exp(x - m);
  const lse = m + Math.log(s);
  // Partial selection: keep a running top-k (V large, k small).
  const ids: number[] = [];
  for (let v = 0; v < V; v++) {
    if (ids.length < k) ids.push(v);
    else if (z[v] > z[ids[k - 1]]) ids[k - 1] = v;
    else continue;
    ids.sort((a, b) => z[b] - z[a]);
  }
  return { ids, logprobs: ids.map((v) => z[v] - lse) };
}

/** KL(P ‖ Q) over the k listed tokens plus the tail bucket, Q normalised: the oracle of the bench's figure. */
function klTopk(exact: { ids: number[]; logprobs: number[] }, got: { ids: number[]; logprobs: number[]; tail: number }): number {
  const q = new Map(got.ids.map((id, j) => [id, Math.exp(got.logprobs[j])]));
  const p = exact.ids.map((id, j) => [Math.exp(exact.logprobs[j]), q.get(id) ?? 0]);
  const pTail = Math.max(0, 1 - p.reduce((n, [a]) => n + a, 0));
  p.push([pTail, Math.max(0, got.tail)]);
  const zq = p.reduce((n, [, b]) => n + b, 0);
  return p.reduce((n, [a, b]) => (a > 0 ? n + a * Math.log(a / (b / zq)) : n), 0);
}

const header = { teacher: 'teacher-A', tokenizerHash: 'a'.repeat(64), k: 64, vocabSize: QWEN_VOCAB };

test('round trip at k = 64 over a 152k vocabulary: exact ids, log-probabilities within half a step, KL < 1e-3, ≤ 200 bytes/token', () => {
  const dir = tmp();
  const rand = mulberry32(7);
  const seqs = [0.5, 1, 2].map((T) => Array.from({ length: 8 }, () => topkOf(rand, QWEN_VOCAB, 64, T)));
  const w = TopkStoreWriter.open(dir, header);
  seqs.forEach((s, i) => w.append(`trace-${i}`, s));
  w.close();
  const bytes = fs.statSync(w.shard!).size;
  const r = TopkStoreReader.open(dir, { teacher: 'teacher-A', tokenizerHash: 'a'.repeat(64), k: 64 });
  try {
    assert.equal(r.size, 3);
    let kl = 0;
    let n = 0;
    seqs.forEach((s, i) => {
      const got = r.get(`trace-${i}`)!;
      assert.equal(got.length, s.length);
      assert.equal(r.tokensOf(`trace-${i}`), s.length);
      got.forEach((g, t) => {
        const e = s[t];
        assert.deepEqual([...g.ids].sort((a, b) => a - b), [...e.ids].sort((a, b) => a - b), 'the same ids');
        const want = new Map(e.ids.map((id, j) => [id, e.logprobs[j]]));
        const range = (2 ** DEFAULT_QUANT.bits - 1) * DEFAULT_QUANT.step;
        g.ids.forEach((id, j) => {
          const x = want.get(id)!;
          if (e.logprobs[0] - x < range) assert.ok(Math.abs(g.logprobs[j] - x) <= DEFAULT_QUANT.step / 2 + 1e-5, `${g.logprobs[j]} vs ${x}`);
          if (j) assert.ok(g.logprobs[j] <= g.logprobs[j - 1], 'most likely first');
        });
        const tail = 1 - e.logprobs.reduce((a, lp) => a + Math.exp(lp), 0);
        assert.ok(Math.abs(g.tail - tail) < 1e-6, `tail ${g.tail} vs ${tail}`);
        kl += klTopk(e, g);
        n++;
      });
    });
    assert.ok(kl / n < 1e-3, `mean KL ${kl / n}`);
    assert.ok(kl / n > 0, 'quantization is not free: the check can fail');
    const perToken = bytes / n;
    assert.ok(perToken <= 200, `${perToken} bytes per token`);
  } finally {
    r.close();
  }
});

test("a store of another teacher or tokenizer is refused, by the reader and by a writer adding to it", () => {
  const dir = tmp();
  const w = TopkStoreWriter.open(dir, header);
  w.append('x', [{ ids: [1, 2], logprobs: [-0.1, -3] }]);
  w.close();
  assert.throws(() => TopkStoreReader.open(dir, { teacher: 'teacher-B' }), (e: Error & { code?: string }) =>
    e.code === 'ERR_CONFIG' && /holds distributions of teacher "teacher-A", not "teacher-B"/.test(e.message));
  assert.throws(() => TopkStoreReader.open(dir, { tokenizerHash: 'b'.repeat(64) }), /a tokenizer with hash aaaaaaaaaaaa…, not bbbbbbbbbbbb…/);
  assert.throws(() => TopkStoreReader.open(dir, { k: 20 }), /k = 64, not 20/);
  assert.throws(() => TopkStoreWriter.open(dir, { ...header, teacher: 'teacher-B' }), /teacher "teacher-A", not "teacher-B"/);
  assert.throws(() => TopkStoreWriter.open(dir, { ...header, quant: { bits: 10, step: 1 / 64 } }), /quantization/);
  assert.throws(() => TopkStoreReader.open(join(dir, 'nope')), /no top-k store/);
  // The refused writer left nothing behind: still one shard, still readable.
  assert.equal(fs.readdirSync(dir).length, 1);
  assert.deepEqual(TopkStoreReader.open(dir, { teacher: 'teacher-A' }).get('x')![0].ids, [1, 2]);
});

test('a torn final record, cut at every byte offset, is dropped on open; the records before it read back whole', () => {
  const dir = tmp();
  const rand = mulberry32(3);
  const seqs = [3, 2, 2].map((n) => Array.from({ length: n }, () => topkOf(rand, 5000, 64, 1)));
  const w = TopkStoreWriter.open(dir, { ...header, vocabSize: 5000 });
  w.append('a', seqs[0]);
  w.append('b', seqs[1]);
  w.flush();
  const lastStart = fs.statSync(w.shard!).size;
  w.append('c', seqs[2]);
  w.close();
  const full = fs.readFileSync(w.shard!);
  const want = TopkStoreReader.open(dir);
  const a = want.get('a');
  const b = want.get('b');
  assert.ok(want.get('c'));
  want.close();
  const cutDir = tmp();
  const path = join(cutDir, 'topk-00000.bin');
  for (let cut = lastStart; cut < full.length; cut++) {
    fs.writeFileSync(path, full.subarray(0, cut));
    const r = TopkStoreReader.open(cutDir);
    try {
      assert.deepEqual([...r.keys()], ['a', 'b'], `cut at ${cut}`);
      assert.equal(r.dropped.get(path) ?? 0, cut - lastStart, `cut at ${cut}`);
      assert.deepEqual(r.get('a'), a);
      assert.deepEqual(r.get('b'), b);
    } finally {
      r.close();
    }
    // A writer opening after the crash starts its own shard; both read together.
    if (cut === lastStart + 20) {
      const w2 = TopkStoreWriter.open(cutDir, { ...header, vocabSize: 5000 });
      w2.append('c', seqs[2]);
      w2.close();
      const r2 = TopkStoreReader.open(cutDir);
      assert.deepEqual([...r2.keys()].sort(), ['a', 'b', 'c']);
      assert.equal(r2.get('c')!.length, 2);
      r2.close();
      fs.rmSync(w2.shard!);
    }
  }
  // Size extended but the data never written (zeros): the CRC catches it.
  const zeroed = Buffer.from(full);
  zeroed.fill(0, lastStart + 8);
  fs.writeFileSync(path, zeroed);
  const r = TopkStoreReader.open(cutDir);
  assert.deepEqual([...r.keys()], ['a', 'b']);
  r.close();
  // A corrupt record in the middle is not silently read: FormatError when asked for.
  const flipped = Buffer.from(full);
  flipped[lastStart - 3] ^= 0xff;
  fs.writeFileSync(path, flipped);
  const r3 = TopkStoreReader.open(cutDir);
  assert.throws(() => r3.get('b'), (e: Error & { code?: string }) => e.code === 'ERR_FORMAT' && /record of "b".*CRC/.test(e.message));
  assert.deepEqual(r3.get('a'), a);
  r3.close();
});

test('shards: a writer rotates past shardBytes, two writers never share a file, the latest record of a key wins', () => {
  const dir = tmp();
  const rand = mulberry32(5);
  const h = { ...header, vocabSize: 1000, k: 8 };
  const w1 = TopkStoreWriter.open(dir, { ...h, shardBytes: 400 });
  const w2 = TopkStoreWriter.open(dir, h);
  assert.equal(w1.shard, null, 'no shard before the first append');
  const data = new Map<string, { ids: number[]; logprobs: number[] }[]>();
  for (let i = 0; i < 12; i++) {
    const s = Array.from({ length: 5 }, () => topkOf(rand, 1000, 8, 1));
    data.set(`k${i}`, s);
    (i % 2 ? w2 : w1).append(`k${i}`, s);
  }
  assert.notEqual(w1.shard, w2.shard);
  const again = Array.from({ length: 2 }, () => topkOf(rand, 1000, 8, 1));
  w2.append('k0', again);
  data.set('k0', again);
  w1.close();
  w2.close();
  assert.ok(fs.readdirSync(dir).length >= 4, fs.readdirSync(dir).join(' '));
  // A writer killed right after claiming a shard leaves an empty file: it holds nothing and is skipped.
  fs.writeFileSync(join(dir, 'topk-00099.bin'), '');
  const r = TopkStoreReader.open(dir);
  assert.equal(r.dropped.get(join(dir, 'topk-00099.bin')), 0);
  assert.equal(r.size, 12);
  for (const [key, s] of data) assert.deepEqual(r.get(key)!.map((t) => [...t.ids].sort((a, b) => a - b)), s.map((t) => [...t.ids].sort((a, b) => a - b)), key);
  r.close();
  const w3 = TopkStoreWriter.open(dir, h);
  w3.append('k100', data.get('k1')!);
  w3.close();
  assert.ok(w3.shard!.endsWith('topk-00100.bin'));
});

test('bad appends are refused and leave nothing written', () => {
  const dir = tmp();
  const w = TopkStoreWriter.open(dir, { ...header, vocabSize: 100, k: 4 });
  w.append('first', [{ ids: [3], logprobs: [-0.5] }]);
  const size = fs.statSync(w.shard!).size;
  assert.throws(() => w.append('x', [{ ids: [1, 100], logprobs: [-1, -2] }]), /id 100, outside the vocabulary of 100/);
  assert.throws(() => w.append('x', [{ ids: [1, 2, 3, 4, 5], logprobs: [-1, -2, -3, -4, -5] }]), /5 alternatives; the store keeps k = 4/);
  assert.throws(() => w.append('x', [{ ids: [1, 1], logprobs: [-1, -2] }]), /distinct/);
  assert.equal(fs.statSync(w.shard!).size, size);
  w.append('empty', [{ ids: [], logprobs: [] }]);
  w.close();
  assert.deepEqual(TopkStoreReader.open(dir).get('empty'), [{ ids: [], logprobs: [], tail: 1 }]);
  assert.throws(() => TopkStoreWriter.open(tmp(), { ...header, k: 0 }), /k must be an integer/);
});

test('a write that fails halfway (ENOSPC) is cut back: the shard holds only whole records, and the writer goes on', () => {
  const dir = tmp();
  const h = { ...header, vocabSize: 1000, k: 8 };
  const rand = mulberry32(9);
  const seq = () => Array.from({ length: 4 }, () => topkOf(rand, 1000, 8, 1));
  const w = TopkStoreWriter.open(dir, h);
  const first = seq();
  w.append('first', first);
  const size = fs.statSync(w.shard!).size;
  const orig = fs.writeSync;
  // Writes part of the record, then the disk is full.
  (fs as { writeSync: unknown }).writeSync = ((fd: number, buf: Uint8Array, off: number, len: number, pos: number) => {
    (orig as (fd: number, b: Uint8Array, o: number, l: number, p: number) => number)(fd, buf, off, Math.min(len, 7), pos);
    throw Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC' });
  }) as unknown as typeof fs.writeSync;
  try {
    assert.throws(() => w.append('lost', seq()), /ENOSPC/);
  } finally {
    (fs as { writeSync: unknown }).writeSync = orig;
  }
  assert.equal(fs.statSync(w.shard!).size, size, 'cut back to the last whole record');
  const later = seq();
  w.append('later', later);
  w.close();
  const r = TopkStoreReader.open(dir);
  assert.deepEqual([...r.keys()], ['first', 'later']);
  assert.deepEqual(r.dropped.size, 0);
  assert.deepEqual(r.get('later')!.map((t) => [...t.ids].sort((a, b) => a - b)), later.map((t) => [...t.ids].sort((a, b) => a - b)));
  r.close();
});

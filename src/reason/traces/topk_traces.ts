// Traces keep their teacher top-k in a top-k store (src/io/topk_store.ts) beside traces.jsonl
// rather than as JSON: ≈ 5 KB of JSON per token at k = 64 become ≈ 180 bytes.
//
// A trace written this way carries, instead of `logprobs`:
//   tokens         the reply's token ids (the teacher's tokenizer, which the store's header hashes)
//   tokenLogprobs  log p of each of those tokens (they need not be in the top-k: sampled at T > 0)
//   topk           the store's folder, relative to the traces file's folder ('topk')
// and the store holds the top-k of every position under the trace id. The store record is
// written and fdatasync'ed before the trace line, so a trace never points at a record a crash
// lost (a record without its line is an orphan the resumed run writes again: the last one wins).
// Traces whose logprobs cannot be given ids (a remote teacher's token that is not one token of
// the tokenizer) keep JSON `logprobs`, and old files with JSON logprobs stay readable as before.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError } from '../../torch/errors.js';
import type { Tokenizer } from '../../lm/tokenizer.js';
import type { TokenDistribution } from '../../lm/batch.js';
import { TopkStoreReader, TopkStoreWriter } from '../../io/topk_store.js';
import type { TokenLogprob, Trace } from '../types.js';

/** The store's folder inside a traces folder. */
export const TOPK_DIR = 'topk';

/** sha256 of the tokenizer's JSON: two tokenizers with the same hash give every id the same meaning. */
export function tokenizerHash(tok: Tokenizer): string {
  return createHash('sha256').update(JSON.stringify(tok.toJSON())).digest('hex');
}

/**
 * The id of a teacher token: its own id when the teacher gave one (our LM), else the one token
 * of `tok` with its bytes (or, for a special token, its spelling); null when there is none.
 */
function idOf(tok: Tokenizer, t: { token: string; id?: number; bytes?: number[] }): number | null {
  if (t.id !== undefined) return t.id;
  if (!t.bytes || t.bytes.length === 0) return tok.tokenId(t.token);
  if (tok.kind === 'byte') return t.bytes.length === 1 ? t.bytes[0] : null;
  const ids = tok.encode(Buffer.from(t.bytes).toString('utf8'));
  return ids.length === 1 ? ids[0] : null;
}

/** Writes the top-k of a generation job's traces into `<out>/topk` (this process's own shard). */
export class TraceTopkWriter {
  readonly #w: TopkStoreWriter;

  constructor(out: string, teacher: string, readonly tokenizer: Tokenizer, k: number) {
    this.#w = TopkStoreWriter.open(join(out, TOPK_DIR), { teacher, tokenizerHash: tokenizerHash(tokenizer), k, vocabSize: tokenizer.vocabSize });
  }

  /**
   * Moves `logprobs` into the store under `trace.id` and sets the trace's `tokens`,
   * `tokenLogprobs` and `topk`; durable when it returns. False (nothing written) when a token
   * has no id in the tokenizer: the caller keeps the JSON logprobs then.
   */
  keep(trace: Trace, logprobs: readonly TokenLogprob[]): boolean {
    const tokens: number[] = [];
    const dists: { ids: number[]; logprobs: number[] }[] = [];
    for (const lp of logprobs) {
      const id = idOf(this.tokenizer, lp);
      const ids = lp.top.map((a) => idOf(this.tokenizer, a));
      if (id === null || ids.some((x) => x === null || x >= this.tokenizer.vocabSize) || new Set(ids).size !== ids.length || ids.length > this.#w.header.k) return false;
      tokens.push(id);
      dists.push({ ids: ids as number[], logprobs: lp.top.map((a) => a.logprob) });
    }
    this.#w.append(trace.id, dists);
    this.#w.flush();
    trace.tokens = tokens;
    trace.tokenLogprobs = logprobs.map((lp) => lp.logprob);
    trace.topk = TOPK_DIR;
    return true;
  }

  close(): void {
    this.#w.close();
  }
}

/**
 * Reads stored top-k for the traces that point at a store: one reader per store folder, opened
 * on first use with the student's tokenizer hash (another tokenizer's store is refused). Call
 * close() when done.
 */
export class TraceTopkReader {
  readonly #readers = new Map<string, TopkStoreReader>();
  readonly #hash: string;

  constructor(readonly tokenizer: Tokenizer) {
    this.#hash = tokenizerHash(tokenizer);
  }

  /** The trace's reply ids and per-token distributions (ids in `tokenizer`), from its store. */
  distributions(t: Trace): { ids: number[]; dists: TokenDistribution[] } {
    if (!t.topk || !t.tokens) throw new ConfigError(`trace ${t.id.slice(0, 12)} has no stored top-k`);
    let r = this.#readers.get(t.topk);
    if (!r) {
      r = TopkStoreReader.open(t.topk, { tokenizerHash: this.#hash });
      this.#readers.set(t.topk, r);
    }
    const got = r.get(t.id);
    if (!got) throw new ConfigError(`trace ${t.id.slice(0, 12)}: its top-k is not in the store ${t.topk} (deleted, or a store of another run?)`);
    if (got.length !== t.tokens.length) throw new ConfigError(`trace ${t.id.slice(0, 12)}: ${t.tokens.length} reply tokens but ${got.length} stored distributions in ${t.topk}`);
    return { ids: t.tokens, dists: got.map((d) => ({ ids: d.ids, logprobs: d.logprobs })) };
  }

  close(): void {
    for (const r of this.#readers.values()) r.close();
    this.#readers.clear();
  }
}

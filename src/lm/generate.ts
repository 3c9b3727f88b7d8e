// Generation from the causal LM of model.ts: greedy, temperature, top-k and top-p sampling with
// the sampler's own seeded generator, end-of-sequence ids and stop conditions, per-token
// log-probabilities, and a batched decoder that advances many prompts through one KV cache.
import * as torch from '../torch/index.js';
import { mulberry32 } from '../torch/prng.js';
import { CausalLM, KVCache, type ForwardOptions } from './model.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy (argmax). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  topK?: number;
  /** Nucleus sampling: the smallest set whose probability reaches topP (1 = all). */
  topP?: number;
  /** Seed of the sampler's own generator (results do not depend on torch's RNG). */
  seed?: number;
  /** Ends generation; a list for models with several (Llama 3 and Qwen's generation_config). */
  eosId?: number | readonly number[] | null;
  /** Called with all generated ids after each token; true stops (stop strings live here). */
  shouldStop?: (ids: readonly number[]) => boolean;
  /** Record the top-n log-probabilities (of the untempered distribution) at each step. */
  topLogprobs?: number;
  /**
   * Ids from here on are never generated and get no probability (their logits count as −∞ in
   * sampling, log-probabilities and the top-n): the tokenizer's size, for a padded embedding
   * (Qwen: 151,936 rows for 151,665 tokens), whose extra rows no text can be decoded from.
   */
  vocabLimit?: number;
  onToken?: (token: GeneratedToken) => void;
  signal?: AbortSignal;
}

export interface GeneratedToken {
  id: number;
  /** log p(id) under the model's distribution at temperature 1. */
  logprob: number;
  top: { id: number; logprob: number }[];
}

export interface Generation {
  ids: number[];
  tokens: GeneratedToken[];
  /** 'stop': end-of-sequence or a stop condition; 'length': maxNewTokens or maxSeqLen reached. */
  finishReason: 'stop' | 'length';
}

function logSoftmax(z: Float32Array, scale = 1): Float64Array {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v * scale);
  let s = 0;
  for (const v of z) s += Math.exp(v * scale - m);
  const lse = m + Math.log(s);
  return Float64Array.from(z, (v) => v * scale - lse);
}

/**
 * Picks the next token from last-position logits. The vocabulary is small enough that
 * doing this in JS on one row is cheaper than a dozen tensor ops.
 */
function pick(z: Float32Array, o: GenerateOptions, rand: () => number): number {
  const T = o.temperature ?? 0;
  if (T <= 0) {
    let best = 0;
    for (let i = 1; i < z.length; i++) if (z[i] > z[best]) best = i;
    return best;
  }
  const lp = logSoftmax(z, 1 / T);
  let order = Array.from(lp.keys()).sort((a, b) => lp[b] - lp[a]);
  if (o.topK && o.topK > 0) order = order.slice(0, o.topK);
  const topP = o.topP ?? 1;
  let mass = 0;
  const kept: number[] = [];
  for (const i of order) {
    kept.push(i);
    mass += Math.exp(lp[i]);
    if (mass >= topP) break;
  }
  let r = rand() * mass;
  for (const i of kept) {
    r -= Math.exp(lp[i]);
    if (r <= 0) return i;
  }
  return kept[kept.length - 1];
}

export interface BatchRow {
  prompt: readonly number[];
  options: GenerateOptions;
}

interface RowState {
  readonly o: GenerateOptions;
  readonly rand: () => number;
  readonly limit: number;
  readonly ids: number[];
  readonly tokens: GeneratedToken[];
  finishReason: Generation['finishReason'] | null;
}

function check(model: CausalLM, prompt: readonly number[]): void {
  if (prompt.length === 0) throw new torch.ConfigError('generate: the prompt is empty');
  if (prompt.length >= model.cfg.maxSeqLen) throw new torch.ConfigError(`generate: the prompt has ${prompt.length} tokens; the model's maxSeqLen is ${model.cfg.maxSeqLen}`);
}

/**
 * Decodes several prompts together, one token for every unfinished row per `step()`:
 * the overhead of a step (hundreds of small ops) is paid once for the whole batch, which
 * is what makes evaluation and serving fast on a CPU. Prompts are left-padded; padding
 * is masked out and positions start at each row's first real token, so every row gets
 * the tokens it would get alone. Each row has its own sampling options and generator.
 * Runs without autograd; call dispose() when done.
 */
export class BatchDecoder {
  readonly rows: readonly RowState[];
  readonly #model: CausalLM;
  readonly #cache: KVCache;
  readonly #pads: number[];
  readonly #padded: boolean;
  /** Next position of each row; the tokens to feed next. */
  #pos: number[];
  #next: number[][];
  #keyValid: boolean[][];

  constructor(model: CausalLM, batch: readonly BatchRow[]) {
    if (batch.length === 0) throw new torch.ConfigError('generate: no prompts');
    for (const r of batch) check(model, r.prompt);
    const P = Math.max(...batch.map((r) => r.prompt.length));
    const room = model.cfg.maxSeqLen - P;
    this.#model = model;
    this.rows = batch.map((r) => {
      const limit = Math.max(0, Math.min(r.options.maxNewTokens, room));
      return { o: r.options, rand: mulberry32(r.options.seed ?? 0), limit, ids: [], tokens: [], finishReason: limit === 0 ? 'length' : null };
    });
    this.#pads = batch.map((r) => P - r.prompt.length);
    this.#padded = this.#pads.some((p) => p > 0);
    this.#cache = new KVCache(model.cfg.nLayers, P + Math.max(...this.rows.map((r) => r.limit)));
    this.#next = batch.map((r, b) => [...Array<number>(this.#pads[b]).fill(0), ...r.prompt]);
    this.#pos = batch.map((r) => r.prompt.length);
    this.#keyValid = this.#pads.map((p) => Array.from({ length: P }, (_, j) => j >= p));
  }

  get done(): boolean {
    return this.rows.every((r) => r.finishReason !== null);
  }

  /** Runs the model on the pending tokens; returns last-position logits, one row each. */
  #forward(): Float32Array[] {
    const model = this.#model;
    const B = this.rows.length;
    const T = this.#next[0].length;
    const V = model.cfg.vocabSize;
    const wasTraining = model.training;
    model.eval();
    try {
      return torch.tidy(() =>
        torch.noGrad(() => {
          const ids = torch.tensor(BigInt64Array.from(this.#next.flat(), BigInt), { shape: [B, T] });
          let o: ForwardOptions = {};
          if (this.#padded) {
            // positions: a row's j-th new token sits at (its position so far − T + j), never below 0 (padding).
            const pos = this.#pos.flatMap((p) => Array.from({ length: T }, (_, j) => BigInt(Math.max(0, p - T + j))));
            const S = this.#keyValid[0].length;
            o = {
              positions: torch.tensor(BigInt64Array.from(pos), { shape: [B, T] }),
              keyMask: torch.tensor(Uint8Array.from(this.#keyValid.flat(), Number), { shape: [B, S] }).toDtype('bool'),
            };
          }
          const logits = model.call(ids, this.#cache, o); // (B, T, V)
          const last = logits.select(1, T - 1).contiguous().dataSync() as Float32Array; // (B·V)
          return Array.from({ length: B }, (_, b) => last.subarray(b * V, (b + 1) * V));
        }),
      );
    } finally {
      model.train(wasTraining);
    }
  }

  /** One token for every unfinished row. Finished rows ride along (their outputs are ignored). */
  step(): void {
    if (this.done) return;
    for (const r of this.rows) r.o.signal?.throwIfAborted();
    const zs = this.#forward();
    this.rows.forEach((r, b) => {
      if (r.finishReason !== null) return;
      // Logits past vocabLimit dropped: the same as −∞ for the softmax and every index below.
      const z = r.o.vocabLimit !== undefined ? zs[b].subarray(0, r.o.vocabLimit) : zs[b];
      const id = pick(z, r.o, r.rand);
      const lp = logSoftmax(z);
      const n = r.o.topLogprobs ?? 0;
      const top = n > 0 ? Array.from(lp.keys()).sort((x, y) => lp[y] - lp[x]).slice(0, n).map((i) => ({ id: i, logprob: lp[i] })) : [];
      if (r.o.eosId != null && (typeof r.o.eosId === 'number' ? id === r.o.eosId : r.o.eosId.includes(id))) {
        r.finishReason = 'stop';
        return;
      }
      const tok = { id, logprob: lp[id], top };
      r.ids.push(id);
      r.tokens.push(tok);
      r.o.onToken?.(tok);
      if (r.o.shouldStop?.(r.ids)) r.finishReason = 'stop';
      else if (r.ids.length >= r.limit) r.finishReason = 'length';
    });
    this.#next = this.rows.map((r) => [r.ids.length ? r.ids[r.ids.length - 1] : 0]);
    this.#pos = this.#pos.map((p) => p + 1);
    for (const k of this.#keyValid) k.push(true);
  }

  /** Stops row b now (a client went away); the others go on. */
  cancel(b: number): void {
    const r = this.rows[b] as RowState;
    if (r.finishReason === null) r.finishReason = 'stop';
  }

  results(): Generation[] {
    return this.rows.map((r) => ({ ids: r.ids, tokens: r.tokens, finishReason: r.finishReason ?? 'length' }));
  }

  dispose(): void {
    this.#cache.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Batched generation to the end: see BatchDecoder. */
export function generateBatch(model: CausalLM, batch: readonly BatchRow[]): Generation[] {
  using d = new BatchDecoder(model, batch);
  while (!d.done) d.step();
  return d.results();
}

/** Greedy or sampled generation of up to maxNewTokens for one prompt. */
export function generate(model: CausalLM, prompt: readonly number[], o: GenerateOptions): Generation {
  return generateBatch(model, [{ prompt, options: o }])[0];
}

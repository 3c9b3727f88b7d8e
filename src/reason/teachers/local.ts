// Our own LM as a teacher: a checkpoint folder (or a random model for tests) behind the
// same interface as an HTTP endpoint, with full access to its token distributions. The
// OpenAI-compatible server serves it; trace generation can also call it directly.
import { setImmediate as tick } from 'node:timers/promises';
import * as torch from '../../torch/index.js';
import { CausalLM, type LmConfig } from '../../lm/model.js';
import { BatchDecoder } from '../../lm/generate.js';
import { ByteTokenizer, type Tokenizer } from '../../lm/tokenizer.js';
import { loadAnyLm } from '../../lm/load.js';
import type { LmDtype } from '../../lm/dtype.js';
import type { ChatRequest, Completion, ReasoningTeacher, TokenLogprob } from '../types.js';
import { scoreWithModel, type TokenScore, type TokenScorer } from './scorer.js';

export interface LocalDelta {
  content?: string;
  reasoning?: string;
  logprob?: TokenLogprob;
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/** Splits "<think>r</think>c" into reasoning and content; text without the block is all content. */
export function splitReasoning(text: string): { reasoning: string; content: string } {
  const t = text.trimStart();
  if (!t.startsWith(THINK_OPEN)) return { reasoning: '', content: text };
  const end = t.indexOf(THINK_CLOSE);
  if (end < 0) return { reasoning: t.slice(THINK_OPEN.length).trim(), content: '' };
  return { reasoning: t.slice(THINK_OPEN.length, end).trim(), content: t.slice(end + THINK_CLOSE.length).trim() };
}

/**
 * The streamable prefix of a partial reply, split as splitReasoning would split it: a
 * trailing partial character (U+FFFD) or a partial "<think>"/"</think>" marker is held back.
 */
function streamParts(text: string): { reasoning: string; content: string } {
  let t = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
  for (let k = Math.min(THINK_CLOSE.length - 1, t.length); k > 0; k--)
    if (THINK_CLOSE.startsWith(t.slice(-k)) || THINK_OPEN.startsWith(t.slice(-k))) {
      t = t.slice(0, -k);
      break;
    }
  if (!t.startsWith(THINK_OPEN)) return { reasoning: '', content: THINK_OPEN.startsWith(t) ? '' : t };
  const end = t.indexOf(THINK_CLOSE);
  if (end < 0) return { reasoning: t.slice(THINK_OPEN.length).replace(/^\n/, ''), content: '' };
  return { reasoning: t.slice(THINK_OPEN.length, end).replace(/^\n/, '').replace(/\n$/, ''), content: t.slice(end + THINK_CLOSE.length).replace(/^\n/, '') };
}

export class LocalTeacher implements ReasoningTeacher, TokenScorer {
  /** Longest completion when a request does not say. */
  static readonly DEFAULT_MAX_TOKENS = 512;
  /** How long a new batch waits for more requests to join it. */
  static readonly GATHER_MS = 15;

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly name: string,
    /** Requests decoded together at most. */
    readonly maxBatch = 32,
  ) {
    // A padded embedding is legal (Qwen's has 151,936 rows for 151,665 tokens); a tokenizer larger than it is not.
    if (model.cfg.vocabSize < tokenizer.vocabSize) throw new torch.ConfigError(`LocalTeacher ${name}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary only ${model.cfg.vocabSize}`);
    model.eval();
  }

  /**
   * The model at `dir`: an LM folder, a Hugging Face folder or a .gguf file (loadAnyLm); its name
   * defaults to the path's last part. `dtype` (default float32) holds the weights in bfloat16
   * ('bfloat16', or 'auto' for a bf16 folder): half the memory, faster matmuls, HF's bf16 numerics.
   */
  static load(dir: string, name?: string, opts: { dtype?: LmDtype } = {}): LocalTeacher {
    const { model, tokenizer, eosIds } = loadAnyLm(dir, opts);
    const t = new LocalTeacher(model, tokenizer, name ?? dir.replace(/\/+$/, '').split('/').pop()!).#own();
    t.#eosIds = eosIds;
    return t;
  }

  /** A randomly initialised byte-level model: a real LM, for tests and wiring checks. */
  static random(o: { seed?: number; name?: string; config?: Partial<LmConfig> } = {}): LocalTeacher {
    torch.manualSeed(o.seed ?? 0);
    const tok = new ByteTokenizer();
    const model = new CausalLM({ vocabSize: tok.vocabSize, dim: 32, nLayers: 2, nHeads: 2, nKvHeads: 2, hiddenDim: 64, maxSeqLen: 512, ...o.config });
    return new LocalTeacher(model, tok, o.name ?? 'local-random').#own();
  }

  /** A model the teacher loaded itself is its to free; one handed to the constructor stays the caller's. */
  /** End-of-sequence ids of a Hugging Face model (generation_config.json), else the tokenizer's. */
  #eosIds: number[] | null = null;
  #ownsModel = false;
  #own(): this {
    this.#ownsModel = true;
    return this;
  }
  #closing?: Promise<void>;

  /**
   * Refuses new requests, lets the queued and running ones finish, then frees the model if the
   * teacher loaded it (load, random). Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#busy) await this.#idle;
      if (this.#ownsModel) this.model.dispose();
    })();
    return this.#closing;
  }

  /** The teachers' common lifecycle (`await using`, TeacherPool): the same as close(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** This teacher as the OpenAI-compatible server's backend (streaming deltas, and tokens for /v1/completions). */
  backend() {
    const tok = this.tokenizer;
    return {
      id: this.name,
      maxConcurrency: this.maxBatch,
      complete: (req: ChatRequest, onDelta?: (d: LocalDelta) => void, signal?: AbortSignal) => this.complete(req, signal, onDelta),
      tokens: {
        vocabSize: tok.vocabSize,
        contextLength: this.model.cfg.maxSeqLen,
        encode: (text: string) => tok.encode(text),
        decode: (ids: readonly number[]) => tok.decode(ids),
        tokenText: (id: number) => tok.tokenText(id),
        tokenBytes: (id: number) => tok.tokenBytes(id),
        score: (prompts: number[][], k: number, signal?: AbortSignal) => this.scoreTokens(prompts, k, signal),
        continue: (prompt: number[], req: Omit<ChatRequest, 'messages'>, signal?: AbortSignal) => this.#enqueue({ ...req, messages: [] }, signal, undefined, prompt),
      },
    };
  }

  /**
   * The teacher's grades of given tokens (TokenScorer): one forward pass per group of prompts,
   * between decoding steps of running requests (each call runs to its end on the one thread).
   */
  async scoreTokens(prompts: number[][], k: number, signal?: AbortSignal): Promise<TokenScore[]> {
    if (this.#closing) throw new torch.ConfigError(`teacher ${this.name} is closed`);
    await tick();
    signal?.throwIfAborted();
    return scoreWithModel(this.model, prompts, k, { vocabLimit: this.tokenizer.vocabSize });
  }

  /**
   * Generates a reply. Requests that arrive while a batch is decoding wait for the next
   * one; those waiting together decode together (up to maxBatch rows), yielding to the
   * event loop between tokens so a server can stream. Deltas split at `<think>…</think>`.
   */
  complete(req: ChatRequest, signal?: AbortSignal, onDelta?: (d: LocalDelta) => void): Promise<Completion> {
    return this.#enqueue(req, signal, onDelta);
  }

  /** A chat request, or with `raw` a continuation of those prompt ids (no template, no reasoning split). */
  #enqueue(req: ChatRequest, signal?: AbortSignal, onDelta?: (d: LocalDelta) => void, raw?: number[]): Promise<Completion> {
    if (this.#closing) return Promise.reject(new torch.ConfigError(`teacher ${this.name} is closed`));
    return new Promise<Completion>((resolve, reject) => {
      this.#pending.push({ req, signal, onDelta, resolve, reject, raw });
      if (!this.#busy) this.#idle = this.#drain();
    });
  }

  readonly #pending: Job[] = [];
  #busy = false;
  /** Settles when the running drain loop has answered every queued request. */
  #idle: Promise<void> = Promise.resolve();

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#pending.length) {
        // Requests of one client arrive a few ms apart: wait briefly so they share a batch
        // instead of the first one decoding alone while the rest queue behind it.
        if (this.#pending.length < this.maxBatch) await new Promise((r) => setTimeout(r, LocalTeacher.GATHER_MS));
        await this.#runBatch(this.#pending.splice(0, this.maxBatch));
      }
    } finally {
      this.#busy = false;
    }
  }

  async #runBatch(jobs: Job[]): Promise<void> {
    const tok = this.tokenizer;
    const live: { job: Job; prompt: number[]; stops: string[]; sent: { reasoning: number; content: number }; logprobs: TokenLogprob[] }[] = [];
    for (const job of jobs) {
      try {
        job.signal?.throwIfAborted();
        const prompt = job.raw ?? tok.chatPrompt(job.req.messages);
        if (prompt.length >= this.model.cfg.maxSeqLen) throw new torch.ConfigError(`the prompt has ${prompt.length} tokens; ${this.name} reads at most ${this.model.cfg.maxSeqLen - 1}`);
        live.push({ job, prompt, stops: (job.req.stop ?? []).filter((x) => x.length > 0), sent: { reasoning: 0, content: 0 }, logprobs: [] });
      } catch (e) {
        job.reject(e);
      }
    }
    if (!live.length) return;
    let decoder: BatchDecoder;
    try {
      decoder = new BatchDecoder(this.model, live.map(({ job, prompt, stops }) => ({
        prompt,
        options: {
          maxNewTokens: job.req.maxTokens ?? LocalTeacher.DEFAULT_MAX_TOKENS,
          temperature: job.req.temperature ?? 1,
          topP: job.req.topP,
          topK: job.req.topK,
          seed: job.req.seed,
          eosId: this.#eosIds ?? tok.eosId,
          topLogprobs: job.req.topLogprobs,
          // A padded embedding's rows past the tokenizer (Qwen's) are never sampled nor reported.
          vocabLimit: tok.vocabSize,
          shouldStop: stops.length ? (ids: readonly number[]) => stops.some((x) => tok.decode(ids.slice(-4 * x.length - 8)).includes(x)) : undefined,
        },
      })));
    } catch (e) {
      for (const l of live) l.job.reject(e);
      return;
    }
    const failed = new Set<number>();
    try {
      while (!decoder.done) {
        live.forEach((l, b) => {
          if (l.job.signal?.aborted && !failed.has(b)) {
            failed.add(b);
            decoder.cancel(b);
            l.job.reject(l.job.signal.reason ?? new Error('aborted'));
          }
        });
        const before = decoder.rows.map((r) => r.ids.length);
        decoder.step();
        live.forEach((l, b) => {
          const row = decoder.rows[b];
          if (failed.has(b) || row.ids.length === before[b]) return;
          const t = row.tokens[row.tokens.length - 1];
          const lp = this.#logprob(t.id, t.logprob, t.top);
          if (l.job.req.topLogprobs !== undefined) l.logprobs.push(lp);
          if (!l.job.onDelta) return;
          const part = streamParts(tok.decode(row.ids));
          const d: LocalDelta = {};
          if (part.reasoning.length > l.sent.reasoning) d.reasoning = part.reasoning.slice(l.sent.reasoning);
          if (part.content.length > l.sent.content) d.content = part.content.slice(l.sent.content);
          if (l.job.req.topLogprobs !== undefined) d.logprob = lp;
          l.sent = { reasoning: Math.max(l.sent.reasoning, part.reasoning.length), content: Math.max(l.sent.content, part.content.length) };
          if (d.reasoning || d.content || d.logprob) l.job.onDelta(d);
        });
        await tick();
      }
    } catch (e) {
      live.forEach((l, b) => failed.has(b) || l.job.reject(e));
      return;
    } finally {
      decoder.dispose();
    }
    live.forEach((l, b) => {
      if (failed.has(b)) return;
      const row = decoder.rows[b];
      let text = tok.decode(row.ids);
      for (const x of l.stops) {
        const at = text.indexOf(x);
        if (at >= 0) text = text.slice(0, at);
      }
      const { reasoning, content } = l.job.raw ? { reasoning: '', content: text } : splitReasoning(text);
      l.job.resolve({
        content,
        reasoning,
        finishReason: row.finishReason ?? 'length',
        usage: { promptTokens: l.prompt.length, completionTokens: row.ids.length },
        logprobs: l.job.req.topLogprobs !== undefined ? l.logprobs : undefined,
        model: this.name,
      });
    });
  }

  #logprob(id: number, logprob: number, top: { id: number; logprob: number }[]): TokenLogprob {
    const tok = this.tokenizer;
    return {
      token: tok.tokenText(id),
      logprob,
      id,
      bytes: tok.tokenBytes(id) ?? [],
      top: top.map((a) => ({ token: tok.tokenText(a.id), logprob: a.logprob, id: a.id, bytes: tok.tokenBytes(a.id) ?? [] })),
    };
  }
}

interface Job {
  req: ChatRequest;
  signal?: AbortSignal;
  onDelta?: (d: LocalDelta) => void;
  resolve: (c: Completion) => void;
  reject: (e: unknown) => void;
  /** Prompt ids to continue as they are (/v1/completions), instead of the chat template. */
  raw?: number[];
}

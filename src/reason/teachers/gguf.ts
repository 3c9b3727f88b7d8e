// A GGUF model as a teacher, through node-llama-cpp 3.21.1 on the CPU (llama.cpp bundled with
// it): any llama.cpp model file, or our own LM exported by src/export/gguf.ts.
//
// The prompt: node-llama-cpp's resolveChatWrapper picks the chat format from the file (the
// `tokenizer.chat_template` Jinja template, rendered by its JinjaTemplateChatWrapper, or a known
// family's wrapper); message text is tokenized as plain text and only the template's own markers
// as special tokens, so a question cannot inject a turn. For our byte-level models the template
// stored by the exporter gives exactly ByteTokenizer.chatPrompt's ids.
//
// Sampling is ours, not llama.cpp's: each step asks llama.cpp for the full next-token
// distribution at temperature 1 (the model's own probabilities: what token-level KD needs and
// what `logprobs` report, as LocalTeacher does), then draws with temperature / top-k / top-p
// from a seeded mulberry32 generator in the same way as the LM's Decoder. The same seed thus
// gives the same sample as LocalTeacher on the same weights, and greedy output is identical.
// The price is one full-vocabulary probability list per token (cheap for our 260 tokens, a few
// ms for a 150k vocabulary). Requests run one at a time: the file has one sequence.
import { basename } from 'node:path';
import type { ChatRequest, Completion, ReasoningTeacher, TokenLogprob } from '../types.js';
import { ConfigError } from '../../torch/errors.js';
import { LlamaCppRunner, loadLlamaCpp, type LlamaCppOptions } from '../../lm/llama_cpp.js';
import { bytesToUnicode } from '../../lm/index.js';
import { mulberry32 } from '../problems/generate.js';
import { splitReasoning } from './local.js';
import { Semaphore } from './rate_limit.js';
import { abortError } from './retry.js';

export interface GgufTeacherOptions extends LlamaCppOptions {
  /** The model id in traces (default: the file name without `.gguf`); part of every trace id. */
  name?: string;
}

type Top = TokenLogprob['top'][number];
/** The part of node-llama-cpp's ChatWrapper used here: chat history → prompt text with special-token spans. */
interface ChatWrapperLike {
  generateContextState(o: { chatHistory: unknown[] }): { contextText: { tokenize(tokenizer: unknown): unknown[] } };
}
/** llama.cpp's token types (llama.h): control tokens have no text of their own. */
const CONTROL = 3;

/** The token vocabulary as stored in the file: how each id becomes bytes and printable text. */
class Vocabulary {
  readonly #tokens: readonly string[];
  readonly #types: readonly number[];
  readonly #kind: string;
  readonly #fromUnicode = new Map(bytesToUnicode().map((c, b) => [c, b]));
  readonly #bytes = new Map<number, number[]>();
  readonly #detok: (id: number) => string;

  constructor(meta: { model?: string; tokens?: readonly string[]; token_type?: readonly number[] }, detok: (id: number) => string) {
    this.#tokens = meta.tokens ?? [];
    this.#types = meta.token_type ?? [];
    this.#kind = meta.model ?? '';
    this.#detok = detok;
  }

  isControl(id: number): boolean {
    return this.#types[id] === CONTROL;
  }

  /** The UTF-8 bytes the token stands for ([] for control tokens, as LocalTeacher reports specials). */
  bytes(id: number): number[] {
    let b = this.#bytes.get(id);
    if (b) return b;
    const s = this.#tokens[id];
    if (this.isControl(id)) b = [];
    else if (s !== undefined && this.#kind === 'gpt2' && [...s].every((c) => this.#fromUnicode.has(c))) b = [...s].map((c) => this.#fromUnicode.get(c)!); // byte-level BPE spelling
    else if (s !== undefined && this.#kind === 'llama' && /^<0x[0-9A-Fa-f]{2}>$/.test(s)) b = [parseInt(s.slice(3, 5), 16)]; // SentencePiece byte fallback
    else if (s !== undefined && this.#kind === 'llama') b = [...Buffer.from(s.replace(/\u2581/g, ' '), 'utf8')];
    else b = [...Buffer.from(this.#detok(id), 'utf8')];
    this.#bytes.set(id, b);
    return b;
  }

  /** Printable token: its text when its bytes are whole UTF-8, else `<0xNN>` per byte; a control token's name. */
  text(id: number): string {
    if (this.isControl(id)) return this.#tokens[id] ?? `<|${id}|>`;
    const b = this.bytes(id);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(b));
    } catch {
      return b.map((x) => `<0x${x.toString(16).toUpperCase().padStart(2, '0')}>`).join('');
    }
  }

  /** Text of a token sequence: the concatenated bytes decoded once (control tokens add nothing). */
  decode(ids: readonly number[]): string {
    return Buffer.from(ids.flatMap((id) => this.bytes(id))).toString('utf8');
  }
}

/**
 * The next token from llama.cpp's distribution (ids most probable first), drawn as the LM's
 * Decoder draws from logits: greedy = lowest id among the most probable; otherwise softmax of
 * log p / T, the top-k, then the smallest prefix whose mass reaches top-p, sampled by one uniform.
 */
export function sampleNext(ids: readonly number[], logp: Float64Array, req: Pick<ChatRequest, 'temperature' | 'topK' | 'topP'>, rand: () => number): number {
  const T = req.temperature ?? 1;
  if (T <= 0) {
    let best = 0;
    for (let i = 1; i < ids.length && logp[i] === logp[0]; i++) if (ids[i] < ids[best]) best = i;
    return ids[best];
  }
  // log-softmax(log p / T): p is already normalised, so only the temperature changes it.
  const scaled = Float64Array.from(logp, (v) => v / T);
  let m = -Infinity;
  for (const v of scaled) m = Math.max(m, v);
  let s = 0;
  for (const v of scaled) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  const n = req.topK && req.topK > 0 ? Math.min(req.topK, ids.length) : ids.length;
  const topP = req.topP ?? 1;
  let mass = 0, kept = 0;
  while (kept < n) {
    mass += Math.exp(scaled[kept] - lse);
    kept++;
    if (mass >= topP) break;
  }
  let r = rand() * mass;
  for (let i = 0; i < kept; i++) {
    r -= Math.exp(scaled[i] - lse);
    if (r <= 0) return ids[i];
  }
  return ids[kept - 1];
}

export class GgufTeacher implements ReasoningTeacher {
  /** Longest completion when a request does not say (LocalTeacher's default). */
  static readonly DEFAULT_MAX_TOKENS = 512;
  readonly name: string;
  readonly path: string;
  readonly #runner: LlamaCppRunner;
  readonly #vocab: Vocabulary;
  readonly #wrapper: ChatWrapperLike;
  readonly #one = new Semaphore(1);
  /** Positions the model was trained for: generation stops there, as LocalTeacher stops at maxSeqLen. */
  readonly #maxPositions: number;

  private constructor(path: string, runner: LlamaCppRunner, wrapper: ChatWrapperLike, name: string) {
    this.path = path;
    this.name = name;
    this.#runner = runner;
    this.#wrapper = wrapper;
    const m = runner.model;
    const meta = (m.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { model?: string; tokens?: string[]; token_type?: number[] } } }).tokenizer?.ggml ?? {};
    this.#vocab = new Vocabulary(meta, (id) => m.detokenize([id as never], false));
    this.#maxPositions = Math.min(runner.contextSize, m.trainContextSize || runner.contextSize);
  }

  /**
   * Loads the file once (CPU). Missing → ConfigError; not a loadable GGUF → FormatError, each
   * naming the path. The context defaults to the model's trained length (at most 8192 tokens).
   */
  static async load(path: string, o: GgufTeacherOptions = {}): Promise<GgufTeacher> {
    const { nlc } = await loadLlamaCpp();
    const runner = await LlamaCppRunner.open(path, o);
    try {
      const m = runner.model;
      const wrapper = nlc.resolveChatWrapper({ bosString: m.tokens.bosString, filename: m.filename, fileInfo: m.fileInfo, tokenizer: m.tokenizer }) as unknown as ChatWrapperLike;
      if (!wrapper) throw new ConfigError(`${path}: node-llama-cpp found no chat format for this model`);
      return new GgufTeacher(path, runner, wrapper, o.name ?? basename(path).replace(/\.gguf$/i, ''));
    } catch (e) {
      await runner.dispose();
      throw e;
    }
  }

  /** Prompt ids for a chat, ending where the assistant's reply begins (the model's chat template). */
  promptIds(messages: ChatRequest['messages']): number[] {
    const history: unknown[] = messages.map((m) => (m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content }));
    history.push({ type: 'model', response: [] }); // the open assistant turn: the generation prompt
    return this.#wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(this.#runner.model.tokenizer).map(Number);
  }

  async complete(req: ChatRequest, signal?: AbortSignal): Promise<Completion> {
    const release = await this.#one.acquire(signal);
    try {
      if (this.#closing) throw new ConfigError(`GGUF teacher ${this.name} is closed`);
      return await this.#complete(req, signal);
    } finally {
      release();
    }
  }

  async #complete(req: ChatRequest, signal?: AbortSignal): Promise<Completion> {
    const prompt = this.promptIds(req.messages);
    const room = this.#maxPositions - prompt.length;
    if (room <= 0) throw new ConfigError(`GGUF teacher ${this.name}: the prompt has ${prompt.length} tokens; the context holds ${this.#maxPositions}`);
    const limit = Math.min(req.maxTokens ?? GgufTeacher.DEFAULT_MAX_TOKENS, room);
    const stops = (req.stop ?? []).filter((s) => s.length > 0);
    const nTop = req.topLogprobs ? Math.max(1, req.topLogprobs) : 0;
    const rand = mulberry32(req.seed ?? 0);
    const model = this.#runner.model;
    const v = this.#vocab;
    const ids: number[] = [];
    const logprobs: TokenLogprob[] = [];
    let finishReason: 'stop' | 'length' = 'length';
    await this.#runner.reset();
    let input: readonly number[] = prompt;
    while (ids.length < limit) {
      if (signal?.aborted) throw abortError(signal);
      const dist = await this.#runner.append(input);
      const order = [...dist.keys()];
      const logp = Float64Array.from(dist.values(), (p) => Math.log(p));
      const id = sampleNext(order, logp, req, rand);
      if (model.isEogToken(id as never)) {
        finishReason = 'stop';
        break;
      }
      ids.push(id);
      if (nTop) {
        const top: Top[] = order.slice(0, nTop).map((t, i) => ({ token: v.text(t), logprob: logp[i], id: t, bytes: v.bytes(t) }));
        logprobs.push({ token: v.text(id), logprob: Math.log(dist.get(id) ?? 0), id, bytes: v.bytes(id), top });
      }
      if (stops.length && stops.some((s) => v.decode(ids.slice(-4 * s.length - 8)).includes(s))) {
        finishReason = 'stop';
        break;
      }
      input = [id];
    }
    let text = v.decode(ids);
    for (const s of stops) {
      const at = text.indexOf(s);
      if (at >= 0) text = text.slice(0, at);
    }
    // A template that opens the thinking block itself (DeepSeek-R1's ends in "<think>\n") leaves
    // the reply without its "<think>": put it back so the reasoning splits off as usual.
    if (/<think>\s*$/.test(this.#runner.detokenize(prompt.slice(-8), true)) && !text.trimStart().startsWith('<think>')) text = `<think>${text}`;
    const { reasoning, content } = splitReasoning(text);
    return {
      content,
      reasoning,
      finishReason,
      usage: { promptTokens: prompt.length, completionTokens: ids.length },
      logprobs: nTop ? logprobs : undefined,
      model: this.name,
    };
  }

  /** True once llama.cpp has freed the model. */
  get disposed(): boolean {
    return this.#runner.disposed;
  }

  /**
   * Frees the model and its context once the request in progress (if any) has finished; the
   * teacher refuses requests afterwards. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const release = await this.#one.acquire();
      try {
        await this.#runner.dispose();
      } finally {
        release();
      }
    })();
    return this.#closing;
  }
  #closing?: Promise<void>;

  /** `await using teacher = await GgufTeacher.load(path)`: the same as close(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

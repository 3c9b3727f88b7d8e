// What the OpenAI-compatible server serves: anything that completes a chat. The server knows
// nothing of tensors; a backend built on our own LM (src/reason/teachers/local.ts) or any
// ReasoningTeacher is handed to it, so this layer never imports libtorch itself.
import type { ChatRequest, Completion, ReasoningTeacher, TokenLogprob } from '../reason/types.js';
import type { TokenScore } from '../reason/teachers/scorer.js';

/** One piece of a completion as it is generated: streamed to the client as an SSE chunk. */
export interface ChatDelta {
  content?: string;
  reasoning?: string;
  /** The log-probability of the token this delta carries, when the request asked for them. */
  logprob?: TokenLogprob;
}

export interface ChatBackend {
  /** The model id clients name in `model`. */
  readonly id: string;
  /** Requests the backend decodes together (default 1: one at a time). */
  readonly maxConcurrency?: number;
  /**
   * Tokens the model reads at most (prompt and reply together). With countPromptTokens, the
   * server refuses a prompt that fills it (400 context_length_exceeded) before queueing it.
   */
  readonly contextLength?: number;
  /** The prompt's length in the model's tokens, chat template included. */
  countPromptTokens?(req: ChatRequest): number;
  /** Completes `req`; calls `onDelta` per token when it can stream (a backend that cannot just returns). */
  complete(req: ChatRequest, onDelta?: (d: ChatDelta) => void, signal?: AbortSignal): Promise<Completion>;
  /** Token-level access for the legacy `/v1/completions` route; a backend without it answers that route 400. */
  readonly tokens?: TokenBackend;
}

/** What `/v1/completions` needs of a model that the server can see token by token (our own LM). */
export interface TokenBackend {
  readonly vocabSize: number;
  /** Tokens a prompt plus its completion may hold. */
  readonly contextLength: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** Printable form of one token (OpenAI's `tokens` and `top_logprobs` keys). */
  tokenText(id: number): string;
  /** The UTF-8 bytes a token stands for, null for a special token (for `text_offset`). */
  tokenBytes(id: number): number[] | null;
  /** The grades of given tokens: see TokenScore (src/reason/teachers/scorer.ts). */
  score(prompts: number[][], k: number, signal?: AbortSignal): Promise<TokenScore[]>;
  /**
   * Continues raw prompt ids (no chat template). The Completion's `content` is the whole
   * continuation text, and its `logprobs` carry ids (TokenLogprob.id) when `req.topLogprobs` is set.
   */
  continue(prompt: number[], req: Omit<ChatRequest, 'messages'>, signal?: AbortSignal): Promise<Completion>;
}

/** Serves any ReasoningTeacher (a remote endpoint, a GGUF file) without streaming. */
export function teacherBackend(teacher: ReasoningTeacher, id: string = teacher.name): ChatBackend {
  return { id, complete: (req, _onDelta, signal) => teacher.complete(req, signal) };
}

/** `backend` with the context check that its model implies (see ChatBackend.contextLength). */
export function withContextLength(backend: ChatBackend, contextLength: number, countPromptTokens: (req: ChatRequest) => number): ChatBackend {
  return {
    id: backend.id,
    maxConcurrency: backend.maxConcurrency,
    contextLength,
    countPromptTokens,
    complete: (req, onDelta, signal) => backend.complete(req, onDelta, signal),
    tokens: backend.tokens,
  };
}

/**
 * Runs at most `limit` jobs at once, the rest in arrival order. A model in this process
 * computes one libtorch call after another, so a backend that cannot batch gets limit 1
 * (parallel requests would only interleave and all get slow); a batching backend
 * (LocalTeacher) declares how many requests it decodes together.
 * A job whose signal fires while it waits is dropped without running.
 */
export class SerialQueue {
  readonly #waiters: (() => void)[] = [];
  #running = 0;

  constructor(readonly limit = 1) {}

  get waiting(): number {
    return this.#waiters.length;
  }

  get running(): number {
    return this.#running;
  }

  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((r) => this.#waiters.push(r));
    else this.#running++;
    try {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      return await job();
    } finally {
      // Hand the slot straight to the next waiter (running stays the same), or free it.
      const next = this.#waiters.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

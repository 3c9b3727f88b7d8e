// What the OpenAI-compatible server serves: anything that completes a chat. The server knows
// nothing of tensors; a backend built on our own LM (src/reason/teachers/local.ts) or any
// ReasoningTeacher is handed to it, so this layer never imports libtorch itself.
import type { ChatRequest, Completion, ReasoningTeacher, TokenLogprob } from '../reason/types.js';

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
  /** Completes `req`; calls `onDelta` per token when it can stream (a backend that cannot just returns). */
  complete(req: ChatRequest, onDelta?: (d: ChatDelta) => void, signal?: AbortSignal): Promise<Completion>;
}

/** Serves any ReasoningTeacher (a remote endpoint, a GGUF file) without streaming. */
export function teacherBackend(teacher: ReasoningTeacher, id: string = teacher.name): ChatBackend {
  return { id, complete: (req, _onDelta, signal) => teacher.complete(req, signal) };
}

/**
 * Runs jobs one at a time in arrival order. A model in this process is single-threaded
 * (one libtorch call after another), so parallel requests would only interleave and all get slow.
 * A job whose signal fires while it waits is dropped without running.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;
  #running = 0;

  get waiting(): number {
    return this.#waiting;
  }

  get running(): number {
    return this.#running;
  }

  run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.#waiting++;
    const mine = this.#tail.then(async () => {
      this.#waiting--;
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      this.#running++;
      try {
        return await job();
      } finally {
        this.#running--;
      }
    });
    this.#tail = mine.catch(() => undefined);
    return mine;
  }
}

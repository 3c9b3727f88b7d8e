// A small deterministic chat backend for the server, client and generator tests: it solves
// "What is A + B?" problems with a short chain of thought, streams token by token with
// log-probabilities, and counts what it is asked. Special cases make every verdict reachable:
//   A % 5 === 0 → a wrong answer;  A % 7 === 0 → a long answer that hits max_tokens ('length').
import type { ChatBackend, ChatDelta } from '../../src/serve/chat_backend.js';
import type { ChatRequest, Completion, Problem, TokenLogprob } from '../../src/reason/types.js';
import { before, after } from 'node:test';
import { startOpenAIServer, type OpenAIServerHandle } from '../../src/serve/openai_server.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';

export interface AdderOptions {
  id?: string;
  /** Pause per generated token (ms), so requests overlap and kills land mid-request. */
  tokenDelayMs?: number;
  /** Report completionTokens = maxTokens (a teacher that always spends its budget): for the token bucket test. */
  fullUsage?: boolean;
  /** Called with every request as the backend starts it. */
  onRequest?: (req: ChatRequest) => void;
}

const tokenize = (s: string) => s.match(/\s*\S+/g) ?? [];

export class AdderBackend implements ChatBackend {
  readonly id: string;
  readonly name: string;
  calls = 0;
  active = 0;
  peakActive = 0;
  aborted = 0;
  readonly #o: AdderOptions;

  constructor(o: AdderOptions = {}) {
    this.#o = o;
    this.id = o.id ?? 'adder';
    this.name = this.id;
  }

  async complete(req: ChatRequest, onDelta?: (d: ChatDelta) => void, signal?: AbortSignal): Promise<Completion> {
    this.calls++;
    this.peakActive = Math.max(this.peakActive, ++this.active);
    try {
      this.#o.onRequest?.(req);
      const q = req.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
      const [a, b] = (q.match(/-?\d+/g) ?? ['0', '0']).map(Number);
      const sum = a % 5 === 0 ? a + b + 1 : a + b;
      const think = a % 7 === 0 ? `${'Let me count slowly. '.repeat(40)}` : `We add ${a} and ${b}. ${a} plus ${b} is ${sum}.`;
      const pieces: { kind: 'reasoning' | 'content'; text: string }[] = [
        ...tokenize(think).map((text) => ({ kind: 'reasoning' as const, text })),
        ...tokenize(`The answer is \\boxed{${sum}}.`).map((text) => ({ kind: 'content' as const, text })),
      ];
      const budget = req.maxTokens ?? Infinity;
      const used = pieces.slice(0, budget);
      const logprobs: TokenLogprob[] = [];
      let reasoning = '';
      let content = '';
      for (const [i, p] of used.entries()) {
        if (signal?.aborted) {
          this.aborted++;
          throw new Error('aborted');
        }
        if (this.#o.tokenDelayMs) await new Promise((r) => setTimeout(r, this.#o.tokenDelayMs));
        const lp = -0.01 - (i % 4) * 0.25;
        const t: TokenLogprob = { token: p.text, logprob: lp, top: [] };
        for (let k = 0; k < (req.topLogprobs ?? 0); k++) t.top.push(k === 0 ? { token: p.text, logprob: lp } : { token: ` alt${k}`, logprob: lp - k });
        if (req.topLogprobs !== undefined) logprobs.push(t);
        if (p.kind === 'reasoning') reasoning += p.text;
        else content += p.text;
        onDelta?.({ [p.kind]: p.text, logprob: req.topLogprobs !== undefined ? t : undefined });
      }
      const promptTokens = req.messages.reduce((n, m) => n + tokenize(m.content).length, 0);
      const c: Completion = {
        content: content.trim(), reasoning: reasoning.trim(), finishReason: used.length < pieces.length ? 'length' : 'stop',
        usage: { promptTokens, completionTokens: this.#o.fullUsage ? req.maxTokens ?? used.length : used.length }, model: this.id,
      };
      if (req.topLogprobs !== undefined) c.logprobs = logprobs;
      return c;
    } finally {
      this.active--;
    }
  }
}

/** `n` addition problems; problem i asks for (i + 1) + 10·i. */
export function adderProblems(n: number, lang: 'en' | 'zh' = 'en'): Problem[] {
  return Array.from({ length: n }, (_, i) => {
    const a = i + 1;
    const b = 10 * i;
    return { id: `add-${a}-${b}`, family: 'add', lang, question: `What is ${a} + ${b}?`, answer: String(a + b), values: [a + b] };
  });
}

/**
 * A random local LM (LocalTeacher.random with `o`) and the adder, served by our OpenAI-compatible
 * server on a real socket for the calling file's tests: started before them, closed after.
 * `served.srv` exists once the tests run.
 */
export function serveLocalAndAdder(o: Parameters<typeof LocalTeacher.random>[0]): { local: LocalTeacher; srv: OpenAIServerHandle } {
  const served = { local: LocalTeacher.random(o), srv: null as unknown as OpenAIServerHandle };
  before(async () => {
    served.srv = await startOpenAIServer({ backends: [served.local.backend(), new AdderBackend({ id: 'adder' })] });
  });
  after(async () => {
    await served.srv.close();
    await served.local.close();
  });
  return served;
}

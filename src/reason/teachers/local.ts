// Our own LM as a teacher: a checkpoint folder (or a random model for tests) behind the
// same interface as an HTTP endpoint, with full access to its token distributions. The
// OpenAI-compatible server serves it; trace generation can also call it directly.
import { setImmediate as tick } from 'node:timers/promises';
import * as torch from '../../torch/index.js';
import { CausalLM, Decoder, type LmConfig } from '../../lm/model.js';
import { ByteTokenizer, type Tokenizer } from '../../lm/tokenizer.js';
import { loadLm } from '../../lm/checkpoint.js';
import type { ChatRequest, Completion, ReasoningTeacher, TokenLogprob } from '../types.js';

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

export class LocalTeacher implements ReasoningTeacher {
  /** Longest completion when a request does not say. */
  static readonly DEFAULT_MAX_TOKENS = 512;

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly name: string,
  ) {
    if (model.cfg.vocabSize !== tokenizer.vocabSize) throw new torch.ConfigError(`LocalTeacher ${name}: model vocabulary ${model.cfg.vocabSize} ≠ tokenizer vocabulary ${tokenizer.vocabSize}`);
    model.eval();
  }

  /** The LM saved in `dir` (saveLm); its name defaults to the folder's last part. */
  static load(dir: string, name?: string): LocalTeacher {
    const { model, tokenizer } = loadLm(dir);
    return new LocalTeacher(model, tokenizer, name ?? dir.replace(/\/+$/, '').split('/').pop()!);
  }

  /** A randomly initialised byte-level model: a real LM, for tests and wiring checks. */
  static random(o: { seed?: number; name?: string; config?: Partial<LmConfig> } = {}): LocalTeacher {
    torch.manualSeed(o.seed ?? 0);
    const tok = new ByteTokenizer();
    const model = new CausalLM({ vocabSize: tok.vocabSize, dim: 32, nLayers: 2, nHeads: 2, nKvHeads: 2, hiddenDim: 64, maxSeqLen: 512, ...o.config });
    return new LocalTeacher(model, tok, o.name ?? 'local-random');
  }

  /** This teacher as the OpenAI-compatible server's backend (streaming deltas). */
  backend(): { id: string; complete: (req: ChatRequest, onDelta?: (d: LocalDelta) => void, signal?: AbortSignal) => Promise<Completion> } {
    return { id: this.name, complete: (req, onDelta, signal) => this.complete(req, signal, onDelta) };
  }

  /**
   * Generates a reply, yielding to the event loop between tokens so a server can stream.
   * Deltas split at `<think>…</think>`: reasoning first, then content.
   */
  async complete(req: ChatRequest, signal?: AbortSignal, onDelta?: (d: LocalDelta) => void): Promise<Completion> {
    const tok = this.tokenizer;
    const prompt = tok.chatPrompt(req.messages);
    const stops = (req.stop ?? []).filter((s) => s.length > 0);
    const decoder = new Decoder(this.model, prompt, {
      maxNewTokens: req.maxTokens ?? LocalTeacher.DEFAULT_MAX_TOKENS,
      temperature: req.temperature ?? 1,
      topP: req.topP,
      topK: req.topK,
      seed: req.seed,
      eosId: tok.eosId,
      topLogprobs: req.topLogprobs ? Math.max(1, req.topLogprobs) : undefined,
      shouldStop: stops.length ? (ids) => stops.some((s) => tok.decode(ids.slice(-4 * s.length - 8)).includes(s)) : undefined,
      signal,
    });
    const logprobs: TokenLogprob[] = [];
    let sent = { reasoning: 0, content: 0 }; // characters already streamed
    try {
      while (!decoder.done) {
        const t = decoder.next();
        if (!t) break;
        const lp: TokenLogprob = {
          token: tok.tokenText(t.id),
          logprob: t.logprob,
          id: t.id,
          bytes: tok.tokenBytes(t.id) ?? [],
          top: t.top.map((a) => ({ token: tok.tokenText(a.id), logprob: a.logprob, id: a.id, bytes: tok.tokenBytes(a.id) ?? [] })),
        };
        if (req.topLogprobs) logprobs.push(lp);
        if (onDelta) {
          const part = streamParts(tok.decode(decoder.ids));
          const d: LocalDelta = {};
          if (part.reasoning.length > sent.reasoning) d.reasoning = part.reasoning.slice(sent.reasoning);
          if (part.content.length > sent.content) d.content = part.content.slice(sent.content);
          if (req.topLogprobs) d.logprob = lp;
          sent = { reasoning: part.reasoning.length, content: part.content.length };
          if (d.reasoning || d.content || d.logprob) onDelta(d);
          await tick();
        }
      }
    } finally {
      decoder.dispose();
    }
    let text = tok.decode(decoder.ids);
    for (const s of stops) {
      const at = text.indexOf(s);
      if (at >= 0) text = text.slice(0, at);
    }
    const { reasoning, content } = splitReasoning(text);
    return {
      content,
      reasoning,
      finishReason: decoder.finishReason ?? 'length',
      usage: { promptTokens: prompt.length, completionTokens: decoder.ids.length },
      logprobs: req.topLogprobs ? logprobs : undefined,
      model: this.name,
    };
  }
}

// Kept traces → the JSONL formats that SFT trainers read:
//   'messages'  TRL / OpenAI chat:  {messages:[{role:'user',content},{role:'assistant',content}]}
//   'sharegpt'  LLaMA-Factory:      {conversations:[{from:'human',value},{from:'gpt',value}]}
//   'alpaca'    LLaMA-Factory/Alpaca: {instruction, input:'', output}
// Reasoning goes either inline, as `<think>\n…\n</think>\n` before the answer (what chat templates
// of reasoning models such as DeepSeek-R1 and Qwen3 train on), or in its own field:
// `reasoning_content` on the assistant message (the OpenAI-compatible name vLLM, DeepSeek and the
// Qwen3 template use) or a top-level `reasoning` for ShareGPT and Alpaca (which have no such slot).
// The inline block is written even for empty reasoning, so the student always learns to open it.
import { writeFileAtomic } from '../../io/atomic.js';
import { ConfigError } from '../../torch/errors.js';
import type { Trace } from '../types.js';

export type TraceFormat = 'messages' | 'sharegpt' | 'alpaca';
export type ReasoningPlacement = 'inline' | 'field';

export interface FormatOptions {
  format: TraceFormat;
  /** Default 'inline'. */
  reasoning?: ReasoningPlacement;
  /** An optional system prompt: a system message, or a `system` key (ShareGPT, Alpaca). */
  system?: string;
}

/** What a formatter needs of a trace. */
export type TraceText = Pick<Trace, 'question' | 'reasoning' | 'content'>;

/** `<think>\n{reasoning}\n</think>\n{content}`. */
export function inlineThink(reasoning: string, content: string): string {
  return `<think>\n${reasoning}\n</think>\n${content}`;
}

/**
 * Splits `<think>…</think>rest` back into reasoning and content (the inverse of inlineThink, also
 * for built-in reference solutions). Text without a think block is all content.
 */
export function splitThink(text: string): { reasoning: string; content: string } {
  const m = /^\s*<think>\n?([^]*?)\n?<\/think>\n?/.exec(text);
  if (!m) return { reasoning: '', content: text };
  return { reasoning: m[1]!, content: text.slice(m[0].length) };
}

export function formatTrace(trace: TraceText, opts: FormatOptions): Record<string, unknown> {
  const inline = (opts.reasoning ?? 'inline') === 'inline';
  const reply = inline ? inlineThink(trace.reasoning, trace.content) : trace.content;
  const sys = opts.system;
  switch (opts.format) {
    case 'messages': {
      const assistant: Record<string, string> = { role: 'assistant', content: reply };
      if (!inline) assistant.reasoning_content = trace.reasoning;
      const messages = [...(sys ? [{ role: 'system', content: sys }] : []), { role: 'user', content: trace.question }, assistant];
      return { messages };
    }
    case 'sharegpt':
      return {
        conversations: [{ from: 'human', value: trace.question }, { from: 'gpt', value: reply }],
        ...(sys ? { system: sys } : {}),
        ...(inline ? {} : { reasoning: trace.reasoning }),
      };
    case 'alpaca':
      return {
        instruction: trace.question,
        input: '',
        output: reply,
        ...(sys ? { system: sys } : {}),
        ...(inline ? {} : { reasoning: trace.reasoning }),
      };
    default:
      throw new ConfigError(`unknown trace format '${String(opts.format)}' (messages, sharegpt, alpaca)`);
  }
}

/** One JSON object per line, each line ending in "\n". */
export function formatTraces(traces: readonly TraceText[], opts: FormatOptions): string {
  return traces.map((t) => `${JSON.stringify(formatTrace(t, opts))}\n`).join('');
}

/**
 * Writes the accepted traces (verdict.ok; a record without a verdict, such as a reference solution,
 * counts as accepted; `includeRejected` keeps all) to `path` as JSONL, atomically, so a trainer never reads half a file. Returns how many records were written.
 */
export function writeTraces(
  path: string,
  traces: readonly (TraceText & { verdict?: { ok: boolean } })[],
  opts: FormatOptions & { includeRejected?: boolean },
): number {
  const kept = opts.includeRejected ? traces : traces.filter((t) => t.verdict?.ok !== false);
  writeFileAtomic(path, formatTraces(kept, opts));
  return kept.length;
}

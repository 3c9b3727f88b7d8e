// Turns an OpenAI-compatible chat-completions response body into a `Completion`, tolerating
// the ways real servers differ:
//  - DeepSeek keeps a slow non-streaming connection alive by sending blank lines before the
//    JSON, so the body is trimmed before parsing;
//  - the chain of thought arrives as `message.reasoning_content` (DeepSeek, llama.cpp),
//    `message.reasoning` (vLLM ≥ 0.9, Ollama), or inline as `<think>…</think>` at the start of
//    `content` (a server without a reasoning parser);
//  - logprobs are absent or null when the server ignores the request for them.
import type { ChatRequest, Completion, TokenLogprob } from '../types.js';
import { TeacherError } from './retry.js';

const EXCERPT = 200;

/** The first characters of a body, on one line, for error messages. */
export function excerpt(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > EXCERPT ? `${one.slice(0, EXCERPT)}…` : one || '(empty body)';
}

/** The server's own words from an error body: OpenAI `{error:{message}}`, vLLM `{message}`, FastAPI `{detail}`, or text. */
export function serverMessage(text: string): string {
  try {
    const b = JSON.parse(text.trim()) as Record<string, unknown>;
    const e = b.error;
    if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
    if (typeof e === 'string') return e;
    if (typeof b.message === 'string') return b.message;
    if (typeof b.detail === 'string') return b.detail;
    if (b.detail !== undefined) return JSON.stringify(b.detail).slice(0, EXCERPT);
  } catch {
    /* not JSON: fall through to the raw text */
  }
  return excerpt(text);
}

/**
 * Splits inline thinking off the content. `<think>` at the start: reasoning is what lies
 * inside; an unclosed tag (a truncated completion) makes everything reasoning. A bare
 * `</think>` without an opening tag happens when the chat template itself emits `<think>\n`
 * (DeepSeek-R1, Qwen3): what precedes it is reasoning.
 */
export function splitThink(content: string): { reasoning: string; content: string } {
  const lead = content.match(/^\s*<think>/);
  if (lead) {
    const rest = content.slice(lead[0].length);
    const end = rest.indexOf('</think>');
    if (end === -1) return { reasoning: rest.trim(), content: '' };
    return { reasoning: rest.slice(0, end).trim(), content: rest.slice(end + 8).trim() };
  }
  const end = content.indexOf('</think>');
  if (end !== -1 && !content.slice(0, end).includes('<think>'))
    return { reasoning: content.slice(0, end).trim(), content: content.slice(end + 8).trim() };
  return { reasoning: '', content };
}

interface WireTop {
  token?: unknown;
  logprob?: unknown;
  bytes?: unknown;
}

const num = (v: unknown) => (typeof v === 'number' ? v : Number(v ?? NaN));
const byteList = (v: unknown) => (Array.isArray(v) && v.every((b) => Number.isInteger(b)) ? (v as number[]) : undefined);

/** One wire token → {token, logprob, bytes?}. `bytes` matters for byte-level tokens that are not whole UTF-8 characters. */
function wireTop(t: WireTop): { token: string; logprob: number; bytes?: number[] } {
  const out: { token: string; logprob: number; bytes?: number[] } = { token: String(t.token ?? ''), logprob: num(t.logprob) };
  const b = byteList(t.bytes);
  if (b) out.bytes = b;
  return out;
}

/** `choices[0].logprobs.content[]` → TokenLogprob[]; undefined when the server sent none. */
export function mapLogprobs(lp: unknown): TokenLogprob[] | undefined {
  const content = (lp as { content?: unknown } | null | undefined)?.content;
  if (!Array.isArray(content)) return undefined;
  return content.map((t: WireTop & { top_logprobs?: unknown }) => ({
    ...wireTop(t),
    top: Array.isArray(t.top_logprobs) ? t.top_logprobs.map(wireTop) : [],
  }));
}

const badResponse = (why: string, text: string) =>
  new TeacherError(`bad response: ${why}: ${excerpt(text)}`, { kind: 'bad-response', retryable: true });

/** Parses a 200 body; a body that is not a chat completion is a retryable 'bad-response'. */
export function parseChatBody(text: string, fallbackModel: string): Completion {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text.trim()) as Record<string, unknown>; // trim: DeepSeek's keep-alive blank lines
  } catch {
    throw badResponse('not JSON', text);
  }
  if (!body || typeof body !== 'object') throw badResponse('not a JSON object', text);
  const choices = body.choices;
  if (!Array.isArray(choices) || choices.length === 0 || typeof choices[0] !== 'object' || !choices[0]) {
    const why = body.error !== undefined ? `error in a 200 body (${serverMessage(text)})` : 'no choices';
    throw badResponse(why, text);
  }
  const choice = choices[0] as { message?: Record<string, unknown>; finish_reason?: unknown; logprobs?: unknown };
  const msg = choice.message ?? {};
  const rawContent = typeof msg.content === 'string' ? msg.content : '';
  // A server with a reasoning field may still leave it empty and inline the thinking (no parser configured).
  const field = [msg.reasoning_content, msg.reasoning].find((v): v is string => typeof v === 'string' && v.length > 0);
  const { reasoning, content } = field !== undefined ? { reasoning: field, content: rawContent } : splitThink(rawContent);
  const usage = (body.usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown };
  const int = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const out: Completion = {
    content,
    reasoning,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : 'unknown',
    usage: { promptTokens: int(usage.prompt_tokens), completionTokens: int(usage.completion_tokens) },
    model: typeof body.model === 'string' ? body.model : fallbackModel,
  };
  const logprobs = mapLogprobs(choice.logprobs);
  if (logprobs) out.logprobs = logprobs;
  return out;
}

/** The wire body for a ChatRequest. `top_k` is not OpenAI's, so it is sent only when set (vLLM, llama.cpp accept it). */
export function requestBody(model: string, req: ChatRequest): Record<string, unknown> {
  const b: Record<string, unknown> = { model, messages: req.messages.map((m) => ({ role: m.role, content: m.content })) };
  if (req.temperature !== undefined) b.temperature = req.temperature;
  if (req.topP !== undefined) b.top_p = req.topP;
  if (req.topK !== undefined) b.top_k = req.topK;
  if (req.maxTokens !== undefined) b.max_tokens = req.maxTokens;
  if (req.stop?.length) b.stop = req.stop;
  if (req.seed !== undefined) b.seed = req.seed;
  if (req.topLogprobs !== undefined) {
    b.logprobs = true;
    b.top_logprobs = req.topLogprobs;
  }
  b.stream = false;
  return b;
}

// The OpenAI chat-completions wire format: validating a request body into a ChatRequest, and
// shaping Completions and deltas into response objects and stream chunks. Pure functions, so
// the server file holds only HTTP.
import { randomBytes } from 'node:crypto';
import type { ChatMessage, ChatRequest, Completion, TokenLogprob } from '../reason/types.js';
import type { ChatDelta } from './chat_backend.js';
import { HttpError, errorBody } from '../io/http.js';

/** A request the server refuses; `param` names the offending field as OpenAI does. */
export class WireError extends HttpError {
  constructor(status: number, message: string, param: string | null = null, type = 'invalid_request_error', code: string | null = null, headers: Record<string, string> = {}) {
    super(status, message, code, param, type, headers);
  }
}

export interface ParsedChat {
  model: string;
  req: ChatRequest;
  stream: boolean;
  includeUsage: boolean;
  logprobs: boolean;
}

const ROLES: Record<string, ChatMessage['role']> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

function text(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  // The array form: [{type:'text', text:'…'}]; images and audio are not ours to handle.
  if (Array.isArray(content))
    return content.map((p, i) => {
      if (p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string') return (p as { text: string }).text;
      throw new WireError(400, `${at}[${i}]: only text content parts are supported`, `${at}[${i}]`);
    }).join('');
  throw new WireError(400, `${at} must be a string or an array of text parts`, at);
}

function num(b: Record<string, unknown>, key: string, lo: number, hi: number, int = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v)))
    throw new WireError(400, `${key} must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`, key);
  return v;
}

/** Validates a parsed JSON body; throws WireError (400) naming the bad field. */
export function parseChatBody(body: unknown): ParsedChat {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new WireError(400, 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || !b.model) throw new WireError(400, 'model is required', 'model');
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw new WireError(400, 'messages must be a non-empty array', 'messages');
  const messages = b.messages.map((m, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (!m || typeof m !== 'object') throw new WireError(400, `${at} must be an object`, at);
    const role = ROLES[String((m as { role?: unknown }).role)];
    if (!role) throw new WireError(400, `${at}.role must be system, user or assistant`, `${at}.role`);
    return { role, content: text((m as { content?: unknown }).content, `${at}.content`) };
  });
  const req: ChatRequest = { messages };
  req.temperature = num(b, 'temperature', 0, 2);
  req.topP = num(b, 'top_p', 0, 1);
  req.topK = num(b, 'top_k', -1, 1e6, true);
  if (req.topK !== undefined && req.topK <= 0) req.topK = undefined; // vLLM/llama.cpp: -1 or 0 means "off"
  req.maxTokens = num(b, 'max_completion_tokens', 1, 1e7, true) ?? num(b, 'max_tokens', 1, 1e7, true);
  req.seed = num(b, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  if (b.stop !== undefined && b.stop !== null) {
    const stop = typeof b.stop === 'string' ? [b.stop] : b.stop;
    if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string')) throw new WireError(400, 'stop must be a string or an array of strings', 'stop');
    if (stop.length) req.stop = stop as string[];
  }
  const n = num(b, 'n', 1, 128, true);
  if (n !== undefined && n !== 1) throw new WireError(400, 'only n = 1 is supported', 'n');
  if (b.logprobs !== undefined && b.logprobs !== null && typeof b.logprobs !== 'boolean') throw new WireError(400, 'logprobs must be a boolean', 'logprobs');
  const top = num(b, 'top_logprobs', 0, 20, true);
  const logprobs = b.logprobs === true;
  if (logprobs) req.topLogprobs = top ?? 0;
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw new WireError(400, 'stream must be a boolean', 'stream');
  const so = b.stream_options as { include_usage?: unknown } | undefined | null;
  for (const k of Object.keys(req) as (keyof ChatRequest)[]) if (req[k] === undefined) delete req[k];
  return { model: b.model, req, stream: b.stream === true, includeUsage: so?.include_usage === true, logprobs };
}

export const newId = () => `chatcmpl-${randomBytes(12).toString('hex')}`;

const bytes = (s: string) => [...Buffer.from(s, 'utf8')];

// A backend's own bytes win: a byte-level token may be part of a UTF-8 character, which its string cannot carry.
function wireToken(t: TokenLogprob) {
  return {
    token: t.token, logprob: t.logprob, bytes: t.bytes ?? bytes(t.token),
    top_logprobs: t.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: a.bytes ?? bytes(a.token) })),
  };
}

export const wireLogprobs = (ts: TokenLogprob[]) => ({ content: ts.map(wireToken) });

export const wireUsage = (c: Completion) => ({
  prompt_tokens: c.usage.promptTokens,
  completion_tokens: c.usage.completionTokens,
  total_tokens: c.usage.promptTokens + c.usage.completionTokens,
});

/** The non-streaming answer. `reasoning_content` carries the chain of thought, as DeepSeek's API does. */
export function completionObject(id: string, created: number, model: string, c: Completion, logprobs: boolean) {
  return {
    id, object: 'chat.completion', created, model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: c.content, reasoning_content: c.reasoning },
      logprobs: logprobs && c.logprobs ? wireLogprobs(c.logprobs) : null,
      finish_reason: c.finishReason,
    }],
    usage: wireUsage(c),
  };
}

/** One `chat.completion.chunk`; `choice` null gives the usage-only last chunk (choices: []). */
export function chunkObject(
  id: string, created: number, model: string,
  choice: { delta: Record<string, unknown>; logprobs?: TokenLogprob[] | null; finish?: string | null } | null,
  usage?: ReturnType<typeof wireUsage>,
) {
  const out: Record<string, unknown> = { id, object: 'chat.completion.chunk', created, model, choices: [] as unknown[] };
  if (choice)
    out.choices = [{ index: 0, delta: choice.delta, logprobs: choice.logprobs ? wireLogprobs(choice.logprobs) : null, finish_reason: choice.finish ?? null }];
  if (usage) out.usage = usage;
  return out;
}

/** The delta object for one backend delta. */
export function deltaObject(d: ChatDelta): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  if (d.reasoning !== undefined) delta.reasoning_content = d.reasoning;
  if (d.content !== undefined) delta.content = d.content;
  return delta;
}

/** `{error:{message,type,param,code}}`, the shape OpenAI clients parse (io/http.ts). */
export const errorObject = errorBody;

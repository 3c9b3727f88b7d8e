// The legacy OpenAI completions wire format (`POST /v1/completions`), the one a served teacher
// grades given tokens through:
//   prompt                   a string, token ids, or a batch of either (one choice each)
//   max_tokens               default 16 as OpenAI; 0 generates nothing (scoring only)
//   echo + logprobs: k       choices[i].logprobs = {tokens, token_logprobs, top_logprobs,
//                            text_offset} over the prompt tokens and then the generated ones; the
//                            first prompt token has no context: its logprob and top are null
//   prompt_logprobs: k       vLLM's field: choices[i].prompt_logprobs, null first, then per
//                            position {"<token id>": {logprob, rank, decoded_token}} holding the
//                            prompt token itself and the k most likely (ids as keys: token strings
//                            can collide, ids cannot)
//   return_tokens_as_token_ids  vLLM's field: `tokens` and `top_logprobs` keys as "token_id:<id>"
// Pure functions, like openai_wire.ts; the route is in openai_server.ts.
import { randomBytes } from 'node:crypto';
import type { Completion } from '../reason/types.js';
import type { TokenScore } from '../reason/teachers/scorer.js';
import type { TokenBackend } from './chat_backend.js';
import { WireError } from './openai_wire.js';

/** Alternatives per position a request may ask for (vLLM's default max_logprobs is 20; KD wants more). */
export const MAX_COMPLETION_LOGPROBS = 1024;

export interface ParsedCompletion {
  model: string;
  /** One entry per choice: text to encode, or token ids as given. */
  prompts: (string | number[])[];
  maxTokens: number;
  echo: boolean;
  /** k of `logprobs`, null when not asked. */
  logprobs: number | null;
  /** k of vLLM's `prompt_logprobs`, null when not asked. */
  promptLogprobs: number | null;
  tokensAsIds: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
}

const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');

function int(b: Record<string, unknown>, key: string, lo: number, hi: number): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new WireError(400, `${key} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`, key);
  return v;
}

function numIn(b: Record<string, unknown>, key: string, lo: number, hi: number): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new WireError(400, `${key} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`, key);
  return v;
}

function bool(b: Record<string, unknown>, key: string): boolean {
  const v = b[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new WireError(400, `${key} must be a boolean`, key);
  return v;
}

/** Validates a parsed JSON body; throws WireError (400) naming the bad field. */
export function parseCompletionBody(body: unknown): ParsedCompletion {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new WireError(400, 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || !b.model) throw new WireError(400, 'model is required', 'model');
  const p = b.prompt;
  let prompts: (string | number[])[];
  if (typeof p === 'string') prompts = [p];
  else if (isIds(p)) prompts = [p];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string' || isIds(x))) prompts = p as (string | number[])[];
  else throw new WireError(400, 'prompt must be a string, an array of token ids, or a non-empty array of either', 'prompt');
  prompts.forEach((q, i) => {
    if (typeof q !== 'string' && !q.every((id) => Number.isInteger(id) && id >= 0))
      throw new WireError(400, `prompt${prompts.length > 1 || Array.isArray(p?.[0]) ? `[${i}]` : ''} holds a token id that is not an integer ≥ 0`, 'prompt');
  });
  if (b.stream === true) throw new WireError(400, 'stream is not supported on /v1/completions', 'stream');
  if (b.suffix !== undefined && b.suffix !== null && b.suffix !== '') throw new WireError(400, 'suffix is not supported', 'suffix');
  const n = int(b, 'n', 1, 128);
  if (n !== undefined && n !== 1) throw new WireError(400, 'only n = 1 is supported', 'n');
  const best = int(b, 'best_of', 1, 128);
  if (best !== undefined && best !== 1) throw new WireError(400, 'only best_of = 1 is supported', 'best_of');
  const out: ParsedCompletion = {
    model: b.model,
    prompts,
    maxTokens: int(b, 'max_tokens', 0, 1e7) ?? 16,
    echo: bool(b, 'echo'),
    logprobs: int(b, 'logprobs', 0, MAX_COMPLETION_LOGPROBS) ?? null,
    promptLogprobs: int(b, 'prompt_logprobs', 0, MAX_COMPLETION_LOGPROBS) ?? null,
    tokensAsIds: bool(b, 'return_tokens_as_token_ids'),
    temperature: numIn(b, 'temperature', 0, 2),
    topP: numIn(b, 'top_p', 0, 1),
    topK: int(b, 'top_k', -1, 1e6),
    seed: int(b, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  };
  if (out.topK !== undefined && out.topK <= 0) out.topK = undefined; // vLLM: -1 or 0 means "off"
  if (b.stop !== undefined && b.stop !== null) {
    const stop = typeof b.stop === 'string' ? [b.stop] : b.stop;
    if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string')) throw new WireError(400, 'stop must be a string or an array of strings', 'stop');
    if (stop.length) out.stop = stop as string[];
  }
  return out;
}

export const newCompletionId = () => `cmpl-${randomBytes(12).toString('hex')}`;

/** One choice's ingredients: the prompt ids, the prompt's grades (when asked), the continuation. */
export interface ChoiceParts {
  prompt: number[];
  score: TokenScore | null;
  completion: Completion | null;
}

/** Characters of a token: its UTF-8 bytes that start a character (specials: their text). */
function charsOf(tb: TokenBackend, id: number): number {
  const bytes = tb.tokenBytes(id);
  if (!bytes) return [...tb.tokenText(id)].length;
  let n = 0;
  for (const x of bytes) if ((x & 0xc0) !== 0x80) n++;
  return n;
}

/** One `text_completion` choice. */
export function choiceObject(p: ParsedCompletion, tb: TokenBackend, index: number, c: ChoiceParts) {
  const name = (id: number) => (p.tokensAsIds ? `token_id:${id}` : tb.tokenText(id));
  const gen = c.completion;
  const genText = gen?.content ?? '';
  const choice: Record<string, unknown> = {
    index,
    text: (p.echo ? tb.decode(c.prompt) : '') + genText,
    logprobs: null,
    finish_reason: gen?.finishReason ?? 'length',
  };
  if (p.logprobs !== null) {
    const k = p.logprobs;
    const tokens: string[] = [];
    const tokenLogprobs: (number | null)[] = [];
    const top: (Record<string, number> | null)[] = [];
    const offsets: number[] = [];
    let at = 0; // characters of the prompt and completion text before the current token
    const push = (id: number, lp: number | null, alts: { id: number; logprob: number }[] | null) => {
      tokens.push(name(id));
      tokenLogprobs.push(lp);
      top.push(alts && Object.fromEntries(alts.slice(0, k).map((a) => [name(a.id), a.logprob])));
      offsets.push(at);
      at += charsOf(tb, id);
    };
    c.prompt.forEach((id, t) => {
      if (!p.echo) return void (at += charsOf(tb, id));
      const s = c.score!;
      push(id, t === 0 ? null : s.logprobs[t - 1], t === 0 ? null : s.top[t - 1].ids.map((a, j) => ({ id: a, logprob: s.top[t - 1].logprobs[j] })));
    });
    for (const g of gen?.logprobs ?? []) push(g.id!, g.logprob, g.top.map((a) => ({ id: a.id!, logprob: a.logprob })));
    choice.logprobs = { tokens, token_logprobs: tokenLogprobs, top_logprobs: top, text_offset: offsets };
  }
  if (p.promptLogprobs !== null) choice.prompt_logprobs = promptLogprobsObject(tb, c.prompt, c.score!, p.promptLogprobs);
  return choice;
}

/** vLLM's `prompt_logprobs`: null, then per position the prompt token and the top k keyed by id. */
export function promptLogprobsObject(tb: TokenBackend, prompt: readonly number[], s: TokenScore, k: number) {
  const entry = (logprob: number, rank: number, id: number) => ({ logprob, rank, decoded_token: tb.tokenText(id) });
  return prompt.map((id, t) => {
    if (t === 0) return null;
    const o: Record<string, ReturnType<typeof entry>> = {};
    o[id] = entry(s.logprobs[t - 1], s.ranks?.[t - 1] ?? 0, id);
    const top = s.top[t - 1];
    for (let j = 0; j < Math.min(k, top.ids.length); j++) o[top.ids[j]] ??= entry(top.logprobs[j], j + 1, top.ids[j]);
    return o;
  });
}

/** The whole `text_completion` answer. */
export function textCompletionObject(id: string, created: number, p: ParsedCompletion, tb: TokenBackend, parts: ChoiceParts[]) {
  const promptTokens = parts.reduce((n, c) => n + c.prompt.length, 0);
  const completionTokens = parts.reduce((n, c) => n + (c.completion?.usage.completionTokens ?? 0), 0);
  return {
    id, object: 'text_completion', created, model: p.model,
    choices: parts.map((c, i) => choiceObject(p, tb, i, c)),
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

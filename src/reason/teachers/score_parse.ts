// The request and response of grading given tokens over HTTP (`POST /v1/completions`), for any
// OpenAI-compatible server that can return a prompt's own log-probabilities:
//   - vLLM's `prompt_logprobs: k`: per prompt position {"<id>": {logprob, rank, decoded_token}},
//     null first; ids are the keys, so nothing is lost (preferred when present);
//   - OpenAI's legacy `echo: true` + `logprobs: k` + `max_tokens: 0`: `choices[i].logprobs` over
//     the prompt tokens. Its alternatives are keyed by token string, which can collide and cannot
//     be mapped back to ids safely; with vLLM's `return_tokens_as_token_ids` they read "token_id:<id>".
// The request asks for both; whichever the server answered is read. A server that answers
// neither lacks the feature, and that is said in one non-retryable error.
import { TeacherError } from './retry.js';
import { excerpt } from './chat_parse.js';
import type { TokenScore } from './scorer.js';

/** What a server must support to grade tokens; part of every error about a missing feature. */
export const SCORE_FEATURE = '/v1/completions with the prompt\'s log-probabilities: `echo: true` + `logprobs: k` with `max_tokens: 0` (OpenAI legacy; alternatives as ids through vLLM\'s `return_tokens_as_token_ids`), or vLLM\'s `prompt_logprobs: k`';

export function scoreRequestBody(model: string, prompts: number[][], k: number, maxTokens = 0) {
  return {
    model,
    prompt: prompts.length === 1 ? prompts[0] : prompts,
    max_tokens: maxTokens,
    echo: true,
    logprobs: k,
    prompt_logprobs: k,
    return_tokens_as_token_ids: true,
    temperature: 0,
  };
}

const missing = (where: string, why: string) =>
  new TeacherError(`${where} cannot grade given tokens: ${why}. A scoring teacher needs ${SCORE_FEATURE}`, { kind: 'bad-response', retryable: false });

const bad = (why: string, text: string) => new TeacherError(`bad response: ${why}: ${excerpt(text)}`, { kind: 'bad-response', retryable: true });

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** "token_id:123" → 123; anything else → null. */
function tokenIdOf(s: string): number | null {
  const m = /^token_id:(\d+)$/.exec(s);
  return m ? Number(m[1]) : null;
}

/** Parses a 200 body into one TokenScore per prompt (k alternatives each, most likely first). */
export function parseScoreBody(text: string, prompts: number[][], k: number, where: string): TokenScore[] {
  let body: unknown;
  try {
    body = JSON.parse(text.trim());
  } catch {
    throw bad('not JSON', text);
  }
  if (!isObj(body) || !Array.isArray(body.choices)) throw bad('no choices array', text);
  const choices = [...body.choices].filter(isObj).sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0));
  if (choices.length !== prompts.length) throw bad(`${choices.length} choices for ${prompts.length} prompts`, text);
  return choices.map((c, i) => {
    const ids = prompts[i];
    if (Array.isArray(c.prompt_logprobs)) return fromPromptLogprobs(c.prompt_logprobs, ids, k, where, i);
    if (isObj(c.logprobs) && Array.isArray(c.logprobs.token_logprobs)) return fromEcho(c.logprobs, ids, k, where, i);
    throw missing(where, `its answer has neither \`prompt_logprobs\` nor \`logprobs\` in choice ${i}`);
  });
}

function fromPromptLogprobs(pl: unknown[], ids: number[], k: number, where: string, i: number): TokenScore {
  if (pl.length < ids.length) throw missing(where, `\`prompt_logprobs\` of prompt ${i} covers ${pl.length} of its ${ids.length} tokens`);
  const s: TokenScore = { ids: [...ids], logprobs: [], top: [], ranks: [] };
  for (let t = 1; t < ids.length; t++) {
    const e = pl[t];
    if (!isObj(e)) throw missing(where, `\`prompt_logprobs\` of prompt ${i} has no entry at position ${t}`);
    const alts = Object.entries(e).map(([key, v]) => ({ id: Number(key), logprob: Number((v as { logprob?: unknown })?.logprob), rank: Number((v as { rank?: unknown })?.rank) }));
    if (alts.some((a) => !Number.isInteger(a.id) || !Number.isFinite(a.logprob) && a.logprob !== -Infinity))
      throw missing(where, `\`prompt_logprobs\` of prompt ${i} at position ${t} is not keyed by token id with numeric logprobs`);
    const own = alts.find((a) => a.id === ids[t]);
    if (!own) throw missing(where, `\`prompt_logprobs\` of prompt ${i} at position ${t} lacks the prompt's own token ${ids[t]}`);
    // The prompt token comes along even when it is not in the top k: then it is the extra, least likely entry.
    const top = alts.sort((a, b) => b.logprob - a.logprob).slice(0, k);
    if (top.length < k) throw missing(where, `it returned ${top.length} alternatives at prompt ${i} position ${t}, ${k} were asked (the server's max_logprobs?)`);
    s.logprobs.push(own.logprob);
    s.ranks!.push(Number.isFinite(own.rank) ? own.rank : NaN);
    s.top.push({ ids: top.map((a) => a.id), logprobs: top.map((a) => a.logprob) });
  }
  if (s.ranks!.some(Number.isNaN)) delete s.ranks;
  return s;
}

function fromEcho(lp: Record<string, unknown>, ids: number[], k: number, where: string, i: number): TokenScore {
  const tl = lp.token_logprobs as unknown[];
  const top = lp.top_logprobs as unknown[] | undefined;
  const tokens = lp.tokens as unknown[] | undefined;
  if (tl.length < ids.length) throw missing(where, `\`logprobs\` of prompt ${i} covers ${tl.length} tokens, not its ${ids.length} prompt tokens (is \`echo\` ignored?)`);
  const s: TokenScore = { ids: [...ids], logprobs: [], top: [] };
  for (let t = 1; t < ids.length; t++) {
    const v = tl[t];
    if (typeof v !== 'number') throw missing(where, `\`token_logprobs\` of prompt ${i} has no number at position ${t}`);
    // A server that tokenized differently would grade other tokens: refuse rather than misalign.
    const named = typeof tokens?.[t] === 'string' ? tokenIdOf(tokens[t] as string) : null;
    if (named !== null && named !== ids[t]) throw missing(where, `position ${t} of prompt ${i} came back as token ${named}, not the ${ids[t]} sent`);
    s.logprobs.push(v);
    if (k === 0) {
      s.top.push({ ids: [], logprobs: [] });
      continue;
    }
    const alts = isObj(top?.[t]) ? Object.entries(top![t] as Record<string, unknown>) : [];
    const parsed = alts.map(([key, x]) => ({ id: tokenIdOf(key), logprob: Number(x) }));
    if (parsed.some((a) => a.id === null))
      throw missing(where, `its \`top_logprobs\` name tokens by string (e.g. ${JSON.stringify(alts.find(([key]) => tokenIdOf(key) === null)![0])}), which cannot be mapped to ids; it ignores \`return_tokens_as_token_ids\``);
    const sorted = parsed.sort((a, b) => b.logprob - a.logprob).slice(0, k);
    if (sorted.length < k) throw missing(where, `it returned ${sorted.length} alternatives at prompt ${i} position ${t}, ${k} were asked (its logprobs limit?)`);
    s.top.push({ ids: sorted.map((a) => a.id!), logprobs: sorted.map((a) => a.logprob) });
  }
  return s;
}

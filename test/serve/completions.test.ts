// POST /v1/completions on a real socket against our own LM (a random byte-level Llama): every
// log-probability the server returns — OpenAI's echo + logprobs, vLLM's prompt_logprobs, the
// generated tokens' — is checked against the model's log_softmax computed here directly (one
// prompt at a time, float64), top-k ids and vLLM ranks included; then the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { serveLocalAndAdder } from '../reason/chat_fixtures.js';
import { oracleRows, rankOf, topkMatches } from '../helpers/score_oracle.js';

const served = serveLocalAndAdder({ seed: 3, name: 'local', config: { maxSeqLen: 96 } });
const local = served.local;
const tok = local.tokenizer;

async function post(body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${served.srv.baseURL}/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

test('echo + logprobs + max_tokens 0 on a string prompt: every prompt token graded as the model grades it', async () => {
  const prompt = 'Grade me: 3 + 4 = 7, 猫.';
  const ids = tok.encode(prompt);
  const k = 5;
  const { status, json } = await post({ model: 'local', prompt, max_tokens: 0, echo: true, logprobs: k });
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.object, 'text_completion');
  const c = json.choices[0];
  assert.equal(c.text, prompt);
  assert.equal(c.finish_reason, 'length');
  assert.deepEqual(json.usage, { prompt_tokens: ids.length, completion_tokens: 0, total_tokens: ids.length });
  const lp = c.logprobs;
  assert.deepEqual(lp.tokens, ids.map((id) => tok.tokenText(id)));
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  // text_offset: characters before each token ('猫' is three byte tokens, all inside one character).
  assert.deepEqual(lp.text_offset.slice(0, 3), [0, 1, 2]);
  assert.equal(lp.text_offset[ids.length - 1], [...prompt].length - 1);
  const rows = oracleRows(local.model, ids);
  for (let t = 1; t < ids.length; t++) {
    const want = rows[t - 1].lp;
    assert.ok(Math.abs(lp.token_logprobs[t] - want[ids[t]]) < 1e-4, `position ${t}: ${lp.token_logprobs[t]} vs ${want[ids[t]]}`);
    assert.equal(Object.keys(lp.top_logprobs[t]).length <= k, true);
  }
});

test('return_tokens_as_token_ids: echo alternatives come back keyed by id and match the oracle top-k', async () => {
  const ids = tok.encode('The teacher grades what the student wrote.');
  const k = 8;
  const { status, json } = await post({ model: 'local', prompt: ids, max_tokens: 0, echo: true, logprobs: k, return_tokens_as_token_ids: true });
  assert.equal(status, 200, JSON.stringify(json));
  const lp = json.choices[0].logprobs;
  assert.deepEqual(lp.tokens, ids.map((id) => `token_id:${id}`));
  const rows = oracleRows(local.model, ids);
  for (let t = 1; t < ids.length; t++) {
    const entries = Object.entries(lp.top_logprobs[t] as Record<string, number>);
    const got = entries.map(([key]) => Number(key.slice('token_id:'.length)));
    const why = topkMatches(rows[t - 1].lp, got, entries.map(([, v]) => v), k);
    assert.equal(why, null, `position ${t}: ${why}`);
  }
});

test("vLLM's prompt_logprobs on a batch of token-id prompts of different lengths (padded together): logprob, rank and top-k per position", async () => {
  const prompts = [tok.encode('short one'), tok.encode('a longer prompt, padded beside the short one'), [tok.eosId, 65, 66]];
  const k = 4;
  const { status, json } = await post({ model: 'local', prompt: prompts, max_tokens: 0, prompt_logprobs: k });
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.choices.length, 3);
  json.choices.forEach((c: any, i: number) => {
    assert.equal(c.index, i);
    assert.equal(c.logprobs, null, 'logprobs only when asked');
    const ids = prompts[i];
    const pl = c.prompt_logprobs;
    assert.equal(pl.length, ids.length);
    assert.equal(pl[0], null);
    const rows = oracleRows(local.model, ids);
    for (let t = 1; t < ids.length; t++) {
      const lp = rows[t - 1].lp;
      const own = pl[t][String(ids[t])];
      assert.ok(own, `prompt ${i} position ${t}: the prompt token is always there`);
      assert.ok(Math.abs(own.logprob - lp[ids[t]]) < 1e-4);
      assert.equal(own.rank, rankOf(lp, ids[t]));
      assert.equal(own.decoded_token, tok.tokenText(ids[t]));
      const top = Object.entries(pl[t] as Record<string, { logprob: number; rank: number }>).filter(([, v]) => v.rank <= k).sort((a, b) => a[1].rank - b[1].rank);
      assert.equal(Object.keys(pl[t]).length, own.rank <= k ? k : k + 1);
      const why = topkMatches(lp, top.map(([id]) => Number(id)), top.map(([, v]) => v.logprob), k);
      assert.equal(why, null, `prompt ${i} position ${t}: ${why}`);
    }
  });
});

test('generation after the prompt through the official client: echoed text and logprobs run on into the generated tokens, which the model grades the same', async () => {
  const client = new OpenAI({ baseURL: served.srv.baseURL, apiKey: 'unused', maxRetries: 0 });
  const prompt = 'Once upon a time';
  // vLLM's return_tokens_as_token_ids rides along as an extra body field (the client sends what it is given).
  const r = await client.completions.create({ model: 'local', prompt, max_tokens: 6, temperature: 0, echo: true, logprobs: 3, return_tokens_as_token_ids: true } as OpenAI.CompletionCreateParamsNonStreaming);
  const c = r.choices[0];
  const lp = c.logprobs!;
  const promptIds = tok.encode(prompt);
  assert.ok(c.text.startsWith(prompt));
  const n = r.usage!.completion_tokens;
  assert.ok(n > 0 && n <= 6);
  assert.equal(lp.tokens!.length, promptIds.length + n);
  // Greedy: each generated token is the top-1 there; re-grading prompt + generation by teacher forcing gives the same numbers.
  assert.deepEqual(lp.tokens!.slice(0, promptIds.length), promptIds.map((id) => `token_id:${id}`));
  const genIds = lp.tokens!.slice(promptIds.length).map((s) => Number(s.slice('token_id:'.length)));
  const all = [...promptIds, ...genIds];
  const rows = oracleRows(local.model, all);
  for (let t = 1; t < all.length; t++) {
    assert.ok(Math.abs(lp.token_logprobs![t]! - rows[t - 1].lp[all[t]]) < 1e-4, `token ${t}`);
    assert.equal(Object.keys(lp.top_logprobs![t]!).length, 3);
  }
  assert.equal(c.text, prompt + tok.decode(genIds));
  // Without echo: only the generated tokens, offsets counted from the prompt's end.
  const r2 = await client.completions.create({ model: 'local', prompt, max_tokens: 6, temperature: 0, logprobs: 2 });
  assert.equal(r2.choices[0].text, tok.decode(genIds));
  assert.deepEqual(r2.choices[0].logprobs!.token_logprobs, lp.token_logprobs!.slice(promptIds.length));
  assert.equal(r2.choices[0].logprobs!.text_offset![0], [...prompt].length);
});

test('refusals: one 400 naming the field, as OpenAI errors', async () => {
  const cases: [unknown, number, string | null, RegExp][] = [
    [{ model: 'local', prompt: 'x', stream: true }, 400, 'stream', /not supported/],
    [{ model: 'local', prompt: [1, 2, 999], max_tokens: 0 }, 400, 'prompt', /token id 999.*260 tokens/],
    [{ model: 'local', prompt: [1, 2.5] }, 400, 'prompt', /integer/],
    [{ model: 'local', prompt: '', max_tokens: 0, echo: true, logprobs: 1 }, 400, 'prompt', /empty/],
    [{ model: 'local', prompt: 'x', logprobs: -1 }, 400, 'logprobs', /integer in \[0/],
    [{ model: 'local', prompt: 'x', max_tokens: -1 }, 400, 'max_tokens', /integer/],
    [{ model: 'local', prompt: 'x', n: 2 }, 400, 'n', /n = 1/],
    [{ model: 'local', prompt: {} }, 400, 'prompt', /string/],
    [{ model: 'local', prompt: 'x'.repeat(90), max_tokens: 10 }, 400, 'prompt', /maximum context length is 96 tokens, however you requested 100 tokens/],
    [{ model: 'adder', prompt: 'x' }, 400, 'model', /chat only/],
    [{ model: 'nope', prompt: 'x' }, 404, 'model', /does not exist/],
  ];
  for (const [body, status, param, msg] of cases) {
    const r = await post(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error.param, param, JSON.stringify(body));
    assert.match(r.json.error.message, msg);
  }
  // The context check leaves room for scoring a full-length prompt.
  const full = await post({ model: 'local', prompt: Array(96).fill(65), max_tokens: 0, prompt_logprobs: 1 });
  assert.equal(full.status, 200, JSON.stringify(full.json));
});

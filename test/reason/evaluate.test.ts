// evaluateLm stops a reply at every id that ends a turn: the tokenizer's EOS, the model's
// generation_config eos list (Llama 3.1 lists several) and the token the chat template closes
// an assistant turn with (Llama 3's <|eot_id|>, while its tokenizer's eos_token is
// <|end_of_text|>). The model is built to say one chosen token at every step, so where the
// reply stops is known exactly: at once when that token is a stop id, at maxNewTokens when not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { evaluateLm, replyStopIds } from '../../src/reason/evaluate.js';
import { realTokenizer } from '../helpers/real_tokenizers.js';
import { adderProblems } from './chat_fixtures.js';

const tok = realTokenizer('llama3');
const END_OF_TEXT = 128001; // tokenizer_config.json's eos_token
const EOM = 128008; // <|eom_id|>: in Llama 3.1's generation_config eos list, not the tokenizer's EOS
const EOT = 128009; // <|eot_id|>: what the Llama 3 template closes each turn with
const problems = adderProblems(2);

/**
 * A CausalLM whose greedy reply is `id` at every step: the blocks add nothing (o_proj and
 * down_proj are 0), every token embeds to the same vector, and only lm_head's row `id` is
 * non-zero, so the logit of `id` is Σ norm(1)·1 = 8·1 > 0 = every other logit.
 */
function alwaysSays(id: number, V = tok.vocabSize): CausalLM {
  const d = 8;
  const m = new CausalLM({ vocabSize: V, dim: d, nLayers: 1, nHeads: 2, nKvHeads: 2, hiddenDim: 16, maxSeqLen: 128, tieEmbeddings: false });
  const head = new Float32Array(V * d);
  head.fill(1, id * d, (id + 1) * d);
  const set: Record<string, torch.Tensor> = { 'lm_head.weight': torch.tensor(head, { shape: [V, d] }) };
  for (const [name, p] of m.namedParameters()) {
    if (/o_proj|down_proj/.test(name)) set[name] = torch.zerosLike(p);
    if (name === 'embed_tokens.weight') set[name] = torch.onesLike(p);
  }
  m.loadStateDict(set, { strict: false });
  return m.eval();
}

test('replyStopIds: the tokenizer EOS, the generation_config eos list and the template end-of-turn, once each', () => {
  assert.equal(tok.eosId, END_OF_TEXT);
  assert.deepEqual(replyStopIds(tok), [END_OF_TEXT, EOT]);
  assert.deepEqual(replyStopIds(tok, [END_OF_TEXT, EOM]), [END_OF_TEXT, EOM, EOT]);
});

test('evaluateLm stops at the second id of a two-id eos list (generation_config), not only at the tokenizer EOS', () => {
  const m = alwaysSays(EOM);
  try {
    const stopped = evaluateLm(m, tok, problems, { maxNewTokens: 5, eosIds: [END_OF_TEXT, EOM] });
    for (const a of stopped.answers) assert.deepEqual([a.finishReason, a.tokens], ['stop', 0], a.id);
    // The same model without the list runs on: <|eom_id|> ends nothing by itself.
    const ran = evaluateLm(m, tok, problems, { maxNewTokens: 5 });
    for (const a of ran.answers) assert.deepEqual([a.finishReason, a.tokens], ['length', 5], a.id);
  } finally {
    m.dispose();
  }
});

test('evaluateLm stops at the chat template\'s end of turn (<|eot_id|>), which is not the tokenizer\'s EOS', () => {
  const m = alwaysSays(EOT);
  try {
    const r = evaluateLm(m, tok, problems, { maxNewTokens: 5 });
    for (const a of r.answers) assert.deepEqual([a.finishReason, a.tokens], ['stop', 0], a.id);
  } finally {
    m.dispose();
  }
});

test('evaluateLm never says an id past the tokenizer when the embedding is padded (Qwen-style vocabulary)', () => {
  // 8 padded rows; the head says padded id V + 3. Cut at the tokenizer's size every logit left is 0,
  // so greedy takes id 0 (the first of equal maxima) at every step and runs to maxNewTokens.
  const V = tok.vocabSize;
  const m = alwaysSays(V + 3, V + 8);
  try {
    const r = evaluateLm(m, tok, problems, { maxNewTokens: 5 });
    for (const a of r.answers) assert.deepEqual([a.finishReason, a.tokens, a.reply], ['length', 5, tok.decode([0, 0, 0, 0, 0])], a.id);
  } finally {
    m.dispose();
  }
});

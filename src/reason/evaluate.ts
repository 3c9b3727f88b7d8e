// pass@1 of an LM on held-out problems (greedy, batched), with the seed's table columns
// measured rather than estimated: parameters, size, decoding speed, peak memory.
import * as torch from '../torch/index.js';
import { type CausalLM } from '../lm/model.js';
import { BatchDecoder, generate } from '../lm/generate.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import type { Problem } from './types.js';
import { checkAnswer } from './verify.js';
import { StudentChat } from './student_chat.js';

export interface LmEvaluation {
  accuracy: number;
  correct: number;
  total: number;
  /** Generated tokens per second, batched decoding (how evaluation and serving run). */
  tokensPerSecond: number;
  /** Generated tokens per second for one request alone (batch 1, KV cache). */
  tokensPerSecondBatch1: number;
  /** Highest tensor bytes held during batched decoding, weights included. */
  peakBytes: number;
  /** Per problem: id, correct, the reply, its generated tokens (the stop id not counted) and why it ended. */
  answers: { id: string; ok: boolean; reply: string; tokens: number; finishReason: 'stop' | 'length' }[];
}

export interface EvaluateOptions {
  batchSize?: number;
  maxNewTokens?: number;
  /** The model's end-of-sequence ids (loadAnyLm's eosIds: generation_config.json's list); see replyStopIds. */
  eosIds?: readonly number[];
  onProgress?: (done: number, total: number) => void;
}

/**
 * Every id that ends a reply: the tokenizer's EOS, the model's generation_config eos list
 * (Llama 3.1 lists <|end_of_text|>, <|eom_id|>, <|eot_id|>) and the special token the chat
 * template closes an assistant turn with (<|eot_id|>, <|im_end|>): a student trained on its own
 * template (student_chat.ts) ends its turns there, not at the tokenizer's EOS, and would
 * otherwise run on to maxNewTokens and be graded on what follows.
 */
export function replyStopIds(tok: Tokenizer, eosIds: readonly number[] = []): number[] {
  const endOfTurn = StudentChat.of(tok)?.endOfTurnId() ?? null;
  return [...new Set([tok.eosId, ...eosIds, ...(endOfTurn === null ? [] : [endOfTurn])])];
}

export function evaluateLm(model: CausalLM, tok: Tokenizer, problems: readonly Problem[], o: EvaluateOptions = {}): LmEvaluation {
  const bs = o.batchSize ?? 64;
  const maxNewTokens = o.maxNewTokens ?? 200;
  const eosId = replyStopIds(tok, o.eosIds);
  // A padded embedding (Qwen: 151,936 rows for 151,665 ids) never says an id the tokenizer lacks.
  const vocabLimit = tok.vocabSize < model.cfg.vocabSize ? tok.vocabSize : undefined;
  const answers: LmEvaluation['answers'] = [];
  let tokens = 0;
  let seconds = 0;
  torch.resetPeakTensors();
  for (let i = 0; i < problems.length; i += bs) {
    const chunk = problems.slice(i, i + bs);
    const t0 = performance.now();
    using d = new BatchDecoder(model, chunk.map((p) => ({ prompt: tok.chatPrompt([{ role: 'user', content: p.question }]), options: { maxNewTokens, eosId, vocabLimit } })));
    while (!d.done) d.step();
    seconds += (performance.now() - t0) / 1000;
    d.results().forEach((g, j) => {
      tokens += g.ids.length;
      const reply = tok.decode(g.ids);
      answers.push({ id: chunk[j].id, ok: checkAnswer(reply, chunk[j]).ok, reply, tokens: g.ids.length, finishReason: g.finishReason });
    });
    o.onProgress?.(Math.min(i + bs, problems.length), problems.length);
  }
  const peakBytes = torch.memory().peakNativeBytes;
  // Batch 1: a few problems alone, the latency a single chat user sees.
  let t1 = 0;
  let n1 = 0;
  for (const p of problems.slice(0, 3)) {
    const t0 = performance.now();
    n1 += generate(model, tok.chatPrompt([{ role: 'user', content: p.question }]), { maxNewTokens, eosId, vocabLimit }).ids.length;
    t1 += (performance.now() - t0) / 1000;
  }
  const correct = answers.filter((a) => a.ok).length;
  return {
    accuracy: problems.length ? correct / problems.length : 0,
    correct,
    total: problems.length,
    tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
    tokensPerSecondBatch1: t1 > 0 ? n1 / t1 : 0,
    peakBytes,
    answers,
  };
}

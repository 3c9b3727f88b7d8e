// pass@1 of an LM on held-out problems (greedy, batched), with the seed's table columns
// measured rather than estimated: parameters, size, decoding speed, peak memory.
import * as torch from '../torch/index.js';
import { type CausalLM } from '../lm/model.js';
import { BatchDecoder, generate } from '../lm/generate.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import type { Problem } from './types.js';
import { checkAnswer } from './verify.js';

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
  /** Per problem: id, correct, the reply. */
  answers: { id: string; ok: boolean; reply: string }[];
}

export interface EvaluateOptions {
  batchSize?: number;
  maxNewTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

export function evaluateLm(model: CausalLM, tok: Tokenizer, problems: readonly Problem[], o: EvaluateOptions = {}): LmEvaluation {
  const bs = o.batchSize ?? 64;
  const maxNewTokens = o.maxNewTokens ?? 200;
  const answers: LmEvaluation['answers'] = [];
  let tokens = 0;
  let seconds = 0;
  torch.resetPeakTensors();
  for (let i = 0; i < problems.length; i += bs) {
    const chunk = problems.slice(i, i + bs);
    const t0 = performance.now();
    using d = new BatchDecoder(model, chunk.map((p) => ({ prompt: tok.chatPrompt([{ role: 'user', content: p.question }]), options: { maxNewTokens, eosId: tok.eosId } })));
    while (!d.done) d.step();
    seconds += (performance.now() - t0) / 1000;
    d.results().forEach((g, j) => {
      tokens += g.ids.length;
      const reply = tok.decode(g.ids);
      answers.push({ id: chunk[j].id, ok: checkAnswer(reply, chunk[j]).ok, reply });
    });
    o.onProgress?.(Math.min(i + bs, problems.length), problems.length);
  }
  const peakBytes = torch.memory().peakNativeBytes;
  // Batch 1: a few problems alone, the latency a single chat user sees.
  let t1 = 0;
  let n1 = 0;
  for (const p of problems.slice(0, 3)) {
    const t0 = performance.now();
    n1 += generate(model, tok.chatPrompt([{ role: 'user', content: p.question }]), { maxNewTokens, eosId: tok.eosId }).ids.length;
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

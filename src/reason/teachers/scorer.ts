// A teacher that grades given tokens: for each prompt (token ids), the log-probability of every
// token after the first under the teacher, and the teacher's top-k there. On-policy
// distillation (GKD, reverse KL) asks this of the teacher for every sample the student wrote;
// the top-k store keeps it for offline KD. Implemented by our own LM (scoreWithModel, used by
// LocalTeacher.scoreTokens and the server's /v1/completions) and by any OpenAI-compatible
// server that echoes prompt log-probabilities (HttpTeacher.scoreTokens).
import * as torch from '../../torch/index.js';
import type { CausalLM } from '../../lm/model.js';

/**
 * The grades of one prompt. `ids` is the prompt as given; entry i of `logprobs`, `ranks` and
 * `top` is about position t = i + 1: `logprobs[i]` = log p(ids[i+1] | ids[≤i]) at temperature 1,
 * `top[i]` the k most likely tokens there, most likely first. So all three have ids.length − 1
 * entries (the first token has no context to be graded in).
 */
export interface TokenScore {
  ids: number[];
  logprobs: number[];
  top: { ids: number[]; logprobs: number[] }[];
  /** 1 + the number of tokens strictly more likely than ids[i+1] (vLLM's `rank`), where the scorer knows it. */
  ranks?: number[];
}

export interface TokenScorer {
  /** Grades every prompt; k ≥ 0 alternatives per position (0: the tokens' own log-probabilities only). */
  scoreTokens(prompts: number[][], k: number, signal?: AbortSignal): Promise<TokenScore[]>;
}

/** Refuses what no scorer can grade: an empty prompt, a non-integer or out-of-vocabulary id, a bad k. */
export function checkScoreRequest(prompts: readonly (readonly number[])[], k: number, vocabSize: number, maxSeqLen?: number): void {
  if (!Number.isInteger(k) || k < 0 || k > vocabSize) throw new torch.ConfigError(`scoreTokens: k must be an integer in [0, ${vocabSize}], got ${k}`);
  prompts.forEach((p, i) => {
    if (!Array.isArray(p) || p.length === 0) throw new torch.ConfigError(`scoreTokens: prompt ${i} is empty`);
    if (maxSeqLen !== undefined && p.length > maxSeqLen) throw new torch.ConfigError(`scoreTokens: prompt ${i} has ${p.length} tokens; the model reads at most ${maxSeqLen}`);
    const bad = p.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) throw new torch.ConfigError(`scoreTokens: prompt ${i} token ${bad} is ${JSON.stringify(p[bad])}, not an id in [0, ${vocabSize})`);
  });
}

/** Logits held at once while scoring (rows · positions · V floats): bounds memory for a large vocabulary. */
const LOGIT_BUDGET = 1 << 24;
/** Tokens run through the blocks together (their hidden states, B·T·d, are all that is kept). */
const TOKEN_BUDGET = 8192;

/**
 * Scores prompts with our own LM, synchronously. Prompts of similar length share a forward pass
 * through the blocks, right-padded: under the causal mask a real position never sees the padding
 * after it, so padding changes nothing. The head then runs on a few positions at a time, so the
 * (B, T, V) logits of a long prompt over a 152k vocabulary never exist at once. Per position:
 * lp = log_softmax(logits); logprobs = lp[ids[t+1]]; top = topk(lp, k); rank = 1 + #{v : lp[v] > lp[ids[t+1]]}.
 */
export function scoreWithModel(
  model: CausalLM, prompts: readonly (readonly number[])[], k: number,
  o: { logitBudget?: number; tokenBudget?: number; /** The tokenizer's size when the embedding is padded past it: ids from here on get no probability. */ vocabLimit?: number } = {},
): TokenScore[] {
  const V = Math.min(o.vocabLimit ?? model.cfg.vocabSize, model.cfg.vocabSize);
  checkScoreRequest(prompts, k, V, model.cfg.maxSeqLen);
  const out: TokenScore[] = new Array(prompts.length);
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let s = 0; s < order.length; ) {
      // The longest prompt of the group sets T; add rows while B·T stays in budget.
      let e = s + 1;
      while (e < order.length && (e - s + 1) * prompts[order[e]].length <= (o.tokenBudget ?? TOKEN_BUDGET)) e++;
      const rows = order.slice(s, e).map((i) => prompts[i]);
      scoreGroup(model, rows, k, o.logitBudget ?? LOGIT_BUDGET, V).forEach((r, j) => (out[order[s + j]] = r));
      s = e;
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

function scoreGroup(model: CausalLM, rows: readonly (readonly number[])[], k: number, logitBudget: number, V: number): TokenScore[] {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const out = rows.map((r): TokenScore => ({ ids: [...r], logprobs: new Array(r.length - 1), top: new Array(r.length - 1), ranks: new Array(r.length - 1) }));
  if (T < 2) return out;
  const kk = Math.max(k, 1);
  const C = Math.max(1, Math.min(T - 1, Math.floor(logitBudget / (B * V)))); // positions per head call
  torch.tidy(() =>
    torch.noGrad(() => {
      const flat = BigInt64Array.from(rows.flatMap((r) => [...r, ...new Array<number>(T - r.length).fill(0)]), BigInt);
      const ids = torch.tensor(flat, { shape: [B, T] });
      const h = model.hidden(ids); // (B, T, d)
      for (let t0 = 0; t0 < T - 1; t0 += C) {
        const n = Math.min(C, T - 1 - t0);
        const [lpTok, rank, topV, topI] = torch.tidy(() => {
          // (B, n, V): position t predicts ids[t+1]; a padded embedding's rows past V dropped (as −∞).
          // A bfloat16 model's logits are upcast first, as HF's logits.float().
          const z = model.head(h.narrow(1, t0, n));
          const logits = z.dtype === 'float32' ? z : z.toDtype('float32');
          const lp = (V < model.cfg.vocabSize ? logits.narrow(-1, 0, V) : logits).logSoftmax(-1);
          const next = ids.narrow(1, t0 + 1, n).unsqueeze(-1); // (B, n, 1)
          const own = lp.gather(-1, next); // (B, n, 1)
          const rank = lp.gt(own).sum(-1); // (B, n): tokens strictly more likely
          const { values, indices } = torch.topk(lp, kk, -1); // (B, n, k)
          return [own.contiguous().dataSync() as Float32Array, rank.contiguous().dataSync() as BigInt64Array,
            values.contiguous().dataSync() as Float32Array, indices.contiguous().dataSync() as BigInt64Array] as const;
        });
        rows.forEach((r, b) => {
          for (let j = 0; j < n && t0 + j < r.length - 1; j++) {
            const at = b * n + j;
            const s = out[b];
            s.logprobs[t0 + j] = lpTok[at];
            s.ranks![t0 + j] = Number(rank[at]) + 1;
            s.top[t0 + j] = { ids: Array.from(topI.subarray(at * kk, at * kk + k), Number), logprobs: Array.from(topV.subarray(at * kk, at * kk + k)) };
          }
        });
      }
    }),
  );
  return out;
}

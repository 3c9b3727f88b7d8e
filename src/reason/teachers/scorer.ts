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
  scoreTokens(prompts: number[][], k: number): Promise<TokenScore[]>;
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

/** Logits held at once while scoring (B·T·V floats): bounds memory for a large vocabulary. */
const LOGIT_BUDGET = 1 << 25;

/**
 * Scores prompts with our own LM, synchronously. Prompts of similar length share a forward pass,
 * right-padded: under the causal mask a real position never sees the padding after it, so
 * padding changes nothing. Per row: lp = log_softmax(logits) (T, V); logprobs = lp[t, ids[t+1]];
 * top = topk(lp[t], k); rank = 1 + #{v : lp[t, v] > lp[t, ids[t+1]]}.
 */
export function scoreWithModel(model: CausalLM, prompts: readonly (readonly number[])[], k: number): TokenScore[] {
  const V = model.cfg.vocabSize;
  checkScoreRequest(prompts, k, V, model.cfg.maxSeqLen);
  const out: TokenScore[] = new Array(prompts.length);
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let s = 0; s < order.length; ) {
      // The longest prompt of the group sets T; add rows while B·T·V stays in budget.
      let e = s + 1;
      while (e < order.length && (e - s + 1) * prompts[order[e]].length * V <= LOGIT_BUDGET) e++;
      const rows = order.slice(s, e).map((i) => prompts[i]);
      scoreGroup(model, rows, k).forEach((r, j) => (out[order[s + j]] = r));
      s = e;
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

function scoreGroup(model: CausalLM, rows: readonly (readonly number[])[], k: number): TokenScore[] {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  if (T < 2) return rows.map((r) => ({ ids: [...r], logprobs: [], top: [], ranks: [] }));
  const kk = Math.max(k, 1);
  const [lpTok, rank, topV, topI] = torch.tidy(() =>
    torch.noGrad(() => {
      const flat = BigInt64Array.from(rows.flatMap((r) => [...r, ...new Array<number>(T - r.length).fill(0)]), BigInt);
      const ids = torch.tensor(flat, { shape: [B, T] });
      const lp = model.call(ids).narrow(1, 0, T - 1).logSoftmax(-1); // (B, T−1, V): position t predicts ids[t+1]
      const next = ids.narrow(1, 1, T - 1).unsqueeze(-1); // (B, T−1, 1)
      const own = lp.gather(-1, next); // (B, T−1, 1)
      const rank = lp.gt(own).sum(-1); // (B, T−1): tokens strictly more likely
      const { values, indices } = torch.topk(lp, kk, -1); // (B, T−1, k)
      return [own.contiguous().dataSync() as Float32Array, rank.contiguous().dataSync() as BigInt64Array,
        values.contiguous().dataSync() as Float32Array, indices.contiguous().dataSync() as BigInt64Array] as const;
    }),
  );
  return rows.map((r, b) => {
    const n = r.length - 1;
    const s: TokenScore = { ids: [...r], logprobs: new Array(n), top: new Array(n), ranks: new Array(n) };
    for (let t = 0; t < n; t++) {
      const at = b * (T - 1) + t;
      s.logprobs[t] = lpTok[at];
      s.ranks![t] = Number(rank[at]) + 1;
      s.top[t] = { ids: Array.from(topI.subarray(at * kk, at * kk + k), Number), logprobs: Array.from(topV.subarray(at * kk, at * kk + k)) };
    }
    return s;
  });
}

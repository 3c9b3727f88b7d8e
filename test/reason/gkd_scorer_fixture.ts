// A scoring teacher for tests, loaded by blockingScorer's worker: a fixed bigram model over V
// tokens (the distribution at a position depends only on the token there), answered
// asynchronously like a server. Pure JS: no libtorch in the worker.
import { setTimeout as sleep } from 'node:timers/promises';

/** log softmax of row a of the bigram table: logits z_v = 3·sin(0.7·a + 1.3·v). */
export function bigramLogprobs(a: number, V: number): number[] {
  const z = Array.from({ length: V }, (_, v) => 3 * Math.sin(0.7 * a + 1.3 * v));
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
  return z.map((x) => x - lse);
}

export function bigramScores(prompts: number[][], k: number, V: number) {
  return prompts.map((ids) => {
    const rows = ids.slice(0, -1).map((a) => bigramLogprobs(a, V));
    return {
      ids,
      logprobs: rows.map((lp, i) => lp[ids[i + 1]]),
      top: rows.map((lp) => {
        const order = lp.map((_, v) => v).sort((x, y) => lp[y] - lp[x]).slice(0, k);
        return { ids: order, logprobs: order.map((v) => lp[v]) };
      }),
    };
  });
}

export class BigramScorer {
  constructor(readonly V: number) {}
  async scoreTokens(prompts: number[][], k: number) {
    await sleep(1);
    return bigramScores(prompts, k, this.V);
  }
}

export class FailingScorer {
  async scoreTokens(): Promise<never> {
    await sleep(1);
    throw Object.assign(new Error('the server does not return prompt log-probabilities (echo + logprobs)'), { code: 'ERR_TEACHER_FEATURE' });
  }
}

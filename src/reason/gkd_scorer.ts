// A teacher that grades given tokens (a TokenScorer: a served model's /v1/completions with
// echoed prompt log-probabilities, or our own LM) as the teacher of on-policy distillation.
//
// The training loop is synchronous (one libtorch step after another) and a remote scorer is
// async, so blockingScorer runs the scorer in a worker thread and waits for each answer with
// Atomics.wait; the answer comes back through receiveMessageOnPort. The scorer is named by a
// module and an export (what a worker can import), not passed as an object.
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { GkdTeacher } from './gkd.js';

/** One prompt's grades (reason/teachers/scorer.ts' TokenScore): entry i is about position i + 1. */
export interface TokenScoreLike {
  ids: number[];
  logprobs: number[];
  top: { ids: number[]; logprobs: number[] }[];
}

/** Synchronous grading of token sequences with the top-k at each position. */
export interface SyncScorer {
  scoreTokens(prompts: number[][], k: number): TokenScoreLike[];
}

/** How a worker builds the scorer: `new (await import(module))[export](...args)` (or a call, with construct false). */
export interface ScorerSpec {
  module: string;
  export: string;
  args?: unknown[];
  construct?: boolean;
}

/** A TokenScorer (async, e.g. HttpTeacher) in a worker, answered synchronously. Call close() when done. */
export function blockingScorer(spec: ScorerSpec, o: { timeoutMs?: number } = {}): SyncScorer & { close(): void } {
  const { port1, port2 } = new MessageChannel();
  const flag = new SharedArrayBuffer(4);
  const wake = new Int32Array(flag);
  const worker = new Worker(fileURLToPath(new URL('./gkd_scorer_worker.js', import.meta.url)), { workerData: { spec, port: port2, flag }, transferList: [port2] });
  worker.unref();
  const timeout = o.timeoutMs ?? 15 * 60_000;
  return {
    scoreTokens(prompts, k) {
      Atomics.store(wake, 0, 0);
      port1.postMessage({ prompts, k });
      if (Atomics.wait(wake, 0, 0, timeout) === 'timed-out') throw new torch.DistillError('ERR_TEACHER', `the scoring teacher (${spec.export} from ${spec.module}) gave no answer in ${timeout / 1000} s`);
      const m = receiveMessageOnPort(port1)?.message as { result?: TokenScoreLike[]; error?: { message: string; code?: string } } | undefined;
      if (!m) throw new torch.DistillError('ERR_TEACHER', 'the scoring teacher\'s worker woke without an answer');
      if (m.error) throw new torch.DistillError(m.error.code ?? 'ERR_TEACHER', `scoring teacher: ${m.error.message}`);
      return m.result!;
    },
    close() {
      port1.close();
      void worker.terminate();
    },
  };
}

/**
 * A scorer as GKD's teacher: each batch row is sent as its tokens up to the last completion
 * token, and the top-k at every completion position comes back as that position's grade (logged
 * with the samples, so a resumed run does not ask again).
 */
export function scorerTeacher(scorer: SyncScorer, o: { vocabSize: number; k: number }): GkdTeacher {
  if (!Number.isInteger(o.k) || o.k < 1 || o.k > o.vocabSize) throw new torch.ConfigError(`gkd: the scoring teacher's k must be a whole number in [1, ${o.vocabSize}], got ${o.k}`);
  return {
    vocabSize: o.vocabSize,
    topk: true,
    grade(input: Tensor, rows: Tensor, target: Tensor) {
      const [B, T] = input.shape;
      const x = Array.from(input.dataSync() as BigInt64Array, Number);
      const y = Array.from(target.dataSync() as BigInt64Array, Number);
      const at = Array.from(rows.dataSync() as BigInt64Array, Number);
      // Per batch row, its last graded position: the sequence sent is x[0..last] + the token x predicts there.
      const last = new Array<number>(B).fill(-1);
      for (const r of at) last[Math.floor(r / T)] = Math.max(last[Math.floor(r / T)], r % T);
      const asked = last.flatMap((l, b) => (l < 0 ? [] : [b]));
      const seqs = asked.map((b) => [...x.slice(b * T, b * T + last[b] + 1), y[b * T + last[b]]]);
      const scores = scorer.scoreTokens(seqs, o.k);
      if (scores.length !== seqs.length) throw new torch.DistillError('ERR_TEACHER', `scoring teacher: asked for ${seqs.length} sequences, got ${scores.length}`);
      const byRow = new Map(asked.map((b, i) => [b, scores[i]]));
      const ids: number[] = [], lps: number[] = [];
      for (const r of at) {
        const b = Math.floor(r / T), t = r % T;
        const top = byRow.get(b)!.top[t]; // entry t: the distribution at position t, predicting token t + 1
        if (!top || top.ids.length < o.k) throw new torch.DistillError('ERR_TEACHER', `scoring teacher: row ${b} position ${t + 1} came back with ${top?.ids.length ?? 0} alternatives, ${o.k} asked for`);
        ids.push(...top.ids.slice(0, o.k));
        lps.push(...top.logprobs.slice(0, o.k));
      }
      return {
        ids: torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [at.length, o.k] }),
        logprobs: torch.tensor(Float32Array.from(lps), { shape: [at.length, o.k] }),
      };
    },
  };
}

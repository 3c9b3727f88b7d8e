// Checking exported LMs in the runtimes they are meant for:
//   - ONNX: onnxruntime-node's logits against our libtorch forward, element by element;
//   - GGUF: node-llama-cpp (its bundled llama.cpp, CPU) generating greedily from our prompt
//     ids through the low-level sequence API (no chat template, no added BOS), against our
//     generate() at temperature 0; and teacher-forced next-token probabilities.
// Plus the timings the benchmark reports, each runtime timed in its own loop.
// The llama.cpp runner itself is in llama_cpp.ts.
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import * as torch from '../torch/index.js';
import { KVCache, type CausalLM } from '../lm/model.js';
import { generate } from '../lm/generate.js';
import { maxAbsDiff, seededUniform } from './check.js';
import type { LlamaCppRunner } from './llama_cpp.js';

// ── ONNX ────────────────────────────────────────────────────────────────────────────

export interface IdBatch {
  /** (batch, sequence) token ids, row-major. */
  ids: BigInt64Array;
  shape: [number, number];
}

/**
 * Random token batches from a seeded generator: `samples` sequences in total, grouped as
 * batches whose batch size and sequence length both vary (1…maxLen), so the dynamic axes
 * are exercised.
 */
export function randomIdBatches(vocabSize: number, maxLen: number, samples = 100, seed = 1): IdBatch[] {
  const sizes = [1, 1, 2, 3, 4, 5, 7, 8];
  const out: IdBatch[] = [];
  let left = samples, k = 0;
  const u = seededUniform(samples * 2 + 64, seed);
  while (left > 0) {
    const B = Math.min(left, sizes[k % sizes.length]);
    const T = 1 + Math.floor(u[k] * maxLen);
    const r = seededUniform(B * T, seed * 7919 + k);
    out.push({ ids: BigInt64Array.from(r, (v) => BigInt(Math.floor(v * vocabSize))), shape: [B, T] });
    left -= B;
    k++;
  }
  return out;
}

/** onnxruntime's logits (B, T, V) for a batch of ids. */
export async function ortLmLogits(s: ort.InferenceSession, b: IdBatch): Promise<Float32Array> {
  const out = await s.run({ input_ids: new ort.Tensor('int64', b.ids, b.shape) });
  return out.logits.data as Float32Array;
}

/** Our logits (B, T, V) for the same batch: one full forward, eval mode, no grad. */
export function ourLmLogits(model: CausalLM, b: IdBatch): Float32Array {
  const was = model.training;
  model.eval();
  try {
    return torch.tidy(() => torch.noGrad(() => model.call(torch.tensor(b.ids, { shape: b.shape })).dataSync() as Float32Array));
  } finally {
    model.train(was);
  }
}

export interface LmCompareResult {
  samples: number;
  tokens: number;
  maxAbsDiff: number;
  /** Positions where the next-token argmax differs. */
  argmaxMismatches: number;
}

export async function compareLmWithOrt(model: CausalLM, s: ort.InferenceSession, batches: readonly IdBatch[]): Promise<LmCompareResult> {
  const V = model.cfg.vocabSize;
  let samples = 0, tokens = 0, worst = 0, mism = 0;
  for (const b of batches) {
    const ours = ourLmLogits(model, b), theirs = await ortLmLogits(s, b);
    worst = Math.max(worst, maxAbsDiff(ours, theirs));
    for (let r = 0; r < ours.length / V; r++) if (argmax(ours, r * V, V) !== argmax(theirs, r * V, V)) mism++;
    samples += b.shape[0];
    tokens += b.shape[0] * b.shape[1];
  }
  return { samples, tokens, maxAbsDiff: worst, argmaxMismatches: mism };
}

function argmax(z: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (z[off + i] > z[off + best]) best = i;
  return best;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface LmLatency {
  /** Context length of the timed forward. */
  context: number;
  /** onnxruntime, one full forward over `context` tokens, batch 1 (the ONNX file has no KV cache). */
  ortFullMs: number;
  /** Ours, the same full forward. */
  oursFullMs: number;
  /** Ours, one cached decoding step after a `context − 1`-token prefill (what generate() pays per token). */
  oursCachedStepMs: number;
}

/** Median milliseconds of `reps` calls of f after 3 warm-up calls. */
async function medianMs(f: () => unknown, reps: number): Promise<number> {
  for (let i = 0; i < 3; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

/** The timed batch-1 input: `context` seeded token ids. */
function latencyBatch(vocabSize: number, T: number): IdBatch {
  return { ids: BigInt64Array.from(seededUniform(T, 5), (v) => BigInt(Math.floor(v * vocabSize))), shape: [1, T] };
}

/** onnxruntime alone: one full batch-1 forward over `context` tokens (median of `reps`). */
export async function ortLatencyMs(s: ort.InferenceSession, vocabSize: number, context: number, reps = 30): Promise<number> {
  const b = latencyBatch(vocabSize, context);
  return medianMs(() => ortLmLogits(s, b), reps);
}

/** Batch-1 next-token latency (medians of `reps`), each runtime in its own loop after a warm-up. */
export async function lmLatencyBatch1(model: CausalLM, s: ort.InferenceSession, context: number, reps = 30): Promise<LmLatency> {
  const T = Math.max(1, Math.min(context, model.cfg.maxSeqLen));
  const b = latencyBatch(model.cfg.vocabSize, T);
  const time = (f: () => unknown) => medianMs(f, reps);
  const oursFullMs = await time(() => ourLmLogits(model, b));
  const ortFullMs = await time(() => ortLmLogits(s, b));
  // The cached step: prefill T − 1 once per repetition (untimed), time the last token.
  const stepTimes: number[] = [];
  model.eval();
  for (let i = 0; i < reps + 3; i++) {
    const cache = new KVCache(model.cfg.nLayers, T);
    try {
      torch.tidy(() => torch.noGrad(() => void (T > 1 && model.call(torch.tensor(b.ids.subarray(0, T - 1), { shape: [1, T - 1] }), cache))));
      const t = performance.now();
      torch.tidy(() => torch.noGrad(() => model.call(torch.tensor(b.ids.subarray(T - 1), { shape: [1, 1] }), cache).dataSync()));
      if (i >= 3) stepTimes.push(performance.now() - t);
    } finally {
      cache.dispose();
    }
  }
  return { context: T, ortFullMs, oursFullMs, oursCachedStepMs: median(stepTimes) };
}

// ── GGUF through node-llama-cpp ─────────────────────────────────────────────────────
// The runner lives in llama_cpp.ts (shared with the GGUF teacher); re-exported here.
export { loadLlamaCpp, LlamaCppRunner, type LlamaCppOptions } from './llama_cpp.js';

export interface GreedyDivergence {
  prompt: number;
  step: number;
  ours: number;
  theirs: number;
  /** Our logit of our pick minus our logit of llama.cpp's pick: near 0 means a tie that rounding decided. */
  ourLogitGap: number;
}

export interface GreedyAgreement {
  prompts: number;
  tokensPerPrompt: number;
  /** Prompts whose n generated ids are identical. */
  identicalPrompts: number;
  /** Tokens generated identically before the first divergence, summed over prompts. */
  matchedTokens: number;
  totalTokens: number;
  divergences: GreedyDivergence[];
  /** The largest ourLogitGap at a divergence (0 when none). */
  worstGap: number;
}

/** Our logits for the next token after `ids` (one full forward). */
function nextLogits(model: CausalLM, ids: readonly number[]): Float32Array {
  return torch.tidy(() => torch.noGrad(() => model.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })).select(1, ids.length - 1).select(0, 0).dataSync() as Float32Array));
}

/**
 * Greedy generation of n tokens per prompt in llama.cpp (the GGUF file) and ours
 * (generate at temperature 0, no end token); at the first divergence of a prompt, records
 * how far apart our two candidates were.
 */
export async function compareGreedyWithLlamaCpp(model: CausalLM, runner: LlamaCppRunner, prompts: readonly (readonly number[])[], n: number): Promise<GreedyAgreement> {
  const r: GreedyAgreement = { prompts: prompts.length, tokensPerPrompt: n, identicalPrompts: 0, matchedTokens: 0, totalTokens: 0, divergences: [], worstGap: 0 };
  for (let p = 0; p < prompts.length; p++) {
    const prompt = prompts[p];
    const steps = Math.min(n, model.cfg.maxSeqLen - prompt.length);
    const ours = generate(model, prompt, { maxNewTokens: steps }).ids;
    const theirs = await runner.greedy(prompt, steps);
    let k = 0;
    while (k < steps && ours[k] === theirs[k]) k++;
    r.matchedTokens += k;
    r.totalTokens += steps;
    if (k === steps) r.identicalPrompts++;
    else {
      const z = nextLogits(model, [...prompt, ...ours.slice(0, k)]);
      const d: GreedyDivergence = { prompt: p, step: k, ours: ours[k], theirs: theirs[k], ourLogitGap: z[ours[k]] - (z[theirs[k]] ?? -Infinity) };
      r.divergences.push(d);
      r.worstGap = Math.max(r.worstGap, d.ourLogitGap);
    }
  }
  return r;
}

/** Decoding speed (tokens/s) of llama.cpp and of our generate(), greedy, same prompt, median of reps. */
export async function tokensPerSecond(model: CausalLM, runner: LlamaCppRunner, prompt: readonly number[], n: number, reps = 3): Promise<{ llamaCpp: number; ours: number; tokens: number }> {
  const steps = Math.min(n, model.cfg.maxSeqLen - prompt.length);
  await runner.greedy(prompt, 4); // warm
  generate(model, prompt, { maxNewTokens: 4 });
  // Separate loops: one runtime's idle worker threads must not slow the other one down.
  const theirs: number[] = [], ours: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await runner.greedy(prompt, steps);
    theirs.push(steps / ((performance.now() - t) / 1000));
  }
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    generate(model, prompt, { maxNewTokens: steps });
    ours.push(steps / ((performance.now() - t) / 1000));
  }
  return { llamaCpp: median(theirs), ours: median(ours), tokens: steps };
}

// Does model B behave like model A? The question after every conversion, answered with each
// side in its own runtime: our engine for an LM or Hugging Face folder (lm/load.ts), llama.cpp
// (node-llama-cpp) for a .gguf file. On a set of prompts (built in: English, Chinese, code,
// whitespace runs, special tokens; or the user's), three measures:
//   tokenization agreement  share of prompts both sides tokenize to the same ids;
//   max |Δ|                 over every position of every prompt (A's ids fed to both) and every
//                           token: of the logits when both sides are ours, else of the
//                           log-probabilities, since llama.cpp gives probabilities only;
//   greedy agreement        64 new tokens per prompt, greedy from the same ids: the share of
//                           tokens generated before the two first differ.
import * as torch from '../torch/index.js';
import { GgufFile } from '../io/index.js';
import { ByteTokenizer, generate, loadAnyLm, type Tokenizer } from '../lm/index.js';
import { LlamaCppRunner } from '../lm/llama_cpp.js';

/** One model in its runtime. */
interface Side {
  path: string;
  runtime: 'distill' | 'llama.cpp';
  vocabSize: number;
  tokenize(text: string): number[];
  /** Next-token scores after each position of `ids`: (T, V) rows, logits (ours) or log-probabilities. */
  scores(ids: readonly number[], kind: 'logits' | 'logprobs'): Promise<Float64Array[]>;
  greedy(prompt: readonly number[], n: number): Promise<number[]>;
  dispose(): Promise<void>;
}

export interface LmCompareReport {
  a: { path: string; runtime: string; vocabSize: number };
  b: { path: string; runtime: string; vocabSize: number };
  prompts: number;
  /** What maxAbsLogitDiff compares: 'logits' (both sides ours) or 'log-probabilities' (a llama.cpp side). */
  compared: 'logits' | 'log-probabilities';
  maxAbsLogitDiff: number;
  /** The worst position: prompt index, position, token. */
  worst: { prompt: number; position: number; token: number } | null;
  greedyTokens: number;
  greedyAgreement: number;
  greedyIdenticalPrompts: number;
  tokenizationAgreement: number;
  /** Prompts the two sides tokenize differently, with both id lists (the first 5). */
  tokenizationDiffs: { prompt: number; a: number[]; b: number[] }[];
}

/** The built-in prompts: English, Chinese, code, whitespace, digits, and the model's own special tokens. */
export function defaultPrompts(tokenizer: Tokenizer): string[] {
  const eos = tokenizer.tokenText(tokenizer.eosId);
  return [
    'The quick brown fox jumps over the lazy dog.',
    'A farm has 10 heads and 28 legs among its chickens and rabbits. How many of each?',
    '鸡兔同笼，共有头10个，脚28只，问鸡兔各几只？',
    'def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n',
    'const xs = [1, 2, 3].map((x) => x * 2); // 😀\n',
    '   leading spaces,\ttabs\t\tand\n\n\nnewlines   ',
    '3141592653589793238462643383279502884197',
    `Special tokens: ${eos} and text after them.`,
  ];
}

async function ourSide(path: string): Promise<Side & { tokenizer: Tokenizer }> {
  const { model, tokenizer } = loadAnyLm(path);
  model.eval();
  const logits = (ids: readonly number[]) => torch.tidy(() => torch.noGrad(() => {
    const z = model.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })); // (1, T, V)
    return z.dataSync() as Float32Array;
  }));
  return {
    path, runtime: 'distill', vocabSize: model.cfg.vocabSize, tokenizer,
    tokenize: (text) => tokenizer.encode(text),
    scores: async (ids, kind) => {
      const V = model.cfg.vocabSize;
      const z = logits(ids);
      return ids.map((_, t) => {
        const row = Float64Array.from(z.subarray(t * V, (t + 1) * V));
        if (kind === 'logits') return row;
        let m = -Infinity;
        for (const v of row) m = Math.max(m, v);
        let s = 0;
        for (const v of row) s += Math.exp(v - m);
        const lse = m + Math.log(s);
        return row.map((v) => v - lse);
      });
    },
    greedy: async (prompt, n) => generate(model, [...prompt], { maxNewTokens: Math.min(n, model.cfg.maxSeqLen - prompt.length), eosId: null }).ids.slice(0, n),
    dispose: async () => model.dispose(),
  };
}

/** The GGUF's vocabulary size: `<arch>.vocab_size`, else the length of its token list. */
function ggufVocabSize(path: string): number {
  const f = GgufFile.open(path);
  try {
    const m = f.metadata;
    const n = m[`${String(m['general.architecture'])}.vocab_size`];
    const tokens = m['tokenizer.ggml.tokens'];
    return typeof n === 'number' ? n : Array.isArray(tokens) ? tokens.length : 0;
  } finally {
    f.close();
  }
}

async function llamaSide(path: string, parseSpecials: boolean): Promise<Side> {
  const V = ggufVocabSize(path);
  const r = await LlamaCppRunner.open(path);
  return {
    path, runtime: 'llama.cpp', vocabSize: V,
    tokenize: (text) => r.tokenize(text, parseSpecials),
    scores: async (ids) => (await r.nextProbabilities(ids, V)).map((row) => row.map((p) => Math.log(p))),
    greedy: (prompt, n) => r.greedy(prompt, n),
    dispose: () => r.dispose(),
  };
}

export interface CompareLmOptions {
  prompts?: string[];
  /** New tokens per prompt for the greedy comparison (default 64). */
  newTokens?: number;
}

/** Compares the models at `a` and `b` (LM folders, Hugging Face folders or .gguf files). */
export async function compareLms(a: string, b: string, o: CompareLmOptions = {}): Promise<LmCompareReport> {
  const isGguf = (p: string) => p.endsWith('.gguf');
  if (isGguf(a) && isGguf(b)) throw new torch.ConfigError('lm compare: at least one side must be a folder run in this engine (both are .gguf files)');
  // The folder side is A, so its tokenizer names the prompts' special tokens and decides whether llama.cpp parses them.
  const [fa, fb] = isGguf(a) ? [b, a] : [a, b];
  const A = await ourSide(fa);
  let B: Side | null = null;
  try {
    B = isGguf(fb) ? await llamaSide(fb, !(A.tokenizer instanceof ByteTokenizer)) : await ourSide(fb);
    if (A.vocabSize !== B.vocabSize) throw new torch.ConfigError(`lm compare: ${fa} has a vocabulary of ${A.vocabSize}, ${fb} of ${B.vocabSize}; their logits cannot be compared`);
    const compared = A.runtime === 'distill' && B.runtime === 'distill' ? 'logits' : 'log-probabilities';
    const kind = compared === 'logits' ? 'logits' : 'logprobs';
    const prompts = o.prompts ?? defaultPrompts(A.tokenizer);
    if (prompts.length === 0) throw new torch.ConfigError('lm compare: no prompts');
    const n = o.newTokens ?? 64;
    const report: LmCompareReport = {
      a: { path: fa, runtime: A.runtime, vocabSize: A.vocabSize }, b: { path: fb, runtime: B.runtime, vocabSize: B.vocabSize },
      prompts: prompts.length, compared, maxAbsLogitDiff: 0, worst: null, greedyTokens: 0, greedyAgreement: 0, greedyIdenticalPrompts: 0,
      tokenizationAgreement: 0, tokenizationDiffs: [],
    };
    let sameTok = 0, matched = 0;
    for (let p = 0; p < prompts.length; p++) {
      const ids = A.tokenize(prompts[p]);
      const idsB = B.tokenize(prompts[p]);
      if (ids.length === idsB.length && ids.every((t, i) => t === idsB[i])) sameTok++;
      else if (report.tokenizationDiffs.length < 5) report.tokenizationDiffs.push({ prompt: p, a: ids, b: idsB });
      if (ids.length === 0) continue;
      const [sa, sb] = [await A.scores(ids, kind), await B.scores(ids, kind)];
      sa.forEach((row, t) => row.forEach((v, tok) => {
        const w = sb[t][tok];
        // A token one side gives no probability at all (llama.cpp's p = 0, log −∞) is left out of the max.
        if (!Number.isFinite(v) || !Number.isFinite(w)) return;
        const d = Math.abs(v - w);
        if (d > report.maxAbsLogitDiff) {
          report.maxAbsLogitDiff = d;
          report.worst = { prompt: p, position: t, token: tok };
        }
      }));
      const [ga, gb] = [await A.greedy(ids, n), await B.greedy(ids, n)];
      const steps = Math.min(ga.length, gb.length);
      let k = 0;
      while (k < steps && ga[k] === gb[k]) k++;
      matched += k;
      report.greedyTokens += steps;
      if (k === steps) report.greedyIdenticalPrompts++;
    }
    report.tokenizationAgreement = sameTok / prompts.length;
    report.greedyAgreement = report.greedyTokens ? matched / report.greedyTokens : 1;
    return report;
  } finally {
    await B?.dispose();
    await A.dispose();
  }
}

// Small Llama-style LMs for the LM export tests, made in the test (seeded, CPU, seconds):
// a random one, and one trained for a few steps on a repetitive text so that its greedy
// continuations are unambiguous (random tiny models have near-tied logits everywhere,
// and float rounding would decide between runtimes, not the export).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import * as optim from '../../src/optim/index.js';
import { CausalLM, type LmConfig } from '../../src/lm/model.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { LlamaCppRunner } from '../../src/export/lm_check.js';

export const tok = new ByteTokenizer();

/** The text the trained fixture learns: a fixed cycle, so every byte follows from the ones before. */
export const CYCLE = 'the quick brown fox jumps over the lazy dog; 0123456789 小狗 ';

export const SMALL: Partial<LmConfig> & { vocabSize: number } = {
  vocabSize: 260, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 128,
};

export function randomLm(cfg: Partial<LmConfig> & { vocabSize: number } = SMALL, seed = 1): CausalLM {
  torch.manualSeed(seed);
  return new CausalLM(cfg).eval();
}

/** A few AdamW steps of next-byte prediction on CYCLE repeated, from random windows. */
export function trainedLm(cfg: Partial<LmConfig> & { vocabSize: number } = SMALL, seed = 1, steps = 80): CausalLM {
  const m = randomLm(cfg, seed).train();
  const bytes = tok.encode(CYCLE.repeat(16));
  const T = 48, B = 8;
  const opt = new optim.AdamW(m.parameters(), { lr: 1e-2, weightDecay: 0 });
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let step = 0; step < steps; step++) {
    torch.tidy(() => {
      const rows: number[] = [];
      for (let b = 0; b < B; b++) {
        const at = Math.floor(rand() * (bytes.length - T - 1));
        rows.push(...bytes.slice(at, at + T + 1));
      }
      const all = torch.tensor(BigInt64Array.from(rows, BigInt), { shape: [B, T + 1] });
      const x = all.narrow(1, 0, T), y = all.narrow(1, 1, T);
      const logits = m.call(x); // (B, T, V)
      const loss = torch.crossEntropy(logits.reshape([B * T, cfg.vocabSize]), y.reshape([B * T]));
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  }
  return m.eval();
}

/** 20 prompt id lists (with <|bos|>): windows of the cycle at different offsets and lengths, a chat prompt, free text. */
export function prompts(n = 20): number[][] {
  const text = CYCLE.repeat(4);
  const out: number[][] = [];
  for (let i = 0; i < n - 2; i++) out.push([ByteTokenizer.BOS, ...tok.encode(text.slice((i * 7) % CYCLE.length, (i * 7) % CYCLE.length + 5 + ((i * 3) % 20)))]);
  out.push(tok.chatPrompt([{ role: 'user', content: 'the quick brown' }]));
  out.push([ByteTokenizer.BOS, ...tok.encode('Hello, 世界! ')]);
  return out;
}

/**
 * A trained LM folder to check as well: $DISTILL_LM_DIR, else the reasoning teacher the
 * repository ships (assets/reasoning-teacher), so the check always runs on a trained model.
 */
export function trainedLmFolder(): string | undefined {
  const dir = process.env.DISTILL_LM_DIR ?? fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));
  return existsSync(join(dir, 'lm.json')) ? dir : undefined;
}

/** Random weights that all matter: matrices N(0, matrixStd²), by default 0.15, biases N(0, 0.1²), norms 1 + N(0, 0.1²). */
export function randomWeightsLm(cfg: Partial<LmConfig> & { vocabSize: number }, seed: number, matrixStd = 0.15): CausalLM {
  torch.manualSeed(seed);
  const m = new CausalLM(cfg).eval();
  torch.noGrad(() => {
    for (const [name, p] of m.namedParameters()) {
      if (p.ndim > 1) p.copy_(torch.randn([...p.shape]).mul(matrixStd));
      else if (name.endsWith('.bias')) p.copy_(torch.randn([...p.shape]).mul(0.1));
      else p.copy_(torch.randn([...p.shape]).mul(0.1).add(1));
    }
  });
  return m;
}

/**
 * llama.cpp's next-token distributions on the GGUF at `path` against `m`'s, at every position:
 * max |log p_llama − log p_ours| (where p_ours > 1e-6) and the mean KL(p_llama ‖ p_ours) in nats.
 */
export async function logprobDiff(m: CausalLM, path: string, seqs: number[][]): Promise<{ logp: number; meanKl: number; positions: number }> {
  const r = await LlamaCppRunner.open(path);
  const V = m.cfg.vocabSize;
  const d = { logp: 0, meanKl: 0, positions: 0 };
  let kl = 0;
  try {
    for (const ids of seqs) {
      const theirs = await r.nextProbabilities(ids, V);
      const ours = torch.tidy(() => torch.noGrad(() => torch.logSoftmax(m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })), -1).dataSync() as Float32Array));
      theirs.forEach((row, t) => row.forEach((p, v) => {
        const lq = ours[t * V + v];
        if (lq > Math.log(1e-6)) d.logp = Math.max(d.logp, Math.abs(Math.log(p) - lq));
        if (p > 0) kl += p * (Math.log(p) - lq);
      }));
      d.positions += ids.length;
    }
  } finally {
    await r.dispose();
  }
  d.meanKl = kl / Math.max(1, d.positions);
  return d;
}

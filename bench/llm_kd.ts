// The top-k store of teacher distributions (src/io/topk_store.ts), measured on real LM softmax
// outputs. Usage: npm run bench:llm-kd -- [--json] [--k 64] [--tokens 3072] [--vocab 151936] [--rounds 5]
// Last line: {"topk_store": {k, bytes_per_token, kl_to_exact_topk, write_tokens_per_s, read_tokens_per_s, …}}
//
// Distributions: a randomly initialised Llama (dim 64, 2 layers) with a Qwen-size vocabulary
// (151,936 ids: the worst case for id bits) reads random token sequences; its logits / T go
// through log_softmax and the top-k, at T = 0.1, 0.03 and 0.01 (a random model's logits are
// nearly flat: these give mean entropies ≈ 10.7, 3.1 and 0.6 nats, reported) — a third of the tokens at each. A trained teacher sits
// inside this range; the byte count depends on the vocabulary (ids) and k, the KL on the grid.
//   bytes_per_token    the shard size (header included) / tokens
//   kl_to_exact_topk   mean over tokens of KL(P ‖ Q) in nats, P = the exact top-k probabilities plus
//                      the tail bucket 1 − Σ top-k, Q = the same read back from the store, normalised
//   kl_max             the largest per-token KL
//   write/read_tokens_per_s   appending (coding + write(2), fdatasync at the end) / opening and
//                      reading every record back (positional reads + decoding), one thread;
//                      the median of --rounds after one warm-up round
//   json_bytes_per_token      the same top-k as traces.jsonl's logprobs JSON, for comparison
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { CausalLM } from '../src/lm/model.js';
import { TopkStoreReader, TopkStoreWriter, DEFAULT_QUANT } from '../src/io/topk_store.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    k: { type: 'string', default: '64' },
    tokens: { type: 'string', default: '3072' },
    vocab: { type: 'string', default: '151936' },
    rounds: { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run bench:llm-kd -- [--json] [--k 64] [--tokens 3072] [--vocab 151936] [--rounds 5]');
  process.exit(0);
}
const k = Number(args.k);
const V = Number(args.vocab);
const SEQ = 128;
const ROUNDS = Math.max(1, Number(args.rounds));
const TEMPS = [0.1, 0.03, 0.01];
const nSeq = Math.max(TEMPS.length, Math.round(Number(args.tokens) / SEQ));
const log = (m: string) => {
  if (!args.json) console.log(m);
};
torch.setNumThreads(2);
torch.manualSeed(0);

interface Dist {
  ids: number[];
  logprobs: number[];
}

// The teacher's distributions: one sequence at a time, (1, SEQ, V) logits.
const model = new CausalLM({ vocabSize: V, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: SEQ });
model.eval();
const seqs: { T: number; dists: Dist[] }[] = [];
const entropy = new Map<number, number[]>();
for (let s = 0; s < nSeq; s++) {
  const T = TEMPS[s % TEMPS.length];
  const ids = Array.from({ length: SEQ }, (_, i) => (s * 7919 + i * 104729) % V);
  const [lpTop, idTop, ent] = torch.tidy(() =>
    torch.noGrad(() => {
      const lp = model.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, SEQ] })).div(T).logSoftmax(-1); // (1, SEQ, V)
      const { values, indices } = torch.topk(lp, k, -1); // (1, SEQ, k)
      const h = lp.exp().mul(lp).sum(-1).neg(); // (1, SEQ) entropy in nats
      return [values.dataSync() as Float32Array, indices.dataSync() as BigInt64Array, h.dataSync() as Float32Array] as const;
    }),
  );
  const dists = Array.from({ length: SEQ }, (_, t) => ({
    ids: Array.from(idTop.subarray(t * k, (t + 1) * k), Number),
    logprobs: Array.from(lpTop.subarray(t * k, (t + 1) * k)),
  }));
  seqs.push({ T, dists });
  entropy.set(T, [...(entropy.get(T) ?? []), ...ent]);
}
model.dispose();
const tokens = seqs.length * SEQ;

const header = { teacher: 'bench-random-llama', tokenizerHash: '0'.repeat(64), k, vocabSize: V };
const root = mkdtempSync(join(tmpdir(), 'bench-topk-'));
try {
  // Each round writes the whole set into a fresh store, then opens it and reads every record back.
  // Round 0 warms the JIT up and is not counted; the median of the rest is reported (the machine is shared).
  const writeS: number[] = [];
  const readS: number[] = [];
  let bytes = 0;
  let back: ReturnType<TopkStoreReader['get']>[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const dir = join(root, `r${round}`);
    let t0 = performance.now();
    const w = TopkStoreWriter.open(dir, header);
    seqs.forEach((s, i) => w.append(`seq-${i}`, s.dists));
    w.close();
    const tw = (performance.now() - t0) / 1000;
    bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    t0 = performance.now();
    const r = TopkStoreReader.open(dir, { teacher: header.teacher, k });
    back = seqs.map((_, i) => r.get(`seq-${i}`));
    r.close();
    const tr = (performance.now() - t0) / 1000;
    if (round > 0) {
      writeS.push(tw);
      readS.push(tr);
    }
    rmSync(dir, { recursive: true, force: true });
  }

  // KL(P ‖ Q) over the top-k plus the tail bucket, Q normalised (float64).
  const kls: number[] = [];
  const klByT = new Map<number, number[]>();
  seqs.forEach((s, i) =>
    s.dists.forEach((e, t) => {
      const g = back[i]![t];
      const q = new Map(g.ids.map((id, j) => [id, Math.exp(g.logprobs[j])]));
      const pairs = e.ids.map((id, j) => [Math.exp(e.logprobs[j]), q.get(id) ?? 0]);
      pairs.push([Math.max(0, 1 - pairs.reduce((n, [p]) => n + p, 0)), Math.max(0, g.tail)]);
      const zq = pairs.reduce((n, [, x]) => n + x, 0);
      const kl = pairs.reduce((n, [p, x]) => (p > 0 ? n + p * Math.log(p / (x / zq)) : n), 0);
      kls.push(kl);
      klByT.set(s.T, [...(klByT.get(s.T) ?? []), kl]);
    }),
  );
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  // traces.jsonl today: per token {token, logprob, id, bytes, top: [{token, logprob, id, bytes}]}; bytes ≈ 2 per token.
  const json = seqs.flatMap((s) => s.dists).reduce((n, d) => n + JSON.stringify({
    token: 'ab', logprob: d.logprobs[0], id: d.ids[0], bytes: [97, 98],
    top: d.ids.map((id, j) => ({ token: 'ab', logprob: d.logprobs[j], id, bytes: [97, 98] })),
  }).length + 1, 0);

  const perT = TEMPS.map((T) => ({ T, mean_entropy_nats: +mean(entropy.get(T)!).toFixed(3), kl: +mean(klByT.get(T)!).toExponential(3) }));
  for (const p of perT) log(`T = ${p.T}: mean entropy ${p.mean_entropy_nats} nats, KL to exact top-${k} ${p.kl} nats`);
  log(`${tokens} tokens, vocab ${V}, k ${k}, ${DEFAULT_QUANT.bits}-bit grid of ${DEFAULT_QUANT.step} nats: ${(bytes / tokens).toFixed(1)} bytes/token (JSON: ${(json / tokens).toFixed(0)})`);
  console.log(JSON.stringify({
    topk_store: {
      k,
      vocab_size: V,
      tokens,
      quant: DEFAULT_QUANT,
      bytes_per_token: +(bytes / tokens).toFixed(2),
      json_bytes_per_token: +(json / tokens).toFixed(1),
      kl_to_exact_topk: +mean(kls).toExponential(3),
      kl_max: +Math.max(...kls).toExponential(3),
      write_tokens_per_s: Math.round(tokens / median(writeS)),
      read_tokens_per_s: Math.round(tokens / median(readS)),
      temperatures: perT,
    },
  }));
} finally {
  rmSync(root, { recursive: true, force: true });
}

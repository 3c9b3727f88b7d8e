// Structured pruning of a trained LM into a smaller one of the same family: the student
// starts from the teacher's most important layers, heads, MLP neurons and residual
// channels instead of from noise, then distillation recovers what pruning lost
// (Minitron: Muralidharan et al. 2024, "Compact Language Models via Pruning and
// Knowledge Distillation"; Sreenivas et al. 2024, "LLM Pruning and Distillation in Practice").
//
// Importance is measured from activations on calibration sequences, as Minitron does:
//   residual channel c: mean |RMSNorm(x)_c| over every norm's output and every token;
//   attention head h:   mean ‖head output_h‖₂ over tokens (the o_proj input, head by head);
//   MLP neuron n:       mean |silu(gate_n)·up_n| over tokens (the down_proj input);
//   layer l:            mean (1 − cos(x_in, x_out)) over tokens (ShortGPT's block importance).
// The residual stream keeps its most important channels, or (residual 'pca') its principal
// directions (SliceGPT). Whole heads are kept, so the head size and the rotary tables stay the teacher's.
// The Qwen layouts prune the same way: q/k/v biases keep the rows of the kept heads (a bias adds
// after the matrix, so the residual projection does not touch it), an o_proj bias writes into the
// stream and is projected like o_proj (Qᵀb), Qwen3's per-head q/k norms act within a head and are
// kept whole, and its head_dim, independent of hidden_size / heads, stays the teacher's.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { CausalLM, lmConfig, type LmConfig } from './model.js';

export interface PruneTarget {
  dim: number;
  nHeads: number;
  nKvHeads?: number;
  hiddenDim: number;
  nLayers?: number;
}

export interface Importance {
  /** Per residual channel: mean |RMSNorm output| over all norms and tokens. */
  channels: Float64Array;
  /** Per layer, per query head. */
  heads: Float64Array[];
  /** Per layer, per MLP neuron. */
  neurons: Float64Array[];
  /** Per layer: mean 1 − cos(block input, block output). */
  layers: Float64Array;
  /** Per norm (input and post-attention norm of each layer, then the final norm): E[x xᵀ] of its input, d×d row-major. */
  covariances: Float64Array[];
}

/** Activation statistics of `model` on calibration sequences of token ids (each run alone, so no padding). */
export function measureImportance(model: CausalLM, sequences: readonly number[][]): Importance {
  if (sequences.length === 0) throw new torch.ConfigError('measureImportance: no calibration sequences');
  const c = model.cfg;
  const hd = c.headDim;
  const imp: Importance = {
    channels: new Float64Array(c.dim),
    heads: Array.from({ length: c.nLayers }, () => new Float64Array(c.nHeads)),
    neurons: Array.from({ length: c.nLayers }, () => new Float64Array(c.hiddenDim)),
    layers: new Float64Array(c.nLayers),
    covariances: Array.from({ length: 2 * c.nLayers + 1 }, () => new Float64Array(c.dim * c.dim)),
  };
  let tokens = 0;
  const add = (into: Float64Array, t: Tensor) => {
    const v = t.dataSync();
    for (let i = 0; i < into.length; i++) into[i] += Number(v[i]);
  };
  // (1, T, n) → per-feature sums over tokens.
  const tokenSum = (t: Tensor) => t.reshape([-1, t.shape[t.shape.length - 1]]).sum([0]);
  const norms = [...[...model.layers].flatMap((b) => [b.input_layernorm, b.post_attention_layernorm]), model.norm];
  const removers = [
    ...norms.map((n, i) => n.registerForwardHook((_m, [x]: [Tensor], out: Tensor) => {
      add(imp.channels, tokenSum(out.abs()));
      const rows = x.reshape([-1, c.dim]);
      add(imp.covariances[i], rows.transpose(0, 1).matmul(rows));
    })),
    ...[...model.layers].flatMap((b, l) => [
      b.self_attn.o_proj.registerForwardHook((_m, [x]: [Tensor]) => add(imp.heads[l], tokenSum(x.reshape([-1, c.nHeads, hd]).pow(2).sum([2]).sqrt()))),
      b.mlp.down_proj.registerForwardHook((_m, [x]: [Tensor]) => add(imp.neurons[l], tokenSum(x.abs()))),
      b.registerForwardHook((_m, [x], out) => {
        // Σ_tokens 1 − x·y / (‖x‖‖y‖)
        const cos = x.mul(out).sum([-1]).div(x.pow(2).sum([-1]).mul(out.pow(2).sum([-1])).sqrt());
        imp.layers[l] += cos.numel - cos.sum().item();
      }),
    ]),
  ];
  try {
    torch.noGrad(() => {
      for (const s of sequences) torch.tidy(() => {
        model.call(torch.tensor(s, { dtype: 'int64' }).view([1, s.length]));
        tokens += s.length;
      });
    });
  } finally {
    for (const r of removers) r();
  }
  for (const a of [imp.channels, imp.layers, ...imp.heads, ...imp.neurons, ...imp.covariances]) for (let i = 0; i < a.length; i++) a[i] /= tokens;
  for (let i = 0; i < imp.channels.length; i++) imp.channels[i] /= norms.length;
  return imp;
}

/** Indices of the k largest scores, in ascending index order (so kept units keep their order). */
export function topIndices(scores: ArrayLike<number>, k: number): number[] {
  return Array.from(scores, (s, i) => [s, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i).sort((a, b) => a - b);
}

/** The smaller model's config: the teacher's, with the target's sizes. Checks that pruning can reach it. */
export function prunedConfig(teacher: LmConfig, t: PruneTarget): LmConfig {
  const from = lmConfig(teacher);
  const hd = from.headDim;
  // The teacher's head size (from carries it) whatever the new dim and head count.
  const cfg = lmConfig({ ...from, dim: t.dim, nHeads: t.nHeads, nKvHeads: t.nKvHeads ?? t.nHeads, hiddenDim: t.hiddenDim, nLayers: t.nLayers ?? from.nLayers, headDim: hd });
  const bad = (what: string) => { throw new torch.ConfigError(`prune: ${what}`); };
  // A Llama-layout teacher (head size = dim / heads; Hugging Face's LlamaConfig derives it) keeps that tie;
  // Qwen3 and any teacher with its own head_dim may choose dim and heads freely.
  const tiedHead = from.arch !== 'qwen3' && from.headDim * from.nHeads === from.dim;
  if (tiedHead && cfg.dim / cfg.nHeads !== hd) bad(`the head size must stay the teacher's ${hd} (whole heads are kept), but dim ${cfg.dim} / nHeads ${cfg.nHeads} = ${cfg.dim / cfg.nHeads}`);
  for (const k of ['dim', 'nHeads', 'nKvHeads', 'hiddenDim', 'nLayers'] as const)
    if (cfg[k] > from[k]) bad(`${k} ${cfg[k]} is larger than the teacher's ${from[k]}; pruning only removes`);
  // Whole key/value groups are kept, each with all its query heads.
  const group = from.nHeads / from.nKvHeads;
  if (cfg.nHeads / cfg.nKvHeads !== group) bad(`nHeads / nKvHeads must stay the teacher's ${group} query heads per key/value head, got ${cfg.nHeads} / ${cfg.nKvHeads}`);
  return cfg;
}

export interface PruneOptions {
  /**
   * How the residual stream shrinks from d to d′ dimensions:
   * 'channels' (default) onto the d′ channels of largest importance (Minitron);
   * 'pca'      onto the d′ principal directions of the teacher's residual activations (SliceGPT:
   *            Ashkboos et al. 2024), which keeps the most activation energy. On the reasoning
   *            demo both retrain to about the same accuracy (docs/results.md), channels slightly better.
   */
  residual?: 'pca' | 'channels';
}

/**
 * The residual basis Q (d, d′): orthonormal columns, so the student's stream is u = Qᵀx and
 * the teacher's is x ≈ Qu.
 */
function residualBasis(imp: Importance, d: number, k: number, how: 'pca' | 'channels'): Tensor {
  if (how === 'channels') {
    const eye = torch.eye(d);
    return eye.indexSelect(1, torch.tensor(topIndices(imp.channels, k), { dtype: 'int64' }));
  }
  // Eigenvectors of Σ_norms E[x xᵀ], largest eigenvalue first.
  const pooled = new Float64Array(d * d);
  for (const c of imp.covariances) for (let i = 0; i < pooled.length; i++) pooled[i] += c[i];
  const { eigenvectors } = torch.linalgEigh(torch.tensor(pooled, { dtype: 'float64' }).view([d, d]));
  return eigenvectors.narrow(1, d - k, k).flip([1]).toDtype('float32');
}

/**
 * A new model of the target's sizes holding the teacher's weights at its most important
 * layers, heads and neurons, its residual stream projected onto Q (residualBasis).
 * Each RMSNorm weight w moves into the matrices reading the norm (W → W·diag(w)·Q), and the
 * student's norm weight becomes the scalar rms(Qᵀx) / rms(x) = √(E‖Qᵀx‖²/d′ ÷ E‖x‖²/d), from the
 * teacher's statistics, so that each norm's output keeps the scale it had over all d channels.
 * Exact when the dropped directions carry no activation (tested).
 */
export function pruneLm(model: CausalLM, imp: Importance, target: PruneTarget, o: PruneOptions = {}): CausalLM {
  const from = model.cfg;
  const cfg = prunedConfig(from, target);
  const how = o.residual ?? 'channels';
  if (from.tieEmbeddings && how === 'pca') throw new torch.ConfigError("prune: residual 'pca' folds the final norm into lm_head, which a model with tied embeddings cannot hold; use residual 'channels'");
  const hd = from.headDim;
  const group = from.nHeads / from.nKvHeads;
  const keepL = topIndices(imp.layers, cfg.nLayers);
  const out = new CausalLM(cfg);
  const src = model.stateDict();
  const put: Record<string, Tensor> = {};
  const idx = (ix: number[]) => torch.tensor(ix, { dtype: 'int64' });
  const rowsOfUnits = (units: number[], size: number) => units.flatMap((u) => Array.from({ length: size }, (_, j) => u * size + j));
  const Q = torch.tidy(() => residualBasis(imp, from.dim, cfg.dim, how));
  try {
    // g for a norm with input covariance C: √((tr(QᵀCQ)/d′) / (tr(C)/d)).
    const normScale = (C: Float64Array) => torch.tidy(() => {
      const cov = torch.tensor(C, { dtype: 'float64' }).view([from.dim, from.dim]).toDtype('float32');
      const kept = Q.mul(cov.matmul(Q)).sum().item(); // tr(QᵀCQ)
      let all = 0;
      for (let i = 0; i < from.dim; i++) all += C[i * from.dim + i];
      return Math.sqrt((kept / cfg.dim) / (all / from.dim));
    });
    const norm = (C: Float64Array) => torch.full([cfg.dim], normScale(C));
    // A matrix reading a norm's output: rows (dim 0) restricted, w folded in, then projected: W[rows]·diag(w)·Q.
    const reader = (name: string, rows: number[] | null, w: string) => torch.tidy(() => {
      const W = rows ? src[name].indexSelect(0, idx(rows)) : src[name];
      return W.mul(src[w]).matmul(Q);
    });
    // A matrix writing into the residual stream: Qᵀ·W[:, cols]; its bias (d) → Qᵀ·b.
    const writer = (name: string, cols: number[]) => torch.tidy(() => Q.transpose(0, 1).matmul(src[name].indexSelect(1, idx(cols))));
    const writerBias = (name: string) => torch.tidy(() => Q.transpose(0, 1).matmul(src[name]));
    // The bias of a matrix reading the stream: the kept output rows.
    const rowsOf = (name: string, rows: number[]) => torch.tidy(() => src[name].indexSelect(0, idx(rows)));
    put['embed_tokens.weight'] = src['embed_tokens.weight'].matmul(Q);
    const finalC = imp.covariances[2 * from.nLayers];
    if (from.tieEmbeddings) {
      // Tied head: the final norm keeps its per-channel weights (Q selects channels here).
      put['norm.weight'] = torch.tidy(() => Q.transpose(0, 1).matmul(src['norm.weight']).mul(normScale(finalC)));
    } else {
      put['norm.weight'] = norm(finalC);
      put['lm_head.weight'] = reader('lm_head.weight', null, 'norm.weight');
    }
    keepL.forEach((l, i) => {
      const p = `layers.${l}.`, q = `layers.${i}.`;
      // Heads: key/value groups by their query heads' total importance, then every query head of each kept group.
      const groupScore = Array.from({ length: from.nKvHeads }, (_, g) => imp.heads[l].slice(g * group, (g + 1) * group).reduce((a, b) => a + b, 0));
      const kv = topIndices(group === 1 ? imp.heads[l] : groupScore, cfg.nKvHeads);
      const heads = kv.flatMap((g) => Array.from({ length: group }, (_, j) => g * group + j));
      const qRows = rowsOfUnits(heads, hd), kvRows = rowsOfUnits(kv, hd);
      const neurons = topIndices(imp.neurons[l], cfg.hiddenDim);
      const inNorm = `${p}input_layernorm.weight`, postNorm = `${p}post_attention_layernorm.weight`;
      put[`${q}input_layernorm.weight`] = norm(imp.covariances[2 * l]);
      put[`${q}post_attention_layernorm.weight`] = norm(imp.covariances[2 * l + 1]);
      put[`${q}self_attn.q_proj.weight`] = reader(`${p}self_attn.q_proj.weight`, qRows, inNorm);
      put[`${q}self_attn.k_proj.weight`] = reader(`${p}self_attn.k_proj.weight`, kvRows, inNorm);
      put[`${q}self_attn.v_proj.weight`] = reader(`${p}self_attn.v_proj.weight`, kvRows, inNorm);
      put[`${q}self_attn.o_proj.weight`] = writer(`${p}self_attn.o_proj.weight`, qRows);
      if (from.qkvBias) {
        put[`${q}self_attn.q_proj.bias`] = rowsOf(`${p}self_attn.q_proj.bias`, qRows);
        put[`${q}self_attn.k_proj.bias`] = rowsOf(`${p}self_attn.k_proj.bias`, kvRows);
        put[`${q}self_attn.v_proj.bias`] = rowsOf(`${p}self_attn.v_proj.bias`, kvRows);
      }
      if (from.oBias) put[`${q}self_attn.o_proj.bias`] = writerBias(`${p}self_attn.o_proj.bias`);
      if (from.qkNorm) {
        // (hd) weights shared by every head: the head size is kept, so they are the teacher's.
        put[`${q}self_attn.q_norm.weight`] = src[`${p}self_attn.q_norm.weight`].clone();
        put[`${q}self_attn.k_norm.weight`] = src[`${p}self_attn.k_norm.weight`].clone();
      }
      put[`${q}mlp.gate_proj.weight`] = reader(`${p}mlp.gate_proj.weight`, neurons, postNorm);
      put[`${q}mlp.up_proj.weight`] = reader(`${p}mlp.up_proj.weight`, neurons, postNorm);
      put[`${q}mlp.down_proj.weight`] = writer(`${p}mlp.down_proj.weight`, neurons);
    });
    for (const k of Object.keys(out.stateDict())) if (!(k in put)) throw new torch.ConfigError(`prune: no weight for ${k}`);
    out.loadStateDict(put);
  } finally {
    for (const t of Object.values(put)) t.dispose();
    Q.dispose();
  }
  return out;
}

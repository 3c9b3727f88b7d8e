// The Llama-family causal LM in one file, read top to bottom: config, norm, rotary
// embedding, attention (grouped-query, with a KV cache), SwiGLU MLP, block, model.
// Generation from it (sampling, the batched decoder) is in generate.ts. Parameter names follow Hugging Face's LlamaForCausalLM (less the leading
// "model."), so the safetensors, GGUF and ONNX writers map them one to one.
// Config switches cover the real families' differences (transformers' modeling_llama.py,
// modeling_qwen2.py, modeling_qwen3.py): Llama 2/3.x (llama3 RoPE scaling), Qwen2/2.5
// (q/k/v bias), Qwen3 (per-head q/k RMSNorm before RoPE, head_dim ≠ hidden/heads).
// Parameters may be float32 or, after `model.to('bfloat16')` (or float16), half precision;
// then the forward follows Hugging Face's eager numerics: RMSNorm statistics and attention
// softmax in float32, RoPE cos/sin cast to the activations' dtype, logits in the parameters'
// dtype (callers upcast for losses, as HF's `logits.float()`). In float32 every one of those
// casts is the identity, so the float32 forward is unchanged.
import * as torch from '../torch/index.js';
import type { Tensor, DType } from '../torch/index.js';
import { Embedding, Linear, Module, ModuleList, RMSNorm, init } from '../nn/index.js';

// ── config ──────────────────────────────────────────────────────────────────────────

export interface LmConfig {
  vocabSize: number;
  /** Model width d. */
  dim: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads; nHeads / nKvHeads query heads share each (GQA). Equal to nHeads = plain MHA. */
  nKvHeads: number;
  /** SwiGLU inner width. */
  hiddenDim: number;
  maxSeqLen: number;
  ropeTheta: number;
  normEps: number;
  /** lm_head shares the embedding matrix. */
  tieEmbeddings: boolean;
  /** Hugging Face family this config describes (model_type); only names the architecture. */
  arch?: LmArch;
  /** Per-head size h; Qwen3 sets it independently of dim / nHeads. Default dim / nHeads. */
  headDim?: number;
  /** Biases on q_proj, k_proj, v_proj (Qwen2). */
  qkvBias?: boolean;
  /** A bias on o_proj too (Llama's and Qwen3's `attention_bias` puts one on all four). */
  oBias?: boolean;
  /** RMSNorm over each head of q and k before RoPE (Qwen3's q_norm, k_norm). */
  qkNorm?: boolean;
  /** RoPE frequency scaling (Llama 3.1+); null = plain RoPE. */
  ropeScaling?: Llama3RopeScaling | null;
}

export type LmArch = 'llama' | 'qwen2' | 'qwen3';

/** transformers' rope_scaling {rope_type: 'llama3', …}, in our names. */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** A config with every optional switch resolved. */
export type ResolvedLmConfig = Required<LmConfig>;

export const LM_DEFAULTS: Omit<LmConfig, 'vocabSize'> = {
  dim: 128,
  nLayers: 4,
  nHeads: 4,
  nKvHeads: 4,
  hiddenDim: 352,
  maxSeqLen: 512,
  ropeTheta: 10000,
  normEps: 1e-5,
  tieEmbeddings: false,
};

/** Defaults of the switches: they reproduce the plain Llama-style model. */
const SWITCH_DEFAULTS = { arch: 'llama', qkvBias: false, oBias: false, qkNorm: false, ropeScaling: null } as const;

export function lmConfig(c: Partial<LmConfig> & { vocabSize: number }): ResolvedLmConfig {
  const base = { ...LM_DEFAULTS, ...SWITCH_DEFAULTS, ...c };
  const explicitHead = c.headDim !== undefined && c.headDim !== null;
  const cfg: ResolvedLmConfig = { ...base, headDim: explicitHead ? (c.headDim as number) : base.dim / base.nHeads, ropeScaling: base.ropeScaling ?? null };
  const int = (k: keyof LmConfig, min = 1) => {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new torch.ConfigError(`LM config: ${k} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  for (const k of ['vocabSize', 'dim', 'nLayers', 'nHeads', 'nKvHeads', 'hiddenDim', 'maxSeqLen'] as const) int(k);
  if (!explicitHead && cfg.dim % cfg.nHeads !== 0) throw new torch.ConfigError(`LM config: dim (${cfg.dim}) must be divisible by nHeads (${cfg.nHeads})`);
  int('headDim');
  if (cfg.headDim % 2 !== 0) throw new torch.ConfigError(`LM config: the head size ${explicitHead ? 'headDim' : 'dim/nHeads'} (${cfg.headDim}) must be even for rotary embeddings`);
  if (cfg.nHeads % cfg.nKvHeads !== 0) throw new torch.ConfigError(`LM config: nHeads (${cfg.nHeads}) must be a multiple of nKvHeads (${cfg.nKvHeads})`);
  if (!(cfg.normEps > 0) || !(cfg.ropeTheta > 0)) throw new torch.ConfigError('LM config: normEps and ropeTheta must be positive');
  if (!['llama', 'qwen2', 'qwen3'].includes(cfg.arch)) throw new torch.ConfigError(`LM config: arch '${String(cfg.arch)}' is not one of llama, qwen2, qwen3`);
  for (const k of ['qkvBias', 'oBias', 'qkNorm'] as const)
    if (typeof cfg[k] !== 'boolean') throw new torch.ConfigError(`LM config: ${k} must be true or false, got ${String(cfg[k])}`);
  const rs = cfg.ropeScaling;
  if (rs !== null) {
    if (rs.type !== 'llama3') throw new torch.ConfigError(`LM config: ropeScaling.type '${String(rs.type)}' is not supported (only 'llama3')`);
    for (const k of ['factor', 'lowFreqFactor', 'highFreqFactor', 'originalMaxPositionEmbeddings'] as const)
      if (typeof rs[k] !== 'number' || !(rs[k] > 0)) throw new torch.ConfigError(`LM config: ropeScaling.${k} must be a positive number, got ${String(rs[k])}`);
    if (!(rs.highFreqFactor > rs.lowFreqFactor)) throw new torch.ConfigError('LM config: ropeScaling.highFreqFactor must exceed lowFreqFactor');
  }
  return cfg;
}

/** Parameters of a config, without building it: embedding + layers + final norm + head. */
export function countLmParameters(config: LmConfig): number {
  const c = lmConfig(config);
  const hd = c.headDim;
  const q = c.nHeads * hd, kv = c.nKvHeads * hd;
  let attn = 2 * c.dim * q + 2 * c.dim * kv; // q, o + k, v
  if (c.qkvBias) attn += q + 2 * kv;
  if (c.oBias) attn += c.dim;
  if (c.qkNorm) attn += 2 * hd;
  const mlp = 3 * c.dim * c.hiddenDim;
  const layer = attn + mlp + 2 * c.dim;
  return c.vocabSize * c.dim * (c.tieEmbeddings ? 1 : 2) + c.nLayers * layer + c.dim;
}

// ── norm ────────────────────────────────────────────────────────────────────────────

/**
 * Hugging Face's LlamaRMSNorm (also Qwen2RMSNorm, Qwen3RMSNorm), over the last dim:
 *   x32 = x.float(); y = x32 · rsqrt(mean(x32²) + eps); out = weight · y.to(x.dtype).
 * In float32 this is torch.nn.RMSNorm's formula op for op, so that path is used unchanged;
 * for bfloat16/float16 input the statistics are taken in float32 (nn.RMSNorm, like
 * torch.nn.RMSNorm, would compute them in the input's dtype).
 */
export class LlamaRMSNorm extends RMSNorm {
  override forward(x: Tensor): Tensor {
    if (x.dtype === 'float32') return super.forward(x);
    return torch.tidy(() => {
      const x32 = x.toDtype('float32');
      const variance = x32.pow(2).mean(-1, true); // (…, 1)
      const y = x32.mul(variance.add(this.eps!).rsqrt()).toDtype(x.dtype);
      return this.weight ? this.weight.mul(y) : y;
    });
  }
}

// ── rotary embedding ────────────────────────────────────────────────────────────────

/**
 * The inverse frequencies θ_i = theta^(−2i/h), i < h/2, in float32 as Hugging Face
 * computes them; with llama3 scaling, transformers' `_compute_llama3_parameters`:
 * wavelength λ_i = 2π/θ_i; λ > L/low (long waves): θ/factor; λ < L/high (short): θ;
 * in between, s = (L/λ − low)/(high − low) and (1 − s)·θ/factor + s·θ, where L is
 * original_max_position_embeddings. Each step is rounded to float32 as torch does.
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: Llama3RopeScaling | null = null): Float32Array {
  const f = Math.fround;
  // 1 / theta^(arange(0, h, 2) / h) with torch's own float32 pow and reciprocal, the ops
  // Hugging Face runs, so the frequencies are bit-identical to theirs.
  const inv = torch.tidy(() => {
    const exps = torch.arange(0, headDim, 2, 'int64').toDtype('float32').div(headDim);
    return torch.full([headDim / 2], theta).pow(exps).reciprocal().dataSync() as Float32Array;
  });
  if (!scaling) return inv;
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: L } = scaling;
  const lowWave = L / low, highWave = L / high;
  return inv.map((v) => {
    const wave = f(f(2 * Math.PI) / v);
    const scaled = wave > f(lowWave) ? f(v / f(factor)) : v;
    if (wave < f(highWave) || wave > f(lowWave)) return scaled; // not a medium frequency
    const s = f(f(f(f(L) / wave) - f(low)) / f(high - low));
    return f(f(f(f(1 - s) * scaled) / f(factor)) + f(s * scaled));
  });
}

/**
 * RoPE (Su et al. 2021) in Hugging Face's "rotate half" layout: for head size h and
 * position p, θ_i as ropeInvFreq, and x' = x·cos(pθ) + rotate_half(x)·sin(pθ), where
 * rotate_half([x1, x2]) = [−x2, x1] over the two halves. Returns cos, sin (maxSeqLen, h).
 */
export function ropeTables(headDim: number, maxSeqLen: number, theta: number, scaling: Llama3RopeScaling | null = null): { cos: Tensor; sin: Tensor } {
  return torch.tidy(() => {
    const inv = torch.tensor(ropeInvFreq(headDim, theta, scaling)).view([1, headDim / 2]);
    // Angles p·θ_i in float32 (Hugging Face's inv_freq @ positions: one product each), then
    // cat(freqs, freqs) and torch's cos/sin, as LlamaRotaryEmbedding.forward.
    const pos = torch.arange(0, maxSeqLen, 1, 'float32').view([maxSeqLen, 1]);
    const freqs = pos.mul(inv); // (maxSeqLen, h/2)
    const emb = torch.cat([freqs, freqs], 1); // (maxSeqLen, h)
    return { cos: emb.cos(), sin: emb.sin() };
  });
}

function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  // x (B, H, T, h); cos, sin (T, h)
  const half = x.shape[3] / 2;
  const rotated = torch.cat([x.narrow(3, half, half).neg(), x.narrow(3, 0, half)], 3);
  return x.mul(cos).add(rotated.mul(sin));
}

// ── attention ───────────────────────────────────────────────────────────────────────

/**
 * Keys and values seen so far, per layer: (B, nKvHeads, S, h) each. Stored in buffers of
 * `capacity` positions written in place, so a step costs its own positions only (growing
 * by concatenation would copy the whole cache every token: O(S²) bytes per sequence).
 */
export class KVCache {
  readonly layers: ({ k: Tensor; v: Tensor } | null)[];
  #length = 0;
  readonly #capacity: number;

  constructor(nLayers: number, capacity: number) {
    this.layers = Array.from({ length: nLayers }, () => null);
    this.#capacity = capacity;
  }
  /** Positions already cached. */
  get length(): number {
    return this.#length;
  }
  /** Writes new keys/values (B, nKv, T, h) for layer i; returns views of all S₀ + T positions. */
  append(i: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const T = k.shape[2];
    // Every layer appends at the same offset; the length moves on after the last layer.
    const start = this.#length;
    if (start + T > this.#capacity) throw new torch.ShapeError('ERR_SHAPE', 'KVCache', `cache capacity ${this.#capacity} exceeded`, `[${k.shape.join(', ')}]`);
    let buf = this.layers[i];
    if (!buf) {
      const shape = [k.shape[0], k.shape[1], this.#capacity, k.shape[3]];
      // In the keys' dtype: a bfloat16 model caches bfloat16 keys and values (as HF's DynamicCache).
      buf = this.layers[i] = torch.keep({ k: torch.zeros(shape, k.dtype), v: torch.zeros(shape, v.dtype) });
    }
    torch.noGrad(() => {
      buf.k.narrow(2, start, T).copy_(k);
      buf.v.narrow(2, start, T).copy_(v);
    });
    if (i === this.layers.length - 1) this.#length += T;
    return { k: buf.k.narrow(2, 0, start + T), v: buf.v.narrow(2, 0, start + T) };
  }
  dispose(): void {
    for (const l of this.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.layers.fill(null);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export class Attention extends Module<[Tensor, Tensor, Tensor, Tensor | null, KVCache | null, number], Tensor> {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  /** Qwen3: RMSNorm over each head's h features of q and of k, before RoPE. */
  readonly q_norm: LlamaRMSNorm | null = null;
  readonly k_norm: LlamaRMSNorm | null = null;

  constructor(readonly cfg: ResolvedLmConfig) {
    super();
    const hd = cfg.headDim;
    const bias = cfg.qkvBias;
    this.q_proj = this.registerModule('q_proj', new Linear(cfg.dim, cfg.nHeads * hd, { bias }));
    this.k_proj = this.registerModule('k_proj', new Linear(cfg.dim, cfg.nKvHeads * hd, { bias }));
    this.v_proj = this.registerModule('v_proj', new Linear(cfg.dim, cfg.nKvHeads * hd, { bias }));
    this.o_proj = this.registerModule('o_proj', new Linear(cfg.nHeads * hd, cfg.dim, { bias: cfg.oBias }));
    if (cfg.qkNorm) {
      this.q_norm = this.registerModule('q_norm', new LlamaRMSNorm(hd, { eps: cfg.normEps }));
      this.k_norm = this.registerModule('k_norm', new LlamaRMSNorm(hd, { eps: cfg.normEps }));
    }
  }

  /** x (B, T, d); cos, sin (T, h) for these positions; mask (T, S) additive or null. */
  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, cache: KVCache | null, layer: number): Tensor {
    const [B, T] = x.shape;
    const { nHeads: H, nKvHeads: Hkv, headDim: hd } = this.cfg;
    // (B, T, n·h) → (B, T, n, h), normed per head where Qwen3 does, → (B, n, T, h)
    const heads = (t: Tensor, n: number, norm: LlamaRMSNorm | null) => {
      const v = t.view([B, T, n, hd]);
      return (norm ? norm.call(v) : v).transpose(1, 2);
    };
    const q = applyRope(heads(this.q_proj.call(x), H, this.q_norm), cos, sin);
    let k = applyRope(heads(this.k_proj.call(x), Hkv, this.k_norm), cos, sin);
    let v = heads(this.v_proj.call(x), Hkv, null);
    if (cache) ({ k, v } = cache.append(layer, k, v)); // (B, Hkv, S, h)
    if (Hkv !== H) {
      // GQA: each key/value head serves H/Hkv query heads. (B, Hkv, S, h) → (B, H, S, h)
      const S = k.shape[2];
      const rep = (t: Tensor) => t.unsqueeze(2).expand([B, Hkv, H / Hkv, S, hd]).reshape([B, H, S, hd]);
      k = rep(k);
      v = rep(v);
    }
    // softmax(q·kᵀ/√h + mask)·v: (B, H, T, S) → (B, H, T, h). As HF's eager attention, the
    // scores of a half-precision model go through softmax in float32 and back to q's dtype.
    // (The float32 mask is added after the upcast; HF adds it in q's dtype first, which is the
    // same: it holds only 0, which adds exactly, and −∞/−1e9, which softmax turns into 0 either way.)
    let scores = torch.matmul(q, k.transpose(2, 3)).mul(1 / Math.sqrt(hd));
    const half = scores.dtype !== 'float32';
    if (half) scores = scores.toDtype('float32');
    if (mask) scores = scores.add(mask);
    let probs = torch.softmax(scores, -1);
    if (half) probs = probs.toDtype(q.dtype);
    const out = torch.matmul(probs, v);
    return this.o_proj.call(out.transpose(1, 2).reshape([B, T, H * hd]));
  }
}

// ── MLP ─────────────────────────────────────────────────────────────────────────────

/** SwiGLU (Shazeer 2020): down(silu(gate(x)) ⊙ up(x)). */
export class SwiGLU extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  constructor(dim: number, hidden: number) {
    super();
    this.gate_proj = this.registerModule('gate_proj', new Linear(dim, hidden, { bias: false }));
    this.up_proj = this.registerModule('up_proj', new Linear(dim, hidden, { bias: false }));
    this.down_proj = this.registerModule('down_proj', new Linear(hidden, dim, { bias: false }));
  }
  forward(x: Tensor): Tensor {
    return this.down_proj.call(torch.silu(this.gate_proj.call(x)).mul(this.up_proj.call(x)));
  }
}

// ── block ───────────────────────────────────────────────────────────────────────────

/** Pre-norm residual block: h = x + attn(norm(x)); out = h + mlp(norm(h)). */
export class Block extends Module<[Tensor, Tensor, Tensor, Tensor | null, KVCache | null, number], Tensor> {
  readonly input_layernorm: LlamaRMSNorm;
  readonly self_attn: Attention;
  readonly post_attention_layernorm: LlamaRMSNorm;
  readonly mlp: SwiGLU;
  constructor(cfg: ResolvedLmConfig) {
    super();
    this.input_layernorm = this.registerModule('input_layernorm', new LlamaRMSNorm(cfg.dim, { eps: cfg.normEps }));
    this.self_attn = this.registerModule('self_attn', new Attention(cfg));
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', new LlamaRMSNorm(cfg.dim, { eps: cfg.normEps }));
    this.mlp = this.registerModule('mlp', new SwiGLU(cfg.dim, cfg.hiddenDim));
  }
  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, cache: KVCache | null, layer: number): Tensor {
    const h = x.add(this.self_attn.call(this.input_layernorm.call(x), cos, sin, mask, cache, layer));
    return h.add(this.mlp.call(this.post_attention_layernorm.call(h)));
  }
}

// ── model ───────────────────────────────────────────────────────────────────────────

export interface ForwardOptions {
  /** (B, T) int64: each token's position (left-padded rows start later; packed rows restart at 0 per document). Default: cache length onwards. */
  positions?: Tensor;
  /** (B, S) bool over all cached + new positions: false where the key is padding. */
  keyMask?: Tensor;
  /**
   * (B, T) int64: the document each token belongs to, for packed rows (several documents
   * in one row). A query attends only to earlier keys of its own document. No cache.
   */
  segments?: Tensor;
}

/** What every block of one forward shares: RoPE tables at the tokens' positions and the additive mask. */
export interface BlockInputs {
  /** (T, h), or (B, 1, T, h) with per-row positions. */
  cos: Tensor;
  sin: Tensor;
  /** Additive attention mask broadcastable to (B, H, T, S) (0 or −∞/−1e9), or null when nothing is masked. */
  mask: Tensor | null;
}

export class CausalLM extends Module<[Tensor, KVCache?, ForwardOptions?], Tensor> {
  readonly cfg: ResolvedLmConfig;
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<Block>;
  readonly norm: LlamaRMSNorm;
  readonly lm_head: Linear | null;
  readonly #cos: Tensor;
  readonly #sin: Tensor;

  constructor(config: Partial<LmConfig> & { vocabSize: number }) {
    super();
    const cfg = (this.cfg = lmConfig(config));
    this.embed_tokens = this.registerModule('embed_tokens', new Embedding(cfg.vocabSize, cfg.dim));
    this.layers = this.registerModule('layers', new ModuleList(Array.from({ length: cfg.nLayers }, () => new Block(cfg))));
    this.norm = this.registerModule('norm', new LlamaRMSNorm(cfg.dim, { eps: cfg.normEps }));
    this.lm_head = cfg.tieEmbeddings ? null : this.registerModule('lm_head', new Linear(cfg.dim, cfg.vocabSize, { bias: false }));
    // Hugging Face's _init_weights: every weight matrix N(0, 0.02²), biases zero; norms start at one.
    for (const [name, p] of this.namedParameters()) {
      if (name.endsWith('.bias')) torch.noGrad(() => p.zero_());
      else if (p.ndim > 1) init.normal_(p, 0, 0.02);
    }
    const { cos, sin } = ropeTables(cfg.headDim, cfg.maxSeqLen, cfg.ropeTheta, cfg.ropeScaling);
    this.#cos = this.registerBuffer('rope_cos', cos, { persistent: false });
    this.#sin = this.registerBuffer('rope_sin', sin, { persistent: false });
  }

  /**
   * A model of `config` for a loader to fill: built without drawing random weights, its
   * parameters allocated (uninitialised) in `dtype`, as `model.to(dtype)` would leave them
   * but without converting garbage. Every parameter must be overwritten before use.
   */
  static uninitialized(config: Partial<LmConfig> & { vocabSize: number }, dtype: 'float32' | 'bfloat16' | 'float16' = 'float32'): CausalLM {
    const model = init.skipInit(() => new CausalLM(config));
    if (dtype !== 'float32')
      torch.noGrad(() => {
        for (const p of model.parameters()) {
          const fresh = torch.empty([...p.shape], dtype);
          p.setData(fresh); // as Module.to does: the same Tensor objects, now 2 bytes an element
          fresh.dispose();
        }
      });
    return model;
  }

  /**
   * Module.to, keeping the RoPE tables in float32: Hugging Face computes cos/sin in float32
   * and casts them to the activations' dtype at each forward (blockInputs does), so a model
   * converted to bfloat16 and back to float32 still has its exact float32 tables.
   */
  override to(dtype: DType): this {
    const tables = [this.#cos, this.#sin].map((t) => torch.noGrad(() => t.clone()));
    super.to(dtype);
    [this.#cos, this.#sin].forEach((t, i) => {
      t.setData(tables[i]);
      tables[i].dispose();
    });
    return this;
  }

  /** The output projection (V, d): lm_head.weight, or embed_tokens.weight when tied. */
  get headWeight(): Tensor {
    return this.lm_head ? this.lm_head.weight : this.embed_tokens.weight;
  }

  /**
   * RoPE tables and mask for T new tokens after the cache's S₀ (S = S₀ + T keys).
   * Exposed so a caller can run the blocks one by one (checkpointing.ts).
   */
  blockInputs(ids: Tensor, cache?: KVCache, o: ForwardOptions = {}): BlockInputs {
    const [B, T] = ids.shape;
    const start = cache?.length ?? 0;
    const S = start + T;
    if (S > this.cfg.maxSeqLen) throw new torch.ShapeError('ERR_SHAPE', 'CausalLM', `sequence of ${S} tokens exceeds maxSeqLen ${this.cfg.maxSeqLen}`, `[${ids.shape.join(', ')}]`);
    const hd = this.cfg.headDim;
    // cos, sin: (T, h) shared by all rows, or (B, 1, T, h) gathered at each row's positions.
    // In the activations' dtype (the embedding's), as LlamaRotaryEmbedding's cos.to(x.dtype).
    const dtype = this.embed_tokens.weight.dtype;
    const table = (t: Tensor) => {
      const rows = o.positions ? t.indexSelect(0, o.positions.reshape([-1])).view([B, 1, T, hd]) : t.narrow(0, start, T);
      return rows.dtype === dtype ? rows : rows.toDtype(dtype);
    };
    const cos = table(this.#cos);
    const sin = table(this.#sin);
    // Causal mask (T, S): query i (at position start + i) sees keys j ≤ start + i; −∞ above
    // that diagonal. Built per call, not stored: at a real context (32k) a stored (S, S)
    // mask would take gigabytes. One new token sees everything.
    let mask: Tensor | null = T === 1 ? null : torch.triu(torch.full([T, S], -Infinity), start + 1);
    if (o.segments) {
      if (start !== 0) throw new torch.ConfigError('CausalLM: segments (packed rows) cannot be used with a filled KV cache');
      // Same document: seg[b, i] == seg[b, j] → 0, else −∞; (B, T, 1) vs (B, 1, T) → (B, 1, T, T).
      // Added to the causal mask, so a query sees the earlier keys of its own document only.
      // Its own key is always one of them, so no row is all −∞ (no NaN from softmax).
      const seg = o.segments;
      const doc = torch.where(seg.unsqueeze(2).eq(seg.unsqueeze(1)), 0, -Infinity).view([B, 1, T, T]);
      mask = mask ? doc.add(mask) : doc;
    }
    if (o.keyMask) {
      // Padding keys get −1e9, not −∞: a padding query whose every key is padding then
      // gets a uniform (finite) row instead of NaN, and real queries give padding exactly 0.
      const pad = torch.where(o.keyMask, 0, -1e9).view([B, 1, 1, S]);
      mask = mask ? pad.add(mask) : pad;
    }
    return { cos, sin, mask };
  }

  /**
   * ids (B, T) int64 → hidden states (B, T, d) after the final norm: what the head reads.
   * With a cache, the T new tokens follow the cache's S₀ positions and attend to all
   * S₀ + T; the cache grows by T.
   */
  hidden(ids: Tensor, cache?: KVCache, o: ForwardOptions = {}): Tensor {
    const { cos, sin, mask } = this.blockInputs(ids, cache, o);
    let x = this.embed_tokens.call(ids); // (B, T, d)
    let i = 0;
    // Each block in its own scope: its temporaries (attention scores, MLP activations) are
    // freed as soon as it returns, not at the end of the whole forward. Autograd keeps its
    // own references to what backward needs, so this is safe in training too; at batch 64
    // it cut the teacher's decoding peak from ~3 GB to the block's own working set.
    for (const block of this.layers) {
      const layer = i++;
      x = torch.tidy(() => block.call(x, cos, sin, mask, cache ?? null, layer));
    }
    return this.norm.call(x);
  }

  /** Hidden states (…, d) → logits (…, V). */
  head(h: Tensor): Tensor {
    return this.lm_head ? this.lm_head.call(h) : torch.matmul(h, this.embed_tokens.weight.transpose(0, 1));
  }

  /**
   * ids (B, T) int64 → logits (B, T, vocab): head(hidden(ids)).
   * Left-padded batches pass per-row `positions` (B, T) and a `keyMask` (B, S) that is
   * false on padding, so each row computes exactly what it would alone. Packed rows pass
   * `positions` restarting at 0 per document and `segments`.
   */
  forward(ids: Tensor, cache?: KVCache, o: ForwardOptions = {}): Tensor {
    return this.head(this.hidden(ids, cache, o));
  }
}

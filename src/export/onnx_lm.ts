// ONNX export of the Llama-style LM (src/lm/model.ts): a ModelProto with IR 8 and the
// default opset 17 (18–20 accepted; IR 9 from 19), one input 'input_ids' int64
// (batch, sequence) and one output 'logits' float32 (batch, sequence, vocab), both axes
// dynamic (dim_params 'batch' and 'sequence', sequence ≤ maxSeqLen). No KV cache: each
// run is one full causal forward, what a scorer or a re-ranking user needs; generation
// re-runs the whole prefix. Weights are initializers named by our parameter names
// ('layers.0.self_attn.q_proj.weight_t': stored transposed, (in, out), for MatMul).
//
// Mapping (x (B, T, d); h = d / nHeads; opset 17 has no RMSNorm, RoPE or attention op):
//   embed_tokens    Gather(embed_tokens.weight, input_ids; axis 0)              (B, T, d)
//   RMSNorm         x / Sqrt(ReduceMean(Pow(x, 2); axes [−1]) + eps) · w
//                   (from opset 18 ReduceMean takes its axes as an input)
//   Linear (no bias) MatMul(x, Wᵀ)
//   heads           Reshape (B, T, n, h) [0, 0, n, h] → Transpose [0, 2, 1, 3]  (B, n, T, h)
//   RoPE            x·cos + Concat(−x[…, h/2:], x[…, :h/2])·sin, with cos and sin the
//                   (maxSeqLen, h) tables of src/lm/model.ts (float32, same values)
//                   Sliced to rows 0…T−1; T = Shape(input_ids; start 1, end 2)
//   GQA             Unsqueeze(k; 2) → Expand [1, 1, nHeads/nKv, 1, 1] → Reshape [0, nHeads, −1, h]
//   causal mask     Trilu(Expand(−∞, [T, T]); k = 1, upper): −∞ above the diagonal, 0 elsewhere
//   attention       Softmax(MatMul(q, Transpose(k; [0, 1, 3, 2])) · 1/√h + mask; axis −1) · v
//   SiLU            Mul(x, Sigmoid(x));  SwiGLU: down(silu(gate(x)) · up(x))
//   tied lm_head    MatMul(x, Transpose(embed_tokens.weight)) (onnxruntime folds the Transpose)
// With quantize 'int8', every Linear (attention, MLP and an untied lm_head) is dynamic int8
// (int8Linear in onnx_graph.ts: weights int8 per output channel, activations uint8 per
// tensor): about 4× smaller; the embedding, norms and a tied lm_head stay float32.
import * as torch from '../torch/index.js';
import { writeFileAtomic } from '../io/index.js';
import { ropeTables } from '../lm/model.js';
import { GraphBuilder, encodeModel, int, int8Linear, ints, onnx, type ModelSpec, type OnnxFileInfo } from './onnx_graph.js';
import { lmWeights, transpose2d, weight, type LmWeights } from './lm_weights.js';

export interface ExportOnnxLmOptions {
  /** Default 17; 17–20 accepted. */
  opset?: number;
  /** The graph's name (default 'distill-lm'). */
  modelName?: string;
  /** Extra metadata_props (string → string). */
  metadata?: Record<string, string>;
  /** 'int8': dynamic quantisation of the Linear layers (MatMulInteger). */
  quantize?: 'int8';
}

export interface OnnxLmExportInfo extends OnnxFileInfo {
  vocabSize: number;
  maxSeqLen: number;
  quantized: boolean;
}

const i64 = (...v: number[]) => BigInt64Array.from(v, BigInt);

class LmGraph {
  readonly g = new GraphBuilder();
  readonly #consts = new Map<string, string>();
  readonly #floats = new Map<number, string>();
  constructor(readonly w: LmWeights, readonly opset: number, readonly int8: boolean) {}

  /** A shared int64 constant (shapes, axes, slice bounds). */
  ints(v: number[]): string {
    const key = v.join(',');
    let name = this.#consts.get(key);
    if (!name) {
      name = this.g.init(`const_i64_${this.#consts.size}`, [v.length], i64(...v));
      this.#consts.set(key, name);
    }
    return name;
  }

  /** A shared float32 scalar constant. */
  float(v: number): string {
    let name = this.#floats.get(v);
    if (!name) {
      name = this.g.scalar(`const_f32_${this.#floats.size}`, v);
      this.#floats.set(v, name);
    }
    return name;
  }

  node(op: string, name: string, inputs: string[], attrs: Parameters<GraphBuilder['node']>[4] = {}): string {
    return this.g.node(op, name, inputs, [`${name}.out`], attrs);
  }

  /** y = x @ Wᵀ for a (out, in) weight stored as (in, out). */
  linear(x: string, param: string): string {
    const t = weight(this.w, param);
    const [out, inp] = t.shape;
    const name = param.replace(/\.weight$/, '');
    if (this.int8) return int8Linear(this.g, name, x, t.data, inp, out, `${name}/Mul.out`);
    const W = this.g.init(param.replace(/weight$/, 'weight_t'), [inp, out], transpose2d(t.data, out, inp));
    return this.node('MatMul', param.replace(/\.weight$/, '/MatMul'), [x, W]);
  }

  rmsNorm(x: string, prefix: string): string {
    const t = weight(this.w, `${prefix}.weight`);
    const w = this.g.init(`${prefix}.weight`, t.shape, t.data);
    const sq = this.node('Pow', `${prefix}/Pow`, [x, this.float(2)]);
    const ms = this.opset >= 18
      ? this.node('ReduceMean', `${prefix}/ReduceMean`, [sq, this.ints([-1])], { keepdims: int(1) })
      : this.node('ReduceMean', `${prefix}/ReduceMean`, [sq], { axes: ints([-1]), keepdims: int(1) });
    const rms = this.node('Sqrt', `${prefix}/Sqrt`, [this.node('Add', `${prefix}/AddEps`, [ms, this.float(this.w.cfg.normEps)])]);
    return this.node('Mul', `${prefix}/MulWeight`, [this.node('Div', `${prefix}/Div`, [x, rms]), w]);
  }

  /** (B, T, n·h) → (B, n, T, h) */
  heads(x: string, n: number, name: string): string {
    const r = this.node('Reshape', `${name}/Reshape`, [x, this.ints([0, 0, n, this.w.headDim])]);
    return this.node('Transpose', `${name}/Transpose`, [r], { perm: ints([0, 2, 1, 3]) });
  }

  /** x·cos + rotate_half(x)·sin over the last axis of (B, n, T, h). */
  rope(x: string, cos: string, sin: string, name: string): string {
    const h = this.w.headDim, half = h / 2;
    const axis = this.ints([3]);
    const x1 = this.node('Slice', `${name}/SliceLow`, [x, this.ints([0]), this.ints([half]), axis]);
    const x2 = this.node('Slice', `${name}/SliceHigh`, [x, this.ints([half]), this.ints([h]), axis]);
    const rot = this.node('Concat', `${name}/Concat`, [this.node('Neg', `${name}/Neg`, [x2]), x1], { axis: int(3) });
    return this.node('Add', `${name}/Add`, [this.node('Mul', `${name}/MulCos`, [x, cos]), this.node('Mul', `${name}/MulSin`, [rot, sin])]);
  }
}

/** Builds the ONNX bytes of a CausalLM (nothing written). */
export function buildOnnxLm(model: unknown, opts: ExportOnnxLmOptions = {}): { bytes: Uint8Array; info: OnnxLmExportInfo } {
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 17 || opset > 20)
    throw new torch.ConfigError(`ONNX export: opset ${opset} is not supported; use 17 (the default) to 20`);
  const w = lmWeights(model, 'ONNX export');
  const { cfg, headDim: hd } = w;
  if (opts.quantize !== undefined && opts.quantize !== 'int8') throw new torch.ConfigError(`ONNX export: quantize must be 'int8', got ${JSON.stringify(opts.quantize)}`);
  const int8 = opts.quantize === 'int8';
  const L = new LmGraph(w, opset, int8);
  const { g } = L;

  // Sequence length and the per-length constants: rotary rows 0…T−1 and the causal mask.
  const T = g.node('Shape', 'Shape', ['input_ids'], ['seq_len'], { start: int(1), end: int(2) }); // (1,) int64
  const tables = torch.tidy(() => {
    const { cos, sin } = ropeTables(hd, cfg.maxSeqLen, cfg.ropeTheta);
    return { cos: cos.dataSync() as Float32Array, sin: sin.dataSync() as Float32Array };
  });
  const zero = L.ints([0]);
  const cos = g.node('Slice', 'rope/SliceCos', [g.init('rope.cos', [cfg.maxSeqLen, hd], tables.cos), zero, T, zero], ['rope.cos_t']); // (T, h)
  const sin = g.node('Slice', 'rope/SliceSin', [g.init('rope.sin', [cfg.maxSeqLen, hd], tables.sin), zero, T, zero], ['rope.sin_t']);
  const TT = g.node('Concat', 'mask/Concat', [T, T], ['mask.shape'], { axis: int(0) });
  const full = g.node('Expand', 'mask/Expand', [g.scalar('mask.neg_inf', -Infinity), TT], ['mask.full']); // (T, T) of −∞
  const mask = g.node('Trilu', 'mask/Trilu', [full, g.init('mask.k', [], i64(1))], ['mask'], { upper: int(1) });

  const embed = weight(w, 'embed_tokens.weight');
  const E = g.init('embed_tokens.weight', embed.shape, embed.data);
  let x = g.node('Gather', 'embed_tokens/Gather', [E, 'input_ids'], ['embed_tokens.out'], { axis: int(0) }); // (B, T, d)
  const scale = g.scalar('attn.scale', 1 / Math.sqrt(hd));
  const rep = cfg.nHeads / cfg.nKvHeads;
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `layers.${i}`, a = `${p}.self_attn`, m = `${p}.mlp`;
    const h = L.rmsNorm(x, `${p}.input_layernorm`);
    const q = L.rope(L.heads(L.linear(h, `${a}.q_proj.weight`), cfg.nHeads, `${a}/q`), cos, sin, `${a}/q_rope`); // (B, H, T, h)
    let k = L.rope(L.heads(L.linear(h, `${a}.k_proj.weight`), cfg.nKvHeads, `${a}/k`), cos, sin, `${a}/k_rope`); // (B, Hkv, T, h)
    let v = L.heads(L.linear(h, `${a}.v_proj.weight`), cfg.nKvHeads, `${a}/v`);
    if (rep > 1) {
      // (B, Hkv, T, h) → (B, Hkv, rep, T, h) → (B, H, T, h): kv head j serves query heads j·rep … j·rep + rep − 1
      const grow = (t: string, n: string) => {
        const u = L.node('Unsqueeze', `${a}/${n}_Unsqueeze`, [t, L.ints([2])]);
        const e = L.node('Expand', `${a}/${n}_Expand`, [u, L.ints([1, 1, rep, 1, 1])]);
        return L.node('Reshape', `${a}/${n}_Reshape`, [e, L.ints([0, cfg.nHeads, -1, hd])]);
      };
      k = grow(k, 'k');
      v = grow(v, 'v');
    }
    const kt = L.node('Transpose', `${a}/k_Transpose`, [k], { perm: ints([0, 1, 3, 2]) }); // (B, H, h, T)
    const scores = L.node('Add', `${a}/AddMask`, [L.node('Mul', `${a}/Scale`, [L.node('MatMul', `${a}/QK`, [q, kt]), scale]), mask]); // (B, H, T, T)
    const probs = L.node('Softmax', `${a}/Softmax`, [scores], { axis: int(-1) });
    const ctx = L.node('Transpose', `${a}/ctx_Transpose`, [L.node('MatMul', `${a}/PV`, [probs, v])], { perm: ints([0, 2, 1, 3]) }); // (B, T, H, h)
    const merged = L.node('Reshape', `${a}/ctx_Reshape`, [ctx, L.ints([0, 0, cfg.nHeads * hd])]); // (B, T, d)
    x = L.node('Add', `${p}/AddAttn`, [x, L.linear(merged, `${a}.o_proj.weight`)]);
    const h2 = L.rmsNorm(x, `${p}.post_attention_layernorm`);
    const gate = L.linear(h2, `${m}.gate_proj.weight`);
    const silu = L.node('Mul', `${m}/SiLU`, [gate, L.node('Sigmoid', `${m}/Sigmoid`, [gate])]);
    const prod = L.node('Mul', `${m}/MulUp`, [silu, L.linear(h2, `${m}.up_proj.weight`)]);
    x = L.node('Add', `${p}/AddMlp`, [x, L.linear(prod, `${m}.down_proj.weight`)]);
  }
  x = L.rmsNorm(x, 'norm');
  if (cfg.tieEmbeddings) {
    const Et = g.node('Transpose', 'lm_head/Transpose', [E], ['embed_tokens.weight_t'], { perm: ints([1, 0]) });
    g.node('MatMul', 'lm_head/MatMul', [x, Et], ['logits']);
  } else {
    g.rename(L.linear(x, 'lm_head.weight'), 'logits');
  }

  const irVersion = opset <= 18 ? 8 : 9;
  const spec: ModelSpec = {
    irVersion, opset,
    graphName: opts.modelName ?? 'distill-lm',
    docString: `Llama-style causal LM exported by distill: ${cfg.nLayers} layers, d=${cfg.dim}, ${cfg.nHeads} heads (${cfg.nKvHeads} kv), ` +
      `SwiGLU ${cfg.hiddenDim}, vocab ${cfg.vocabSize}. Input 'input_ids' int64 (batch, sequence ≤ ${cfg.maxSeqLen}); ` +
      `output 'logits' float32 (batch, sequence, ${cfg.vocabSize}); no KV cache.${int8 ? ' Linear layers dynamic int8.' : ''}`,
    inputs: [['input_ids', { dims: ['batch', 'sequence'], elemType: onnx.TensorProto.DataType.INT64 }]],
    outputs: [['logits', { dims: ['batch', 'sequence', cfg.vocabSize] }]],
    metadata: { ...opts.metadata, lm_config: JSON.stringify(cfg), ...(int8 ? { quantization: 'dynamic int8 (Linear: MatMulInteger)' } : {}) },
  };
  const bytes = encodeModel(g, spec);
  const ops: Record<string, number> = {};
  for (const nd of g.nodes) ops[nd.opType] = (ops[nd.opType] ?? 0) + 1;
  return {
    bytes,
    info: { bytes: bytes.byteLength, irVersion, opset, params: g.params, nodes: g.nodes.length, ops, vocabSize: cfg.vocabSize, maxSeqLen: cfg.maxSeqLen, quantized: int8 },
  };
}

/** Writes the LM as ONNX to `path` (atomically); returns what was written. */
export function exportOnnxLm(model: unknown, path: string, opts: ExportOnnxLmOptions = {}): OnnxLmExportInfo {
  const { bytes, info } = buildOnnxLm(model, opts);
  writeFileAtomic(path, bytes);
  return { ...info, path };
}

// What the three LM writers (GGUF, ONNX, Hugging Face folder) start from: a CausalLM
// checked module by module against the one architecture they know (src/lm/model.ts),
// and its weights as float32 arrays under our names ('layers.0.self_attn.q_proj.weight').
// A model that is not exactly that architecture (another class, a subclass that may
// override forward, an unexpected Linear bias, a norm without a weight) is refused with a
// ConfigError naming the module, before any file is written. A writer that handles some of
// the families' switches (q/k/v bias, q/k norm, head_dim, RoPE scaling) says so in
// `supported`; a model using one it does not handle is refused the same way.
import * as nn from '../nn/index.js';
import { ConfigError, tidy, type Tensor } from '../torch/index.js';
import { Attention, Block, CausalLM, LlamaRMSNorm, SwiGLU, type ResolvedLmConfig } from '../lm/model.js';

/** The architecture switches beyond plain Llama that a writer may support. */
export type LmFeature = 'qkvBias' | 'oBias' | 'qkNorm' | 'headDim' | 'ropeScaling';

export interface LmTensor {
  /** PyTorch shape, row-major: (out, in) for projections, (vocab, d) for the embedding. */
  shape: number[];
  data: Float32Array;
}

export interface LmWeights {
  cfg: ResolvedLmConfig;
  headDim: number;
  /** Our names, in the model's parameter order; no 'lm_head.weight' when tied. */
  tensors: Map<string, LmTensor>;
}

type Ctor = abstract new (...args: never[]) => nn.AnyModule;

/** The class each module of a CausalLM must have, by its dotted name. */
function expectedClass(name: string): Ctor | undefined {
  if (name === '') return CausalLM;
  if (name === 'embed_tokens') return nn.Embedding;
  if (name === 'norm') return LlamaRMSNorm;
  if (name === 'lm_head') return nn.Linear;
  if (name === 'layers') return nn.ModuleList;
  const m = /^layers\.\d+(?:\.(.*))?$/.exec(name);
  if (!m) return undefined;
  switch (m[1]) {
    case undefined: return Block;
    case 'input_layernorm': case 'post_attention_layernorm': return LlamaRMSNorm;
    case 'self_attn': return Attention;
    case 'self_attn.q_norm': case 'self_attn.k_norm': return LlamaRMSNorm;
    case 'mlp': return SwiGLU;
    case 'self_attn.q_proj': case 'self_attn.k_proj': case 'self_attn.v_proj': case 'self_attn.o_proj':
    case 'mlp.gate_proj': case 'mlp.up_proj': case 'mlp.down_proj':
      return nn.Linear;
    default: return undefined;
  }
}

const clsName = (m: unknown) => (m as { constructor: { name: string } }).constructor.name;

/**
 * Checks that `model` is a Llama-style CausalLM these writers reproduce exactly; throws a
 * ConfigError naming the first module that is not (`what` prefixes the message).
 */
export function checkLm(model: unknown, what: string, supported: readonly LmFeature[] = []): CausalLM {
  if (!(model instanceof CausalLM) || model.constructor !== CausalLM)
    throw new ConfigError(`${what}: the model (${clsName(model)}) is not supported; only the Llama-style CausalLM of src/lm/model.ts can be exported in this format`);
  const c = model.cfg;
  const used: [LmFeature, boolean, string][] = [
    ['qkvBias', c.qkvBias, 'q/k/v projection biases'],
    ['oBias', c.oBias, 'an o_proj bias'],
    ['qkNorm', c.qkNorm, 'q/k RMSNorm (Qwen3)'],
    ['headDim', c.headDim !== c.dim / c.nHeads, `head_dim ${c.headDim} ≠ dim/nHeads`],
    ['ropeScaling', c.ropeScaling !== null, 'llama3 RoPE scaling'],
  ];
  for (const [f, on, desc] of used)
    if (on && !supported.includes(f)) throw new ConfigError(`${what}: the model (arch '${c.arch}') has ${desc}, which this format's writer does not support`);
  const biased = new Set([...(c.qkvBias ? ['q_proj', 'k_proj', 'v_proj'] : []), ...(c.oBias ? ['o_proj'] : [])]);
  for (const [name, m] of model.namedModules()) {
    const want = expectedClass(name);
    const where = `${what}: layer '${name || '(root)'}' (${clsName(m)})`;
    if (!want || m.constructor !== want)
      throw new ConfigError(`${where} is not supported; a CausalLM holds only Embedding, RMSNorm, Attention, SwiGLU and bias-free Linear layers${want ? ` (expected ${want.name} here)` : ''}`);
    if (m instanceof nn.Linear && !!m.bias !== biased.has(name.split('.').pop()!))
      throw new ConfigError(`${where} ${m.bias ? 'has a bias, which' : 'has no bias, which'} the config (arch '${c.arch}') does not ${m.bias ? 'have' : 'expect'}`);
    if (m instanceof nn.RMSNorm && (!m.weight || m.normalizedShape.length !== 1))
      throw new ConfigError(`${where}: only an RMSNorm over the last axis with a weight is supported`);
    if (m instanceof nn.RMSNorm && m.eps !== model.cfg.normEps)
      throw new ConfigError(`${where}: eps ${m.eps} differs from the config's normEps ${model.cfg.normEps}`);
  }
  return model;
}

/** The model's weights as float32 (one copy each), after checkLm. */
export function lmWeights(model: unknown, what: string, supported: readonly LmFeature[] = []): LmWeights {
  const m = checkLm(model, what, supported);
  const tensors = new Map<string, LmTensor>();
  tidy(() => {
    for (const [name, p] of m.namedParameters()) {
      const t: Tensor = p.dtype === 'float32' ? p : p.toDtype('float32');
      tensors.set(name, { shape: [...p.shape], data: t.dataSync() as Float32Array });
    }
  });
  const cfg = { ...m.cfg };
  const need = ['embed_tokens.weight', 'norm.weight', ...(cfg.tieEmbeddings ? [] : ['lm_head.weight'])];
  for (const n of need) if (!tensors.has(n)) throw new ConfigError(`${what}: the model has no '${n}'`);
  return { cfg, headDim: cfg.headDim, tensors };
}

/** A tensor by name, or a clear internal error. */
export function weight(w: LmWeights, name: string): LmTensor {
  const t = w.tensors.get(name);
  if (!t) throw new ConfigError(`LM export: no parameter '${name}'`);
  return t;
}

/** (rows, cols) row-major → (cols, rows). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c];
  return t;
}

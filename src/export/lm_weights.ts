// What the three LM writers (GGUF, ONNX, Hugging Face folder) start from: a CausalLM
// checked module by module against the one architecture they know (src/lm/model.ts),
// and its weights as float32 arrays under our names ('layers.0.self_attn.q_proj.weight').
// A model that is not exactly that architecture (another class, a subclass that may
// override forward, a Linear with a bias, a norm without a weight) is refused with a
// ConfigError naming the module, before any file is written.
import * as nn from '../nn/index.js';
import { ConfigError, tidy, type Tensor } from '../torch/index.js';
import { Attention, Block, CausalLM, SwiGLU, type LmConfig } from '../lm/model.js';

export interface LmTensor {
  /** PyTorch shape, row-major: (out, in) for projections, (vocab, d) for the embedding. */
  shape: number[];
  data: Float32Array;
}

export interface LmWeights {
  cfg: LmConfig;
  headDim: number;
  /** Our names, in the model's parameter order; no 'lm_head.weight' when tied. */
  tensors: Map<string, LmTensor>;
}

type Ctor = abstract new (...args: never[]) => nn.AnyModule;

/** The class each module of a CausalLM must have, by its dotted name. */
function expectedClass(name: string): Ctor | undefined {
  if (name === '') return CausalLM;
  if (name === 'embed_tokens') return nn.Embedding;
  if (name === 'norm') return nn.RMSNorm;
  if (name === 'lm_head') return nn.Linear;
  if (name === 'layers') return nn.ModuleList;
  const m = /^layers\.\d+(?:\.(.*))?$/.exec(name);
  if (!m) return undefined;
  switch (m[1]) {
    case undefined: return Block;
    case 'input_layernorm': case 'post_attention_layernorm': return nn.RMSNorm;
    case 'self_attn': return Attention;
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
export function checkLm(model: unknown, what: string): CausalLM {
  if (!(model instanceof CausalLM) || model.constructor !== CausalLM)
    throw new ConfigError(`${what}: the model (${clsName(model)}) is not supported; only the Llama-style CausalLM of src/lm/model.ts can be exported in this format`);
  for (const [name, m] of model.namedModules()) {
    const want = expectedClass(name);
    const where = `${what}: layer '${name || '(root)'}' (${clsName(m)})`;
    if (!want || m.constructor !== want)
      throw new ConfigError(`${where} is not supported; a CausalLM holds only Embedding, RMSNorm, Attention, SwiGLU and bias-free Linear layers${want ? ` (expected ${want.name} here)` : ''}`);
    if (m instanceof nn.Linear && m.bias) throw new ConfigError(`${where} has a bias, which the Llama architecture does not have`);
    if (m instanceof nn.RMSNorm && (!m.weight || m.normalizedShape.length !== 1))
      throw new ConfigError(`${where}: only an RMSNorm over the last axis with a weight is supported`);
    if (m instanceof nn.RMSNorm && m.eps !== model.cfg.normEps)
      throw new ConfigError(`${where}: eps ${m.eps} differs from the config's normEps ${model.cfg.normEps}`);
  }
  return model;
}

/** The model's weights as float32 (one copy each), after checkLm. */
export function lmWeights(model: unknown, what: string): LmWeights {
  const m = checkLm(model, what);
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
  return { cfg, headDim: cfg.dim / cfg.nHeads, tensors };
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

// Hugging Face config.json ↔ our LmConfig, for the three families the model file covers.
// Key names and defaults are transformers' (LlamaConfig, Qwen2Config, Qwen3Config):
//   hidden_size → dim, intermediate_size → hiddenDim, num_hidden_layers → nLayers,
//   num_attention_heads → nHeads, num_key_value_heads → nKvHeads (default: nHeads),
//   head_dim → headDim (Llama/Qwen2: hidden/heads; Qwen3Config defaults it to 128),
//   max_position_embeddings → maxSeqLen, rope_theta, rms_norm_eps, tie_word_embeddings,
//   rope_scaling {rope_type: 'llama3', …} → ropeScaling.
// Biases: Qwen2 always has q/k/v biases (and none on o_proj); Llama's and Qwen3's
// `attention_bias` puts one on all four projections. Qwen3 always has q_norm/k_norm.
// Anything the model file does not compute exactly (another model_type, sliding-window
// attention, another rope_type, MLP biases, partial rotary) is a ConfigError.
import * as torch from '../torch/index.js';
import { lmConfig, type LmArch, type Llama3RopeScaling, type ResolvedLmConfig } from './model.js';

export const SUPPORTED_MODEL_TYPES: readonly LmArch[] = ['llama', 'qwen2', 'qwen3'];

const ARCHITECTURE: Record<LmArch, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };

/** transformers' defaults for keys a config.json may leave out. */
const DEFAULTS: Record<LmArch, { max_position_embeddings: number; rope_theta: number; rms_norm_eps: number }> = {
  llama: { max_position_embeddings: 2048, rope_theta: 10000, rms_norm_eps: 1e-6 },
  qwen2: { max_position_embeddings: 32768, rope_theta: 10000, rms_norm_eps: 1e-6 },
  qwen3: { max_position_embeddings: 32768, rope_theta: 10000, rms_norm_eps: 1e-6 },
};

export type HfDtype = 'float32' | 'bfloat16' | 'float16';

export interface HfConfigInfo {
  cfg: ResolvedLmConfig;
  /** config.json's torch_dtype (or newer transformers' `dtype`), when it names one we hold. */
  torchDtype: HfDtype | null;
}

type Json = Record<string, unknown>;

/** Our config from a parsed config.json; `source` names the file in errors. */
export function lmConfigFromHf(json: unknown, source = 'config.json'): HfConfigInfo {
  const bad = (msg: string): never => {
    throw new torch.ConfigError(`${source}: ${msg}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) bad('not a JSON object');
  const c = json as Json;
  const type = c.model_type;
  if (typeof type !== 'string' || !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(type))
    bad(`model_type ${JSON.stringify(type ?? null)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  const arch = type as LmArch;
  if (c.architectures !== undefined && c.architectures !== null) {
    const a = c.architectures;
    if (!Array.isArray(a) || a.length === 0 || a.some((x) => x !== ARCHITECTURE[arch]))
      bad(`architectures ${JSON.stringify(a)} is not supported for model_type '${arch}' (expected ["${ARCHITECTURE[arch]}"])`);
  }
  const int = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, got ${JSON.stringify(v ?? null)}`);
    return v as number;
  };
  const num = (k: string, dflt: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'number' || !(v > 0)) bad(`${k} must be a positive number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const flag = (k: string, dflt: boolean): boolean => {
    const v = c[k] ?? dflt;
    if (typeof v !== 'boolean') bad(`${k} must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  if ((c.hidden_act ?? 'silu') !== 'silu') bad(`hidden_act ${JSON.stringify(c.hidden_act)} is not supported (only "silu")`);
  if (flag('mlp_bias', false)) bad('mlp_bias true is not supported');
  if (flag('use_sliding_window', false)) bad(`use_sliding_window true is not supported (model_type '${arch}'): only full attention is computed`);
  if ((c.partial_rotary_factor ?? 1) !== 1) bad(`partial_rotary_factor ${JSON.stringify(c.partial_rotary_factor)} is not supported (only 1)`);

  const dim = int('hidden_size');
  const nHeads = int('num_attention_heads');
  const headDim = c.head_dim === undefined || c.head_dim === null ? (arch === 'qwen3' ? 128 : dim / nHeads) : int('head_dim');
  const attentionBias = arch === 'qwen2' ? false : flag('attention_bias', false);
  const d = DEFAULTS[arch];
  const cfg = lmConfig({
    arch,
    vocabSize: int('vocab_size'),
    dim,
    nLayers: int('num_hidden_layers'),
    nHeads,
    nKvHeads: int('num_key_value_heads', nHeads),
    hiddenDim: int('intermediate_size'),
    headDim,
    maxSeqLen: int('max_position_embeddings', d.max_position_embeddings),
    ropeTheta: num('rope_theta', d.rope_theta),
    normEps: num('rms_norm_eps', d.rms_norm_eps),
    tieEmbeddings: flag('tie_word_embeddings', false),
    qkvBias: arch === 'qwen2' || attentionBias,
    oBias: attentionBias,
    qkNorm: arch === 'qwen3',
    ropeScaling: ropeScalingFromHf(c.rope_scaling, bad),
  });
  const dt = c.torch_dtype ?? c.dtype ?? null;
  const torchDtype = dt === 'float32' || dt === 'bfloat16' || dt === 'float16' ? dt : null;
  return { cfg, torchDtype };
}

function ropeScalingFromHf(rs: unknown, bad: (msg: string) => never): Llama3RopeScaling | null {
  if (rs === undefined || rs === null) return null;
  if (typeof rs !== 'object' || Array.isArray(rs)) return bad(`rope_scaling must be an object or null, got ${JSON.stringify(rs)}`);
  const r = rs as Json;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return null;
  if (type !== 'llama3') return bad(`rope_scaling type ${JSON.stringify(type ?? null)} is not supported (supported: "llama3", "default")`);
  const get = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !(v > 0)) bad(`rope_scaling.${k} must be a positive number, got ${JSON.stringify(v ?? null)}`);
    return v as number;
  };
  return {
    type: 'llama3',
    factor: get('factor'),
    lowFreqFactor: get('low_freq_factor'),
    highFreqFactor: get('high_freq_factor'),
    originalMaxPositionEmbeddings: get('original_max_position_embeddings'),
  };
}

/**
 * config.json for our config, in transformers' key names. `base` (a config.json we
 * loaded) keeps its other keys (token ids, transformers_version …); ours override it.
 * A config no family expresses (Qwen2 without q/k/v bias, say) is a ConfigError.
 */
export function hfConfigFromLm(config: ResolvedLmConfig, dtype: HfDtype = 'float32', base: Json = {}): Json {
  const c = lmConfig(config);
  const arch = c.arch;
  const bad = (msg: string): never => {
    throw new torch.ConfigError(`config.json for model_type '${arch}': ${msg}`);
  };
  if (arch === 'qwen2' && (!c.qkvBias || c.oBias)) bad('Qwen2 has biases on q/k/v_proj and none on o_proj');
  if (arch !== 'qwen2' && c.qkvBias !== c.oBias) bad('attention_bias puts a bias on all of q/k/v/o_proj or none');
  if (c.qkNorm !== (arch === 'qwen3')) bad(arch === 'qwen3' ? 'Qwen3 always has q_norm and k_norm' : 'q/k norms exist only in qwen3');
  if (c.ropeScaling && arch !== 'llama') bad('llama3 rope scaling is written for model_type llama only');
  const rs = c.ropeScaling;
  const out: Json = {
    ...base,
    architectures: [ARCHITECTURE[arch]],
    model_type: arch,
    vocab_size: c.vocabSize,
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: rs
      ? { rope_type: 'llama3', factor: rs.factor, low_freq_factor: rs.lowFreqFactor, high_freq_factor: rs.highFreqFactor, original_max_position_embeddings: rs.originalMaxPositionEmbeddings }
      : null,
    tie_word_embeddings: c.tieEmbeddings,
    torch_dtype: dtype,
  };
  if (arch === 'qwen2' || arch === 'qwen3') Object.assign(out, { use_sliding_window: false, max_window_layers: c.nLayers });
  if (arch !== 'qwen2') Object.assign(out, { attention_bias: c.oBias, mlp_bias: false });
  delete out.dtype; // newer transformers' name for torch_dtype: one of the two, not both disagreeing
  return out;
}

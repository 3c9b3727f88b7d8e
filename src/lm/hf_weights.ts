// Weight names between a Hugging Face checkpoint and our CausalLM, and the plan that
// checks a folder's tensors against config.json before anything is read.
// transformers' *ForCausalLM keeps the decoder under `model.` and the head at the top:
//   model.embed_tokens.weight ↔ embed_tokens.weight,  model.layers.N.… ↔ layers.N.…,
//   model.norm.weight ↔ norm.weight,  lm_head.weight ↔ lm_head.weight (absent when tied:
//   save_pretrained leaves a tied head out; a file that has it anyway is fine).
import * as torch from '../torch/index.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import type { CausalLM } from './model.js';

export const hfName = (ours: string): string => (ours === 'lm_head.weight' ? ours : `model.${ours}`);

/** Tensors some checkpoints carry that the model recomputes (old Llama conversions' RoPE buffers). */
const RECOMPUTED = /\.rotary_emb\.inv_freq$/;

/** Weight dtypes a folder may hold; each converts exactly to float32. */
const FLOAT_DTYPES = new Set(['float32', 'bfloat16', 'float16']);

export interface WeightSource {
  file: string;
  entry: SafetensorsEntry;
}

/**
 * For each parameter of `model` (our name), where its tensor lies. `found` maps HF names
 * to their file and header entry. Every problem is a ConfigError naming the tensor:
 * one missing, one whose shape disagrees with config.json, an unknown extra tensor, a
 * dtype that is not a float.
 */
export function planWeights(model: CausalLM, found: Map<string, WeightSource>, dir: string): Map<string, WeightSource> {
  const plan = new Map<string, WeightSource>();
  const used = new Set<string>();
  const missing: string[] = [];
  for (const [ours, p] of model.namedParameters()) {
    const name = hfName(ours);
    const src = found.get(name);
    if (!src) {
      missing.push(name);
      continue;
    }
    used.add(name);
    const got = src.entry.shape;
    if (got.length !== p.shape.length || got.some((s, i) => s !== p.shape[i]))
      throw new torch.ConfigError(
        `${src.file}: tensor '${name}' has shape [${got.join(', ')}] but config.json implies [${p.shape.join(', ')}] ` +
        `(vocab_size ${model.cfg.vocabSize}, hidden_size ${model.cfg.dim}, heads ${model.cfg.nHeads}/${model.cfg.nKvHeads} × head_dim ${model.cfg.headDim}, intermediate_size ${model.cfg.hiddenDim})`);
    if (!FLOAT_DTYPES.has(src.entry.dtype))
      throw new torch.ConfigError(`${src.file}: tensor '${name}' is ${src.entry.dtype}; weights must be float32, bfloat16 or float16`);
    plan.set(ours, src);
  }
  if (missing.length)
    throw new torch.ConfigError(`${dir}: ${missing.length} tensor(s) that config.json (model_type '${model.cfg.arch}') needs are in no weight file: ${missing.slice(0, 5).map((n) => `'${n}'`).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  const extra = [...found.keys()].filter((n) => !used.has(n) && !RECOMPUTED.test(n) && !(n === 'lm_head.weight' && model.cfg.tieEmbeddings));
  if (extra.length)
    throw new torch.ConfigError(`${dir}: tensor(s) that model_type '${model.cfg.arch}' with this config.json does not have: ${extra.slice(0, 5).map((n) => `'${n}'`).join(', ')}${extra.length > 5 ? ', …' : ''}`);
  return plan;
}

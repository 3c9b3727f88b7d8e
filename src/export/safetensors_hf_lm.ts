// A Hugging Face folder for the Llama-style LM, the layout transformers' LlamaForCausalLM
// and AutoTokenizer load (`from_pretrained(dir)`):
//   config.json              LlamaConfig, Qwen2Config or Qwen3Config (transformers' key names)
//   generation_config.json   bos/eos ids
//   model.safetensors        HF names: 'model.' + our names, plus 'lm_head.weight' unless
//                            tied (then transformers ties it to model.embed_tokens.weight on
//                            load, as save_pretrained leaves it out); float32, bfloat16 or float16
//   tokenizer.json           the `tokenizers` library's format; for the byte tokenizer a
//                            byte-level BPE without merges giving our ids (byte_vocab.ts);
//                            a Hugging Face tokenizer is written back as it was loaded
//   tokenizer_config.json    PreTrainedTokenizerFast with the specials and the chat template
//   special_tokens_map.json  the specials
//   README.md                how to load it
// The folder is written by src/lm/hf_folder.ts (the same writer that saves a loaded HF
// folder back): into a temporary folder renamed into place.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { ByteTokenizer, type Tokenizer } from '../lm/tokenizer.js';
import type { CausalLM, LmConfig } from '../lm/model.js';
import { hfConfigFromLm, type HfDtype } from '../lm/hf_config.js';
import { saveHfFolder } from '../lm/hf_folder.js';
import { checkLm } from './lm_weights.js';
import { BYTE_CHAT_TEMPLATE, byteTokenizerJson } from '../lm/byte_vocab.js';

export const HF_LM_FORMAT_VERSION = 1;

/** config.json as written: transformers' keys for the model's family (src/lm/hf_config.ts), plus ours. */
export interface LlamaHfConfig {
  architectures: string[];
  model_type: 'llama' | 'qwen2' | 'qwen3';
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  hidden_act: 'silu';
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: Record<string, unknown> | null;
  tie_word_embeddings: boolean;
  torch_dtype: HfDtype;
  bos_token_id: number | null;
  eos_token_id: number;
  initializer_range: number;
  use_cache: true;
  transformers_version: string;
  /** Our own config, so distill can rebuild the model without guessing. */
  distill: { format_version: number; lm_config: LmConfig; tokenizer: string };
  [key: string]: unknown;
}

export interface ExportHfLmOptions {
  /** Weight dtype in model.safetensors (default float32). */
  dtype?: HfDtype;
  /** Extra safetensors __metadata__ (string → string). */
  metadata?: Record<string, string>;
}

export interface HfLmExportInfo {
  dir: string;
  files: { path: string; bytes: number }[];
  config: LlamaHfConfig;
}

/** config.json for a CausalLM and its tokenizer (nothing written). */
export function hfLmConfig(model: CausalLM, tokenizer: Tokenizer, dtype: HfDtype = 'float32'): LlamaHfConfig {
  const c = model.cfg;
  const byte = tokenizer instanceof ByteTokenizer;
  const base = {
    attention_dropout: 0,
    pretraining_tp: 1,
    bos_token_id: byte ? ByteTokenizer.BOS : null,
    eos_token_id: tokenizer.eosId,
    initializer_range: 0.02,
    use_cache: true,
    transformers_version: '4.44.0',
    distill: { format_version: HF_LM_FORMAT_VERSION, lm_config: { ...c }, tokenizer: tokenizer.kind },
  };
  return hfConfigFromLm(c, dtype, base) as LlamaHfConfig;
}

/** tokenizer.json and tokenizer_config.json contents for a tokenizer. */
export function hfTokenizerFiles(tokenizer: Tokenizer, maxSeqLen: number): { tokenizer: Record<string, unknown>; config: Record<string, unknown>; specials: Record<string, unknown> } {
  if (tokenizer instanceof ByteTokenizer) {
    const tokens = ByteTokenizer.SPECIALS;
    const added = Object.fromEntries(tokens.map((content, i) => [String(256 + i), {
      content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true,
    }]));
    const specials = { bos_token: tokens[0], eos_token: tokens[1], additional_special_tokens: [tokens[2], tokens[3]] };
    return {
      tokenizer: byteTokenizerJson(),
      config: {
        tokenizer_class: 'PreTrainedTokenizerFast',
        ...specials,
        add_bos_token: false,
        add_eos_token: false,
        clean_up_tokenization_spaces: false,
        model_max_length: maxSeqLen,
        added_tokens_decoder: added,
        chat_template: BYTE_CHAT_TEMPLATE,
      },
      specials,
    };
  }
  const d = tokenizer.toJSON() as { kind?: string; json?: Record<string, unknown>; config?: Record<string, unknown> };
  if (d?.kind !== 'hf' || !d.json)
    throw new torch.ConfigError(`safetensors export: tokenizer '${tokenizer.kind}' has no Hugging Face form`);
  const config: Record<string, unknown> = { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: maxSeqLen, ...d.config };
  const pick = (k: string) => (config[k] === undefined ? {} : { [k]: config[k] });
  return { tokenizer: d.json, config, specials: { ...pick('bos_token'), ...pick('eos_token'), ...pick('unk_token'), ...pick('pad_token') } };
}

const README = (c: LlamaHfConfig) => `# ${c.model_type} student (exported by distill)

${c.num_hidden_layers} layers, hidden size ${c.hidden_size}, ${c.num_attention_heads} attention heads (${c.num_key_value_heads} key/value),
SwiGLU ${c.intermediate_size}, vocabulary ${c.vocab_size}, context ${c.max_position_embeddings}${c.tie_word_embeddings ? ', tied embeddings' : ''}.

\`\`\`python
from transformers import AutoTokenizer, AutoModelForCausalLM
tok = AutoTokenizer.from_pretrained(".")
model = AutoModelForCausalLM.from_pretrained(".")
ids = tok.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True, return_tensors="pt")
print(tok.decode(model.generate(ids, max_new_tokens=64, do_sample=False)[0][ids.shape[1]:]))
\`\`\`
`;

/** Writes the Hugging Face folder at `dir` (replacing it as a whole). */
export function exportHfLm(model: unknown, tokenizer: Tokenizer, dir: string, opts: ExportHfLmOptions = {}): HfLmExportInfo {
  const m = checkLm(model, 'safetensors export', ['qkvBias', 'oBias', 'qkNorm', 'headDim', 'ropeScaling']);
  const dtype = opts.dtype ?? 'float32';
  if (!['float32', 'bfloat16', 'float16'].includes(dtype)) throw new torch.ConfigError(`safetensors export: dtype '${String(dtype)}' is not supported; use float32, bfloat16 or float16`);
  // A padded embedding is legal (Qwen pads 151,665 tokens to 151,936 rows); a tokenizer larger than it is not.
  if (m.cfg.vocabSize < tokenizer.vocabSize)
    throw new torch.ConfigError(`safetensors export: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary only ${m.cfg.vocabSize}`);
  const config = hfLmConfig(m, tokenizer, dtype);
  const tk = hfTokenizerFiles(tokenizer, m.cfg.maxSeqLen);
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  const names = saveHfFolder(dir, m, {
    dtype,
    baseConfig: config,
    metadata: { format: 'pt', ...opts.metadata },
    generationConfig: { bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id, do_sample: false, transformers_version: config.transformers_version },
    files: {
      'tokenizer.json': json(tk.tokenizer),
      'tokenizer_config.json': json(tk.config),
      'special_tokens_map.json': json(tk.specials),
      'README.md': README(config),
    },
  });
  const files = names.map((n) => ({ path: join(dir, n), bytes: statSync(join(dir, n)).size }));
  return { dir, files, config };
}

// One way to name a model: an LM folder (lm.json, written by saveLm), a Hugging Face folder
// (config.json + safetensors + tokenizer.json) or a .gguf file (llama, qwen2, qwen3; weights
// dequantized to float32 by gguf_lm.ts, the tokenizer rebuilt by gguf_tokenizer.ts).
// Weights are held in float32 unless the caller asks for another dtype (lm/dtype.ts).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { lmConfig, type CausalLM, type LmConfig, type ResolvedLmConfig } from './model.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizer.js';
import { HfTokenizer } from './hf_tokenizer.js';
import { loadLm } from './checkpoint.js';
import { loadHfFolder, checkTokenizerFits, readJson } from './hf_folder.js';
import { lmConfigFromHf } from './hf_config.js';
import { GgufModelReader } from '../io/index.js';
import { ggufConfig, ggufLm } from './gguf_lm.js';
import { tokenizerFromGguf } from './gguf_tokenizer.js';
import { checkLmDtype, resolveLmDtype, type LmDtype } from './dtype.js';

export interface LoadedLm {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** 'lm': our LM folder; 'hf': a Hugging Face folder; 'gguf': a GGUF file. */
  source: 'lm' | 'hf' | 'gguf';
  /** End-of-sequence ids (generation_config.json's list for an HF folder). */
  eosIds: number[];
}

export interface LoadAnyLmOptions {
  /**
   * The parameters' dtype (default float32): 'auto' keeps a bfloat16 Hugging Face folder or
   * BF16 GGUF in bfloat16 without widening; 'bfloat16' rounds any model to it (lm/dtype.ts).
   * A bfloat16 model runs with Hugging Face's eager bf16 numerics and returns bf16 logits.
   */
  dtype?: LmDtype;
}

/** The model and tokenizer at `path`: an LM folder, a Hugging Face folder or a .gguf file. */
export function loadAnyLm(path: string, opts: LoadAnyLmOptions = {}): LoadedLm {
  const dtype = checkLmDtype(opts.dtype ?? 'float32', 'dtype');
  if (path.endsWith('.gguf')) return loadGguf(path, dtype);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new torch.ConfigError(`${path}: no such model folder (an LM folder with lm.json, or a Hugging Face folder with config.json) or .gguf file`);
  if (existsSync(join(path, 'lm.json'))) {
    const { model, tokenizer } = loadLm(path);
    // An LM folder holds float32 weights: 'auto' keeps them; an explicit half dtype converts.
    const target = resolveLmDtype(dtype, 'float32');
    if (target !== 'float32') model.to(target);
    return { model, tokenizer, source: 'lm', eosIds: [tokenizer.eosId] };
  }
  if (!existsSync(join(path, 'config.json'))) throw new torch.ConfigError(`${path} is neither an LM folder (no lm.json) nor a Hugging Face folder (no config.json)`);
  if (!existsSync(join(path, 'tokenizer.json'))) throw new torch.ConfigError(`${path}: a Hugging Face folder needs its tokenizer.json to run here`);
  const tokenizer = HfTokenizer.fromDir(path);
  const hf = loadHfFolder(path, { dtype });
  try {
    checkTokenizerFits(hf.model.cfg, tokenizer.vocabSize, join(path, 'tokenizer.json'));
  } catch (e) {
    hf.model.dispose();
    throw e;
  }
  const eosIds = hf.generation?.eosTokenIds?.length ? hf.generation.eosTokenIds : [tokenizer.eosId];
  return { model: hf.model, tokenizer, source: 'hf', eosIds };
}

function loadGguf(path: string, dtype: LmDtype): LoadedLm {
  if (!existsSync(path)) throw new torch.ConfigError(`${path}: no such file`);
  using r = GgufModelReader.open(path); // one header for the tokenizer and the weights
  const tokenizer = tokenizerFromGguf(r.file.metadata, path);
  const model = ggufLm(r, path, dtype);
  checkTokenizerFits(model.cfg, tokenizer.vocabSize, path);
  const eos = r.file.metadata['tokenizer.ggml.eos_token_id'];
  return { model, tokenizer, source: 'gguf', eosIds: typeof eos === 'number' ? [eos] : [tokenizer.eosId] };
}

/**
 * The config and tokenizer of the model at `path`, read from its config and headers only (no
 * weights): what a student started from it will be. The config is the one loadAnyLm's model has.
 */
export function peekLm(path: string): { config: ResolvedLmConfig; tokenizer: Tokenizer } {
  if (path.endsWith('.gguf')) {
    if (!existsSync(path)) throw new torch.ConfigError(`${path}: no such file`);
    using r = GgufModelReader.open(path);
    return { config: lmConfig(ggufConfig(r, path)), tokenizer: tokenizerFromGguf(r.file.metadata, path) };
  }
  if (existsSync(join(path, 'lm.json'))) {
    const desc = readJson(join(path, 'lm.json')) as { config: LmConfig; tokenizer: unknown };
    return { config: lmConfig(desc.config), tokenizer: tokenizerFromJSON(desc.tokenizer) };
  }
  if (!existsSync(join(path, 'config.json'))) throw new torch.ConfigError(`${path} is neither an LM folder (no lm.json) nor a Hugging Face folder (no config.json)`);
  const tokenizer = HfTokenizer.fromDir(path);
  const { cfg } = lmConfigFromHf(readJson(join(path, 'config.json')), join(path, 'config.json'));
  const config = lmConfig(cfg);
  checkTokenizerFits(config, tokenizer.vocabSize, join(path, 'tokenizer.json'));
  return { config, tokenizer };
}

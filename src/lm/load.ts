// One way to name a model: an LM folder (lm.json, written by saveLm), a Hugging Face folder
// (config.json + safetensors + tokenizer.json) or a .gguf file (llama, qwen2, qwen3; weights
// dequantized to float32 by gguf_lm.ts, the tokenizer rebuilt by gguf_tokenizer.ts).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { CausalLM } from './model.js';
import type { Tokenizer } from './tokenizer.js';
import { HfTokenizer } from './hf_tokenizer.js';
import { loadLm } from './checkpoint.js';
import { loadHfFolder, checkTokenizerFits } from './hf_folder.js';
import { readGgufModel } from '../io/index.js';
import { ggufLm } from './gguf_lm.js';
import { tokenizerFromGguf } from './gguf_tokenizer.js';

export interface LoadedLm {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** 'lm': our LM folder; 'hf': a Hugging Face folder; 'gguf': a GGUF file. */
  source: 'lm' | 'hf' | 'gguf';
  /** End-of-sequence ids (generation_config.json's list for an HF folder). */
  eosIds: number[];
}

/** The model and tokenizer at `path`: an LM folder, a Hugging Face folder or a .gguf file. */
export function loadAnyLm(path: string): LoadedLm {
  if (path.endsWith('.gguf')) return loadGguf(path);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new torch.ConfigError(`${path}: no such model folder (an LM folder with lm.json, or a Hugging Face folder with config.json) or .gguf file`);
  if (existsSync(join(path, 'lm.json'))) {
    const { model, tokenizer } = loadLm(path);
    return { model, tokenizer, source: 'lm', eosIds: [tokenizer.eosId] };
  }
  if (!existsSync(join(path, 'config.json'))) throw new torch.ConfigError(`${path} is neither an LM folder (no lm.json) nor a Hugging Face folder (no config.json)`);
  if (!existsSync(join(path, 'tokenizer.json'))) throw new torch.ConfigError(`${path}: a Hugging Face folder needs its tokenizer.json to run here`);
  const tokenizer = HfTokenizer.fromDir(path);
  const hf = loadHfFolder(path);
  try {
    checkTokenizerFits(hf.model.cfg, tokenizer.vocabSize, join(path, 'tokenizer.json'));
  } catch (e) {
    hf.model.dispose();
    throw e;
  }
  const eosIds = hf.generation?.eosTokenIds?.length ? hf.generation.eosTokenIds : [tokenizer.eosId];
  return { model: hf.model, tokenizer, source: 'hf', eosIds };
}

function loadGguf(path: string): LoadedLm {
  if (!existsSync(path)) throw new torch.ConfigError(`${path}: no such file`);
  const g = readGgufModel(path); // header and tensors read once, for the tokenizer and the weights
  const tokenizer = tokenizerFromGguf(g.metadata, path);
  const model = ggufLm(g, path);
  checkTokenizerFits(model.cfg, tokenizer.vocabSize, path);
  const eos = g.metadata['tokenizer.ggml.eos_token_id'];
  return { model, tokenizer, source: 'gguf', eosIds: typeof eos === 'number' ? [eos] : [tokenizer.eosId] };
}

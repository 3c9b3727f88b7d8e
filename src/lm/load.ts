// One way to name a model: an LM folder (lm.json, written by saveLm) or a Hugging Face folder
// (config.json + safetensors + tokenizer.json). A .gguf file is refused here with the way to use
// it: llama.cpp runs it as a teacher (`--gguf`), and loadGgufLm reads its weights.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { CausalLM } from './model.js';
import type { Tokenizer } from './tokenizer.js';
import { HfTokenizer } from './hf_tokenizer.js';
import { loadLm } from './checkpoint.js';
import { loadHfFolder, checkTokenizerFits } from './hf_folder.js';

export interface LoadedLm {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** 'lm': our LM folder; 'hf': a Hugging Face folder. */
  source: 'lm' | 'hf';
  /** End-of-sequence ids (generation_config.json's list for an HF folder). */
  eosIds: number[];
}

/** The model and tokenizer at `path`, whichever of the two folder kinds it is. */
export function loadAnyLm(path: string): LoadedLm {
  if (path.endsWith('.gguf'))
    throw new torch.ConfigError(`${path}: a GGUF file runs in llama.cpp here (serve and reason traces take it as --gguf / a .gguf argument); give an LM or Hugging Face folder to run it in this engine`);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new torch.ConfigError(`${path}: no such model folder (an LM folder with lm.json, or a Hugging Face folder with config.json)`);
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

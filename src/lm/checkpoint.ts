// An LM on disk: a folder with `model.safetensors` (our parameter names) and `lm.json`
// (format, config, tokenizer). The weights are written first and the description last,
// each atomically, so a folder with an lm.json is always complete.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from '../io/index.js';
import { CausalLM, lmConfig, type LmConfig } from './model.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizer.js';
import { loraConfigOf } from './lora.js';

export const LM_FORMAT = 'distill-lm';
export const LM_VERSION = 1;

export interface LmFolder {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** Free-form facts recorded at save time (what it was trained on, accuracy …). */
  info: Record<string, unknown>;
}

/** Saves weights (float32, or float16 to halve a shipped file) and the description. */
export function saveLm(dir: string, model: CausalLM, tokenizer: Tokenizer, opts: { dtype?: 'float32' | 'float16'; info?: Record<string, unknown> } = {}): void {
  // A LoRA model's state has lora_A/lora_B keys that no CausalLM loads: fold them in first.
  if (loraConfigOf(model)) throw new torch.ConfigError(`saveLm(${dir}): the model has LoRA adapters; merge them first (mergeLora) and/or save them in PEFT's layout (saveLoraAdapter)`);
  mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? 'float32';
  torch.tidy(() => {
    const sd = model.stateDict();
    const out = dtype === 'float32' ? sd : Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.toDtype(dtype)]));
    saveSafetensors(join(dir, 'model.safetensors'), out, { format: LM_FORMAT });
  });
  const desc = { format: LM_FORMAT, version: LM_VERSION, config: model.cfg, tokenizer: tokenizer.toJSON(), info: opts.info ?? {} };
  writeFileAtomic(join(dir, 'lm.json'), JSON.stringify(desc, null, 1) + '\n');
}

/** Loads a folder written by saveLm; float16 weights come back as float32. */
export function loadLm(dir: string): LmFolder {
  const descPath = join(dir, 'lm.json');
  if (!existsSync(descPath)) throw new torch.ConfigError(`${dir} is not an LM folder (no lm.json); train one or point at the folder holding lm.json`);
  let desc: { format?: string; version?: number; config?: LmConfig; tokenizer?: unknown; info?: Record<string, unknown> };
  try {
    desc = JSON.parse(readFileSync(descPath, 'utf8'));
  } catch (e) {
    throw new torch.ConfigError(`${descPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (desc.format !== LM_FORMAT) throw new torch.ConfigError(`${descPath}: format is ${JSON.stringify(desc.format)}, expected "${LM_FORMAT}"`);
  if (desc.version !== LM_VERSION) throw new torch.ConfigError(`${descPath}: version ${desc.version} is not supported (this build reads ${LM_VERSION})`);
  const tokenizer = tokenizerFromJSON(desc.tokenizer);
  const cfg = lmConfig(desc.config as LmConfig);
  // A padded embedding is legal (a Hugging Face model's, kept through fine-tuning); a tokenizer larger than it is not.
  if (cfg.vocabSize < tokenizer.vocabSize) throw new torch.ConfigError(`${descPath}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary only ${cfg.vocabSize}`);
  const model = new CausalLM(cfg);
  const { tensors } = loadSafetensors(join(dir, 'model.safetensors'));
  try {
    model.loadStateDict(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model: model.eval(), tokenizer, info: desc.info ?? {} };
}

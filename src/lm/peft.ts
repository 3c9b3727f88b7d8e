// LoRA adapters on disk in PEFT's layout (huggingface/peft, docs/source/developer_guides/checkpoint.md),
// so `PeftModel.from_pretrained(AutoModelForCausalLM…, dir)` loads what we train and we load theirs:
//   adapter_model.safetensors   base_model.model.<HF module name>.lora_A.weight  (r, in)
//                               base_model.model.<HF module name>.lora_B.weight  (out, r)
//     e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight: PeftModel.base_model
//     is the LoraModel, whose .model is the transformers model, whose own names start with its
//     decoder's "model." (hf_weights.ts hfName). The adapter name ("default") is stripped on
//     save, as get_peft_model_state_dict does.
//   adapter_config.json         LoraConfig's fields: peft_type "LORA", r, lora_alpha, …
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { init } from '../nn/index.js';
import { readJson } from './hf_folder.js';
import { hfName } from './hf_weights.js';
import type { CausalLM } from './model.js';
import { applyLora, formatLoraConfig, loraConfigOf, loraModules, loraTargets, resolveLoraConfig, sameLoraConfig, type ResolvedLoraConfig } from './lora.js';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
/** PeftModel (base_model) → LoraModel (model) → the transformers model. */
const PEFT_PREFIX = 'base_model.model.';

/** The PEFT key of one of our LoRA modules' A or B: transformers' module name (hfName: the decoder under "model.", the head at the top). */
export function peftKey(module: string, which: 'lora_A' | 'lora_B'): string {
  return `${PEFT_PREFIX}${module === 'lm_head' ? module : hfName(module)}.${which}.weight`;
}

/** adapter_config.json for `cfg` (PEFT's LoraConfig.to_dict, the fields a LoRA of this kind sets). */
export function peftAdapterConfig(cfg: ResolvedLoraConfig, baseModel: string): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    revision: null,
    r: cfg.r,
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout,
    target_modules: cfg.targets,
    use_rslora: cfg.rslora,
    use_dora: false,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    inference_mode: true,
  };
}

/**
 * Writes the model's adapters to `dir` (created if need be) as adapter_model.safetensors and
 * adapter_config.json, each atomically. `baseModel` is the base's name or path, recorded as
 * base_model_name_or_path so loading onto another base is refused.
 */
export function saveLoraAdapter(model: CausalLM, dir: string, o: { baseModel: string }): void {
  const cfg = loraConfigOf(model);
  if (!cfg) throw new torch.ConfigError('saveLoraAdapter: the model has no LoRA adapters (applyLora first)');
  if (typeof o?.baseModel !== 'string' || o.baseModel === '') throw new torch.ConfigError('saveLoraAdapter: baseModel (the base model\'s name or path) is required');
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new torch.ConfigError(`${dir} exists and is not a folder`);
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, Tensor> = {};
  for (const [name, m] of loraModules(model)) {
    tensors[peftKey(name, 'lora_A')] = m.lora_A.weight;
    tensors[peftKey(name, 'lora_B')] = m.lora_B.weight;
  }
  // safetensors' save_file(…, metadata={"format": "pt"}), as PEFT writes it.
  saveSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeFileAtomic(join(dir, ADAPTER_CONFIG), `${JSON.stringify(peftAdapterConfig(cfg, o.baseModel), null, 2)}\n`);
}

/** Reads adapter_config.json as our LoraConfig; PEFT features we do not implement are refused by name. */
export function readLoraAdapterConfig(dir: string): { cfg: ResolvedLoraConfig; baseModel: string | null } {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path)) throw new torch.ConfigError(`${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)`);
  const j = readJson(path);
  const bad = (why: string): never => {
    throw new torch.ConfigError(`${path}: ${why}`);
  };
  if (j.peft_type !== 'LORA') bad(`peft_type is ${JSON.stringify(j.peft_type)}; only LORA adapters load here`);
  if (j.use_dora === true) bad('use_dora is true; DoRA adapters are not supported');
  if (j.fan_in_fan_out === true) bad('fan_in_fan_out is true (a GPT-2 style Conv1D base); our Linear weights are (out, in)');
  if (j.bias !== undefined && j.bias !== 'none') bad(`bias is ${JSON.stringify(j.bias)}; only "none" is supported`);
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (j[k] && typeof j[k] === 'object' && Object.keys(j[k] as object).length) bad(`${k} is set; per-module ranks or alphas are not supported`);
  for (const k of ['layers_to_transform', 'modules_to_save'])
    if (j[k] !== undefined && j[k] !== null && !(Array.isArray(j[k]) && (j[k] as unknown[]).length === 0)) bad(`${k} is set; it is not supported`);
  const targets = j.target_modules;
  if (typeof targets === 'string') bad(`target_modules is the pattern ${JSON.stringify(targets)}; only a list of module names is supported`);
  if (!Array.isArray(targets)) bad('target_modules must be a list of module names');
  const base = j.base_model_name_or_path;
  const cfg = resolveLoraConfig({
    r: j.r as number,
    alpha: j.lora_alpha as number,
    dropout: (j.lora_dropout as number | undefined) ?? 0,
    targets: targets as string[],
    rslora: (j.use_rslora as boolean | undefined) ?? false,
  });
  return { cfg, baseModel: typeof base === 'string' && base !== '' ? base : null };
}

/**
 * Whether two base-model names mean the same model: equal, equal as resolved paths, or the
 * same last path part (a Hub id "Qwen/Qwen2.5-0.5B" and a local folder ".../Qwen2.5-0.5B").
 * A truly different base with the same name still fails below, on the tensor shapes.
 */
function sameBase(a: string, b: string): boolean {
  const trim = (s: string) => s.replace(/[\\/]+$/, '');
  return a === b || resolve(a) === resolve(b) || basename(trim(a)) === basename(trim(b));
}

/**
 * Loads the PEFT adapter in `dir` onto `model`: applies LoRA with the adapter's settings (or, when
 * the model already has LoRA, requires the same settings) and copies A and B in. Refused, with one
 * ConfigError naming both sides, when the adapter was made for another base: another
 * base_model_name_or_path than `o.baseModel`, other layers or other shapes. Nothing is applied
 * to the model unless the whole adapter fits.
 */
export function loadLoraAdapter(model: CausalLM, dir: string, o: { baseModel?: string } = {}): void {
  const { cfg, baseModel } = readLoraAdapterConfig(dir);
  const forBase = baseModel ? ` (adapter for base '${baseModel}')` : '';
  if (o.baseModel && baseModel && !sameBase(o.baseModel, baseModel))
    throw new torch.ConfigError(`${dir}: this LoRA adapter was trained on base model '${baseModel}', not on '${o.baseModel}'`);
  const have = loraConfigOf(model);
  if (have && !sameLoraConfig(have, cfg))
    throw new torch.ConfigError(`${dir}: the adapter's settings (${formatLoraConfig(cfg)}) differ from the model's LoRA (${formatLoraConfig(have)})`);
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) throw new torch.ConfigError(`${dir}: no ${ADAPTER_WEIGHTS}`);
  const { tensors } = loadSafetensors(weightsPath);
  try {
    // Check every tensor against the base before touching the model.
    const plan = expectedTensors(model, cfg);
    const missing = [...plan.keys()].filter((k) => !(k in tensors));
    const extra = Object.keys(tensors).filter((k) => !plan.has(k));
    if (missing.length || extra.length) {
      const list = (ks: string[]) => ks.slice(0, 3).map((k) => `'${k}'`).join(', ') + (ks.length > 3 ? `, … (${ks.length})` : '');
      throw new torch.ConfigError(`${weightsPath} does not fit this base model${forBase}: ` +
        [missing.length ? `missing ${list(missing)}` : '', extra.length ? `tensors the base has no module for: ${list(extra)}` : ''].filter(Boolean).join('; ') +
        ` (the base has ${model.cfg.nLayers} layers, ${model.cfg.arch})`);
    }
    for (const [k, shape] of plan) {
      const got = tensors[k].shape;
      if (got.length !== shape.length || got.some((s, i) => s !== shape[i]))
        throw new torch.ConfigError(`${weightsPath}: '${k}' has shape [${got.join(', ')}] but this base model needs [${shape.join(', ')}]${forBase}` +
          ` (base: hidden_size ${model.cfg.dim}, intermediate_size ${model.cfg.hiddenDim}, heads ${model.cfg.nHeads}/${model.cfg.nKvHeads} × ${model.cfg.headDim}; adapter r=${cfg.r})`);
    }
    // Every A and B is overwritten below: no random draws (they would move the global generator).
    if (!have) init.skipInit(() => applyLora(model, cfg));
    torch.noGrad(() => {
      for (const [name, m] of loraModules(model)) {
        m.lora_A.weight.copy_(tensors[peftKey(name, 'lora_A')]);
        m.lora_B.weight.copy_(tensors[peftKey(name, 'lora_B')]);
      }
    });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/** PEFT key → shape of every adapter tensor `cfg` puts on `model` (without applying it). */
function expectedTensors(model: CausalLM, cfg: ResolvedLoraConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const have = loraModules(model);
  const layers: [string, { inFeatures: number; outFeatures: number }][] = have.length ? have : loraTargets(model, cfg.targets);
  for (const [name, m] of layers) {
    out.set(peftKey(name, 'lora_A'), [cfg.r, m.inFeatures]);
    out.set(peftKey(name, 'lora_B'), [m.outFeatures, cfg.r]);
  }
  return out;
}

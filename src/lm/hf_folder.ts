// A Hugging Face model folder in and out: the layout `from_pretrained` reads and
// `save_pretrained` writes.
//   config.json                       model_type llama | qwen2 | qwen3 (hf_config.ts)
//   model.safetensors                 one file, or shards model-0000i-of-0000n.safetensors
//   model.safetensors.index.json      with {"metadata": {"total_size"}, "weight_map": {name: file}}
//   generation_config.json            bos/eos ids (eos may be a list), sampling defaults
//   tokenizer.json, tokenizer_config.json, …   carried along untouched here
// Weights may be float32, bfloat16 or float16. By default each converts exactly to the
// model's float32 (libtorch's copy_; bfloat16 is the top half of a float32); `dtype: 'auto'`
// keeps the file's bfloat16 (half the memory, no widening; the model then runs with Hugging
// Face's eager bf16 numerics, model.ts), and 'bfloat16' rounds any file to bfloat16 as
// `from_pretrained(torch_dtype=torch.bfloat16)` does. Loading validates every header against
// config.json before reading data, builds the model without drawing random weights,
// allocates the parameters in the chosen dtype, then reads each tensor straight into its
// parameter when the dtypes agree (one pread) or converts it through one small buffer.
// Writing goes to a temporary sibling folder that is renamed into place, so a reader sees
// the old folder or the new one, never half of one.
import fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as torch from '../torch/index.js';
import { encodeSafetensorsChunks, forEachSafetensorChunk, readSafetensorsHeader } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CausalLM, type ResolvedLmConfig } from './model.js';
import { hfConfigFromLm, lmConfigFromHf, type HfDtype } from './hf_config.js';
import { hfName, planWeights, type WeightSource } from './hf_weights.js';
import { checkLmDtype, resolveLmDtype, type LmDtype } from './dtype.js';

export const HF_WEIGHTS = 'model.safetensors';
export const HF_INDEX = 'model.safetensors.index.json';

/** generation_config.json, with eos_token_id normalised to a list. */
export interface GenerationConfig {
  bosTokenId: number | null;
  /** Every id that ends generation (Llama 3 and Qwen list several). */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** The file as it was, for writing back. */
  raw: Record<string, unknown>;
}

export interface HfFolder {
  dir: string;
  model: CausalLM;
  /** config.json as read (its other keys are written back). */
  config: Record<string, unknown>;
  /** The weights' dtype on disk (the most common one across tensors). */
  dtype: HfDtype;
  generation: GenerationConfig | null;
  /** Weight files, relative to dir. */
  weightFiles: string[];
}

/** A JSON object file; anything else is one ConfigError naming the file. */
export function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw new torch.ConfigError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new torch.ConfigError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * True when `dir` looks like a Hugging Face model folder: a config.json with a model_type, and
 * weights (a run folder's config.json, the resolved experiment, has neither).
 */
export function isHfFolder(dir: string): boolean {
  const cfg = join(dir, 'config.json');
  if (!fs.existsSync(cfg) || !fs.statSync(dir).isDirectory()) return false;
  if (!fs.existsSync(join(dir, HF_WEIGHTS)) && !fs.existsSync(join(dir, HF_INDEX))) return false;
  try {
    return typeof (JSON.parse(fs.readFileSync(cfg, 'utf8')) as { model_type?: unknown }).model_type === 'string';
  } catch {
    return true; // a broken config.json beside the weights: let the loader say what is wrong
  }
}

/** generation_config.json of `dir`, or null when there is none. */
export function readGenerationConfig(dir: string): GenerationConfig | null {
  const path = join(dir, 'generation_config.json');
  if (!fs.existsSync(path)) return null;
  const raw = readJson(path);
  const id = (k: string): number | null => {
    const v = raw[k];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new torch.ConfigError(`${path}: ${k} must be a token id, got ${JSON.stringify(v)}`);
    return v;
  };
  const eos = raw.eos_token_id;
  const list = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  if (!list.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0))
    throw new torch.ConfigError(`${path}: eos_token_id must be a token id or a list of them, got ${JSON.stringify(eos)}`);
  return { bosTokenId: id('bos_token_id'), eosTokenIds: list as number[], padTokenId: id('pad_token_id'), raw };
}

/** The weight files of `dir` and, for shards, which tensor the index puts in which file. */
/** The weight files of a folder (one file, or the shards its index names, each checked to exist) and the index. */
export function weightFilesOf(dir: string): { files: string[]; index: Map<string, string> | null } {
  const indexPath = join(dir, HF_INDEX);
  if (fs.existsSync(indexPath)) {
    const map = readJson(indexPath).weight_map;
    if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new torch.ConfigError(`${indexPath}: no "weight_map" object`);
    const index = new Map<string, string>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\'))
        throw new torch.ConfigError(`${indexPath}: weight_map['${name}'] must be a file name in the folder, got ${JSON.stringify(file)}`);
      index.set(name, file);
    }
    const files = [...new Set(index.values())].sort();
    for (const f of files)
      if (!fs.existsSync(join(dir, f))) throw new torch.ConfigError(`${indexPath} names shard '${f}', which is missing from ${dir}`);
    return { files, index };
  }
  if (fs.existsSync(join(dir, HF_WEIGHTS))) return { files: [HF_WEIGHTS], index: null };
  const shards = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  throw new torch.ConfigError(`${dir}: no ${HF_WEIGHTS} and no ${HF_INDEX}` + (shards.length ? ` (found ${shards.join(', ')} without the index that lists them)` : ''));
}

export interface LoadHfOptions {
  /** Parameter dtype (default float32): see LmDtype. */
  dtype?: LmDtype;
}

/** Loads a Hugging Face folder of a supported family into a CausalLM (in eval mode), float32 unless `dtype` says otherwise. */
export function loadHfFolder(dir: string, opts: LoadHfOptions = {}): HfFolder {
  const want = checkLmDtype(opts.dtype ?? 'float32', 'loadHfFolder: dtype');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new torch.ConfigError(`${dir} is not a folder`);
  const configPath = join(dir, 'config.json');
  if (!fs.existsSync(configPath)) throw new torch.ConfigError(`${dir} is not a Hugging Face model folder (no config.json)`);
  const config = readJson(configPath);
  const { cfg } = lmConfigFromHf(config, configPath);
  const generation = readGenerationConfig(dir);
  const { files, index } = weightFilesOf(dir);

  // Every header first: names, shapes and dtypes are checked before a byte of data is read.
  const found = new Map<string, WeightSource>();
  const dataStart = new Map<string, number>(); // file → byte where its data buffer starts
  for (const f of files) {
    const path = join(dir, f);
    const header = readSafetensorsHeader(path);
    dataStart.set(path, 8 + header.headerLength);
    for (const entry of header.entries) {
      if (index && index.get(entry.name) !== f) continue; // the index decides where a tensor lives
      found.set(entry.name, { file: path, entry });
    }
  }
  if (index)
    for (const [name, f] of index)
      if (!found.has(name)) throw new torch.ConfigError(`${join(dir, HF_INDEX)} puts '${name}' in '${f}', which has no such tensor`);

  // The file's dtype: the most common one, by elements, across the tensors. The plan below
  // checks every tensor the model reads; the parameters are then allocated in the target
  // dtype before any data is read (bfloat16: 2 bytes an element, no float32 copy at all).
  const counts = new Map<string, number>();
  for (const { entry } of found.values()) counts.set(entry.dtype, (counts.get(entry.dtype) ?? 0) + entry.shape.reduce((a, b) => a * b, 1));
  const dtype = ([...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32') as HfDtype;
  const model = CausalLM.uninitialized(cfg, resolveLmDtype(want, dtype));
  try {
    const plan = planWeights(model, found, dir);
    const params = new Map(model.namedParameters());
    const byFile = new Map<string, Map<string, torch.Tensor>>(); // file → HF name → parameter
    for (const [ours, src] of plan) {
      if (!byFile.has(src.file)) byFile.set(src.file, new Map());
      byFile.get(src.file)!.set(src.entry.name, params.get(ours)!);
    }
    const flat = new Map<torch.Tensor, torch.Tensor>(); // parameter → its flat view
    for (const [file, wanted] of byFile) {
      // A tensor stored in its parameter's dtype is read straight into the parameter's memory
      // (one copy, page cache → parameter); the others are converted piece by piece below.
      const fd = fs.openSync(file, 'r');
      try {
        for (const [name, p] of wanted) {
          const { entry } = found.get(name)!;
          if (entry.dtype !== p.dtype) continue;
          torch.readInto(p, fd, dataStart.get(file)! + entry.dataOffsets[0]);
          wanted.delete(name);
        }
      } finally {
        fs.closeSync(fd);
      }
      if (wanted.size === 0) continue;
      forEachSafetensorChunk(file, (e) => wanted.has(e.name), (e, piece, start) => {
        const p = wanted.get(e.name)!;
        if (start === 0) flat.set(p, torch.noGrad(() => p.view([-1])));
        // Piece by piece into the parameter of another dtype: libtorch widens bf16/f16 to
        // float32 exactly and rounds float32 to bf16 to nearest even.
        torch.noGrad(() => {
          const dst = flat.get(p)!.narrow(0, start, piece.numel);
          dst.copy_(piece);
          dst.dispose();
        });
      });
    }
    for (const v of flat.values()) v.dispose();
    return { dir, model: model.eval(), config, dtype, generation, weightFiles: files };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * A tokenizer of `tokenizerSize` ids needs an embedding at least that large; a larger
 * embedding (padded vocabulary: Qwen's 151,936 rows for 151,665 tokens) is legal.
 */
export function checkTokenizerFits(cfg: Pick<ResolvedLmConfig, 'vocabSize'>, tokenizerSize: number, source = 'tokenizer'): void {
  if (tokenizerSize > cfg.vocabSize)
    throw new torch.ConfigError(`${source} has ${tokenizerSize} tokens but the model's embedding has only ${cfg.vocabSize} rows (config.json vocab_size): ids ≥ ${cfg.vocabSize} would have no embedding`);
}

/** Token count of a tokenizer.json: one past the largest id in model.vocab and added_tokens. */
export function tokenizerJsonSize(json: unknown, source = 'tokenizer.json'): number {
  const j = json as { model?: { vocab?: unknown }; added_tokens?: { id?: unknown }[] };
  const vocab = j?.model?.vocab;
  let max = -1;
  if (Array.isArray(vocab)) max = vocab.length - 1; // Unigram: [[piece, score], …]
  else if (vocab && typeof vocab === 'object') {
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  } else throw new torch.ConfigError(`${source}: no model.vocab`);
  for (const t of j.added_tokens ?? []) if (typeof t?.id === 'number' && t.id > max) max = t.id;
  return max + 1;
}

export interface SaveHfOptions {
  /** Weight dtype (default float32). bfloat16 and float16 round to nearest even. */
  dtype?: HfDtype;
  /** A config.json whose other keys (token ids …) are kept. */
  baseConfig?: Record<string, unknown>;
  /** generation_config.json contents (written when given). */
  generationConfig?: Record<string, unknown>;
  /** Other files: name → contents (tokenizer.json …). */
  files?: Record<string, string | Uint8Array>;
  /** Split the weights into shards of at most this many bytes, with an index (default: one file). */
  maxShardBytes?: number;
  /** safetensors __metadata__ (default {format: 'pt'}, as save_pretrained writes). */
  metadata?: Record<string, string>;
}

/** Weights as HF-named tensors in `dtype`, grouped into files (inside the caller's tidy). */
function shardWeights(model: CausalLM, dtype: HfDtype, maxShardBytes: number): { name: string; tensors: Record<string, torch.Tensor> }[] {
  const groups: { tensors: Record<string, torch.Tensor>; bytes: number }[] = [];
  let cur: { tensors: Record<string, torch.Tensor>; bytes: number } | null = null;
  for (const [ours, p] of Object.entries(model.stateDict())) {
    const t = p.dtype === dtype ? p : p.toDtype(dtype);
    const bytes = t.numel * torch.ITEM_SIZE[dtype];
    if (!cur || (cur.bytes > 0 && cur.bytes + bytes > maxShardBytes)) groups.push((cur = { tensors: {}, bytes: 0 }));
    cur.tensors[hfName(ours)] = t;
    cur.bytes += bytes;
  }
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  return groups.map((g, i) => ({ name: n === 1 ? HF_WEIGHTS : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`, tensors: g.tensors }));
}

/** Writes `model` as a Hugging Face folder at `dir`, replacing it as a whole. Returns the file names. */
export function saveHfFolder(dir: string, model: CausalLM, opts: SaveHfOptions = {}): string[] {
  const dtype = opts.dtype ?? 'float32';
  if (!['float32', 'bfloat16', 'float16'].includes(dtype)) throw new torch.ConfigError(`Hugging Face folder: dtype '${String(dtype)}' is not supported; use float32, bfloat16 or float16`);
  const config = hfConfigFromLm(model.cfg, dtype, opts.baseConfig);
  const parent = dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  fs.mkdirSync(tmp);
  const written: string[] = [];
  const put = (name: string, data: string | Uint8Array | Uint8Array[]) => {
    writeFileAtomic(join(tmp, name), data);
    written.push(name);
  };
  try {
    torch.tidy(() => {
      const shards = shardWeights(model, dtype, opts.maxShardBytes ?? Infinity);
      const weightMap: Record<string, string> = {};
      let total = 0;
      for (const s of shards) {
        put(s.name, encodeSafetensorsChunks(s.tensors, opts.metadata ?? { format: 'pt' }));
        for (const [n, t] of Object.entries(s.tensors)) {
          weightMap[n] = s.name;
          total += t.numel * torch.ITEM_SIZE[dtype];
        }
      }
      if (shards.length > 1) put(HF_INDEX, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
    });
    put('config.json', JSON.stringify(config, null, 2) + '\n');
    if (opts.generationConfig) put('generation_config.json', JSON.stringify(opts.generationConfig, null, 2) + '\n');
    for (const [name, data] of Object.entries(opts.files ?? {})) {
      if (written.includes(name) || name.includes('/') || name.includes('\\')) throw new torch.ConfigError(`Hugging Face folder: cannot write extra file '${name}'`);
      put(name, data);
    }
    // Swap: the old folder (if any) moves aside, the new one takes its name, the old one goes.
    const old = fs.existsSync(dir) ? `${tmp}.old` : null;
    if (old) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    if (old) fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return written;
}

/** The generation_config.json to write back for a loaded folder (its own, else the ids of config.json). */
export function generationConfigOf(folder: Pick<HfFolder, 'generation' | 'config'>): Record<string, unknown> | undefined {
  if (folder.generation) return folder.generation.raw;
  const { bos_token_id, eos_token_id } = folder.config;
  return bos_token_id === undefined && eos_token_id === undefined ? undefined : { bos_token_id, eos_token_id };
}

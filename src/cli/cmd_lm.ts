// `distill lm …`: real-architecture LMs as Hugging Face folders.
//   lm init --arch llama|qwen2|qwen3 --size tiny|135m|0.5b --tokenizer <tokenizer.json | folder> --out DIR
//       a randomly initialised folder (Hugging Face's init: matrices N(0, 0.02²), biases 0,
//       norms 1) of a real family's shape, with the tokenizer files copied in as they are;
//       vocab_size is the preset's, raised to the tokenizer's size (rounded up to 64) if that is larger
//   lm inspect <folder> [--json]
//       architecture, parameters, dtype, context, tokenizer, chat template, special tokens
// The presets: 135m is SmolLM2-135M (llama, 30 layers, d 576, 9/3 heads, MLP 1536, vocab
// 49,152, tied); 0.5b is Qwen2.5-0.5B (qwen2, 24 layers, d 896, 14/2 heads, MLP 4864,
// vocab 151,936, tied); qwen3's 0.5b is Qwen3-0.6B (28 layers, d 1024, 16/8 heads of 128,
// MLP 3072). Another family at a size keeps that size's shape with its own switches.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import { ConfigError } from '../torch/errors.js';
import { init } from '../nn/index.js';
import { CausalLM, countLmParameters, lmConfig, type LmArch, type LmConfig } from '../lm/model.js';
import { lmConfigFromHf, SUPPORTED_MODEL_TYPES } from '../lm/hf_config.js';
import { readGenerationConfig, readJson, saveHfFolder, tokenizerJsonSize, weightFilesOf } from '../lm/hf_folder.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { GgufModelReader, LLAMA_FTYPE } from '../io/index.js';
import { ggufConfig } from '../lm/gguf_lm.js';
import { ByteTokenizer, HfTokenizer, tokenizerFromJSON } from '../lm/tokenizer.js';
import { chatTemplateFile } from '../lm/chat_template.js';
import { describeChatFormat, type ChatFormat } from '../reason/student_chat.js';
import { STUDENT_INFO } from './reason_student.js';

/** llama.h's name of a general.file_type ('MOSTLY_Q4_K_M'). */
const fileTypeName = (t: number) => Object.entries(LLAMA_FTYPE).find(([, v]) => v === t)?.[0] ?? `file type ${t}`;

type Opts = Record<string, unknown>;
type Size = 'tiny' | '135m' | '0.5b';
const SIZES: readonly Size[] = ['tiny', '135m', '0.5b'];

type Shape = Omit<LmConfig, 'arch' | 'qkvBias' | 'oBias' | 'qkNorm' | 'ropeScaling'>;
const SHAPES: Record<Size, Shape> = {
  tiny: { vocabSize: 256, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 2048, ropeTheta: 10000, normEps: 1e-6, tieEmbeddings: true },
  '135m': { vocabSize: 49152, dim: 576, nLayers: 30, nHeads: 9, nKvHeads: 3, hiddenDim: 1536, maxSeqLen: 8192, ropeTheta: 100000, normEps: 1e-5, tieEmbeddings: true },
  '0.5b': { vocabSize: 151936, dim: 896, nLayers: 24, nHeads: 14, nKvHeads: 2, hiddenDim: 4864, maxSeqLen: 32768, ropeTheta: 1000000, normEps: 1e-6, tieEmbeddings: true },
};
/** Qwen3-0.6B, the family's own small size. */
const QWEN3_05B: Shape = { vocabSize: 151936, dim: 1024, nLayers: 28, nHeads: 16, nKvHeads: 8, headDim: 128, hiddenDim: 3072, maxSeqLen: 40960, ropeTheta: 1000000, normEps: 1e-6, tieEmbeddings: true };

/** The config of a family at a size, with a vocabulary that holds `tokenizerSize` ids. */
export function presetConfig(arch: LmArch, size: Size, tokenizerSize: number): LmConfig {
  const shape = arch === 'qwen3' && size === '0.5b' ? QWEN3_05B : SHAPES[size];
  const vocabSize = tokenizerSize > shape.vocabSize ? Math.ceil(tokenizerSize / 64) * 64 : shape.vocabSize;
  const switches = { llama: {}, qwen2: { qkvBias: true }, qwen3: { qkNorm: true, headDim: shape.headDim ?? shape.dim / shape.nHeads } }[arch];
  return lmConfig({ ...shape, ...switches, arch, vocabSize });
}

function oneOf<T extends string>(v: unknown, flag: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new ConfigError(`${flag} must be one of ${allowed.join(', ')}; got ${v === undefined ? 'nothing' : `'${String(v)}'`}`);
  return v as T;
}

/** The special token's text from tokenizer_config (a string or an {content} object). */
const tokenText = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : null);

/** The id of a token's text in a tokenizer.json (added tokens first, then the model's vocab). */
function tokenId(tok: Record<string, unknown>, text: string | null): number | null {
  if (text === null) return null;
  const added = (tok.added_tokens as { id: number; content: string }[] | undefined)?.find((t) => t.content === text);
  if (added) return added.id;
  const vocab = (tok.model as { vocab?: unknown } | undefined)?.vocab;
  return vocab && !Array.isArray(vocab) && typeof (vocab as Record<string, unknown>)[text] === 'number' ? (vocab as Record<string, number>)[text] : null;
}

export async function runLmInit(o: Opts): Promise<number> {
  const arch = oneOf(o.arch, '--arch', SUPPORTED_MODEL_TYPES);
  const size = oneOf(o.size, '--size', SIZES);
  const dtype = oneOf(o.dtype ?? 'float32', '--dtype', ['float32', 'bfloat16', 'float16'] as const);
  if (typeof o.tokenizer !== 'string') throw new ConfigError('--tokenizer <tokenizer.json | folder> is required');
  if (typeof o.out !== 'string') throw new ConfigError('--out <dir> is required');
  const seed = o.seed === undefined ? 0 : Number(o.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`--seed must be a whole number ≥ 0, got '${String(o.seed)}'`);
  const tokPath = resolve(o.tokenizer);
  if (!existsSync(tokPath)) throw new ConfigError(`--tokenizer ${o.tokenizer}: no such file or folder`);
  const tokDir = statSync(tokPath).isDirectory() ? tokPath : resolve(tokPath, '..');
  const tokJson = statSync(tokPath).isDirectory() ? join(tokPath, 'tokenizer.json') : tokPath;
  if (!existsSync(tokJson)) throw new ConfigError(`--tokenizer ${o.tokenizer}: no tokenizer.json there`);
  const tok = readJson(tokJson);
  const tokenizerSize = tokenizerJsonSize(tok, tokJson);
  const tokConfigPath = join(tokDir, 'tokenizer_config.json');
  const tokConfig = existsSync(tokConfigPath) ? readJson(tokConfigPath) : {};

  const cfg = presetConfig(arch, size, tokenizerSize);
  torch.manualSeed(seed);
  // Built without drawing PyTorch's default init, then Hugging Face's _init_weights once.
  const model = init.skipInit(() => new CausalLM(cfg));
  for (const p of model.parameters()) if (p.ndim > 1) init.normal_(p, 0, 0.02);
  const bos = tokenId(tok, tokenText(tokConfig.bos_token));
  const eos = tokenId(tok, tokenText(tokConfig.eos_token));
  const files: Record<string, Uint8Array> = {};
  for (const f of HfTokenizer.FILES) if (existsSync(join(tokDir, f))) files[f] = readFileSync(join(tokDir, f));
  if (!files['tokenizer.json']) files['tokenizer.json'] = readFileSync(tokJson); // a tokenizer file under another name
  const out = resolve(o.out);
  const written = saveHfFolder(out, model, {
    dtype,
    baseConfig: { bos_token_id: bos, eos_token_id: eos, initializer_range: 0.02, transformers_version: '4.51.0' },
    generationConfig: { bos_token_id: bos, eos_token_id: eos, transformers_version: '4.51.0' },
    files,
  });
  model.dispose();
  const report = {
    dir: out, arch, size, dtype, seed, params: countLmParameters(cfg), vocabSize: cfg.vocabSize, tokenizerSize,
    layers: cfg.nLayers, hiddenSize: cfg.dim, heads: cfg.nHeads, kvHeads: cfg.nKvHeads, headDim: cfg.headDim, files: written,
  };
  if (o.json) console.log(JSON.stringify(report));
  else console.log(`${out}: ${arch} ${size}, ${report.params.toLocaleString('en-US')} parameters (${cfg.nLayers} layers, d ${cfg.dim}, ${cfg.nHeads}/${cfg.nKvHeads} heads × ${cfg.headDim}, vocab ${cfg.vocabSize} for a ${tokenizerSize}-token tokenizer), ${dtype}`);
  return 0;
}

/** What a Hugging Face folder holds, read from its JSON files and weight headers (no weights loaded). */
export function inspectHfFolder(dir: string): Record<string, unknown> {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new ConfigError(`${dir} is not a Hugging Face model folder (no config.json)`);
  const config = readJson(configPath);
  const { cfg, torchDtype } = lmConfigFromHf(config, configPath);
  const weightFiles = weightFilesOf(dir).files;
  const dtypes: Record<string, number> = {};
  let bytes = 0;
  for (const f of weightFiles) {
    const h = readSafetensorsHeader(join(dir, f));
    bytes += statSync(join(dir, f)).size;
    for (const e of h.entries) dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + e.shape.reduce((a, b) => a * b, 1);
  }
  const tokPath = join(dir, 'tokenizer.json');
  const tokConfig = existsSync(join(dir, 'tokenizer_config.json')) ? readJson(join(dir, 'tokenizer_config.json')) : {};
  const tok = existsSync(tokPath) ? readJson(tokPath) : null;
  const generation = readGenerationConfig(dir);
  const specials = Object.fromEntries(['bos_token', 'eos_token', 'pad_token', 'unk_token'].map((k) => [k, tokenText(tokConfig[k])]).filter(([, v]) => v !== null));
  const template = chatTemplateFile(dir);
  return {
    dir, format: 'huggingface', architecture: cfg.arch, architectures: config.architectures ?? null,
    params: countLmParameters(cfg), torchDtype, weightDtypes: dtypes, weightFiles, weightBytes: bytes,
    context: cfg.maxSeqLen, layers: cfg.nLayers, hiddenSize: cfg.dim, heads: cfg.nHeads, kvHeads: cfg.nKvHeads, headDim: cfg.headDim,
    intermediateSize: cfg.hiddenDim, vocabSize: cfg.vocabSize, tiedEmbeddings: cfg.tieEmbeddings, ropeTheta: cfg.ropeTheta, ropeScaling: cfg.ropeScaling,
    qkvBias: cfg.qkvBias, qkNorm: cfg.qkNorm,
    tokenizer: tok ? { file: 'tokenizer.json', model: (tok.model as { type?: string } | undefined)?.type ?? null, size: tokenizerJsonSize(tok, tokPath) } : null,
    chatTemplate: template,
    specialTokens: specials,
    generation: generation ? { bosTokenId: generation.bosTokenId, eosTokenIds: generation.eosTokenIds, padTokenId: generation.padTokenId } : null,
    studentChatFormat: studentChatFormatIn(join(dir, STUDENT_INFO)),
  };
}

/** The ChatFormat a trained student's record (lm.json's or distill_student.json's info) holds; null for other models. */
function studentChatFormatIn(file: string): ChatFormat | null {
  if (!existsSync(file)) return null;
  return ((readJson(file) as { info?: { chatFormat?: ChatFormat } }).info?.chatFormat) ?? null;
}

/** What a GGUF file holds, from its header (no tensor data read): the same fields as inspectHfFolder where they apply. */
export function inspectGguf(path: string): Record<string, unknown> {
  using reader = GgufModelReader.open(path);
  const meta = reader.file.metadata;
  const cfg = ggufConfig(reader, path);
  const dtypes: Record<string, number> = {};
  for (const t of reader.file.tensors) dtypes[t.typeName] = (dtypes[t.typeName] ?? 0) + t.numel;
  const tokens = meta['tokenizer.ggml.tokens'];
  const text = (key: string) => {
    const id = meta[`tokenizer.ggml.${key}_token_id`];
    return typeof id === 'number' && Array.isArray(tokens) ? String(tokens[id]) : null;
  };
  const fileType = meta['general.file_type'];
  return {
    file: path, format: 'gguf', architecture: cfg.arch, architectures: null,
    params: reader.file.tensors.reduce((n, t) => n + t.numel, 0), fileType: typeof fileType === 'number' ? fileTypeName(fileType) : null,
    weightDtypes: dtypes, weightFiles: [path], weightBytes: statSync(path).size,
    context: cfg.maxSeqLen, layers: cfg.nLayers, hiddenSize: cfg.dim, heads: cfg.nHeads, kvHeads: cfg.nKvHeads, headDim: cfg.headDim ?? cfg.dim / cfg.nHeads,
    intermediateSize: cfg.hiddenDim, vocabSize: cfg.vocabSize, tiedEmbeddings: cfg.tieEmbeddings, ropeTheta: cfg.ropeTheta, ropeScaling: null,
    qkvBias: cfg.qkvBias ?? false, qkNorm: cfg.qkNorm ?? false,
    tokenizer: { file: 'GGUF metadata', model: meta['tokenizer.ggml.model'] ?? null, pre: meta['tokenizer.ggml.pre'] ?? null, size: Array.isArray(tokens) ? tokens.length : 0 },
    chatTemplate: typeof meta['tokenizer.chat_template'] === 'string' ? 'GGUF metadata' : null,
    specialTokens: Object.fromEntries([['bos_token', text('bos')], ['eos_token', text('eos')], ['pad_token', text('padding')]].filter(([, v]) => v !== null)),
    generation: null,
  };
}

/** What a distill LM folder (lm.json) holds. */
function inspectLmFolder(dir: string): Record<string, unknown> {
  const desc = readJson(join(dir, 'lm.json')) as { config: LmConfig; tokenizer: { kind?: string } };
  const cfg = lmConfig(desc.config);
  const tokenizer = tokenizerFromJSON(desc.tokenizer);
  return {
    dir, format: 'distill', architecture: cfg.arch, architectures: null, params: countLmParameters(cfg), torchDtype: null,
    weightDtypes: Object.fromEntries(readSafetensorsHeader(join(dir, 'model.safetensors')).entries.reduce((m, e) => m.set(e.dtype, (m.get(e.dtype) ?? 0) + e.shape.reduce((a, b) => a * b, 1)), new Map<string, number>())),
    weightFiles: ['model.safetensors'], weightBytes: statSync(join(dir, 'model.safetensors')).size,
    context: cfg.maxSeqLen, layers: cfg.nLayers, hiddenSize: cfg.dim, heads: cfg.nHeads, kvHeads: cfg.nKvHeads, headDim: cfg.headDim,
    intermediateSize: cfg.hiddenDim, vocabSize: cfg.vocabSize, tiedEmbeddings: cfg.tieEmbeddings, ropeTheta: cfg.ropeTheta, ropeScaling: cfg.ropeScaling,
    qkvBias: cfg.qkvBias, qkNorm: cfg.qkNorm,
    tokenizer: { file: 'lm.json', model: tokenizer.kind, size: tokenizer.vocabSize },
    chatTemplate: tokenizer instanceof ByteTokenizer ? 'built in (byte tokenizer)' : 'lm.json',
    specialTokens: { eos_token: tokenizer.tokenText(tokenizer.eosId) },
    generation: null,
    studentChatFormat: studentChatFormatIn(join(dir, 'lm.json')),
  };
}

export async function runLmInspect(model: string, o: Opts): Promise<number> {
  const dir = resolve(model);
  if (!existsSync(dir)) throw new ConfigError(`${model}: no such file or folder`);
  const r = !statSync(dir).isDirectory() ? inspectGguf(dir)
    : existsSync(join(dir, 'config.json')) ? inspectHfFolder(dir)
      : existsSync(join(dir, 'lm.json')) ? inspectLmFolder(dir)
        : (() => {
          throw new ConfigError(`${model} is neither a Hugging Face folder (config.json), a distill LM folder (lm.json) nor a .gguf file`);
        })();
  if (o.json) {
    console.log(JSON.stringify(r));
    return 0;
  }
  const tk = r.tokenizer as { model: string | null; size: number } | null;
  const g = r.generation as { eosTokenIds: number[] } | null;
  console.log([
    `${dir} (${String(r.format)})`,
    `  architecture   ${String(r.architecture)}${r.architectures ? ` (${JSON.stringify(r.architectures)})` : ''}`,
    `  parameters     ${(r.params as number).toLocaleString('en-US')}: ${String(r.layers)} layers, d ${String(r.hiddenSize)}, ${String(r.heads)}/${String(r.kvHeads)} heads × ${String(r.headDim)}, MLP ${String(r.intermediateSize)}, vocab ${String(r.vocabSize)}${r.tiedEmbeddings ? ', tied' : ''}`,
    `  dtype          ${String(r.torchDtype ?? r.fileType ?? 'float32')} (weights: ${Object.entries(r.weightDtypes as Record<string, number>).map(([d, n]) => `${d} ${n.toLocaleString('en-US')}`).join(', ') || 'none'}; ${(r.weightFiles as string[]).length} file(s), ${((r.weightBytes as number) / 1e6).toFixed(1)} MB)`,
    `  context        ${String(r.context)} (rope_theta ${String(r.ropeTheta)}${r.ropeScaling ? ', llama3 scaling' : ''})`,
    `  tokenizer      ${tk ? `${tk.model ?? '?'}, ${tk.size} tokens` : 'none'}`,
    `  chat template  ${String(r.chatTemplate ?? 'none')}`,
    `  special tokens ${JSON.stringify(r.specialTokens)}${g ? `; eos ids ${JSON.stringify(g.eosTokenIds)}` : ''}`,
    ...(r.studentChatFormat ? [`  trained on     ${describeChatFormat(r.studentChatFormat as ChatFormat)}`] : []),
  ].join('\n'));
  return 0;
}

/** `distill lm compare <A> <B>`: does B behave like A? (export/lm_compare.ts) */
export async function runLmCompare(a: string, b: string, o: Opts): Promise<number> {
  const { compareLms } = await import('../export/lm_compare.js');
  let prompts: string[] | undefined;
  if (o.prompts !== undefined) {
    const file = String(o.prompts);
    if (!existsSync(file)) throw new ConfigError(`--prompts ${file}: no such file`);
    // One prompt per line; a JSONL line holding a string (or {"prompt": …}) may carry newlines.
    prompts = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
      if (!l.startsWith('"') && !l.startsWith('{')) return l;
      try {
        const v = JSON.parse(l) as unknown;
        if (typeof v === 'string') return v;
        if (v && typeof (v as { prompt?: unknown }).prompt === 'string') return (v as { prompt: string }).prompt;
      } catch {
        // a plain line that happens to start with a quote or brace
      }
      if (l.startsWith('{')) throw new ConfigError(`--prompts ${file}: line ${i + 1} is neither a prompt nor {"prompt": "…"}`);
      return l;
    });
  }
  const newTokens = o.newTokens === undefined ? 64 : Number(o.newTokens);
  const r = await compareLms(a, b, { prompts, newTokens });
  if (o.json) {
    console.log(JSON.stringify(r));
    return 0;
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log([
    `A ${r.a.path} (${r.a.runtime}), B ${r.b.path} (${r.b.runtime}); ${r.prompts} prompts`,
    `  max |Δ ${r.compared === 'logits' ? 'logit' : 'log p'}|  ${r.maxAbsLogitDiff.toExponential(3)}${r.compared === 'logits' ? '' : ' (llama.cpp gives probabilities, so log-probabilities are compared)'}`,
    `  greedy         ${pct(r.greedyAgreement)} of ${r.greedyTokens} tokens before the first difference; ${r.greedyIdenticalPrompts}/${r.prompts} prompts identical`,
    `  tokenization   ${pct(r.tokenizationAgreement)} of prompts give the same ids`,
  ].join('\n'));
  return 0;
}

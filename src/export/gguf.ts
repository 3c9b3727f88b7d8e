// GGUF export of the LM (src/lm/model.ts) in llama.cpp's `llama`, `qwen2` or `qwen3` architecture:
// GGUF version 3 (ggml/docs/gguf.md), f32, f16, bf16, q8_0 or q4_k_m weights, the tokenizer in the
// metadata, written atomically. Loaded and checked with node-llama-cpp 3.21.1 (its bundled
// llama.cpp) and read back with @huggingface/gguf.
//
// The container (header, metadata, tensor infos, aligned data) is written by io/gguf_write.ts;
// ne[] lists dimensions fastest-varying first: a PyTorch (out, in) matrix is ne = [in, out],
// with the same row-major bytes.
//
// Tensor names and transforms (llama.cpp's convert_hf_to_gguf.py, LlamaModel):
//   embed_tokens.weight                    → token_embd.weight
//   layers.N.input_layernorm.weight        → blk.N.attn_norm.weight
//   layers.N.self_attn.q_proj.weight       → blk.N.attn_q.weight       rows permuted (below)
//   layers.N.self_attn.k_proj.weight       → blk.N.attn_k.weight       rows permuted (below)
//   layers.N.self_attn.v_proj.weight       → blk.N.attn_v.weight
//   layers.N.self_attn.o_proj.weight       → blk.N.attn_output.weight
//   layers.N.post_attention_layernorm.weight → blk.N.ffn_norm.weight
//   layers.N.mlp.{gate,up,down}_proj.weight → blk.N.ffn_{gate,up,down}.weight
//   norm.weight                            → output_norm.weight
//   lm_head.weight                         → output.weight (absent when tied: llama.cpp then
//                                            uses token_embd.weight for the output)
// The families (convert_hf_to_gguf.py's Qwen2Model, Qwen3Model; the keys take the arch's prefix):
//   q/k/v biases                           → blk.N.attn_{q,k,v}.bias (o_proj's: attn_output.bias)
//   layers.N.self_attn.{q,k}_norm.weight   → blk.N.attn_{q,k}_norm.weight (qwen3)
//   head_dim ≠ d / heads                   → {arch}.attention.key_length, value_length
//   llama3 RoPE scaling                    → rope_freqs.weight (f32, h/2): per frequency the
//     divisor llama.cpp applies to θ_i: 1 (short waves), factor (long), and in between
//     1 / ((1 − s)/factor + s), as LlamaModel.generate_extra_tensors computes it (with
//     rope_scaling's original_max_position_embeddings, the value Hugging Face uses).
// qwen2 and qwen3 rotate halves in llama.cpp too (NEOX rope), so only `llama` is permuted.
// RoPE: we (and Hugging Face) rotate the two halves of each head, (x_i, x_{i+h/2});
// llama.cpp's `llama` arch rotates adjacent pairs, (x_{2i}, x_{2i+1}). The converter's
// `permute` reorders the rows of Q and K in each head so the two agree: new row 2i + j of a
// head is old row j·h/2 + i (j ∈ {0, 1}); K uses its own (KV) head count.
// f16: every matrix in IEEE half (round to nearest even, as numpy's astype); the 1-D norm
// weights stay f32, as the converter keeps them.
// bf16, q8_0, q4_k_m: each tensor gets the type llama-quantize would give it in a file of that
// type (io/gguf_quant_mix.ts: norms stay F32; Q4_K_M gives some matrices Q6_K, and a row length
// that is not a multiple of 256 falls back to Q5_0/Q8_0), quantized exactly as ggml's reference
// quantizers do (io/gguf_quants.ts). Error against the f32 weights on a random model: relative
// RMS 5.4e-3 for Q8_0, 6.5e-2 for Q4_K_M.
//
// Tokenizer: the byte tokenizer becomes llama.cpp's "gpt2" (byte-level BPE) model with the
// 256 byte tokens in GPT-2's bytes_to_unicode spelling and no merges (see byte_vocab.ts), so
// llama.cpp turns text into exactly our ids; the specials are control tokens, bos/eos set,
// add_bos false (our prompts carry <|bos|> themselves), with our chat template. A Hugging Face
// tokenizer brings its own keys (tokenizer.ggufMetadata, src/lm/gguf_vocab.ts).
import { statSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { writeFileAtomic, quantizeTensor, llamaQuantType, encodeGguf, permuteRope, GGML_TYPE as GGML, LLAMA_FTYPE, type GgufValue } from '../io/index.js';
import { ByteTokenizer, type Tokenizer } from '../lm/tokenizer.js';
import { lmWeights, weight, type LmWeights } from './lm_weights.js';
import { ropeInvFreq, type LmArch, type Llama3RopeScaling } from '../lm/model.js';
import { BYTE_CHAT_TEMPLATE, byteVocabTokens } from '../lm/byte_vocab.js';
import { TOKEN_TYPE, type GgufTypedValue } from '../lm/gguf_vocab.js';

export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;
export type GgufDtype = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_k_m';
export const GGUF_DTYPES: readonly GgufDtype[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_k_m'];

// ggml.h ggml_type, llama.h llama_ftype.
const GGML_TYPE = { f32: GGML.F32, f16: GGML.F16 } as const;
const FILE_TYPE: Record<GgufDtype, number> = {
  f32: LLAMA_FTYPE.ALL_F32, f16: LLAMA_FTYPE.MOSTLY_F16, bf16: LLAMA_FTYPE.MOSTLY_BF16, q8_0: LLAMA_FTYPE.MOSTLY_Q8_0, q4_k_m: LLAMA_FTYPE.MOSTLY_Q4_K_M,
};
type Value = GgufTypedValue;

/** The io writer's type name of each typed value. */
const TYPE_NAME: Record<Value['t'], string> = {
  u32: 'uint32', f32: 'float32', bool: 'bool', str: 'string', strs: 'array<string>', i32s: 'array<int32>', f32s: 'array<float32>',
};

export interface ExportGgufOptions {
  /** 'f32' (default), 'f16' (matrices in half precision, norms in f32), or llama-quantize's 'bf16', 'q8_0', 'q4_k_m' mixes. */
  dtype?: GgufDtype;
  /** general.name (default 'distill-student'). */
  name?: string;
}

export interface GgufExportInfo {
  path?: string;
  bytes: number;
  version: number;
  dtype: GgufDtype;
  architecture: LmArch;
  tensors: number;
  metadataKeys: number;
  /** tokenizer.ggml.model: 'gpt2' (byte-level BPE) or 'llama' (SentencePiece). */
  tokenizerModel: string;
  vocabSize: number;
  tiedEmbeddings: boolean;
}

// The rows of llama's q/k from rotate-half to interleaved-pair order: one implementation with its inverse, in io.
export { permuteRope };

/** float32 values → IEEE half bytes, rounded to nearest even (libtorch's conversion). */
function toHalfBytes(data: Float32Array): Uint8Array {
  return torch.tidy(() => torch.tensor(data).toDtype('float16').bytes());
}

interface TensorEntry {
  name: string;
  /** ggml order: fastest-varying first. */
  ne: number[];
  type: number;
  bytes: Uint8Array;
}

/** The tokenizer's GGUF metadata: its own (a Hugging Face tokenizer, src/lm/gguf_vocab.ts), or the byte tokenizer's below. */
function tokenizerMetadata(tok: Tokenizer, vocabSize: number): [string, Value][] {
  if (tok.ggufMetadata) return tok.ggufMetadata(vocabSize);
  if (!(tok instanceof ByteTokenizer))
    throw new torch.ConfigError(`GGUF export: tokenizer '${tok.kind}' is not supported; it has no llama.cpp form (the byte tokenizer and Hugging Face tokenizers have)`);
  const tokens = byteVocabTokens();
  if (tokens.length !== vocabSize)
    throw new torch.ConfigError(`GGUF export: the model's vocabulary (${vocabSize}) does not match the byte tokenizer's (${tokens.length})`);
  return [
    ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }],
    // The split regex does not matter without merges; 'default' is llama.cpp's own.
    ['tokenizer.ggml.pre', { t: 'str', v: 'default' }],
    ['tokenizer.ggml.tokens', { t: 'strs', v: tokens }],
    ['tokenizer.ggml.token_type', { t: 'i32s', v: tokens.map((_, i) => (i < 256 ? TOKEN_TYPE.NORMAL : TOKEN_TYPE.CONTROL)) }],
    ['tokenizer.ggml.merges', { t: 'strs', v: [] }],
    ['tokenizer.ggml.bos_token_id', { t: 'u32', v: ByteTokenizer.BOS }],
    ['tokenizer.ggml.eos_token_id', { t: 'u32', v: ByteTokenizer.EOS }],
    // <|eos|> also ends an assistant turn: as end-of-turn it joins llama.cpp's end-of-generation set.
    ['tokenizer.ggml.eot_token_id', { t: 'u32', v: ByteTokenizer.EOS }],
    ['tokenizer.ggml.add_bos_token', { t: 'bool', v: false }],
    ['tokenizer.ggml.add_eos_token', { t: 'bool', v: false }],
    ['tokenizer.chat_template', { t: 'str', v: BYTE_CHAT_TEMPLATE }],
  ];
}

/** llama.cpp's per-frequency RoPE divisors for llama3 scaling (convert_hf_to_gguf.py). */
export function llama3RopeFreqs(headDim: number, theta: number, rs: Llama3RopeScaling): Float32Array {
  const lowWave = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
  const highWave = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
  return ropeInvFreq(headDim, theta).map((freq) => {
    const wave = (2 * Math.PI) / freq;
    if (wave < highWave) return 1;
    if (wave > lowWave) return rs.factor;
    const smooth = (rs.originalMaxPositionEmbeddings / wave - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
    return 1 / ((1 - smooth) / rs.factor + smooth);
  });
}

function tensorsOf(w: LmWeights, dtype: GgufDtype): TensorEntry[] {
  const { cfg, headDim } = w;
  const out: TensorEntry[] = [];
  const push = (name: string, shape: number[], data: Float32Array) => {
    const ne = [...shape].reverse();
    if (dtype === 'f32' || dtype === 'f16') {
      const type = shape.length >= 2 && dtype === 'f16' ? GGML_TYPE.f16 : GGML_TYPE.f32;
      const bytes = type === GGML_TYPE.f16 ? toHalfBytes(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      out.push({ name, ne, type, bytes });
      return;
    }
    const type = llamaQuantType(name, ne, GGML.F32, FILE_TYPE[dtype], { nLayers: cfg.nLayers, tiedEmbeddings: cfg.tieEmbeddings });
    out.push({ name, ne, type, bytes: quantizeTensor(data, type) });
  };
  const add = (name: string, from: string, transform?: (d: Float32Array, shape: number[]) => Float32Array) => {
    const t = weight(w, from);
    push(name, t.shape, transform ? transform(t.data, t.shape) : t.data);
  };
  // Only llama.cpp's `llama` rotates adjacent pairs: its Q and K rows (and biases) are permuted.
  const permute = (heads: number) => (cfg.arch === 'llama' ? (d: Float32Array, s: number[]) => permuteRope(d, heads, headDim, s[1] ?? 1) : undefined);
  if (cfg.ropeScaling) push('rope_freqs.weight', [headDim / 2], llama3RopeFreqs(headDim, cfg.ropeTheta, cfg.ropeScaling));
  add('token_embd.weight', 'embed_tokens.weight');
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `layers.${i}.`, b = `blk.${i}.`;
    add(`${b}attn_norm.weight`, `${p}input_layernorm.weight`);
    add(`${b}attn_q.weight`, `${p}self_attn.q_proj.weight`, permute(cfg.nHeads));
    add(`${b}attn_k.weight`, `${p}self_attn.k_proj.weight`, permute(cfg.nKvHeads));
    add(`${b}attn_v.weight`, `${p}self_attn.v_proj.weight`);
    if (cfg.qkvBias) {
      add(`${b}attn_q.bias`, `${p}self_attn.q_proj.bias`, permute(cfg.nHeads));
      add(`${b}attn_k.bias`, `${p}self_attn.k_proj.bias`, permute(cfg.nKvHeads));
      add(`${b}attn_v.bias`, `${p}self_attn.v_proj.bias`);
    }
    if (cfg.qkNorm) {
      add(`${b}attn_q_norm.weight`, `${p}self_attn.q_norm.weight`);
      add(`${b}attn_k_norm.weight`, `${p}self_attn.k_norm.weight`);
    }
    add(`${b}attn_output.weight`, `${p}self_attn.o_proj.weight`);
    if (cfg.oBias) add(`${b}attn_output.bias`, `${p}self_attn.o_proj.bias`);
    add(`${b}ffn_norm.weight`, `${p}post_attention_layernorm.weight`);
    add(`${b}ffn_gate.weight`, `${p}mlp.gate_proj.weight`);
    add(`${b}ffn_up.weight`, `${p}mlp.up_proj.weight`);
    add(`${b}ffn_down.weight`, `${p}mlp.down_proj.weight`);
  }
  add('output_norm.weight', 'norm.weight');
  if (!cfg.tieEmbeddings) add('output.weight', 'lm_head.weight');
  return out;
}

/** The GGUF file as byte chunks (nothing written). */
export function buildGguf(model: unknown, tokenizer: Tokenizer, opts: ExportGgufOptions = {}): { chunks: Uint8Array[]; info: GgufExportInfo } {
  const dtype = opts.dtype ?? 'f32';
  if (!GGUF_DTYPES.includes(dtype)) throw new torch.ConfigError(`GGUF export: dtype '${String(dtype)}' is not supported; use one of ${GGUF_DTYPES.join(', ')}`);
  const w = lmWeights(model, 'GGUF export', ['qkvBias', 'oBias', 'qkNorm', 'headDim', 'ropeScaling']);
  const { cfg, headDim } = w;
  const arch = cfg.arch;
  if (cfg.ropeScaling && arch !== 'llama') throw new torch.ConfigError(`GGUF export: llama3 RoPE scaling is written for the llama architecture only, not '${arch}'`);
  if (cfg.oBias && arch === 'qwen2') throw new torch.ConfigError("GGUF export: llama.cpp's qwen2 has no o_proj bias");
  const meta: [string, Value][] = [
    ['general.architecture', { t: 'str', v: arch }],
    ['general.name', { t: 'str', v: opts.name ?? 'distill-student' }],
    ['general.file_type', { t: 'u32', v: FILE_TYPE[dtype] }],
    ['general.alignment', { t: 'u32', v: GGUF_ALIGNMENT }],
    ...(dtype === 'f32' || dtype === 'f16' ? [] : ([['general.quantization_version', { t: 'u32', v: 2 }]] as [string, Value][])),
    [`${arch}.vocab_size`, { t: 'u32', v: cfg.vocabSize }],
    [`${arch}.context_length`, { t: 'u32', v: cfg.maxSeqLen }],
    [`${arch}.embedding_length`, { t: 'u32', v: cfg.dim }],
    [`${arch}.block_count`, { t: 'u32', v: cfg.nLayers }],
    [`${arch}.feed_forward_length`, { t: 'u32', v: cfg.hiddenDim }],
    [`${arch}.attention.head_count`, { t: 'u32', v: cfg.nHeads }],
    [`${arch}.attention.head_count_kv`, { t: 'u32', v: cfg.nKvHeads }],
    [`${arch}.rope.freq_base`, { t: 'f32', v: cfg.ropeTheta }],
    [`${arch}.rope.dimension_count`, { t: 'u32', v: headDim }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { t: 'f32', v: cfg.normEps }],
    ...(headDim !== cfg.dim / cfg.nHeads || arch === 'qwen3'
      ? ([[`${arch}.attention.key_length`, { t: 'u32', v: headDim }], [`${arch}.attention.value_length`, { t: 'u32', v: headDim }]] as [string, Value][])
      : []),
  ];
  const tokMeta = tokenizerMetadata(tokenizer, cfg.vocabSize);
  meta.push(...tokMeta);
  const tensors = tensorsOf(w, dtype);

  const metadata: Record<string, GgufValue> = {};
  const metadataTypes: Record<string, string> = {};
  for (const [k, v] of meta) {
    metadata[k] = v.v as GgufValue;
    metadataTypes[k] = TYPE_NAME[v.t];
  }
  const chunks = encodeGguf({ metadata, metadataTypes, tensors: tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type, data: t.bytes })) });
  return {
    chunks,
    info: {
      bytes: chunks.reduce((n, c) => n + c.byteLength, 0), version: GGUF_VERSION, dtype, architecture: arch, tensors: tensors.length,
      metadataKeys: meta.length, tokenizerModel: (tokMeta.find(([k]) => k === 'tokenizer.ggml.model')?.[1].v as string) ?? 'gpt2', vocabSize: cfg.vocabSize, tiedEmbeddings: cfg.tieEmbeddings,
    },
  };
}

/** Writes the LM as GGUF to `path` (atomically); returns what was written. */
export function exportGguf(model: unknown, tokenizer: Tokenizer, path: string, opts: ExportGgufOptions = {}): GgufExportInfo {
  const { chunks, info } = buildGguf(model, tokenizer, opts);
  writeFileAtomic(path, chunks);
  const bytes = statSync(path).size;
  if (bytes !== info.bytes) throw new Error(`GGUF export: wrote ${bytes} bytes, expected ${info.bytes}`);
  return { ...info, path };
}

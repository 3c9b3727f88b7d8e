// Which ggml type llama-quantize gives each tensor for a file type (llama_ftype), for dense
// llama / qwen2 / qwen3 models: a port of llama-quant.cpp's tensor_allows_quantization,
// llama_tensor_get_type_impl and tensor_type_fallback (the llama.cpp bundled with
// node-llama-cpp 3.21.1), limited to what applies without experts, importance matrix,
// overrides or a 70B model. With it and quantizeTensor a writer makes the file
// llama-quantize would make; test/io/gguf_file.test.ts checks the choice tensor by tensor
// against llama-quantize's own files.
//
// The rules:
//   - only 2-D+ tensors whose name ends in "weight" and is not a norm are quantized; the
//     rest keep their type (F32 norms);
//   - output.weight, and token_embd.weight when the embeddings are tied (no output.weight):
//     Q8_0 if its rows are not whole blocks of the default type, else Q6_K unless the
//     default is Q8_0;
//   - attn_v.weight: Q6_K in Q4_K_M / Q5_K_M for the layers use_more_bits picks; Q5_K in
//     Q4_K_S for the first 4;
//   - ffn_down.weight: Q6_K in Q4_K_M / Q5_K_M for the layers use_more_bits picks; Q5_K in
//     Q4_K_S for the first n_layer/8;
//   - then a row that is not a whole number of blocks falls back: Q4_K → Q5_0, Q5_K → Q5_1,
//     Q6_K → Q8_0, and to F16 where even 32 does not divide it.
// use_more_bits(i, n) = i < n/8 || i ≥ 7n/8 || (i − n/8) mod 3 = 2 (integer division).
import { ConfigError } from '../torch/errors.js';
import { GGML_TYPE, GGML_TYPES, LLAMA_FTYPE } from './gguf_types.js';

/** The default type of each file type this port covers. */
const DEFAULT_TYPE: Record<number, number> = {
  [LLAMA_FTYPE.ALL_F32]: GGML_TYPE.F32, [LLAMA_FTYPE.MOSTLY_F16]: GGML_TYPE.F16, [LLAMA_FTYPE.MOSTLY_BF16]: GGML_TYPE.BF16,
  [LLAMA_FTYPE.MOSTLY_Q8_0]: GGML_TYPE.Q8_0, [LLAMA_FTYPE.MOSTLY_Q4_0]: GGML_TYPE.Q4_0, [LLAMA_FTYPE.MOSTLY_Q4_1]: GGML_TYPE.Q4_1,
  [LLAMA_FTYPE.MOSTLY_Q5_0]: GGML_TYPE.Q5_0, [LLAMA_FTYPE.MOSTLY_Q5_1]: GGML_TYPE.Q5_1,
  [LLAMA_FTYPE.MOSTLY_Q4_K_S]: GGML_TYPE.Q4_K, [LLAMA_FTYPE.MOSTLY_Q4_K_M]: GGML_TYPE.Q4_K,
  [LLAMA_FTYPE.MOSTLY_Q5_K_S]: GGML_TYPE.Q5_K, [LLAMA_FTYPE.MOSTLY_Q5_K_M]: GGML_TYPE.Q5_K, [LLAMA_FTYPE.MOSTLY_Q6_K]: GGML_TYPE.Q6_K,
};

const FALLBACK: Record<number, number> = { [GGML_TYPE.Q4_K]: GGML_TYPE.Q5_0, [GGML_TYPE.Q5_K]: GGML_TYPE.Q5_1, [GGML_TYPE.Q6_K]: GGML_TYPE.Q8_0 };

const useMoreBits = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

export interface QuantMixModel {
  /** Transformer blocks. */
  nLayers: number;
  /** True when the file has no output.weight (the output reuses token_embd.weight). */
  tiedEmbeddings: boolean;
}

/**
 * The ggml type id llama-quantize writes for tensor `name` (ne in ggml order, stored now as
 * `storedType`, usually F32) in a file of type `ftype` (LLAMA_FTYPE).
 */
export function llamaQuantType(name: string, ne: number[], storedType: number, ftype: number, model: QuantMixModel): number {
  const def = DEFAULT_TYPE[ftype];
  if (def === undefined)
    throw new ConfigError(`GGUF: file type ${ftype} is not covered; supported: ${Object.entries(LLAMA_FTYPE).map(([k, v]) => `${k} (${v})`).join(', ')}`);
  // ggml_n_dims: trailing dimensions of 1 do not count.
  let nDims = ne.length;
  while (nDims > 1 && ne[nDims - 1] === 1) nDims--;
  const quantizable = nDims >= 2 && name.endsWith('weight') && !name.includes('_norm.weight');
  if (!quantizable || def === GGML_TYPE.F32) return storedType;
  if (def === GGML_TYPE.F16 || def === GGML_TYPE.BF16) return def; // not a quantized type: no mix, no fallback
  let t = def;
  const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  const n = model.nLayers;
  if (name === 'output.weight' || (model.tiedEmbeddings && name === 'token_embd.weight')) {
    if (ne[0] % GGML_TYPES.get(t)!.blockSize !== 0) t = GGML_TYPE.Q8_0;
    else if (t !== GGML_TYPE.Q8_0) t = GGML_TYPE.Q6_K;
  } else if (name.includes('attn_v.weight')) {
    if ((ftype === LLAMA_FTYPE.MOSTLY_Q4_K_M || ftype === LLAMA_FTYPE.MOSTLY_Q5_K_M) && useMoreBits(layer, n)) t = GGML_TYPE.Q6_K;
    else if (ftype === LLAMA_FTYPE.MOSTLY_Q4_K_S && layer < 4) t = GGML_TYPE.Q5_K;
  } else if (name.includes('ffn_down')) {
    if ((ftype === LLAMA_FTYPE.MOSTLY_Q4_K_M || ftype === LLAMA_FTYPE.MOSTLY_Q5_K_M) && useMoreBits(layer, n)) t = GGML_TYPE.Q6_K;
    else if (ftype === LLAMA_FTYPE.MOSTLY_Q4_K_S && layer < Math.floor(n / 8)) t = GGML_TYPE.Q5_K;
  }
  // tensor_type_fallback: rows that are not whole blocks.
  if (ne[0] % GGML_TYPES.get(t)!.blockSize !== 0) {
    t = FALLBACK[t] ?? t;
    if (ne[0] % GGML_TYPES.get(t)!.blockSize !== 0) t = GGML_TYPE.F16;
  }
  return t;
}

/**
 * The order llama-quantize writes tensors in (llama-model-loader.h weight_name_comparer):
 * by layer, tensors outside blk.N first, then by name in byte order.
 */
export function compareLlamaTensorNames(a: string, b: string): number {
  const layer = (n: string) => Number(/^blk\.(\d+)\./.exec(n)?.[1] ?? -1);
  const la = layer(a), lb = layer(b);
  if (la !== lb) return la - lb;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

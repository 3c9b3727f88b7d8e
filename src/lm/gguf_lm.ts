// A GGUF file's model as our CausalLM: the config from llama.cpp's metadata keys and the
// weights dequantized to float32 (io/gguf_model.ts reads them under Hugging Face names, llama
// Q/K rows already unpermuted). For llama, qwen2 and qwen3 files, whichever tensor types
// io/gguf_quants.ts reads (F32, F16, BF16, Q4_0/1, Q5_0/1, Q8_0, Q4_K, Q5_K, Q6_K): a user can
// start from the Q4_K_M file Ollama pulled. The tokenizer is read separately.
//
// Metadata (llama.cpp's llm_arch keys, `<arch>.` prefixed):
//   vocab_size (or the token list's length), context_length, embedding_length, block_count,
//   feed_forward_length, attention.head_count, attention.head_count_kv, rope.freq_base,
//   attention.layer_norm_rms_epsilon, attention.key_length (head size where it is not d/heads).
// Switches from the tensors present: attn_q.bias → qkvBias, attn_q_norm → qkNorm, no
// output.weight → tied embeddings.
import * as torch from '../torch/index.js';
import { GgufModelReader, type GgufModel } from '../io/index.js';
import { CausalLM, type LmArch, type LmConfig } from './model.js';
import { checkLmDtype, resolveLmDtype, type LmDtype } from './dtype.js';

const ARCHS: readonly LmArch[] = ['llama', 'qwen2', 'qwen3'];

/** The shortest decimal that is the same float32 (GGUF stores eps and theta as f32: 1e-6, not 9.99999997e-7). */
function shortestF32(v: number): number {
  for (let p = 1; p < 10; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === Math.fround(v)) return d;
  }
  return v;
}

/** Our config from a GGUF's metadata and tensor names. */
export function lmConfigFromGguf(g: { architecture: string; metadata: GgufModel['metadata']; tensors: ReadonlyMap<string, { shape: readonly number[] }> }, where = 'GGUF'): LmConfig {
  const arch = g.architecture as LmArch;
  if (!ARCHS.includes(arch)) throw new torch.ConfigError(`${where}: architecture '${g.architecture}' is not supported; supported: ${ARCHS.join(', ')}`);
  const num = (key: string, fallback?: number): number => {
    const v = g.metadata[`${arch}.${key}`];
    if (typeof v === 'number') return v;
    if (fallback !== undefined) return fallback;
    throw new torch.ConfigError(`${where}: metadata key '${arch}.${key}' is missing`);
  };
  if (g.tensors.has('rope_freqs.weight'))
    throw new torch.ConfigError(`${where}: llama3 RoPE scaling stored as rope_freqs.weight is not read yet; load the model's Hugging Face folder instead`);
  const tokens = g.metadata['tokenizer.ggml.tokens'];
  const dim = num('embedding_length');
  const nHeads = num('attention.head_count');
  const headDim = num('attention.key_length', dim / nHeads);
  const emb = g.tensors.get('model.embed_tokens.weight');
  if (!emb) throw new torch.ConfigError(`${where}: no token_embd.weight tensor`);
  return {
    arch, vocabSize: num('vocab_size', Array.isArray(tokens) ? tokens.length : emb.shape[0]), dim, nLayers: num('block_count'), nHeads,
    nKvHeads: num('attention.head_count_kv', nHeads), hiddenDim: num('feed_forward_length'), maxSeqLen: num('context_length'),
    ropeTheta: shortestF32(num('rope.freq_base', 10000)), normEps: shortestF32(num('attention.layer_norm_rms_epsilon')),
    tieEmbeddings: !g.tensors.has('lm_head.weight'), headDim,
    qkvBias: g.tensors.has('model.layers.0.self_attn.q_proj.bias'), qkNorm: g.tensors.has('model.layers.0.self_attn.q_norm.weight'),
  };
}

/** The config of an open GGUF model (header only: no tensor is read). */
export function ggufConfig(r: GgufModelReader, where: string): LmConfig {
  const tensors = new Map(r.names.map((n) => [n, { shape: r.info(n).shape }]));
  return lmConfigFromGguf({ architecture: r.architecture, metadata: r.file.metadata, tensors }, where);
}

/** The model of a GGUF file, its weights dequantized to float32 (or to `dtype`: see ggufLm), in eval mode. */
export function loadGgufLm(path: string, dtype: LmDtype = 'float32'): CausalLM {
  using r = GgufModelReader.open(path);
  return ggufLm(r, path, dtype);
}

/**
 * The parameters' dtype for a GGUF file: as asked; 'auto' keeps bfloat16 when most of the
 * weights are stored as BF16, else float32 (F16 has no CPU matmul in libtorch 1.13; a
 * quantized type dequantizes to float32 values, which bfloat16 would round).
 */
function ggufDtype(r: GgufModelReader, want: LmDtype): 'float32' | 'bfloat16' | 'float16' {
  if (want !== 'auto') return want;
  let bf16 = 0, all = 0;
  for (const t of r.file.tensors) {
    all += t.numel;
    if (t.typeName === 'BF16') bf16 += t.numel;
  }
  return resolveLmDtype(want, bf16 * 2 > all ? 'bfloat16' : 'other');
}

/**
 * The model of an open GGUF file: each parameter read and dequantized on its own, so the
 * model is the only full copy. With dtype bfloat16 the parameters are allocated in bfloat16
 * and each dequantized tensor is rounded into its parameter (exact for a BF16 file).
 */
export function ggufLm(r: GgufModelReader, path: string, dtype: LmDtype = 'float32'): CausalLM {
  const cfg = ggufConfig(r, path);
  const model = CausalLM.uninitialized(cfg, ggufDtype(r, checkLmDtype(dtype, 'GGUF load: dtype')));
  const names = new Set(r.names);
  torch.noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      const hf = name === 'lm_head.weight' ? name : `model.${name}`;
      if (!names.has(hf)) throw new torch.ConfigError(`${path}: no tensor for ${name} (a ${cfg.arch} file with the config above needs it)`);
      const t = r.read(hf);
      if (t.shape.join(',') !== p.shape.join(','))
        throw new torch.ConfigError(`${path}: ${t.ggufName} has shape [${t.shape.join(', ')}], the config needs [${p.shape.join(', ')}]`);
      torch.tidy(() => p.copy_(torch.tensor(t.data).view([...p.shape])));
    }
  });
  return model.eval();
}

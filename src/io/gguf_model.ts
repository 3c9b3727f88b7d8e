// A GGUF model's tensors under Hugging Face names, in Hugging Face's layout: the inverse of
// llama.cpp's convert_hf_to_gguf.py for the llama, qwen2 and qwen3 architectures.
//
// Names (convert_hf_to_gguf.py / gguf-py tensor_mapping.py; N is the layer):
//   token_embd.weight            ↔ model.embed_tokens.weight
//   blk.N.attn_norm.weight       ↔ model.layers.N.input_layernorm.weight
//   blk.N.attn_{q,k,v}.{weight,bias} ↔ model.layers.N.self_attn.{q,k,v}_proj.{weight,bias}
//   blk.N.attn_output.weight     ↔ model.layers.N.self_attn.o_proj.weight
//   blk.N.attn_{q,k}_norm.weight ↔ model.layers.N.self_attn.{q,k}_norm.weight   (qwen3)
//   blk.N.ffn_norm.weight        ↔ model.layers.N.post_attention_layernorm.weight
//   blk.N.ffn_{gate,up,down}.weight ↔ model.layers.N.mlp.{gate,up,down}_proj.weight
//   output_norm.weight           ↔ model.norm.weight
//   output.weight                ↔ lm_head.weight (absent when the embeddings are tied)
// Other tensors (llama 3's rope_freqs.weight, the RoPE scaling factors the converter
// writes) have no Hugging Face counterpart and keep their GGUF name.
//
// RoPE layout: for the `llama` architecture only, the converter reorders the rows of Q and
// K (weights and biases) in each head from Hugging Face's rotate-half order to llama.cpp's
// interleaved pairs: new row 2i + j of a head is old row j·h/2 + i (j ∈ {0, 1}, h the
// head's rows), K with the KV head count (`permuteRope` below). qwen2 and
// qwen3 use rotate-half (NEOX) RoPE in llama.cpp and are stored unpermuted.
import { FormatError } from '../torch/errors.js';
import { GgufFile, type GgufTensorInfo, type GgufValue } from './gguf_read.js';

/**
 * The converter's permutation (convert_hf_to_gguf.py's `permute`): rows of a (nHeads·headDim,
 * cols) projection (cols = 1 for a bias) from rotate-half order, row j·half + i of a head, to
 * interleaved-pair order, row 2i + j. The GGUF export writes llama's q/k this way.
 */
export function permuteRope(data: Float32Array, nHeads: number, headDim: number, cols: number): Float32Array {
  return ropeRows(data, nHeads, headDim, cols, true);
}

/** The inverse of permuteRope: interleaved-pair order back to rotate-half order (reading a llama GGUF). */
export function unpermuteRope(data: Float32Array, nHeads: number, headDim: number, cols: number): Float32Array {
  return ropeRows(data, nHeads, headDim, cols, false);
}

function ropeRows(data: Float32Array, nHeads: number, headDim: number, cols: number, toInterleaved: boolean): Float32Array {
  if (headDim % 2 !== 0 || data.length !== nHeads * headDim * cols)
    throw new FormatError(`GGUF: cannot ${toInterleaved ? 'apply' : 'undo'} the RoPE row order of ${data.length} values as ${nHeads} heads × ${headDim} rows × ${cols}`);
  const out = new Float32Array(data.length);
  const half = headDim / 2;
  for (let hd = 0; hd < nHeads; hd++)
    for (let i = 0; i < half; i++)
      for (let j = 0; j < 2; j++) {
        const halfRow = (hd * headDim + j * half + i) * cols;
        const pairRow = (hd * headDim + 2 * i + j) * cols;
        const [from, to] = toInterleaved ? [halfRow, pairRow] : [pairRow, halfRow];
        out.set(data.subarray(from, from + cols), to);
      }
  return out;
}

const LAYER: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight', 'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.weight': 'self_attn.k_proj.weight', 'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.weight': 'self_attn.v_proj.weight', 'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_q_norm.weight': 'self_attn.q_norm.weight', 'attn_k_norm.weight': 'self_attn.k_norm.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight', 'ffn_up.weight': 'mlp.up_proj.weight', 'ffn_down.weight': 'mlp.down_proj.weight',
};
const GLOBAL: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

/** The Hugging Face name of a llama.cpp tensor name, or undefined when it has none. */
export function hfTensorName(ggufName: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(GLOBAL, ggufName)) return GLOBAL[ggufName];
  const m = /^blk\.(\d+)\.(.+)$/.exec(ggufName);
  if (m && Object.prototype.hasOwnProperty.call(LAYER, m[2])) return `model.layers.${m[1]}.${LAYER[m[2]]}`;
  return undefined;
}

/** The llama.cpp name of a Hugging Face tensor name, or undefined when it has none. */
export function ggufTensorName(hfName: string): string | undefined {
  for (const [g, h] of Object.entries(GLOBAL)) if (h === hfName) return g;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  if (m) for (const [g, h] of Object.entries(LAYER)) if (h === m[2]) return `blk.${m[1]}.${g}`;
  return undefined;
}

export interface GgufModelTensor {
  /** PyTorch order: (out, in) for a matrix. */
  shape: number[];
  /** The stored ggml type's name ('Q4_K', 'F32', ...). */
  dtype: string;
  data: Float32Array;
  ggufName: string;
}

export interface GgufModel {
  /** general.architecture ('llama', 'qwen2', 'qwen3', ...). */
  architecture: string;
  metadata: Record<string, GgufValue>;
  metadataTypes: Record<string, string>;
  /** Hugging Face name (or the GGUF name where there is none) → dequantized values. */
  tensors: Map<string, GgufModelTensor>;
}

/**
 * A GGUF model opened for on-demand reads under Hugging Face names: `names` lists them,
 * `info(name)` gives the stored tensor, `read(name)` its values in Hugging Face layout
 * (llama Q/K rows unpermuted). Close it when done.
 */
export class GgufModelReader implements Disposable {
  readonly file: GgufFile;
  readonly architecture: string;
  /** Hugging Face name (or GGUF name) → the stored tensor, in file order. */
  private readonly byHf = new Map<string, GgufTensorInfo>();

  private constructor(file: GgufFile) {
    this.file = file;
    const arch = file.metadata['general.architecture'];
    if (typeof arch !== 'string') throw new FormatError(`${file.path}: GGUF metadata has no general.architecture string`);
    this.architecture = arch;
    for (const t of file.tensors) this.byHf.set(hfTensorName(t.name) ?? t.name, t);
  }

  static open(path: string): GgufModelReader {
    const file = GgufFile.open(path);
    try {
      return new GgufModelReader(file);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  get metadata(): Record<string, GgufValue> { return this.file.metadata; }
  get names(): string[] { return [...this.byHf.keys()]; }

  info(name: string): GgufTensorInfo {
    const t = this.byHf.get(name);
    if (!t) throw new FormatError(`${this.file.path}: no tensor for '${name}' (GGUF name ${ggufTensorName(name) ?? 'unknown'})`);
    return t;
  }

  /** A `${arch}.${key}` metadata value that must be a positive integer. */
  private archInt(key: string): number {
    const v = this.file.metadata[`${this.architecture}.${key}`];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new FormatError(`${this.file.path}: GGUF metadata ${this.architecture}.${key} is missing or not a positive integer`);
    return v;
  }

  read(name: string): GgufModelTensor {
    const t = this.info(name);
    let data = this.file.read(t);
    const m = /^blk\.\d+\.attn_([qk])\.(weight|bias)$/.exec(t.name);
    if (m && this.architecture === 'llama') {
      // Heads of Q: head_count; of K: head_count_kv (defaults to head_count, as in llama.cpp).
      const heads = m[1] === 'q' || this.file.metadata[`${this.architecture}.attention.head_count_kv`] === undefined
        ? this.archInt('attention.head_count') : this.archInt('attention.head_count_kv');
      const rows = t.shape[0], cols = t.shape.length > 1 ? t.shape[1] : 1;
      if (rows % heads !== 0) throw new FormatError(`${this.file.path}: tensor '${t.name}' has ${rows} rows, not a multiple of its ${heads} heads`);
      data = unpermuteRope(data, heads, rows / heads, cols);
    }
    return { shape: [...t.shape], dtype: t.typeName, data, ggufName: t.name };
  }

  close(): void { this.file.close(); }
  [Symbol.dispose](): void { this.close(); }
}

/** Every tensor of a GGUF model, dequantized to float32, under Hugging Face names (see GgufModelReader). */
export function readGgufModel(path: string): GgufModel {
  using r = GgufModelReader.open(path);
  const tensors = new Map<string, GgufModelTensor>();
  for (const name of r.names) tensors.set(name, r.read(name));
  return { architecture: r.architecture, metadata: r.file.metadata, metadataTypes: r.file.header.metadataTypes, tensors };
}

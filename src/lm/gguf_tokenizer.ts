// A GGUF file's own tokenizer as a Hugging Face tokenizer: the inverse of gguf_vocab.ts, so a
// .gguf that llama.cpp or Ollama has runs in this engine with the ids llama.cpp gives.
//
// llama.cpp keeps a byte-level BPE tokenizer ("gpt2") as tokens, merges, token types and the
// name of its pre-tokenizer (tokenizer.ggml.pre); the split itself lives in llama.cpp's code.
// So each supported name maps back to the normalizer and pre-tokenizer the Hugging Face
// tokenizer.json of that family has (the regexes below are theirs, as shipped with Qwen2/3,
// Llama 3 and DeepSeek-V3). Token types: NORMAL and BYTE tokens form the BPE vocabulary;
// CONTROL tokens are special added tokens, USER_DEFINED ones (Qwen's <think>) non-special added
// tokens; UNUSED ones (a padded embedding's rows) are left out. SentencePiece ("llama") files
// are read by gguf_tokenizer_spm.ts; other models and pre-tokenizers are refused with the list
// of supported ones.
import * as torch from '../torch/index.js';
import { HfTokenizer } from './hf_tokenizer.js';
import { TOKEN_TYPE } from './gguf_vocab.js';
import { spmTokenizerJson } from './gguf_tokenizer_spm.js';

type Json = Record<string, unknown>;

const LETTERS_SPLIT = (digits: string) =>
  `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${digits}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };

/** tokenizer.ggml.pre → the Hugging Face pieces of that family's tokenizer.json. */
const PRE_TOKENIZERS: Record<string, { normalizer: Json | null; pretokenizers: Json[]; ignoreMerges: boolean }> = {
  // Qwen2, Qwen2.5, Qwen3: NFC, digits one by one.
  qwen2: { normalizer: { type: 'NFC' }, pretokenizers: [split(LETTERS_SPLIT('\\p{N}'))], ignoreMerges: false },
  // Llama 3.x: digits in runs of up to 3; a whole word in the vocabulary skips the merges.
  'llama-bpe': { normalizer: null, pretokenizers: [split(LETTERS_SPLIT('\\p{N}{1,3}'))], ignoreMerges: true },
  // DeepSeek-V3 / R1: digit runs of up to 3, CJK runs, then punctuation-led words.
  'deepseek-v3': {
    normalizer: null,
    pretokenizers: [
      split('\\p{N}{1,3}'),
      split('[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+'),
      split('[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+'),
    ],
    ignoreMerges: false,
  },
};

/** The supported tokenizer.ggml.pre names. */
export const GGUF_PRE_TOKENIZERS = Object.keys(PRE_TOKENIZERS);

/** The tokenizer stored in a GGUF file's metadata (GgufFile.metadata / readGgufModel().metadata). */
export function tokenizerFromGguf(meta: Record<string, unknown>, where = 'GGUF'): HfTokenizer {
  const model = meta['tokenizer.ggml.model'];
  if (model === 'llama') {
    // LlamaTokenizer's decode keeps spaces before punctuation (as llama.cpp's detokenize does).
    return new HfTokenizer(spmTokenizerJson(meta, where), { ...specialsConfig(meta), clean_up_tokenization_spaces: false }, `${where} (llama)`);
  }
  if (model !== 'gpt2') throw new torch.ConfigError(`${where}: tokenizer model '${String(model)}' is not read yet; byte-level BPE ('gpt2') and SentencePiece ('llama') files are`);
  const pre = String(meta['tokenizer.ggml.pre'] ?? 'default');
  const family = PRE_TOKENIZERS[pre];
  if (!family) throw new torch.ConfigError(`${where}: pre-tokenizer '${pre}' is not supported; supported: ${GGUF_PRE_TOKENIZERS.join(', ')}`);
  const tokens = meta['tokenizer.ggml.tokens'];
  const types = meta['tokenizer.ggml.token_type'];
  const merges = meta['tokenizer.ggml.merges'];
  if (!Array.isArray(tokens) || !Array.isArray(types) || tokens.length !== types.length || !Array.isArray(merges))
    throw new torch.ConfigError(`${where}: tokenizer.ggml.tokens, token_type and merges must be lists of equal-length tokens and types`);
  const vocab: Record<string, number> = {};
  const added: Json[] = [];
  tokens.forEach((t, id) => {
    const type = Number(types[id]);
    if (type === TOKEN_TYPE.NORMAL || type === TOKEN_TYPE.BYTE) vocab[String(t)] = id;
    else if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED)
      added.push({ id, content: String(t), single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TOKEN_TYPE.CONTROL });
  });
  const json: Json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: family.normalizer,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [...family.pretokenizers, BYTE_LEVEL] },
    post_processor: BYTE_LEVEL, decoder: BYTE_LEVEL,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
      ignore_merges: family.ignoreMerges, vocab, merges: merges.map(String),
    },
  };
  // Decoded as llama.cpp detokenizes, with spaces before punctuation kept (no tokenizers-style clean-up).
  return new HfTokenizer(json, { ...specialsConfig(meta), clean_up_tokenization_spaces: false }, `${where} (${pre})`);
}

/** tokenizer_config.json's special tokens, add_bos/add_eos and chat template from the GGUF's keys. */
function specialsConfig(meta: Record<string, unknown>): Json {
  const tokens = meta['tokenizer.ggml.tokens'] as unknown[];
  const text = (key: string) => {
    const id = meta[`tokenizer.ggml.${key}_token_id`];
    return typeof id === 'number' && id >= 0 && id < tokens.length ? String(tokens[id]) : null;
  };
  return {
    bos_token: text('bos'), eos_token: text('eos'), pad_token: text('padding'), unk_token: text('unknown'),
    add_bos_token: meta['tokenizer.ggml.add_bos_token'] === true, add_eos_token: meta['tokenizer.ggml.add_eos_token'] === true,
    ...(typeof meta['tokenizer.chat_template'] === 'string' ? { chat_template: meta['tokenizer.chat_template'] } : {}),
  };
}

// The byte tokenizer (src/lm/tokenizer.ts: ids 0…255 = UTF-8 bytes, 256…259 specials) in
// the vocabulary forms other runtimes know, shared by the GGUF and Hugging Face writers.
//
// Both llama.cpp's "gpt2" tokenizer model and Hugging Face's byte-level BPE spell each
// byte as one printable character, GPT-2's `bytes_to_unicode` table (openai/gpt-2
// encoder.py): the bytes '!'…'~', '¡'…'¬' and '®'…'ÿ' stand for themselves, the other 68
// bytes take the code points 256, 257, … in byte order (space → 'Ġ', '\n' → 'Ċ'). A BPE
// vocabulary of exactly those 256 one-character tokens, in byte order, with no merges,
// splits any text into its bytes and gives each byte its own value as the id: our ids.
// The four specials follow as control tokens, which neither runtime produces from plain
// text (as our encode never does).
import { ByteTokenizer } from './tokenizer.js';

/** GPT-2's bytes_to_unicode: byte → the one-character token that spells it. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const out = new Array<string>(256);
  for (const b of printable) out[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (out[b] === undefined) out[b] = String.fromCodePoint(256 + n++);
  return out;
}

/** The 260 token strings, in id order: 256 byte characters, then the specials. */
export function byteVocabTokens(): string[] {
  return [...bytesToUnicode(), ...ByteTokenizer.SPECIALS];
}

/**
 * The byte tokenizer's chat format as a Jinja template (what llama.cpp, Ollama and
 * transformers' apply_chat_template read): `<|bos|>`, then `<|user|>text` per user (or
 * system) turn and `<|assistant|>text<|eos|>` per assistant turn, then `<|assistant|>`.
 */
export const BYTE_CHAT_TEMPLATE =
  "{{ '<|bos|>' }}{% for message in messages %}{% if message['role'] == 'assistant' %}" +
  "{{ '<|assistant|>' + message['content'] + '<|eos|>' }}{% else %}{{ '<|user|>' + message['content'] }}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";

/**
 * A Hugging Face tokenizer.json (the `tokenizers` library's format, read by
 * @huggingface/tokenizers and transformers' PreTrainedTokenizerFast) equal to ByteTokenizer:
 * byte-level BPE without merges, no regex split, no prefix space, specials as added tokens.
 */
export function byteTokenizerJson(): Record<string, unknown> {
  const chars = bytesToUnicode();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ByteTokenizer.SPECIALS.map((content, i) => ({
      id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [],
    },
  };
}

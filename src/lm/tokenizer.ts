// Tokenizers for the LM: a byte-level one for the built-in tasks (any text, Chinese
// included, with no vocabulary to ship and a GGUF/ONNX-friendly 1:1 byte mapping), and
// Hugging Face `tokenizer.json` files through @huggingface/tokenizers (hf_tokenizer.ts).
import * as torch from '../torch/index.js';
import { HfTokenizer } from './hf_tokenizer.js';
import type { GgufKv } from './gguf_vocab.js';
import type { EncodingWithOffsets } from './token_offsets.js';

export { HfTokenizer };

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Tokenizer {
  /** 'byte' or 'hf:<model name>': two tokenizers with the same kind and vocab agree on every id. */
  readonly kind: string;
  readonly vocabSize: number;
  readonly eosId: number;
  encode(text: string): number[];
  /**
   * `encode` plus each token's [start, end) span in the text, in UTF-8 byte offsets
   * (token_offsets.ts); absent on a tokenizer without a text-offset mapping.
   */
  encodeWithOffsets?(text: string): EncodingWithOffsets;
  decode(ids: readonly number[]): string;
  /** The UTF-8 bytes a token stands for (null for special tokens): OpenAI's `bytes` field. */
  tokenBytes(id: number): number[] | null;
  /** Printable form of one token, for logprobs. */
  tokenText(id: number): string;
  /** The id whose tokenText is exactly `text` (special tokens included), or null. */
  tokenId(text: string): number | null;
  /** Prompt ids for a chat, ending where the assistant's reply begins. */
  chatPrompt(turns: readonly ChatTurn[]): number[];
  /** JSON that recreates this tokenizer (stored beside checkpoints). */
  toJSON(): unknown;
  /**
   * llama.cpp's tokenizer.* GGUF keys, its token list padded to `vocabSize` rows; absent
   * where the GGUF writer has its own form (the byte tokenizer).
   */
  ggufMetadata?(vocabSize: number): GgufKv[];
}

/**
 * Byte-level: ids 0…255 are the bytes of the UTF-8 text, then four specials. The chat
 * template is `<|bos|>` + for each turn `<|user|>text` or `<|assistant|>text<|eos|>`,
 * ending with `<|assistant|>`. Specials never come out of `encode`, so text cannot inject them.
 */
export class ByteTokenizer implements Tokenizer {
  static readonly BOS = 256;
  static readonly EOS = 257;
  static readonly USER = 258;
  static readonly ASSISTANT = 259;
  static readonly SPECIALS = ['<|bos|>', '<|eos|>', '<|user|>', '<|assistant|>'];
  readonly kind = 'byte';
  readonly vocabSize = 260;
  readonly eosId = ByteTokenizer.EOS;

  encode(text: string): number[] {
    return Array.from(Buffer.from(text, 'utf8'));
  }
  encodeWithOffsets(text: string): EncodingWithOffsets {
    const ids = this.encode(text);
    return { ids, offsets: ids.map((_, i) => [i, i + 1]) };
  }
  decode(ids: readonly number[]): string {
    return Buffer.from(ids.filter((i) => i >= 0 && i < 256)).toString('utf8');
  }
  tokenBytes(id: number): number[] | null {
    return id >= 0 && id < 256 ? [id] : null;
  }
  tokenText(id: number): string {
    if (id >= 256) return ByteTokenizer.SPECIALS[id - 256] ?? `<|${id}|>`;
    // A lone byte of a multi-byte character has no text of its own; `bytes` carries it.
    return id < 128 ? String.fromCharCode(id) : `<0x${id.toString(16).toUpperCase().padStart(2, '0')}>`;
  }
  tokenId(text: string): number | null {
    const special = ByteTokenizer.SPECIALS.indexOf(text);
    if (special >= 0) return 256 + special;
    const bytes = Buffer.from(text, 'utf8');
    return bytes.length === 1 ? bytes[0] : null;
  }
  chatPrompt(turns: readonly ChatTurn[]): number[] {
    const ids = [ByteTokenizer.BOS];
    for (const t of turns) {
      // No system slot in the built-in template: a system turn is folded into the next user turn.
      if (t.role === 'assistant') ids.push(ByteTokenizer.ASSISTANT, ...this.encode(t.content), ByteTokenizer.EOS);
      else ids.push(ByteTokenizer.USER, ...this.encode(t.content));
    }
    ids.push(ByteTokenizer.ASSISTANT);
    return ids;
  }
  toJSON(): unknown {
    return { kind: 'byte' };
  }
}

/**
 * A tokenizer with more ids than the embedding has rows cannot drive the model (an id past
 * the last row has no embedding). The reverse is legal: Qwen pads its embedding to 151,936
 * rows for a 151,669-id tokenizer, and the extra rows are never produced by encode.
 */
export function assertFitsEmbedding(tok: Pick<Tokenizer, 'kind' | 'vocabSize'>, embeddingRows: number): void {
  if (tok.vocabSize > embeddingRows)
    throw new torch.ConfigError(`tokenizer '${tok.kind}' has ${tok.vocabSize} ids but the embedding has only ${embeddingRows} rows; ids ≥ ${embeddingRows} would have no embedding`);
}

/** The ids of `text` and their UTF-8 byte spans; a tokenizer without a text-offset mapping is a ConfigError. */
export function encodeWithOffsets(tok: Tokenizer, text: string): EncodingWithOffsets {
  if (!tok.encodeWithOffsets) throw new torch.ConfigError(`tokenizer '${tok.kind}' has no text-offset mapping (tokenizers without a text-offset mapping cannot be aligned across vocabularies)`);
  return tok.encodeWithOffsets(text);
}

/** Recreates a tokenizer from its `toJSON()`. */
export function tokenizerFromJSON(v: unknown): Tokenizer {
  const o = v as { kind?: string; name?: string; json?: Record<string, unknown>; config?: Record<string, unknown> };
  if (o?.kind === 'byte') return new ByteTokenizer();
  if (o?.kind === 'hf' && o.json) return new HfTokenizer(o.json, o.config ?? {}, o.name);
  throw new torch.ConfigError(`unknown tokenizer description: ${JSON.stringify(v)?.slice(0, 80)}`);
}

// Tokenizers for the LM: a byte-level one for the built-in tasks (any text, Chinese
// included, with no vocabulary to ship and a GGUF/ONNX-friendly 1:1 byte mapping), and
// Hugging Face `tokenizer.json` files through @huggingface/tokenizers.
import { readFileSync } from 'node:fs';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import * as torch from '../torch/index.js';

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
 * A Hugging Face tokenizer.json (BPE, WordPiece, Unigram …) through @huggingface/tokenizers.
 * The chat template is a plain one (`User: …\nAssistant: …`), since Jinja templates
 * belong to the serving side; models trained here use this one consistently.
 */
export class HfTokenizer implements Tokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly #tok: HfTokenizerImpl;
  readonly #json: Record<string, unknown>;
  readonly #config: Record<string, unknown>;
  readonly #idToToken: Map<number, string>;

  constructor(json: Record<string, unknown>, config: Record<string, unknown> = {}, name = 'custom') {
    this.#json = json;
    this.#config = config;
    try {
      this.#tok = new HfTokenizerImpl(json as never, config as never);
    } catch (e) {
      throw new torch.ConfigError(`tokenizer.json (${name}) could not be loaded: ${(e as Error).message}`);
    }
    const model = json.model as { vocab?: Record<string, number> | [string, number][] } | undefined;
    this.#idToToken = new Map();
    const vocab = model?.vocab;
    if (Array.isArray(vocab)) vocab.forEach(([tok], i) => this.#idToToken.set(i, tok));
    else if (vocab) for (const [tok, id] of Object.entries(vocab)) this.#idToToken.set(id, tok);
    for (const t of (json.added_tokens as { id: number; content: string }[] | undefined) ?? []) this.#idToToken.set(t.id, t.content);
    if (this.#idToToken.size === 0) throw new torch.ConfigError(`tokenizer.json (${name}) has an empty vocabulary`);
    this.vocabSize = Math.max(...this.#idToToken.keys()) + 1;
    const eosText = typeof config.eos_token === 'string' ? config.eos_token : (config.eos_token as { content?: string } | undefined)?.content;
    const eos = [...this.#idToToken].find(([, t]) => t === eosText || t === '</s>' || t === '<|endoftext|>' || t === '<eos>');
    if (!eos) throw new torch.ConfigError(`tokenizer.json (${name}) has no end-of-sequence token (set eos_token in tokenizer_config.json)`);
    this.eosId = eos[0];
    this.kind = `hf:${name}:${this.vocabSize}`;
  }

  static fromFiles(tokenizerJson: string, configJson?: string): HfTokenizer {
    const read = (p: string) => {
      try {
        return JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new torch.ConfigError(`cannot read ${p}: ${(e as Error).message}`);
      }
    };
    return new HfTokenizer(read(tokenizerJson), configJson ? read(configJson) : {}, tokenizerJson);
  }

  encode(text: string): number[] {
    return this.#tok.encode(text, { add_special_tokens: false }).ids;
  }
  decode(ids: readonly number[]): string {
    return this.#tok.decode([...ids], { skip_special_tokens: true });
  }
  tokenBytes(id: number): number[] | null {
    const text = this.decode([id]);
    return text ? Array.from(Buffer.from(text, 'utf8')) : null;
  }
  tokenText(id: number): string {
    return this.#idToToken.get(id) ?? `<|${id}|>`;
  }
  tokenId(text: string): number | null {
    for (const [id, t] of this.#idToToken) if (t === text) return id;
    return null;
  }
  chatPrompt(turns: readonly ChatTurn[]): number[] {
    const text = turns.map((t) => `${t.role === 'assistant' ? 'Assistant' : 'User'}: ${t.content}\n`).join('') + 'Assistant:';
    return this.encode(text);
  }
  toJSON(): unknown {
    return { kind: 'hf', json: this.#json, config: this.#config };
  }
}

/** Recreates a tokenizer from its `toJSON()`. */
export function tokenizerFromJSON(v: unknown): Tokenizer {
  const o = v as { kind?: string; json?: Record<string, unknown>; config?: Record<string, unknown> };
  if (o?.kind === 'byte') return new ByteTokenizer();
  if (o?.kind === 'hf' && o.json) return new HfTokenizer(o.json, o.config ?? {});
  throw new torch.ConfigError(`unknown tokenizer description: ${JSON.stringify(v)?.slice(0, 80)}`);
}

// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json, optionally a
// chat_template.jinja beside them) through @huggingface/tokenizers, with the special tokens,
// BOS/EOS handling and chat template that transformers reads from the same files.
//
// Special tokens: bos/eos/pad/unk come from tokenizer_config.json (a string or an
// AddedToken object {content}); when the config names no BOS, the first SpecialToken of a
// TemplateProcessing post-processor is the BOS (gguf-py's SpecialVocab does the same).
// add_bos/add_eos: tokenizer_config.json's `add_bos_token` / `add_eos_token` when they are
// booleans (LlamaTokenizerFast rebuilds its post-processor from them), else whether the
// TemplateProcessing post-processor starts / ends with that special token.
// Text that spells an added token (special or not) encodes to that token, as in
// Hugging Face tokenizers (llama.cpp does the same when asked to parse specials).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import * as torch from '../torch/index.js';
import type { ChatTurn, Tokenizer } from './tokenizer.js';
import { ChatTemplate, readChatTemplateSource, selectTemplate, type ChatMessage, type ChatTemplateSource, type RenderOptions } from './chat_template.js';
import { ggufTokenizerMetadata, type GgufKv } from './gguf_vocab.js';
import { bytesToUnicode } from './byte_vocab.js';
import { offsetsFromTokenBytes, type EncodingWithOffsets } from './token_offsets.js';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
}

type Json = Record<string, unknown>;

/** A tokenizer_config.json special token value (string or {content}) as its text. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  const c = (v as { content?: unknown } | null | undefined)?.content;
  return typeof c === 'string' ? c : null;
}

/** The leading and trailing SpecialToken ids of a TemplateProcessing post-processor (also inside a Sequence). */
function templateEnds(json: Json): { first: string | null; last: string | null } {
  const pp = json.post_processor as { type?: string; processors?: unknown[]; single?: Json[] } | null | undefined;
  for (const p of (pp?.processors ?? [pp]) as ({ type?: string; single?: Json[] } | null | undefined)[]) {
    if (p?.type !== 'TemplateProcessing' || !p.single || p.single.length < 2) continue;
    const id = (x: Json | undefined) => ((x?.SpecialToken as { id?: string } | undefined)?.id ?? null);
    return { first: id(p.single[0]), last: id(p.single[p.single.length - 1]) };
  }
  return { first: null, last: null };
}

/** GPT-2's bytes_to_unicode inverted: the byte each character of a byte-level BPE token stands for. */
function unicodeToBytes(): Map<string, number> {
  return new Map(bytesToUnicode().map((ch, b) => [ch, b]));
}

export class HfTokenizer implements Tokenizer {
  readonly kind: string;
  /** Ids in the vocabulary, added tokens included: max id + 1. */
  readonly vocabSize: number;
  readonly eosId: number;
  readonly bosId: number | null;
  readonly padId: number | null;
  readonly unkId: number | null;
  /** Whether `encode(text, { addSpecialTokens: true })` puts the BOS / EOS around the text. */
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addedTokens: readonly AddedToken[];
  /** The chat template(s) as the config or chat_template.jinja gives them, or null. */
  readonly chatTemplateSource: ChatTemplateSource | null;
  readonly #tok: HfTokenizerImpl;
  readonly #json: Json;
  readonly #config: Json;
  readonly #idToToken = new Map<number, string>();
  readonly #tokenToId = new Map<string, number>();
  readonly #specialIds = new Set<number>();
  readonly #addedIds = new Set<number>();
  readonly #templates = new Map<string, ChatTemplate>();
  readonly #name: string;
  #byteOf?: Map<string, number>;

  constructor(json: Json, config: Json = {}, name = 'custom') {
    this.#json = json;
    this.#config = config;
    try {
      this.#tok = new HfTokenizerImpl(json as never, config as never);
    } catch (e) {
      throw new torch.ConfigError(`tokenizer.json (${name}) could not be loaded: ${(e as Error).message}`);
    }
    const model = json.model as { vocab?: Record<string, number> | [string, number][] } | undefined;
    const vocab = model?.vocab;
    if (Array.isArray(vocab)) vocab.forEach(([tok], i) => this.#idToToken.set(i, tok));
    else if (vocab) for (const [tok, id] of Object.entries(vocab)) this.#idToToken.set(id, tok);
    const added = ((json.added_tokens as Json[] | undefined) ?? []).map((t) => ({
      id: t.id as number, content: t.content as string, special: t.special === true, normalized: t.normalized === true,
    }));
    this.addedTokens = added;
    for (const t of added) {
      this.#idToToken.set(t.id, t.content);
      this.#addedIds.add(t.id);
      if (t.special) this.#specialIds.add(t.id);
    }
    if (this.#idToToken.size === 0) throw new torch.ConfigError(`tokenizer.json (${name}) has an empty vocabulary`);
    for (const [id, t] of this.#idToToken) if (!this.#tokenToId.has(t)) this.#tokenToId.set(t, id);
    let max = 0;
    for (const id of this.#idToToken.keys()) max = Math.max(max, id);
    this.vocabSize = max + 1;

    const idOf = (key: string) => {
      const text = tokenContent(config[key]);
      return text === null ? null : (this.#tokenToId.get(text) ?? null);
    };
    const ends = templateEnds(json);
    const eosText = tokenContent(config.eos_token);
    const eos = eosText !== null ? this.#tokenToId.get(eosText) : ['</s>', '<|endoftext|>', '<eos>'].map((t) => this.#tokenToId.get(t)).find((id) => id !== undefined);
    if (eos === undefined) throw new torch.ConfigError(`tokenizer.json (${name}) has no end-of-sequence token${eosText ? ` '${eosText}'` : ''} (set eos_token in tokenizer_config.json)`);
    this.eosId = eos;
    this.bosId = idOf('bos_token') ?? (ends.first !== null ? (this.#tokenToId.get(ends.first) ?? null) : null);
    this.padId = idOf('pad_token');
    this.unkId = idOf('unk_token');
    const bosText = this.bosId === null ? null : this.#idToToken.get(this.bosId);
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : this.bosId !== null && ends.first === bosText;
    this.addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : ends.last !== null && ends.last === eosText;
    this.chatTemplateSource = readChatTemplateSource(config);
    this.#name = name;
    this.kind = `hf:${name}:${this.vocabSize}`;
  }

  /**
   * tokenizer.json and its tokenizer_config.json. From the same folder, as transformers
   * reads them: special_tokens_map.json fills the special tokens the config does not name,
   * and chat_template.jinja is the template when the config has none (both are kept in the
   * config from then on, so toJSON recreates the same tokenizer).
   */
  static fromFiles(tokenizerJson: string, configJson?: string): HfTokenizer {
    const read = (p: string) => {
      try {
        return JSON.parse(readFileSync(p, 'utf8')) as Json;
      } catch (e) {
        throw new torch.ConfigError(`cannot read ${p}: ${(e as Error).message}`);
      }
    };
    const config = configJson ? read(configJson) : {};
    const mapFile = join(dirname(tokenizerJson), 'special_tokens_map.json');
    if (existsSync(mapFile))
      for (const [k, v] of Object.entries(read(mapFile))) if (config[k] === undefined || config[k] === null) config[k] = v;
    const jinja = readChatTemplateSource(config, dirname(tokenizerJson));
    if (jinja !== null && config.chat_template === undefined) config.chat_template = jinja;
    return new HfTokenizer(read(tokenizerJson), config, tokenizerJson);
  }

  /** The files of a Hugging Face folder that make its tokenizer (what fromDir reads; copy them all to carry it over). */
  static readonly FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'] as const;

  /** A folder with tokenizer.json (and usually tokenizer_config.json). */
  static fromDir(dir: string): HfTokenizer {
    const cfg = join(dir, 'tokenizer_config.json');
    if (!existsSync(join(dir, 'tokenizer.json'))) throw new torch.ConfigError(`no tokenizer.json in ${dir}`);
    return HfTokenizer.fromFiles(join(dir, 'tokenizer.json'), existsSync(cfg) ? cfg : undefined);
  }

  /** The tokenizer.json and tokenizer_config.json objects (not copies: do not modify). */
  get json(): Readonly<Json> {
    return this.#json;
  }
  get config(): Readonly<Json> {
    return this.#config;
  }

  /** Ids of `text`; with addSpecialTokens, the BOS/EOS the tokenizer adds (see addBos). */
  encode(text: string, o: { addSpecialTokens?: boolean } = {}): number[] {
    const ids = this.#tok.encode(text, { add_special_tokens: false }).ids;
    if (!o.addSpecialTokens) return ids;
    return [...(this.addBos && this.bosId !== null ? [this.bosId] : []), ...ids, ...(this.addEos ? [this.eosId] : [])];
  }
  /**
   * `encode(text)` (no added BOS/EOS) and each token's UTF-8 byte span in `text`, from the
   * tokens' bytes (an added token spelled in the text spans its content). ConfigError when
   * the tokens do not spell the text (see token_offsets.ts).
   */
  encodeWithOffsets(text: string): EncodingWithOffsets {
    const ids = this.encode(text);
    const bytes = ids.map((id) => (this.#addedIds.has(id) ? Array.from(Buffer.from(this.#idToToken.get(id) ?? '', 'utf8')) : this.tokenBytes(id)));
    return { ids, offsets: offsetsFromTokenBytes(text, bytes, { where: `tokenizer '${this.kind}'`, dummyPrefix: this.#dummyPrefix() }) };
  }
  /** Whether the tokenizer puts a space ("▁") before the text itself: a Prepend normalizer or a prefixing Metaspace. */
  #dummyPrefix(): boolean {
    const has = (x: unknown): boolean => {
      const o = x as { type?: string; prepend?: string; add_prefix_space?: boolean; prepend_scheme?: string; normalizers?: unknown[]; pretokenizers?: unknown[] } | null | undefined;
      if (o?.type === 'Prepend') return o.prepend === '\u2581' || o.prepend === ' ';
      if (o?.type === 'Metaspace') return o.prepend_scheme !== undefined ? o.prepend_scheme !== 'never' : o.add_prefix_space !== false;
      return (o?.normalizers ?? o?.pretokenizers ?? []).some(has);
    };
    return has(this.#json.normalizer) || has(this.#json.pre_tokenizer);
  }
  decode(ids: readonly number[], o: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.#tok.decode([...ids], { skip_special_tokens: o.skipSpecialTokens ?? true });
  }
  /** Whether `id` is a special added token (special: true in tokenizer.json). */
  isSpecial(id: number): boolean {
    return this.#specialIds.has(id);
  }
  /**
   * The exact bytes of a token: byte-level BPE spells each byte as one character (GPT-2's
   * bytes_to_unicode); SentencePiece-style vocabularies write bytes as <0xXX> and spaces as ▁.
   */
  tokenBytes(id: number): number[] | null {
    const t = this.#idToToken.get(id);
    if (t === undefined || this.#specialIds.has(id)) return null;
    if (this.#addedIds.has(id)) return Array.from(Buffer.from(t, 'utf8'));
    const byteFallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
    if (byteFallback) return [parseInt(byteFallback[1], 16)];
    if (this.isByteLevel()) {
      this.#byteOf ??= unicodeToBytes();
      const out: number[] = [];
      for (const c of t) {
        const b = this.#byteOf.get(c);
        if (b === undefined) return Array.from(Buffer.from(this.decode([id]), 'utf8'));
        out.push(b);
      }
      return out;
    }
    return Array.from(Buffer.from(t.replaceAll('\u2581', ' '), 'utf8'));
  }
  tokenText(id: number): string {
    return this.#idToToken.get(id) ?? `<|${id}|>`;
  }
  tokenId(text: string): number | null {
    return this.#tokenToId.get(text) ?? null;
  }

  /** Whether the vocabulary is byte-level BPE (a ByteLevel pre-tokenizer or decoder). */
  isByteLevel(): boolean {
    const has = (x: unknown): boolean => {
      const o = x as { type?: string; pretokenizers?: unknown[]; decoders?: unknown[] } | null | undefined;
      return o?.type === 'ByteLevel' || (o?.pretokenizers ?? o?.decoders ?? []).some(has);
    };
    return has(this.#json.pre_tokenizer) || has(this.#json.decoder);
  }

  /** The special tokens a chat template sees, as transformers passes special_tokens_map. */
  specialTokensMap(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const t = tokenContent(this.#config[k]);
      if (t !== null) out[k] = t;
    }
    if (Array.isArray(this.#config.additional_special_tokens)) out.additional_special_tokens = this.#config.additional_special_tokens.map(tokenContent);
    return out;
  }

  /** The compiled chat template (`name` among a list of named ones; default 'default'), or null when there is none. */
  chatTemplate(name?: string): ChatTemplate | null {
    if (this.chatTemplateSource === null) return null;
    const key = name ?? 'default';
    let t = this.#templates.get(key);
    if (!t) {
      t = new ChatTemplate(selectTemplate(this.chatTemplateSource, name), this.specialTokensMap());
      this.#templates.set(key, t);
    }
    return t;
  }

  /** transformers' apply_chat_template(messages, tokenize=False): the rendered prompt text. */
  applyChatTemplate(messages: readonly ChatMessage[], o: RenderOptions & { template?: string } = {}): string {
    const t = this.chatTemplate(o.template);
    if (!t) throw new torch.ConfigError(`tokenizer '${this.kind}' has no chat template (tokenizer_config.json chat_template or chat_template.jinja)`);
    return t.render(messages, o);
  }

  /**
   * Prompt ids for a chat, ending where the assistant's reply begins: the tokenizer's own
   * chat template when it has one (tokenized without added specials, as apply_chat_template
   * does: the template writes the BOS itself), else a plain `User: …\nAssistant:` format.
   */
  chatPrompt(turns: readonly ChatTurn[]): number[] {
    if (this.chatTemplateSource !== null) return this.encode(this.applyChatTemplate(turns, { addGenerationPrompt: true }));
    const text = turns.map((t) => `${t.role === 'assistant' ? 'Assistant' : 'User'}: ${t.content}\n`).join('') + 'Assistant:';
    return this.encode(text);
  }

  /** llama.cpp's tokenizer.* GGUF keys for this tokenizer, its vocabulary padded to `vocabSize` rows. */
  ggufMetadata(vocabSize: number): GgufKv[] {
    return ggufTokenizerMetadata(this, vocabSize);
  }

  toJSON(): unknown {
    return { kind: 'hf', name: this.#name, json: this.#json, config: this.#config };
  }
}

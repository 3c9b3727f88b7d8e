// llama.cpp's tokenizer metadata (the `tokenizer.*` GGUF keys) from a Hugging Face
// tokenizer, as llama.cpp's converter writes them (convert_hf_to_gguf.py, gguf-py vocab.py):
//
//   byte-level BPE (Qwen, Llama 3, DeepSeek-V3 …)  → tokenizer.ggml.model = "gpt2"
//     tokens: the vocabulary strings in id order (bytes spelled by bytes_to_unicode), merges
//     "a b" (a space inside a part written as 'Ġ', U+0120, as the converter does), and
//     tokenizer.ggml.pre: llama.cpp's name for the pre-tokenizer, chosen by hashing the
//     tokenization of the converter's check text (gguf_pre_hashes.ts).
//   SentencePiece BPE with byte fallback (Llama 2, as tokenizer.json) → "llama", pre "default"
//     tokens with ▁ for spaces and <0xXX> byte tokens, and scores: llama.cpp's SPM tokenizer
//     merges the adjacent pair whose merged token has the highest score, so a token made by
//     merge number r scores −r (the order Hugging Face's BPE applies merges in).
//
// token_type (llama.h llama_token_type): NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4,
// UNUSED 5, BYTE 6. Added tokens are CONTROL when special (or when they look special:
// <|…|>, <｜…｜>), else USER_DEFINED; rows of a padded embedding past the tokenizer become
// "[PAD{i}]" UNUSED tokens, as the converter writes them.
// Specials: bos/eos/unk/pad ids, add_bos/add_eos always written (llama.cpp's per-model
// defaults would otherwise apply, e.g. add_bos = true for "llama-bpe"), the chat template(s).
import { createHash } from 'node:crypto';
import * as torch from '../torch/index.js';
import type { HfTokenizer } from './hf_tokenizer.js';
import { CHECK_TEXT, PRE_TOKENIZER_HASHES } from './gguf_pre_hashes.js';

/** A GGUF metadata value, in the shapes src/export/gguf.ts writes. */
export type GgufTypedValue =
  | { t: 'u32'; v: number }
  | { t: 'f32'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'str'; v: string }
  | { t: 'strs'; v: readonly string[] }
  | { t: 'i32s'; v: readonly number[] }
  | { t: 'f32s'; v: readonly number[] };
export type GgufKv = [string, GgufTypedValue];

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Python's str() of a list of ints, hashed with SHA-256: the converter's `chkhsh`. */
function idsHash(ids: readonly number[]): string {
  return createHash('sha256').update(`[${ids.join(', ')}]`).digest('hex');
}

/**
 * llama.cpp's pre-tokenizer name for a byte-level BPE tokenizer, or null when its hash is
 * unknown. The converter hashes `tokenizer.encode(chktxt)` with transformers' defaults
 * (special tokens added) on the Hub's files. Copies of a tokenizer differ in whether that
 * adds a BOS (the Hub's Llama 3 adds <|begin_of_text|> by its post-processor, the npm copy
 * does not), so the ids are tried with a leading BOS first, then as the tokenizer encodes
 * them. (Without the BOS, Llama 3 hashes as "smaug-bpe": the same split regex, but without
 * llama-bpe's ignore_merges, which Llama 3's tokenizer.json sets.)
 */
export function ggufPreTokenizer(tok: HfTokenizer): { name: string | null; hash: string } {
  const plain = tok.encode(CHECK_TEXT);
  const tries = [tok.encode(CHECK_TEXT, { addSpecialTokens: true }), plain];
  if (tok.bosId !== null && tries[0][0] !== tok.bosId) tries.unshift([tok.bosId, ...plain]);
  const table = new Map(PRE_TOKENIZER_HASHES.map(([h, n]) => [h, n]));
  for (const ids of tries) {
    const name = table.get(idsHash(ids));
    if (name) return { name, hash: idsHash(ids) };
  }
  return { name: null, hash: idsHash(tries[0]) };
}

/** Like the converter's does_token_look_special: <|…|>, <｜…｜> and a few known names. */
function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'));
}

/** The merges as the GGUF's "a b" strings (tokenizer.json has "a b" or, since transformers 4.45, ["a", "b"]). */
function mergeStrings(merges: unknown[]): string[] {
  return merges.map((m) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2) return m.map((p: string) => p.replaceAll(' ', '\u0120')).join(' ');
    throw new torch.ConfigError(`tokenizer.json: unknown merges format ${JSON.stringify(m).slice(0, 60)}`);
  });
}

/** tokenizer.ggml.* for `tok`, its token list padded to `vocabSize` (the model's embedding rows). */
export function ggufTokenizerMetadata(tok: HfTokenizer, vocabSize: number, o: { pre?: string } = {}): GgufKv[] {
  if (tok.vocabSize > vocabSize)
    throw new torch.ConfigError(`GGUF export: the tokenizer has ${tok.vocabSize} ids but the model's vocabulary (embedding rows) is ${vocabSize}`);
  const model = tok.json.model as { type?: string; byte_fallback?: boolean; merges?: unknown[] } | undefined;
  if (model?.type !== 'BPE')
    throw new torch.ConfigError(`GGUF export: tokenizer model '${String(model?.type)}' is not supported; llama.cpp's gpt2 (byte-level BPE) and llama (SentencePiece BPE) forms are`);
  const spm = !tok.isByteLevel() && model.byte_fallback === true;
  if (!tok.isByteLevel() && !spm)
    throw new torch.ConfigError('GGUF export: a BPE tokenizer must be byte-level (GPT-2 style) or SentencePiece with byte fallback to have a llama.cpp form');
  const merges = mergeStrings(model.merges ?? []);
  let pre = o.pre ?? 'default';
  if (!spm && o.pre === undefined) {
    const found = ggufPreTokenizer(tok);
    if (!found.name)
      throw new torch.ConfigError(`GGUF export: llama.cpp has no pre-tokenizer for this tokenizer (check-text hash ${found.hash} is not in convert_hf_to_gguf.py's table); llama.cpp would split text differently`);
    pre = found.name;
  }

  const added = new Map(tok.addedTokens.map((a) => [a.id, a]));
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const a = added.get(i);
    const text = i < tok.vocabSize ? tok.tokenText(i) : null;
    if (text === null || (!a && tok.tokenId(text) !== i)) {
      tokens.push(`[PAD${i}]`);
      types.push(TOKEN_TYPE.UNUSED);
    } else if (a) {
      const control = a.special || looksSpecial(a.content);
      // llama.cpp matches user-defined tokens in pre-normalised text: ▁ stands for a space there.
      tokens.push(control ? a.content : a.content.replaceAll('\u2581', ' '));
      types.push(spm && i === tok.unkId ? TOKEN_TYPE.UNKNOWN : control ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED);
    } else {
      tokens.push(text);
      types.push(spm && /^<0x[0-9A-Fa-f]{2}>$/.test(text) ? TOKEN_TYPE.BYTE : TOKEN_TYPE.NORMAL);
    }
  }

  const kv: GgufKv[] = [
    ['tokenizer.ggml.model', { t: 'str', v: spm ? 'llama' : 'gpt2' }],
    ['tokenizer.ggml.pre', { t: 'str', v: pre }],
    ['tokenizer.ggml.tokens', { t: 'strs', v: tokens }],
    ['tokenizer.ggml.token_type', { t: 'i32s', v: types }],
  ];
  if (spm) kv.push(['tokenizer.ggml.scores', { t: 'f32s', v: spmScores(tokens, types, merges) }]);
  else kv.push(['tokenizer.ggml.merges', { t: 'strs', v: merges }]);
  const ids: [string, number | null][] = [['bos', tok.bosId], ['eos', tok.eosId], ['unknown', tok.unkId], ['padding', tok.padId]];
  for (const [k, id] of ids) if (id !== null) kv.push([`tokenizer.ggml.${k}_token_id`, { t: 'u32', v: id }]);
  kv.push(['tokenizer.ggml.add_bos_token', { t: 'bool', v: tok.addBos }]);
  kv.push(['tokenizer.ggml.add_eos_token', { t: 'bool', v: tok.addEos }]);
  const tpl = tok.chatTemplateSource;
  if (typeof tpl === 'string') kv.push(['tokenizer.chat_template', { t: 'str', v: tpl }]);
  else if (tpl) {
    // gguf-py's add_chat_template: the default one under the plain key, the others by name.
    const named = tpl.filter((t) => t.name !== 'default').map((t) => ({ ...t, name: t.name.replace(/[^A-Za-z0-9]/g, '_') }));
    const def = tpl.find((t) => t.name === 'default');
    for (const t of named) kv.push([`tokenizer.chat_template.${t.name}`, { t: 'str', v: t.template }]);
    if (named.length) kv.push(['tokenizer.chat_templates', { t: 'strs', v: named.map((t) => t.name) }]);
    if (def) kv.push(['tokenizer.chat_template', { t: 'str', v: def.template }]);
  }
  return kv;
}

/**
 * SentencePiece scores from BPE merges: the token made by merge r scores −r, so llama.cpp's
 * highest-score-first merging applies merges in Hugging Face's order; tokens no merge makes
 * (single characters, bytes, specials) score 0, and unused padding −10000 as the converter writes.
 */
function spmScores(tokens: readonly string[], types: readonly number[], merges: readonly string[]): number[] {
  const rank = new Map<string, number>();
  merges.forEach((m, r) => {
    const t = m.replace(' ', '');
    if (!rank.has(t)) rank.set(t, r + 1);
  });
  return tokens.map((t, i) => (types[i] === TOKEN_TYPE.UNUSED ? -10000 : -(rank.get(t) ?? 0)));
}

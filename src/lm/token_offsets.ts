// Where each token sits in the text it was encoded from: the [start, end) span of every
// token, in UTF-8 BYTE offsets of the text. Bytes, not characters, because a byte-level
// BPE token may hold part of a multi-byte character (an emoji's first two bytes); in bytes
// every token has an exact span and the spans of a tokenization tile the text.
//
// The spans come from the tokens' own bytes (Tokenizer.tokenBytes): walking them along the
// text's bytes gives each token's span, and checks on the way that they spell the text. A
// tokenizer whose tokens do not spell the text (a normalizer that changed it — NFKC,
// lowercasing —, an unknown token without byte fallback) has no offset mapping: ConfigError.
import * as torch from '../torch/index.js';

/** [start, end) UTF-8 byte offsets of each token in its text. */
export type TokenSpans = readonly (readonly [number, number])[];

export interface EncodingWithOffsets {
  ids: number[];
  offsets: [number, number][];
}

/**
 * The span of each token from its bytes (null: a token with no bytes, e.g. an unknown
 * token). `dummyPrefix`: the tokenizer puts a space before the text itself (SentencePiece's
 * add_dummy_prefix, "▁" prepended), so the first token's leading space is not in the text;
 * it is skipped, and a first token that is only that space gets the empty span [0, 0).
 */
export function offsetsFromTokenBytes(text: string, tokens: readonly (readonly number[] | null)[], o: { where: string; dummyPrefix?: boolean }): [number, number][] {
  const bytes = Buffer.from(text, 'utf8');
  const fail = (i: number, pos: number, why: string) =>
    new torch.ConfigError(`${o.where}: no text-offset mapping for this text: token ${i} ${why} at byte ${pos} of ${bytes.length} ` +
      '(offsets need tokens whose bytes spell the text; a normalizer that changes the text, e.g. NFC/NFKC or lowercasing, or an unknown token, breaks that; normalize the text the same way first)');
  const out: [number, number][] = [];
  let pos = 0;
  tokens.forEach((tb, i) => {
    if (tb === null) throw fail(i, pos, 'has no bytes');
    // The dummy prefix: the first token's leading space is the tokenizer's, when the rest of it spells the text's start.
    const from = i === 0 && o.dummyPrefix && tb[0] === 0x20 && tb.slice(1).every((b, j) => bytes[j] === b) ? 1 : 0;
    for (let j = from; j < tb.length; j++) if (bytes[pos + j - from] !== tb[j]) throw fail(i, pos, `does not spell the text (${JSON.stringify(Buffer.from(tb).toString('utf8'))})`);
    out.push([pos, pos + tb.length - from]);
    pos += tb.length - from;
  });
  if (pos !== bytes.length) throw new torch.ConfigError(`${o.where}: no text-offset mapping for this text: the tokens spell ${pos} of its ${bytes.length} bytes`);
  return out;
}

// A GGUF file's SentencePiece tokenizer (tokenizer.ggml.model = "llama": Llama 2, Mistral v1
// style) as the Hugging Face tokenizer.json that transformers' LlamaConverter makes of the same
// SentencePiece model, so a Llama 2 style .gguf runs here with the ids llama.cpp gives.
//
// llama.cpp's llm_tokenizer_spm splits the text (▁ for spaces, a ▁ prepended when
// add_space_prefix) into characters, then repeatedly merges the adjacent pair whose
// concatenation is a token with the highest score (ties: the leftmost pair), and spells
// characters no token covers as <0xXX> byte tokens. A BPE with byte fallback does the same when
// its merges are every pair (l, r) of tokens whose concatenation is a token, ranked by that
// token's score (highest first): transformers' SentencePieceExtractor builds Llama 2's merges
// exactly so (pairs of one token ordered by the ids of l and r), and so do we here.
// Token types: NORMAL, BYTE, UNKNOWN and CONTROL tokens are the BPE vocabulary (as in
// Llama 2's tokenizer.json); UNKNOWN and CONTROL are also special added tokens, USER_DEFINED
// ones non-special added tokens; UNUSED rows (a padded embedding) are left out.
import * as torch from '../torch/index.js';
import { TOKEN_TYPE } from './gguf_vocab.js';

type Json = Record<string, unknown>;

/** Every (l, r) with l, r and l + r tokens, the pairs of higher-scoring results first. */
export function spmMerges(tokens: readonly string[], scores: readonly number[], inVocab: (id: number) => boolean): [string, string][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (inVocab(id) && !idOf.has(t)) idOf.set(t, id);
  });
  const made: { score: number; id: number; pairs: [string, string][] }[] = [];
  for (const [t, id] of idOf) {
    const chars = Array.from(t); // split by code points, as Python slices a str
    if (chars.length < 2) continue;
    const local: [number, number, string, string][] = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      const li = idOf.get(l);
      const ri = idOf.get(r);
      if (li !== undefined && ri !== undefined) local.push([li, ri, l, r]);
    }
    if (!local.length) continue;
    local.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    made.push({ score: scores[id], id, pairs: local.map(([, , l, r]) => [l, r]) });
  }
  // Highest score first; equal scores in id order (a stable sort over the vocabulary's order).
  made.sort((a, b) => b.score - a.score || a.id - b.id);
  return made.flatMap((m) => m.pairs);
}

/** The tokenizer.json of a GGUF's SentencePiece tokenizer. */
export function spmTokenizerJson(meta: Record<string, unknown>, where: string): Json {
  const tokens = meta['tokenizer.ggml.tokens'];
  const types = meta['tokenizer.ggml.token_type'];
  const scores = meta['tokenizer.ggml.scores'];
  if (!Array.isArray(tokens) || !Array.isArray(types) || !Array.isArray(scores) || tokens.length !== types.length || tokens.length !== scores.length)
    throw new torch.ConfigError(`${where}: a SentencePiece tokenizer needs tokenizer.ggml.tokens, token_type and scores as lists of equal length`);
  const type = (id: number) => Number(types[id]);
  const inVocab = (id: number) => [TOKEN_TYPE.NORMAL, TOKEN_TYPE.BYTE, TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL].includes(type(id) as 1);
  const vocab: Record<string, number> = {};
  const added: Json[] = [];
  tokens.forEach((t, id) => {
    const text = String(t);
    if (inVocab(id) && !(text in vocab)) vocab[text] = id;
    if (type(id) === TOKEN_TYPE.UNKNOWN || type(id) === TOKEN_TYPE.CONTROL || type(id) === TOKEN_TYPE.USER_DEFINED)
      added.push({ id, content: text, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type(id) !== TOKEN_TYPE.USER_DEFINED });
  });
  const unkId = meta['tokenizer.ggml.unknown_token_id'];
  const unk = typeof unkId === 'number' && unkId >= 0 && unkId < tokens.length ? String(tokens[unkId]) : null;
  // llama.cpp's default for SPM vocabularies is to add the space prefix.
  const prefix = meta['tokenizer.ggml.add_space_prefix'] !== false;
  const replaceSpace = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' };
  const json: Json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: prefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, replaceSpace] } : replaceSpace,
    pre_tokenizer: null, post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
        ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true,
      vocab, // [l, r] pairs (transformers ≥ 4.45's form): a piece may hold a space.
      merges: spmMerges(tokens.map(String), scores.map(Number), inVocab),
    },
  };
  return json;
}

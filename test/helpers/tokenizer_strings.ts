// Seeded test strings for tokenizer parity: English, Chinese, code, emoji, digit runs,
// whitespace runs, special tokens in text, and mixtures of them. Deterministic (an LCG),
// so a disagreement can be reproduced by its index.

const EN = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', "don't", "I'll", "we've", 'HELLO', 'World', 'tokenizer',
  'distillation', 'antidisestablishmentarianism', 'e.g.', 'U.S.A.', 'co-operate', 'naïve', 'café', 'Zürich', 'résumé', "'s", "'RE", 'Ms.'];
const ZH = ['你好', '世界', '今天天气怎么样', '小狗跑得很快', '鸡兔同笼', '计算', '。', '，', '？', '！', '「引号」', '机器学习', '蒸馏', '模型', '中文分词', '日本語', 'カタカナ', 'ひらがな', '한국어'];
const CODE = ['def f(x):\n    return x * 2\n', 'for (let i = 0; i < n; i++) {\n\tsum += a[i];\n}', 'const s = `${a}+${b}`;', '#include <stdio.h>', 'x -> y => z', 'a != b && c <= d || !e',
  '```python\nprint("hi")\n```', '{"key": [1, 2.5, null]}', '<div class="x">&amp;</div>', '/* comment */ // line', 'SELECT * FROM t WHERE id=42;', '    if x:\n        pass', 'λx.x', '$HOME/.config', 'foo_bar_baz', 'camelCaseName'];
const EMOJI = ['🚀', '😶\u200d🌫️', '🦙🦙', '👍🏽', '🇫🇷', '❤️', '✅', '🤖', '👨\u200d👩\u200d👧', '🦊', '∑', '→', '©', '\u00a0', '\u200b'];
const WORLD = ['Привет, мир', 'สวัสดีครับ', 'नमस्ते दुनिया', 'مرحبا بالعالم', '안녕하세요', 'Γειά σου', 'ＡＢＣ１２３', '①②③ ²³', 'ﬁ ﬂ', '१२३ ٣٤٥ ๑๒๓', 'İstanbul ıi', 'ß ẞ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', "I'M HERE, WE'LL SEE", "'S 'T 'RE 'VE 'M 'LL 'D", '。、「」〜～'];
const WS = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n ', '\t\t ', '        ', '\n \n', '\u3000'];

/** A seeded uniform generator in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/**
 * `n` strings (at least 2,000 in the parity tests), a fixed share of each kind; `specials`
 * are the tokenizer's special / added token texts, spliced into a ninth of them. All text is
 * NFC (precomposed), as typed text almost always is.
 */
export function tokenizerTestStrings(n: number, specials: readonly string[], seed = 1234): string[] {
  const r = lcg(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
  const digits = () => Array.from({ length: 1 + Math.floor(r() * 14) }, () => String(Math.floor(r() * 10))).join('');
  const words = (src: readonly string[], k: number, sep: () => string) => Array.from({ length: k }, () => pick(src)).join(sep());
  const kinds: (() => string)[] = [
    () => words(EN, 1 + Math.floor(r() * 12), () => (r() < 0.85 ? ' ' : pick([', ', '. ', '\n', '  ', '!', '?']))),
    () => words(ZH, 1 + Math.floor(r() * 8), () => (r() < 0.6 ? '' : pick(['', ' ', '，', '\n']))),
    () => pick(CODE) + (r() < 0.5 ? pick(CODE) : ''),
    () => words(EMOJI, 1 + Math.floor(r() * 5), () => pick(['', ' ', ' and '])) + (r() < 0.5 ? ` ${pick(EN)}` : ''),
    () => `${digits()}${pick(['', ' ', '.', ',', '-', 'x', ' + '])}${digits()}${r() < 0.3 ? ` = ${digits()}` : ''}`,
    () => `${pick(WS)}${pick(EN)}${pick(WS).repeat(1 + Math.floor(r() * 6))}${r() < 0.5 ? pick(ZH) : pick(EN)}${pick(WS)}`,
    () => words(WORLD, 1 + Math.floor(r() * 3), () => pick([' ', '\n', ', ', ''])) + (r() < 0.3 ? digits().repeat(3) : ''),
    () => (specials.length ? `${pick(specials)}${pick(EN)} ${pick(ZH)}${pick(specials)}${r() < 0.5 ? '\n' : ''}${pick(EN)}` : pick(EN)),
    () => [words(EN, 3, () => ' '), pick(ZH), pick(EMOJI), digits(), pick(WS), pick(CODE)].sort(() => r() - 0.5).join(r() < 0.5 ? ' ' : ''),
  ];
  return Array.from({ length: n }, (_, i) => kinds[i % kinds.length]());
}

/**
 * Hand-picked edge cases: decomposed (NFD) accents, control characters, long runs, other
 * scripts and numerals, compatibility characters, zero-width and BOM characters, specials
 * next to spaces and to text that looks special in another vocabulary (`</s>`, `<s>`).
 */
export const EDGE_CASES: readonly string[] = [
  'e\u0301cole', 'cafe\u0301', 'A\u030A', 'x\u0301\u0302\u0303', 'Å', '\u0000x', '\u0001\u0002', "I'M HERE, WE'LL SEE", "'S 'T 'RE 'VE 'M 'LL 'D",
  'x'.repeat(300), `${' '.repeat(37)}a`, `${'\t'.repeat(9)}${'\n'.repeat(5)} x`, '1'.repeat(41), '१२३ ٣٤٥ ๑๒๓', 'สวัสดีครับ', 'नमस्ते दुनिया',
  'مرحبا بالعالم', '안녕하세요 세계', 'Привет, мир', 'ﬁ ﬂ ﬀ', '①②③ ²³', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '\u00ad soft hyphen', 'a\u200db', '\uFEFFbom', 'Ω Ω',
  '\u2028line sep\u2029', '😀\u{1F3FB}', '\r\r\n\n\r', 'a  \n  b', '  \n\n  ', '▁▁x▁', 'ゔ ヴ', '〜～', '。、「」', 'ＡＢＣ１２３', '\u{10FFFF}', 'Ǆ ǅ ǆ',
  'ß ẞ', 'İstanbul ıi', '99999999999999999999.5e-10', '<s> </s>', '<|im_start|> <|im_end|>', ' <|im_end|>x', '<think> </think>',
  '<|endoftext|><|endoftext|>', '<|im_end|></s>', '<｜begin▁of▁sentence｜>hi', '<|begin_of_text|>  x</s>', '<s>[INST] hi [/INST]',
];

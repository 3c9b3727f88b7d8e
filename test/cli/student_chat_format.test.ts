// A student trained on its own chat template records how its traces were rendered (which file
// the template came from, where the reasoning went, whether <think> was the template's own)
// beside its recipe, and shows it: train-student's summary, lm.json's info and `distill lm
// inspect`. Run as a user runs it (child processes of the built CLI) on a tiny Llama 3 folder
// whose template sits in chat_template.jinja, not in tokenizer_config.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { chatFormatOf, describeChatFormat } from '../../src/reason/student_chat.js';
import { realTokenizer, realTokenizerDir } from '../helpers/real_tokenizers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-chat-format-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const at = (...p: string[]) => join(work, ...p);
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 });

test('chatFormatOf: Qwen3 has native <think> (reasoning_content), Llama 3 falls back to inline, the byte tokenizer has no template', () => {
  assert.deepEqual(chatFormatOf(realTokenizer('qwen3'), 'tokenizer_config.json'), { template: 'tokenizer_config.json', reasoning: 'field', nativeThink: true });
  assert.deepEqual(chatFormatOf(realTokenizer('llama3'), 'tokenizer_config.json'), { template: 'tokenizer_config.json', reasoning: 'inline', nativeThink: false });
  assert.deepEqual(chatFormatOf(new ByteTokenizer(), null), { template: 'none', reasoning: 'inline', nativeThink: false });
});

test('train-student records the render format (chat_template.jinja, inline, no native <think>) in its summary, lm.json and lm inspect; a rerun still resumes', () => {
  // Llama 3's tokenizer with its template moved from tokenizer_config.json into chat_template.jinja.
  const tokDir = at('llama3-tok');
  cpSync(realTokenizerDir('llama3'), tokDir, { recursive: true });
  const config = JSON.parse(readFileSync(join(tokDir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(tokDir, 'chat_template.jinja'), String(config.chat_template));
  delete config.chat_template;
  writeFileSync(join(tokDir, 'tokenizer_config.json'), JSON.stringify(config));
  const init = cli(['lm', 'init', '--arch', 'llama', '--size', 'tiny', '--tokenizer', tokDir, '--out', at('hf')]);
  assert.equal(init.status, 0, init.stderr);

  const trace = (i: number) => ({
    id: `f00dfeed1234abc${i}`, problemId: `p${i}`, sample: 0, question: `${10 + i} heads, 28 legs: how many chickens?`, answer: '6, 4',
    reasoning: 'x+y=10, 2x+4y=28', content: 'So \\boxed{6, 4}', finishReason: 'stop', usage: { promptTokens: 5, completionTokens: 3 },
    model: 't', verdict: { ok: true, reason: 'correct', extracted: [6, 4] }, createdAt: '2026-12-05T00:00:00Z',
  });
  writeFileSync(at('traces.jsonl'), [trace(0), trace(1)].map((t) => JSON.stringify(t)).join('\n') + '\n');
  const args = ['reason', 'train-student', '--traces', at('traces.jsonl'), '--init', at('hf'), '--steps', '1', '--batch-size', '2', '--out', at('student'), '--json'];
  const r = cli(args);
  assert.equal(r.status, 0, r.stderr);
  const want = { template: 'chat_template.jinja', reasoning: 'inline', nativeThink: false };
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!).chatFormat, want);
  assert.deepEqual(JSON.parse(readFileSync(at('student', 'lm.json'), 'utf8')).info.chatFormat, want);

  const inspect = cli(['lm', 'inspect', at('student')]);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, /trained on {5}chat_template\.jinja template, reasoning inline \(no native <think>: inline fallback\)/);
  assert.equal(describeChatFormat({ template: 'tokenizer_config.json', reasoning: 'field', nativeThink: true }), 'tokenizer_config.json template, reasoning in reasoning_content (native <think>)');
  const json = cli(['lm', 'inspect', at('student'), '--json']);
  assert.deepEqual(JSON.parse(json.stdout).studentChatFormat, want);

  // The format follows from --init, so it is not part of the recipe a rerun compares.
  const again = cli(args);
  assert.equal(again.status, 0, again.stderr);
});

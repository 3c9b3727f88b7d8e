// Chat templates: the Jinja text in tokenizer_config.json's `chat_template` (a string, or a
// list of {name, template}) or in a `chat_template.jinja` file beside it, rendered with
// @huggingface/jinja the way transformers' `apply_chat_template` renders it:
//   template.render({ messages, add_generation_prompt, tools?, bos_token, eos_token, …, **kwargs })
// with trim_blocks and lstrip_blocks on, and `raise_exception` / `strftime_now` as globals
// (both built into @huggingface/jinja). Keyword arguments such as Qwen3's `enable_thinking`
// are passed through as template variables, as transformers does.
//
// Reasoning: an assistant message may carry `reasoning_content` (Qwen3 reads it; without it,
// Qwen3 and DeepSeek-R1 templates split `<think>…</think>` out of `content` themselves).
//
// A template that fails gives one ConfigError naming the template line. @huggingface/jinja
// reports no positions, so the line is found after the fact (see `locateFailure`).
import { existsSync, readFileSync } from 'node:fs';
import { Template } from '@huggingface/jinja';
import * as torch from '../torch/index.js';

export interface ChatMessage {
  role: string;
  content: string | null;
  /** The assistant's reasoning (the text between <think> and </think>), for templates that read it. */
  reasoning_content?: string;
  /** OpenAI-style tool calls of an assistant message, for templates that render them. */
  tool_calls?: unknown[];
}

export interface RenderOptions {
  /** End with the opening of an assistant turn (default true: a prompt for generation). */
  addGenerationPrompt?: boolean;
  /** Qwen3's switch: false makes the generation prompt carry an empty <think></think> block. */
  enableThinking?: boolean;
  /** Tool descriptions (JSON schema objects), for templates that list them. */
  tools?: unknown[];
  /** Any other template variable (transformers' **kwargs), e.g. date_string. */
  extra?: Record<string, unknown>;
}

/** A tokenizer_config.json `chat_template` value: one template, or named ones. */
export type ChatTemplateSource = string | { name: string; template: string }[];

/** Picks one template from a config value: `name`, else 'default', else the only one. */
export function selectTemplate(src: ChatTemplateSource, name?: string): string {
  if (typeof src === 'string') {
    if (name && name !== 'default') throw new torch.ConfigError(`chat template '${name}' not found: the tokenizer has a single template`);
    return src;
  }
  const names = src.map((t) => t.name);
  const pick = src.find((t) => t.name === (name ?? 'default')) ?? (name === undefined && src.length === 1 ? src[0] : undefined);
  if (!pick) throw new torch.ConfigError(`chat template '${name ?? 'default'}' not found; the tokenizer has: ${names.join(', ')}`);
  return pick.template;
}

/**
 * The chat template of a tokenizer: tokenizer_config.json's `chat_template` first (as
 * transformers and llama.cpp's converter read it), else `chat_template.jinja` in `dir`.
 */
export function readChatTemplateSource(config: Record<string, unknown>, dir?: string): ChatTemplateSource | null {
  const v = config.chat_template;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const ok = v.every((t) => t && typeof (t as { name?: unknown }).name === 'string' && typeof (t as { template?: unknown }).template === 'string');
    if (!ok) throw new torch.ConfigError('tokenizer_config.json: chat_template must be a string or a list of {name, template}');
    return v as { name: string; template: string }[];
  }
  if (v !== undefined && v !== null) throw new torch.ConfigError(`tokenizer_config.json: chat_template must be a string or a list of {name, template}, got ${typeof v}`);
  const file = dir ? `${dir}/chat_template.jinja` : undefined;
  return file && existsSync(file) ? readFileSync(file, 'utf8') : null;
}

/**
 * Which file of the Hugging Face folder `dir` holds its chat template, in readChatTemplateSource's
 * order: 'tokenizer_config.json' (its chat_template key), else 'chat_template.jinja'; null for none.
 */
export function chatTemplateFile(dir: string): 'tokenizer_config.json' | 'chat_template.jinja' | null {
  const configPath = `${dir}/tokenizer_config.json`;
  const config = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>) : {};
  if (config.chat_template !== undefined && config.chat_template !== null) return 'tokenizer_config.json';
  return existsSync(`${dir}/chat_template.jinja`) ? 'chat_template.jinja' : null;
}

/** One compiled chat template with the tokenizer's special tokens bound. */
export class ChatTemplate {
  readonly source: string;
  readonly #template: Template;
  readonly #specials: Record<string, unknown>;

  /** `specials`: bos_token, eos_token, … as strings (transformers passes special_tokens_map). */
  constructor(source: string, specials: Record<string, unknown> = {}) {
    this.source = source;
    this.#specials = specials;
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw templateError(source, e as Error, locateSyntaxError(source), 'does not parse');
    }
  }

  render(messages: readonly ChatMessage[], o: RenderOptions = {}): string {
    const vars: Record<string, unknown> = {
      ...this.#specials,
      ...(o.extra ?? {}),
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: o.addGenerationPrompt ?? true,
    };
    if (o.tools) vars.tools = o.tools;
    if (o.enableThinking !== undefined) vars.enable_thinking = o.enableThinking;
    try {
      return this.#template.render(vars);
    } catch (e) {
      throw templateError(this.source, e as Error, locateRuntimeError(this.source, vars), 'failed to render');
    }
  }
}

function templateError(source: string, e: Error, line: number | null, what: string): torch.ConfigError {
  const lines = source.split('\n');
  const at = line === null ? '' : ` at template line ${line}: ${lines[line - 1].trim().slice(0, 160)}`;
  return new torch.ConfigError(`chat template ${what}${at} (${e.message})`);
}

/** Every `{{ }}`, `{% %}` tag of the source (comments skipped), with its 1-based line. */
function tags(source: string): { text: string; kind: 'expr' | 'stmt'; line: number }[] {
  const out: { text: string; kind: 'expr' | 'stmt'; line: number }[] = [];
  const re = /\{#[\s\S]*?#\}|\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    if (m[0].startsWith('{#')) continue;
    out.push({ text: m[0], kind: m[0].startsWith('{{') ? 'expr' : 'stmt', line: source.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** Openers whose tag alone does not parse without its end tag. */
const BLOCKS: Record<string, string> = { if: 'endif', for: 'endfor', macro: 'endmacro', filter: 'endfilter', call: 'endcall', generation: 'endgeneration' };

/**
 * The line of a syntax error: the first tag that does not parse on its own (an opener
 * closed by its end tag, an `elif` as an `if`); if each tag parses, the structure is wrong:
 * the first end tag that closes nothing open, or the innermost block still open at the end;
 * else the first `{{` / `{%` never closed.
 */
function locateSyntaxError(source: string): number | null {
  const stack: { name: string; line: number }[] = [];
  for (const t of tags(source)) {
    const body = t.text.replace(/^\{[{%]-?\s*/, '').replace(/\s*-?[}%]\}$/, '');
    const word = /^\w+/.exec(body)?.[0] ?? '';
    let probe = t.text;
    if (t.kind === 'stmt') {
      if (word in BLOCKS) probe = `${t.text}{% ${BLOCKS[word]} %}`;
      else if (word === 'elif') probe = `{% if ${body.slice(4)} %}{% endif %}`;
      else if (word === 'set' && !body.includes('=')) probe = `${t.text}{% endset %}`;
      else if (word === 'else' || word.startsWith('end') || word === 'break' || word === 'continue') probe = '';
    }
    try {
      if (probe) new Template(probe);
    } catch {
      return t.line;
    }
    if (t.kind !== 'stmt') continue;
    if (word in BLOCKS || (word === 'set' && !body.includes('='))) stack.push({ name: word, line: t.line });
    else if (word.startsWith('end')) {
      if (stack.length === 0 || `end${stack[stack.length - 1].name}` !== word) return t.line;
      stack.pop();
    }
  }
  if (stack.length) return stack[stack.length - 1].line;
  // An opening `{{` or `{%` that is never closed: the tag scan above does not see it.
  const open = /\{\{(?![\s\S]*?\}\})|\{%(?![\s\S]*?%\})/.exec(source);
  return open ? source.slice(0, open.index).split('\n').length : null;
}

/**
 * The line of a runtime error: the template is rendered again with a marker call before
 * each tag, `{{ __line(n) }}`, so the last marker reached names the tag that failed. (The
 * markers change whitespace, which does not matter here: only the failure is replayed.)
 */
function locateRuntimeError(source: string, vars: Record<string, unknown>): number | null {
  const marks = tags(source);
  let out = '';
  let from = 0;
  let pos = 0;
  for (const t of marks) {
    const at = source.indexOf(t.text, pos);
    out += source.slice(from, at) + `{{ __line(${t.line}) }}` + t.text;
    from = pos = at + t.text.length;
  }
  out += source.slice(from);
  let line: number | null = null;
  try {
    new Template(out).render({
      ...vars,
      __line: (n: number) => {
        line = n;
        return '';
      },
    });
  } catch {
    return line;
  }
  return null;
}

// A trace as the student's own chat template writes it (TRL's prompt/completion split):
//   prompt     = template([user], add_generation_prompt=True)
//   completion = template([user, assistant], add_generation_prompt=False) minus the prompt,
//                cut after the turn's closing special token (<|im_end|>, <|eot_id|> …)
// so the student learns exactly the tokens it will have to generate after the prompt it will
// be given (the loss is on the completion only).
//
// Where the reasoning goes is the template's choice, found once per template by rendering
// marker strings (no name lists):
//   'field'        the template reads `reasoning_content` (Qwen3): the reasoning goes there;
//   'inline'       the template writes `content` verbatim (Llama 3, DeepSeek-V3: no <think>
//                  convention): the reasoning is written inline, `<think>\n…\n</think>\n`
//                  before the answer, as the teacher wrote it;
//   'after-prompt' the template strips `<think>…</think>` from assistant turns (DeepSeek-R1
//                  style: history carries no reasoning, the model writes it right after the
//                  generation prompt): the think block is put first in the completion,
//                  continuing a `<think>\n` the generation prompt may already have opened.
import * as torch from '../torch/index.js';
import { HfTokenizer, type ChatTemplate, type ChatMessage } from '../lm/index.js';
import type { Tokenizer } from '../lm/tokenizer.js';

export type ReasoningPlacement = 'field' | 'inline' | 'after-prompt';

const R = 'REASONING\u2063MARK';
const C = 'ANSWER\u2063MARK';
const THINK_OPEN = '<think>\n';

/** The reply with the reasoning inline, as the teacher wrote it: `<think>` block, then the answer. */
export function inlineReply(reasoning: string, content: string): string {
  return reasoning ? `<think>\n${reasoning}\n</think>\n${content}` : content;
}

export class StudentChat {
  readonly placement: ReasoningPlacement;
  readonly #tok: HfTokenizer;
  readonly #template: ChatTemplate;

  private constructor(tok: HfTokenizer, template: ChatTemplate) {
    this.#tok = tok;
    this.#template = template;
    this.placement = probePlacement(template);
  }

  /** The renderer of a tokenizer with a chat template; null for one without (the byte tokenizer keeps its own format). */
  static of(tok: Tokenizer): StudentChat | null {
    if (!(tok instanceof HfTokenizer)) return null;
    const template = tok.chatTemplate();
    return template ? new StudentChat(tok, template) : null;
  }

  /** Prompt and completion ids of one exchange; a turn the template cannot render is a ConfigError naming `traceId`. */
  render(question: string, reasoning: string, content: string, traceId: string): { prompt: number[]; completion: number[] } {
    const user: ChatMessage[] = [{ role: 'user', content: question }];
    const assistant: ChatMessage =
      this.placement === 'field' ? { role: 'assistant', content, reasoning_content: reasoning }
        : { role: 'assistant', content: this.placement === 'inline' ? inlineReply(reasoning, content) : content };
    const id = traceId.slice(0, 12);
    let promptText: string, fullText: string;
    try {
      promptText = this.#template.render(user, { addGenerationPrompt: true });
      fullText = this.#template.render([...user, assistant], { addGenerationPrompt: false });
    } catch (e) {
      throw new torch.ConfigError(`trace ${id}: the student's chat template cannot render this trace's turns: ${(e as Error).message}`);
    }
    // A generation prompt that opens the think block itself (R1-style): the completion continues it.
    const opened = promptText.endsWith(THINK_OPEN) ? THINK_OPEN : '';
    const base = promptText.slice(0, promptText.length - opened.length);
    if (!fullText.startsWith(base))
      throw new torch.ConfigError(`trace ${id}: the student's chat template renders the assistant turn so that the conversation no longer starts with the generation prompt (${JSON.stringify(base.slice(-40))}); the completion cannot be cut from it`);
    let rest = fullText.slice(base.length);
    if (this.placement === 'after-prompt' && (reasoning || opened)) rest = `${THINK_OPEN}${reasoning}\n</think>\n\n${rest}`;
    if (!rest.startsWith(opened))
      throw new torch.ConfigError(`trace ${id}: the student's generation prompt opens a think block the rendered turn does not continue`);
    const ids = this.#tok.encode(rest.slice(opened.length));
    // The turn ends at its first special token (<|im_end|>, <|eot_id|>, <｜end▁of▁sentence｜>);
    // what a template writes after it (a newline, the next header) is not the student's to say.
    const end = ids.findIndex((t) => this.#tok.isSpecial(t));
    const completion = end >= 0 ? ids.slice(0, end + 1) : [...ids, this.#tok.eosId];
    if (completion.length <= 1) throw new torch.ConfigError(`trace ${id}: the student's chat template renders an empty assistant turn`);
    return { prompt: this.#tok.encode(promptText), completion };
  }

  /**
   * The special token the template closes an assistant turn with (<|eot_id|>, <|im_end|>), from
   * a rendered probe turn: where a student trained on this template stops. Null where the
   * template cannot render the probe.
   */
  endOfTurnId(): number | null {
    try {
      const { completion } = this.render('Q', '', 'A', 'end-of-turn probe');
      const last = completion[completion.length - 1];
      return this.#tok.isSpecial(last) ? last : null;
    } catch {
      return null;
    }
  }
}

/**
 * How a student's traces were rendered, recorded beside its recipe (lm.json's info,
 * distill_student.json) and shown by `distill reason train-student` and `distill lm inspect`:
 * a student trained on one format answers in it, so whoever serves it must prompt it so.
 */
export interface ChatFormat {
  /**
   * Where the template came from: 'tokenizer_config.json', 'chat_template.jinja', 'GGUF metadata'
   * or 'lm.json'; 'none' when the tokenizer has no template (the byte tokenizer's format, or
   * HfTokenizer's plain `User: …\nAssistant:`).
   */
  template: string;
  /** Where the reasoning went (ReasoningPlacement); without a template it is written inline. */
  reasoning: ReasoningPlacement;
  /** Whether `<think>` is the template's own (a reasoning_content field, or R1-style after the prompt); false: written inline as a fallback. */
  nativeThink: boolean;
}

/** The ChatFormat of a student with tokenizer `tok`, whose template (if any) came from `templateOrigin`. */
export function chatFormatOf(tok: Tokenizer, templateOrigin: string | null): ChatFormat {
  const chat = StudentChat.of(tok);
  const reasoning = chat?.placement ?? 'inline';
  return { template: chat ? (templateOrigin ?? 'unknown') : 'none', reasoning, nativeThink: reasoning !== 'inline' };
}

/** One line for people: "tokenizer_config.json template, reasoning in reasoning_content (native <think>)". */
export function describeChatFormat(f: ChatFormat): string {
  const where = { field: 'in reasoning_content', inline: 'inline', 'after-prompt': 'after the generation prompt' }[f.reasoning];
  return `${f.template === 'none' ? 'no chat template (plain format)' : `${f.template} template`}, reasoning ${where} (${f.nativeThink ? 'native <think>' : 'no native <think>: inline fallback'})`;
}

/** Where the template puts reasoning: rendered once with marker strings for the reasoning and the answer. */
function probePlacement(template: ChatTemplate): ReasoningPlacement {
  const user: ChatMessage = { role: 'user', content: 'Q' };
  const render = (a: ChatMessage): string | null => {
    try {
      return template.render([user, a], { addGenerationPrompt: false });
    } catch {
      return null; // a template that refuses the probe refuses the traces too, each with its id
    }
  };
  if (render({ role: 'assistant', content: C, reasoning_content: R })?.includes(R)) return 'field';
  const inline = render({ role: 'assistant', content: `<think>\n${R}\n</think>\n\n${C}` });
  return inline === null || inline.includes(R) ? 'inline' : 'after-prompt';
}

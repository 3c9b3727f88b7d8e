// Verified teacher traces → training examples for the three students of the reasoning
// demo: (a) the final answer only, (b) the teacher's full reply (SFT), (c) the same plus
// the teacher's per-token top-k distributions (token-level KD).
import * as torch from '../torch/index.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import type { CausalLM } from '../lm/model.js';
import { measureImportance, pruneLm, type Importance, type PruneTarget } from '../lm/prune.js';
import type { LmExample, TokenDistribution } from '../lm/batch.js';
import type { Trace, TokenLogprob } from './types.js';
import { lastBoxed } from './verify.js';
import { inlineReply, StudentChat } from './student_chat.js';
import { TraceTopkReader } from './traces/topk_traces.js';

export type StudentKind = 'answer-only' | 'sft' | 'sft+kd';

/** The reply as the teacher wrote it: `<think>` block, then the answer. */
export function replyText(t: Pick<Trace, 'reasoning' | 'content'>): string {
  return inlineReply(t.reasoning, t.content);
}

/**
 * The student's id for one teacher token, or a reason why there is none. Token-level KD
 * compares distributions position by position, so it needs the same vocabulary: each
 * teacher token (alternatives included) must be exactly one student token.
 */
function studentId(tok: Tokenizer, t: { token: string; bytes?: number[]; id?: number }): number | string {
  if (!t.bytes || t.bytes.length === 0) {
    // A special token (end of sequence …) has no bytes: it maps by its spelling.
    const id = tok.tokenId(t.token);
    return id ?? `teacher token ${JSON.stringify(t.token)} is a special token the student does not have`;
  }
  if (tok.kind === 'byte') return t.bytes.length === 1 ? t.bytes[0] : `teacher token ${JSON.stringify(t.token)} is ${t.bytes.length} bytes = ${t.bytes.length} student tokens`;
  const ids = tok.encode(Buffer.from(t.bytes).toString('utf8'));
  return ids.length === 1 ? ids[0] : `teacher token ${JSON.stringify(t.token)} is ${ids.length} student tokens`;
}

/** Teacher logprobs → per-token distributions over student ids; throws on a vocabulary mismatch. */
export function teacherDistributions(tok: Tokenizer, logprobs: readonly TokenLogprob[], traceId: string): { ids: number[]; dists: TokenDistribution[] } {
  const ids: number[] = [];
  const dists: TokenDistribution[] = [];
  for (const [i, lp] of logprobs.entries()) {
    const own = studentId(tok, lp);
    if (typeof own === 'string')
      throw new torch.ConfigError(`token-level KD refused (trace ${traceId.slice(0, 12)}, token ${i}): ${own}. Teacher and student must share a tokenizer for token-level KD; use plain SFT (alpha = 1) or a student with the teacher's tokenizer.`);
    ids.push(own);
    const top = lp.top.map((a) => ({ id: studentId(tok, a), logprob: a.logprob }));
    const bad = top.find((a) => typeof a.id === 'string');
    if (bad) throw new torch.ConfigError(`token-level KD refused (trace ${traceId.slice(0, 12)}, token ${i}): ${bad.id as string}. Teacher and student must share a tokenizer.`);
    dists.push({ ids: top.map((a) => a.id as number), logprobs: top.map((a) => a.logprob) });
  }
  return { ids, dists };
}

/**
/**
 * One training example per kept trace, for a student of the given kind. A tokenizer with a
 * chat template renders the exchange its own way (student_chat.ts: its <think> convention
 * wins); the byte tokenizer (and an HF one without a template) keeps the plain format:
 * chatPrompt, then the reply and EOS. A trace's top-k comes from its JSON `logprobs`, or from
 * the top-k store it points at (`topk`, read with the student's tokenizer: a store of another
 * tokenizer is refused).
 */
export function studentExamples(traces: readonly Trace[], tok: Tokenizer, kind: StudentKind): LmExample[] {
  const chat = StudentChat.of(tok);
  const stored = new TraceTopkReader(tok);
  try {
    return traces.filter((t) => t.verdict.ok).map((t) => {
      const inStore = t.topk !== undefined && (t.tokens?.length ?? 0) > 0;
      if (kind === 'sft+kd' && (t.logprobs?.length || inStore)) {
        // The teacher's own tokens, so the distributions line up with the targets one for one
        // (the teacher generated them after the same kind of prompt).
        const prompt = chat ? chat.render(t.question, '', t.content, t.id).prompt : tok.chatPrompt([{ role: 'user', content: t.question }]);
        const { ids, dists } = inStore ? stored.distributions(t) : teacherDistributions(tok, t.logprobs!, t.id);
        return { prompt, completion: [...ids, tok.eosId], teacher: [...dists, null] };
      }
      const boxed = kind === 'answer-only' ? lastBoxed(t.content) : null;
      const [reasoning, content] = kind === 'answer-only' ? ['', boxed !== null ? `\\boxed{${boxed}}` : t.content] : [t.reasoning, t.content];
      if (chat) return chat.render(t.question, reasoning, content, t.id);
      return { prompt: tok.chatPrompt([{ role: 'user', content: t.question }]), completion: [...tok.encode(inlineReply(reasoning, content)), tok.eosId] };
    });
  } finally {
    stored.close();
  }
}

/**
 * The students' common start (Minitron): the teacher pruned to `target`, its units ranked by
 * their activations on the first `calibration` verified traces, each run as prompt + reply.
 * Deterministic: the same traces give the same weights.
 */
export function prunedStudent(teacher: CausalLM, traces: readonly Trace[], tok: Tokenizer, target: PruneTarget, o: { calibration?: number; residual?: 'channels' | 'pca' } = {}): { model: CausalLM; importance: Importance; sequences: number; residual: 'channels' | 'pca' } {
  const sequences = studentExamples(traces, tok, 'sft').slice(0, o.calibration ?? 64).map((e) => [...e.prompt, ...e.completion]);
  const importance = measureImportance(teacher, sequences);
  const residual = o.residual ?? 'channels';
  return { model: pruneLm(teacher, importance, target, { residual }), importance, sequences: sequences.length, residual };
}

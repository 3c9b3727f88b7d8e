// Shared records of the reasoning pipeline: problems, teacher completions and traces.
// Every stage (problems → teachers → traces → verify → export) speaks these types.

/** One word problem with an exact answer. `values` holds one number per asked quantity. */
export interface Problem {
  /** Stable id: family + the numbers that define the problem (never the phrasing). */
  id: string;
  family: string;
  lang: 'en' | 'zh';
  question: string;
  /** Canonical answer text, e.g. "6, 4" (chickens, rabbits) or "12". */
  answer: string;
  values: number[];
  /** A reference solution in the teacher's style (<think>…</think> then \boxed{}); built-in families only. */
  solution?: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What a teacher is asked. Sampling fields follow the OpenAI chat API. */
export interface ChatRequest {
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  topK?: number;
  maxTokens?: number;
  stop?: string[];
  seed?: number;
  /** Ask for per-token top-k log-probabilities where the teacher can give them. */
  topLogprobs?: number;
}

/** One generated token with its log-probability and the teacher's top alternatives. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** Token ids where the teacher exposes them (local teachers); absent over HTTP. */
  id?: number;
  /** The token's UTF-8 bytes (OpenAI's `bytes` field): how a byte-level student maps it to its own id. */
  bytes?: number[];
  top: { token: string; logprob: number; id?: number; bytes?: number[] }[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** A teacher's answer, normalised across servers (reasoning_content, reasoning, inline <think>). */
export interface Completion {
  content: string;
  reasoning: string;
  /** 'stop' | 'length' | … as the server said it. */
  finishReason: string;
  usage: Usage;
  logprobs?: TokenLogprob[];
  model: string;
}

/** Anything that answers chat requests: an HTTP endpoint, our own checkpoint, a GGUF file. */
export interface ReasoningTeacher {
  readonly name: string;
  complete(req: ChatRequest, signal?: AbortSignal): Promise<Completion>;
}

/** Why a sample was kept or not. */
export interface Verdict {
  ok: boolean;
  /** 'correct' | 'wrong-answer' | 'no-answer' | 'truncated' | 'too-long' | 'repetitive' | 'mixed-language' … */
  reason: string;
  extracted: number[] | null;
}

/** One line of traces.jsonl: a teacher sample for a problem, with its verdict. */
export interface Trace {
  /** sha256 of the request content (model, messages, sampling, sample index): the resume key. */
  id: string;
  problemId: string;
  sample: number;
  question: string;
  answer: string;
  reasoning: string;
  content: string;
  finishReason: string;
  usage: Usage;
  logprobs?: TokenLogprob[];
  /** With `topk`, instead of `logprobs` (traces/topk_traces.ts): the reply's token ids, in the tokenizer the store hashes. */
  tokens?: number[];
  /** log p of each of `tokens` under the teacher. */
  tokenLogprobs?: number[];
  /** The top-k store holding this trace's per-token distributions: relative to the traces file's folder on disk, absolute once read. */
  topk?: string;
  model: string;
  verdict: Verdict;
  createdAt: string;
}

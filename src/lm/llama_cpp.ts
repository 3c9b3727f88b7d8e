// One GGUF file in llama.cpp through node-llama-cpp 3.21.1 (its bundled CPU build), driven at
// the token-id level: no chat session, no added BOS, our own sampling on its probabilities.
// Shared by the GGUF export check (export/lm_check.ts) and the GGUF teacher
// (reason/teachers/gguf.ts); it lives in lm/ so that both reach it downward: a teacher is not
// an exporter, and loading it does not load onnxruntime-node.
// node-llama-cpp is imported on first use: loading it costs ~0.5 s and most callers
// (the ONNX path, `--help`) never need it.
import { existsSync, statSync } from 'node:fs';
import { ConfigError, FormatError } from '../torch/errors.js';

type Nlc = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<Nlc['getLlama']>>;
export type LlamaModel = Awaited<ReturnType<Llama['loadModel']>>;
type LlamaContext = Awaited<ReturnType<LlamaModel['createContext']>>;
type LlamaSequence = ReturnType<LlamaContext['getSequence']>;
let llamaP: Promise<{ nlc: Nlc; llama: Llama }> | undefined;

/** The CPU build bundled with node-llama-cpp (never builds or downloads), loaded once per process. */
export function loadLlamaCpp(): Promise<{ nlc: Nlc; llama: Llama }> {
  llamaP ??= (async () => {
    const nlc = await import('node-llama-cpp');
    const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
    return { nlc, llama };
  })();
  return llamaP;
}

export interface LlamaCppOptions {
  /** Context length (default: the model's trained length, at least 256 and at most 8192: an F32 KV cache of 128k positions would not fit). */
  contextSize?: number;
  /** Threads for evaluation (default 1: the budget our engine runs with). */
  threads?: number;
  /**
   * KV cache element type (default F32, so a check compares the weights, not cache rounding).
   * F32 also turns flash attention off: llama.cpp's flash-attention path casts K and V to F16.
   */
  kvCache?: 'F32' | 'F16';
}

/** Sampler settings that make llama.cpp report the model's own distribution (temperature 1, nothing cut). */
const FULL_DISTRIBUTION = { temperature: 1, topK: 0, topP: 1, minP: 0 } as const;

/**
 * Why llama.cpp refused a file, in one sentence. node-llama-cpp says only "Failed to load model"
 * for damaged tensor data, so the header is read again to tell a truncated file apart.
 */
async function loadFailure(nlc: Nlc, path: string, e: unknown, said: readonly string[]): Promise<string> {
  const msg = (e as Error)?.message ?? String(e);
  if ((e as Error)?.name === 'InvalidGgufMagicError' || /magic/i.test(msg)) return `not a GGUF file (${msg})`;
  // llama.cpp's own reason, e.g. "error loading model: tensor '…' data is not within the file bounds".
  const why = said.find((l) => /error/i.test(l))?.replace(/^\S+: /, '').trim();
  try {
    const info = await nlc.readGgufFileInfo(path, { readTensorInfo: true });
    const size = statSync(path).size;
    const end = Math.max(0, ...(info.tensorInfo ?? []).map((t) => Number(t.fileOffset)));
    if (end >= size) return `the file is truncated: its last tensor starts at byte ${end}, but the file has ${size} bytes`;
    if (why) return `llama.cpp refused it: ${why}`;
    const arch = (info.metadata as { general?: { architecture?: string } }).general?.architecture;
    return `llama.cpp refused it (${msg}); architecture '${arch ?? '?'}' may be unsupported by node-llama-cpp 3.21.1, or the tensor data is damaged`;
  } catch (e2) {
    return `the header cannot be read (${(e2 as Error).message})`;
  }
}

/** One GGUF file loaded in llama.cpp, with a single sequence. */
export class LlamaCppRunner {
  private constructor(
    /** node-llama-cpp's model: tokenizer, vocabulary metadata, chat template. */
    readonly model: LlamaModel,
    private readonly ctx: LlamaContext,
    private readonly seq: LlamaSequence,
  ) {}

  /**
   * Loads `path`; every failure is one error naming the file: ConfigError when it is missing,
   * FormatError when it is not a loadable GGUF (bad magic, truncated, refused by llama.cpp).
   */
  static async open(path: string, o: LlamaCppOptions = {}): Promise<LlamaCppRunner> {
    if (!existsSync(path)) throw new ConfigError(`GGUF file not found: ${path}`);
    if (!statSync(path).isFile()) throw new ConfigError(`GGUF path is not a file: ${path}`);
    const { nlc, llama } = await loadLlamaCpp();
    let model: LlamaModel;
    // llama.cpp prints why a load fails; hold those lines for the one error thrown below.
    const said: string[] = [];
    const logger = llama.logger;
    llama.logger = (_level, message) => void said.push(message);
    try {
      model = await llama.loadModel({ modelPath: path });
    } catch (e) {
      await new Promise((ok) => setImmediate(ok)); // log lines still queued from llama.cpp's thread
      throw new FormatError(`cannot load GGUF ${path}: ${await loadFailure(nlc, path, e, said)}`);
    } finally {
      llama.logger = logger;
    }
    try {
      const ctx = await model.createContext({
        contextSize: o.contextSize ?? Math.max(256, Math.min(8192, model.trainContextSize)),
        sequences: 1,
        threads: o.threads ?? 1,
        flashAttention: (o.kvCache ?? 'F32') === 'F32' ? false : 'auto',
        experimentalKvCacheKeyType: o.kvCache ?? 'F32',
        experimentalKvCacheValueType: o.kvCache ?? 'F32',
      });
      return new LlamaCppRunner(model, ctx, ctx.getSequence());
    } catch (e) {
      await model.dispose();
      throw e;
    }
  }

  /** Tokens the context holds at most. */
  get contextSize(): number {
    return this.ctx.contextSize;
  }

  /** llama.cpp's tokenization of text (specials parsed when asked). */
  tokenize(text: string, specials = false): number[] {
    return this.model.tokenize(text, specials).map(Number);
  }
  detokenize(ids: readonly number[], specials = false): string {
    return this.model.detokenize(ids as never, specials);
  }

  /** Greedy continuation of `prompt` (ids, evaluated as given), n tokens; end-of-generation tokens are yielded, not stopped at. */
  async greedy(prompt: readonly number[], n: number): Promise<number[]> {
    await this.seq.clearHistory();
    const out: number[] = [];
    if (n <= 0) return out;
    for await (const t of this.seq.evaluate([...prompt] as never, { temperature: 0, yieldEogToken: true })) {
      out.push(Number(t));
      if (out.length >= n) break;
    }
    return out;
  }

  /** Teacher-forced next-token probabilities (temperature 1) after every position of `ids`: (T, V) rows. */
  async nextProbabilities(ids: readonly number[], vocabSize: number): Promise<Float64Array[]> {
    await this.seq.clearHistory();
    const input = ids.map((t) => [t, { generateNext: { probabilities: true, options: FULL_DISTRIBUTION } }] as const);
    const res = await this.seq.controlledEvaluate(input as never);
    return ids.map((_, i) => {
      const row = new Float64Array(vocabSize);
      for (const [tok, p] of res[i]?.next.probabilities ?? []) row[Number(tok)] = p;
      return row;
    });
  }

  /** Empties the sequence: the next `append` starts a new text. */
  async reset(): Promise<void> {
    await this.seq.clearHistory();
  }

  /**
   * Appends `ids` to the sequence (its KV cache kept) and returns the model's next-token
   * distribution after the last one at temperature 1, as llama.cpp gives it: token → p,
   * most probable first. The caller samples, so any sampler and exact log-probabilities go together.
   */
  async append(ids: readonly number[]): Promise<Map<number, number>> {
    if (ids.length === 0) throw new ConfigError('LlamaCppRunner.append: no tokens');
    const input = ids.map((t, i) => (i < ids.length - 1 ? t : [t, { generateNext: { probabilities: true, options: FULL_DISTRIBUTION } }]));
    const res = await this.seq.controlledEvaluate(input as never);
    const probs = res[ids.length - 1]?.next.probabilities;
    if (!probs) throw new Error('llama.cpp returned no next-token probabilities');
    return probs as Map<number, number>;
  }

  /** True once the model is freed (node-llama-cpp's own flag). */
  get disposed(): boolean {
    return this.model.disposed;
  }

  /** Frees the context, then the model; a second call waits for the first. */
  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      await this.ctx.dispose();
      await this.model.dispose();
    })();
    return this.#disposing;
  }
  #disposing?: Promise<void>;

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

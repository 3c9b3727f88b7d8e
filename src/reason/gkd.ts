// On-policy distillation of a causal LM (GKD: Agarwal et al. 2024, "On-Policy Distillation of
// Language Models: Learning from Self-Generated Mistakes"; TRL's GKDTrainer) on the one training
// loop (train/trainer.ts). Each step takes the batch's prompts and, with probability λ, lets the
// student write their completions (sampled at `temperature` with the batched decoder), else uses
// the dataset's (or, with seqKd, the teacher's own generations: sequence-level KD, Kim & Rush
// 2016). The teacher grades every completion token, and the loss is a token divergence between
// the student's and the teacher's next-token distributions there (kd/token_losses.ts; GKD's
// generalized JSD(β) by default: β = 0 forward KL, β = 1 reverse KL):
//
//   L = (1 − α)·D(p_teacher, p_student)  +  α·CE(completion | student)   (CE on off-policy steps only)
//
// The λ draw, the batch and each sample's seed are pure functions of (seed, step); the samples
// and top-k grades are logged next to the checkpoint (gkd_log.ts), so a resumed run replays them
// without paying again and ends at the same weights, bit for bit.
//
// A teacher with another tokenizer (crossTokenizer, gkd_xtok.ts) grades the completions' text in
// its own tokens, and the KD term is kd/cross_tokenizer.ts' span KL or ULD instead of D.
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { AdamW, warmupCosine } from '../optim/index.js';
import { disposeLmBatch, generateBatch, loraConfigOf, makeBatch, IGNORE, type CausalLM, type LmBatch, type LmExample } from '../lm/index.js';
import { Trainer } from '../train/index.js';
import { tokenDivergence, type TokenLossName, type TopkTeacher } from '../kd/index.js';
import { hashSeed, Rng } from '../data/index.js';
import { batchAt, float32, refuseOtherPrecision, withPrecision, PRECISIONS, type Precision } from './sft.js';
import { GkdLog, gradesFromJson, gradesToJson, type GkdLogRecord } from './gkd_log.js';
import { xtokGrades, xtokLoss, type CrossTokenizerGkd, type XtokGrade } from './gkd_xtok.js';

/** A step's log record; `xtok`: the cross-tokenizer teacher's grades of each batch row. */
type StepRecord = GkdLogRecord & { xtok?: XtokGrade[] };

/**
 * What grades the completions. A local model gives full logits and is cheap and deterministic to
 * rerun, so its grades are recomputed on resume; a teacher that grades by top-k (a server's
 * log-probabilities) has them logged. A TokenScorer (a served model) plugs in through
 * gkd_scorer.ts' scorerTeacher.
 */
export interface GkdTeacher {
  readonly vocabSize: number;
  /**
   * Its distributions at the flattened positions `rows` (N) of `input` (B, T), whose next tokens are
   * `target` (B, T): logits (N, V), or top-k ids and log-probabilities (N, k).
   */
  grade(input: Tensor, rows: Tensor, target: Tensor): Tensor | TopkTeacher;
  /** Whether grade() gives top-k (logged; the loss then compares k + 1 buckets, kd/token_losses.ts) rather than full logits (recomputed). */
  readonly topk: boolean;
  /** Completions for prompts (sequence-level KD); ids without the end-of-sequence id, and whether it ended there. */
  generate?(prompts: number[][], o: SampleOptions): { ids: number[]; stopped: boolean }[];
}

/**
 * Logits at the flattened positions `rows` (N) of `input` (B, T) only: the head runs on the
 * completion positions, not the prompt's, which for a large vocabulary is most of the memory.
 */
function completionLogits(model: CausalLM, input: Tensor, rows: Tensor): Tensor {
  const h = model.hidden(input); // (B, T, d)
  return model.head(h.reshape([-1, h.shape[2]]).indexSelect(0, rows)); // (N, V)
}

/** How completions are sampled: one seed per prompt; vocabLimit as GkdOptions'. */
interface SampleOptions { temperature: number; maxNewTokens: number; seeds: number[]; eosIds: number[]; vocabLimit?: number }

function sample(model: CausalLM, prompts: number[][], o: SampleOptions) {
  return generateBatch(model, prompts.map((prompt, b) => ({ prompt, options: { maxNewTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seeds[b], eosId: o.eosIds, vocabLimit: o.vocabLimit } })))
    .map((g) => ({ ids: g.ids, stopped: g.finishReason === 'stop' }));
}

/**
 * Why two tokenizers would not give the same ids, or null when they agree on every id (the
 * same vocabulary in two folders: a 7B teacher and a 0.5B student of one family).
 */
export function tokenizerMismatch(a: Tokenizer, b: Tokenizer): string | null {
  if (a.vocabSize !== b.vocabSize) return `${a.vocabSize} tokens against ${b.vocabSize}`;
  if (a.eosId !== b.eosId) return `end-of-sequence id ${a.eosId} against ${b.eosId}`;
  for (let id = 0; id < a.vocabSize; id++) if (a.tokenText(id) !== b.tokenText(id)) return `token ${id} is ${JSON.stringify(a.tokenText(id))} against ${JSON.stringify(b.tokenText(id))}`;
  return null;
}

/**
 * A CausalLM as the teacher: full logits (or, with topK, its top-k log-probabilities, as a server
 * would grade). `vocabSize` below the model's keeps the first ids only: a teacher whose embedding
 * is padded past the shared tokenizer's ids (Qwen2.5-7B's 152,064 rows against 0.5B's 151,936),
 * its distribution renormalised over the student's ids.
 */
export function localTeacher(model: CausalLM, o: { topK?: number; vocabSize?: number } = {}): GkdTeacher {
  model.eval();
  const V = o.vocabSize ?? model.cfg.vocabSize;
  if (!(Number.isInteger(V) && V >= 1 && V <= model.cfg.vocabSize)) throw new torch.ConfigError(`gkd: the teacher's vocabSize must be a whole number in [1, ${model.cfg.vocabSize}], got ${V}`);
  const cut = V < model.cfg.vocabSize;
  return {
    vocabSize: V,
    topk: o.topK !== undefined,
    grade(input, rows) {
      return torch.noGrad(() => {
        let z = float32(completionLogits(model, input, rows)); // (N, V_teacher); a bfloat16 teacher's upcast, as HF's logits.float()
        if (cut) z = z.narrow(1, 0, V); // (N, V)
        if (o.topK === undefined) return z;
        const { values, indices } = torch.topk(z.logSoftmax(-1), o.topK, -1);
        return { ids: indices, logprobs: values };
      });
    },
    // A cut vocabulary could sample an id the student does not have: no sequence-level KD then.
    generate: cut ? undefined : (prompts, g) => sample(model, prompts, g),
  };
}

export interface GkdOptions {
  model: CausalLM;
  /** The teacher, with the student's tokenizer; omitted with crossTokenizer. */
  teacher?: GkdTeacher;
  /** A teacher with another tokenizer (gkd_xtok.ts): the KD term is the cross-tokenizer loss; divergence, beta and lossT do not apply. */
  crossTokenizer?: CrossTokenizerGkd;
  /** The prompts, and the completions used off-policy. */
  examples: readonly LmExample[];
  steps: number;
  /** Share of steps whose completions the student writes, λ ∈ [0, 1] (TRL's lmbda). */
  lambda: number;
  /** The divergence (default 'jsd'). */
  divergence?: TokenLossName;
  /** JSD's β ∈ [0, 1] (default 0.5). */
  beta?: number;
  /** Sampling temperature of the student's (and seqKd teacher's) completions (default 1). */
  temperature?: number;
  /** Temperature of the loss's distributions (default 1, as in TRL); the loss is × T². */
  lossT?: number;
  /** Off-policy completions are the teacher's generations (sequence-level KD). */
  seqKd?: boolean;
  /** Weight of the SFT (CE) term on off-policy completions; KD gets 1 − alpha (default 0). */
  alpha?: number;
  /** Longest generated completion (default 128, TRL's max_new_tokens). */
  maxNewTokens?: number;
  /** End-of-sequence ids that end a sample; the first is appended to a sample that stopped there. */
  eosIds: number[];
  /**
   * The tokenizer's size when the embedding is padded past it (Qwen2.5-0.5B: 151,665 ids, 151,936
   * rows): samples (the student's, and a seqKd teacher's) never hold an id from here on, which
   * has no text. Default: every row may be sampled.
   */
  vocabLimit?: number;
  padId: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  clip?: number;
  seed?: number;
  maxLen?: number;
  /**
   * 'fp32' (default) or 'bf16': the student's forward for the loss under bfloat16 autocast, its
   * logits upcast to float32 for the divergence, float32 master weights and optimizer state (as
   * trainLm's). Sampling runs in the weights' own precision.
   */
  precision?: Precision;
  /** Resumable checkpoint; the sample log is `<checkpoint>.samples.jsonl`. */
  checkpoint?: string;
  checkpointEvery?: number;
  recipe?: Record<string, unknown>;
  onStep?: (s: GkdStepInfo) => void;
  /** A warning (empty samples skipped). */
  onWarn?: (message: string) => void;
}

export interface GkdStepInfo {
  step: number;
  steps: number;
  loss: number;
  /** The divergence, unweighted. */
  kd: number;
  /** The SFT term, unweighted; null on on-policy steps or when alpha = 0. */
  ce: number | null;
  source: GkdLogRecord['source'];
  lr: number;
  tokens: number;
  /** Cross-tokenizer: the share of the aligned student tokens matched one-to-one with a teacher token. */
  oneToOne?: number;
}

export interface GkdResult {
  step: number;
  last: GkdStepInfo | null;
  /** Steps whose completions the student wrote. */
  onPolicySteps: number;
  /** Student samples used, and those skipped as empty. */
  samples: number;
  skipped: number;
  /** Mean KD and CE terms over the run (CE over the steps that had one). */
  meanKd: number;
  meanCe: number | null;
  /** Cross-tokenizer: the share of the aligned student tokens matched one-to-one over the run (null otherwise). */
  oneToOne: number | null;
}

/** The checks a caller (the CLI) wants before loading anything heavy. */
export function checkGkdOptions(o: { lambda: number; beta?: number; divergence?: string; temperature?: number; alpha?: number; maxNewTokens?: number }): void {
  const unit = (name: string, v: number | undefined) => {
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) throw new torch.ConfigError(`gkd: ${name} must be a number in [0, 1], got ${String(v)}`);
  };
  unit('lambda (the share of student-written completions)', o.lambda);
  unit('beta', o.beta);
  unit('alpha (the SFT weight)', o.alpha);
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) throw new torch.ConfigError(`gkd: temperature must be a finite number ≥ 0 (0 = greedy), got ${o.temperature}`);
  if (o.maxNewTokens !== undefined && !(Number.isInteger(o.maxNewTokens) && o.maxNewTokens >= 1)) throw new torch.ConfigError(`gkd: maxNewTokens must be a whole number ≥ 1, got ${o.maxNewTokens}`);
}

/** Trains `o.model` by on-policy distillation for `o.steps` steps; resumes from `o.checkpoint` when it exists. */
export function trainGkd(o: GkdOptions): GkdResult {
  const { model, examples } = o;
  checkGkdOptions(o);
  if (examples.length === 0) throw new torch.ConfigError('gkd: no training examples');
  const V = model.cfg.vocabSize;
  const xt = o.crossTokenizer;
  if (!xt === !o.teacher) throw new torch.ConfigError('gkd: give a teacher (the student\'s tokenizer) or crossTokenizer (another tokenizer), one of the two');
  if (xt && o.seqKd) throw new torch.ConfigError('gkd: seqKd needs a teacher with the student\'s tokenizer (its generations are the student\'s completions); a cross-tokenizer teacher only grades');
  if (xt && xt.teacherPrompts.length !== examples.length) throw new torch.ConfigError(`gkd: crossTokenizer has ${xt.teacherPrompts.length} teacher prompts for ${examples.length} examples`);
  // Its own grades only (no logits): a stand-in so the checks below read one way.
  const teacher: GkdTeacher = o.teacher ?? { vocabSize: V, topk: true, grade: () => { throw new Error('unreachable: a cross-tokenizer teacher grades through gkd_xtok.ts'); } };
  if (teacher.vocabSize !== V)
    throw new torch.ConfigError(`gkd: the teacher's vocabulary has ${teacher.vocabSize} tokens and the student's ${V}; on-policy distillation compares next-token distributions token by token, so both need the same tokenizer. For a teacher with another tokenizer use cross-tokenizer KD (crossTokenizer instead of teacher: span KL or ULD over the text, gkd_xtok.ts), or plain SFT on its traces`);
  const divergence = o.divergence ?? 'jsd';
  if (teacher.topk && divergence !== 'forward_kl' && (o.lossT ?? 1) !== 1)
    throw new torch.ConfigError(`gkd: a teacher that grades by top-k log-probabilities gives ${divergence} at loss temperature 1 only (forward_kl at any); use lossT 1, or a local teacher (full logits)`);
  if (o.seqKd && !teacher.generate) throw new torch.ConfigError('gkd: seqKd needs a teacher that generates');
  const bs = Math.min(o.batchSize ?? 8, examples.length);
  const seed = o.seed ?? 0;
  const alpha = o.alpha ?? 0;
  const temperature = o.temperature ?? 1;
  const maxLen = o.maxLen ?? model.cfg.maxSeqLen - 1;
  if (o.vocabLimit !== undefined && !(Number.isInteger(o.vocabLimit) && o.vocabLimit >= 1 && o.vocabLimit <= V))
    throw new torch.ConfigError(`gkd: vocabLimit must be a whole number in [1, ${V}] (the student's embedding rows), got ${String(o.vocabLimit)}`);
  const precision = o.precision ?? 'fp32';
  if (!PRECISIONS.includes(precision)) throw new torch.ConfigError(`gkd: precision must be one of ${PRECISIONS.join(', ')}, got '${String(precision)}'`);
  refuseOtherPrecision(o.checkpoint, precision);
  const gen: Omit<SampleOptions, 'seeds'> = { temperature, maxNewTokens: o.maxNewTokens ?? 128, eosIds: o.eosIds, vocabLimit: o.vocabLimit };
  // Only what trains: with LoRA (lm/lora.ts) the frozen base stays out, the adapters go in, and
  // their settings join the recipe (a resume with other LoRA settings is refused), as in sft.ts.
  const opt = new AdamW(model.parameters().filter((p) => p.requiresGrad), { lr: o.lr ?? 1e-4, weightDecay: o.weightDecay ?? 0.01 });
  const lora = loraConfigOf(model);
  // A bf16 precision joins the recipe (fp32 stays unrecorded, so older recipes compare equal), as LoRA's settings do.
  const recipe0 = precision === 'bf16' ? { ...(o.recipe ?? {}), precision } : o.recipe;
  const recipe = lora ? { ...(recipe0 ?? {}), lora } : (recipe0 ?? null);
  const warmup = Math.max(1, Math.min(o.warmupSteps ?? Math.min(100, Math.floor(o.steps / 10)), o.steps - 1));
  const sched = o.steps >= 2 ? warmupCosine(opt, { warmupSteps: warmup, totalSteps: o.steps, startFactor: 0.01 }) : undefined;
  const perEpoch = Math.max(1, Math.floor(examples.length / bs));
  // The sample log opens with the first batch, after the Trainer has accepted the checkpoint: a
  // run refused for another recipe leaves the old run's log as it was.
  const fresh = !o.checkpoint || !existsSync(o.checkpoint);
  let log: GkdLog | null = null;
  const openLog = () => (log ??= o.checkpoint ? GkdLog.open(`${o.checkpoint}.samples.jsonl`, recipe, { fresh }) : null);
  // Counters, checkpointed with the run (a resumed run counts what the whole run did).
  let c = { onPolicySteps: 0, samples: 0, skipped: 0, kdSum: 0, ceSum: 0, ceSteps: 0, oneToOne: 0, aligned: 0 };
  let last: GkdStepInfo | null = null;
  let info = { kd: NaN, ce: null as number | null, source: 'dataset' as GkdLogRecord['source'], tokens: 0, oneToOne: undefined as number | undefined };

  /** The step's completions: replayed from the log, or drawn (λ), sampled and logged. */
  function completionsAt(step: number, batch: readonly LmExample[]): StepRecord {
    const logged = openLog()?.records.get(step);
    if (logged) return logged;
    const onPolicy = new Rng(seed, step, 0x6b64).uniform() < o.lambda;
    const prompts = batch.map((e) => e.prompt);
    const seeds = batch.map((_, b) => hashSeed(seed, step, b));
    let r: GkdLogRecord = { step, source: 'dataset', completions: null, skipped: 0 };
    const withEos = (g: { ids: number[]; stopped: boolean }) => (g.stopped ? [...g.ids, o.eosIds[0]] : g.ids);
    if (onPolicy) {
      const gens = sample(model, prompts, { ...gen, seeds });
      const kept = gens.filter((g) => g.ids.length > 0).length;
      // An empty sample (only EOS) has no token to grade: it is skipped, and a step with none falls back to the dataset's.
      r = kept > 0 ? { step, source: 'student', completions: gens.map(withEos), skipped: gens.length - kept } : { ...r, skipped: gens.length };
    }
    if (r.source === 'dataset' && o.seqKd) r = { ...r, source: 'teacher', completions: teacher.generate!(prompts, { ...gen, seeds }).map(withEos) };
    return r;
  }

  try {
    const r = new Trainer<{ batch: LmBatch; rec: StepRecord; rows: Tensor; xrows: { completion: number[] }[]; counts: number[] }>({
      model, optimizer: opt, scheduler: sched,
      data: {
        batchesPerEpoch: perEpoch,
        *batches(epoch: number, start: number) {
          for (let b = start; b < perEpoch; b++) {
            const step = epoch * perEpoch + b;
            const picked = batchAt(examples.length, bs, seed, step);
            const chosen = picked.map((i) => examples[i]);
            const rec = completionsAt(step, chosen);
            const rows = chosen.map((e, i) => ({ prompt: e.prompt, completion: rec.completions ? rec.completions[i] : e.completion, example: picked[i] }))
              .filter((e) => e.completion.length > 0 && !(rec.source === 'student' && e.completion.length === 1 && e.completion[0] === o.eosIds[0]));
            const batch = makeBatch(rows.map(({ prompt, completion }) => ({ prompt, completion })), maxLen, o.padId);
            // The completion tokens' flat positions in (B·T): where the next token is a target.
            const target = batch.target.dataSync() as BigInt64Array;
            const at: bigint[] = [];
            target.forEach((t, i) => t !== BigInt(IGNORE) && at.push(BigInt(i)));
            if (at.length === 0) {
              disposeLmBatch(batch);
              throw new torch.ConfigError(`gkd: step ${step + 1} has no completion token to distill: its prompts (${rows.map((e) => e.prompt.length).join(', ')} tokens) fill the ${maxLen + 1}-token window`);
            }
            // Per row, its completion tokens in the batch (a long one is cut by the window).
            const T = batch.input.shape[1];
            const counts = rows.map(() => 0);
            for (const i of at) counts[Math.floor(Number(i) / T)]++;
            const xrows = rows.map((e, b) => ({ example: e.example, completion: e.completion.slice(0, counts[b]) }));
            if (xt && !rec.xtok) rec.xtok = xtokGrades(xt, xrows);
            const log = openLog();
            if (log && !log.records.has(step)) {
              if (teacher.topk && !xt) rec.grades = torch.tidy(() => gradesToJson(teacher.grade(batch.input, torch.tensor(BigInt64Array.from(at)), batch.target) as TopkTeacher));
              log.append(rec);
            }
            yield { batch, rec, rows: torch.tensor(BigInt64Array.from(at)), xrows, counts };
          }
        },
        release: ({ batch, rows }) => {
          disposeLmBatch(batch);
          rows.dispose();
        },
      },
      computeLoss: ({ batch, rec, rows, xrows, counts }) => {
        const student = float32(withPrecision(precision, () => completionLogits(model, batch.input, rows))); // (N, V)
        let kd: Tensor, oneToOne: { n: number; of: number } | null = null;
        if (xt) {
          const x = xtokLoss(xt, student, xrows, counts, rec.xtok!);
          kd = x.loss;
          oneToOne = { n: x.oneToOne, of: x.tokens };
        } else {
          const graded = rec.grades ? gradesFromJson(rec.grades) : teacher.grade(batch.input, rows, batch.target);
          kd = tokenDivergence(divergence, student, graded, { beta: o.beta ?? 0.5, T: o.lossT ?? 1 });
        }
        const offPolicy = rec.source !== 'student';
        // CE over the same rows: the mean over the completion tokens, as with ignore_index over the whole batch.
        const ce = alpha > 0 && offPolicy ? torch.crossEntropy(student, batch.target.reshape([-1]).indexSelect(0, rows)) : null;
        const loss = ce ? kd.mul(1 - alpha).add(ce.mul(alpha)) : alpha > 0 ? kd.mul(1 - alpha) : kd;
        info = { kd: kd.item(), ce: ce ? ce.item() : null, source: rec.source, tokens: batch.tokens, oneToOne: oneToOne && oneToOne.of ? oneToOne.n / oneToOne.of : undefined };
        c = {
          onPolicySteps: c.onPolicySteps + (rec.source === 'student' ? 1 : 0),
          samples: c.samples + (rec.source === 'student' ? rec.completions!.length - rec.skipped : 0),
          skipped: c.skipped + rec.skipped,
          kdSum: c.kdSum + info.kd, ceSum: c.ceSum + (info.ce ?? 0), ceSteps: c.ceSteps + (info.ce === null ? 0 : 1),
          oneToOne: (c.oneToOne ?? 0) + (oneToOne?.n ?? 0), aligned: (c.aligned ?? 0) + (oneToOne?.of ?? 0),
        };
        if (rec.skipped) o.onWarn?.(`step ${rec.step + 1}: ${rec.skipped} student sample(s) were empty (only an end-of-sequence token) and skipped${rec.source === 'student' ? '' : '; the step used the off-policy completions'} (${c.skipped} in the run so far)`);
        const parts: Record<string, Tensor> = { kd };
        if (ce) parts.ce = ce;
        return { loss, weight: 1, parts };
      },
      epochs: Math.ceil(o.steps / perEpoch),
      maxSteps: o.steps,
      clipGradNorm: o.clip ?? 1,
      checkpoint: o.checkpoint ? { path: o.checkpoint, everySteps: o.checkpointEvery, recipe } : undefined,
      resume: true,
      callbacks: [{
        name: 'gkd',
        state: () => c,
        loadState: (s) => (c = s as typeof c),
        onStep: (s) => {
          last = { step: s.step, steps: o.steps, loss: s.loss, kd: info.kd, ce: info.ce, source: info.source, lr: s.lr, tokens: info.tokens, ...(info.oneToOne !== undefined ? { oneToOne: info.oneToOne } : {}) };
          o.onStep?.(last);
        },
      }],
    }).fit();
    if (o.lambda > 0 && c.onPolicySteps === 0 && c.skipped > 0)
      throw new torch.ConfigError(`gkd: every student sample of the run was empty (only an end-of-sequence token; ${c.skipped} skipped), so nothing was distilled on-policy; check the student's chat template and end-of-sequence ids, or raise the temperature`);
    return { step: r.step, last, onPolicySteps: c.onPolicySteps, samples: c.samples, skipped: c.skipped, meanKd: c.kdSum / Math.max(1, r.step), meanCe: c.ceSteps ? c.ceSum / c.ceSteps : null, oneToOne: xt ? c.oneToOne / Math.max(1, c.aligned) : null };
  } finally {
    (log as GkdLog | null)?.close();
    opt.dispose();
    model.eval();
  }
}

// The proof table's measurements: teacher, plain student and distilled student run
// through the same measurements in one process, so every figure is comparable with its
// neighbours (docs/architecture.md, "Proof and performance method").
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { countParameters, modelFileBytes } from './size.js';
import { predictLabels } from './predict.js';
import { accuracyOf, agreement, classesOf } from './labels.js';
import { latency, throughput, type LatencyOptions, type ThroughputOptions } from './timing.js';
import { peakMemory, type PeakMemoryOptions } from './memory.js';
import type { EvalModel, InputOptions } from './model.js';

export type Role = 'teacher' | 'baseline' | 'student' | (string & {});

export interface CompareEntry {
  name: string;
  /** The entry with role 'teacher' (the first, if several) is the reference for agreement. */
  role: Role;
  model: EvalModel;
}

/** One model's measured figures; plain numbers, so a row is its own JSON. */
export interface ComparisonRow {
  name: string;
  role: Role;
  /** All parameters, trainable or frozen (buffers excluded), as PyTorch counts them. */
  params: number;
  /** Bytes of the model's safetensors file. */
  fileBytes: number;
  /** Per-call latency at batch 1, median and 95th percentile, ms. */
  latencyP50Ms: number;
  latencyP95Ms: number;
  /** Samples per second at batch 256 (by default). */
  throughputPerS: number;
  /** Tensor bytes of inference at batch 256 (by default): weights + input + activation peak. */
  peakMemoryBytes: number;
  /** Top-1 accuracy on the evaluation data, in [0, 1]. */
  accuracy: number;
  /** Fraction of samples where the model's class equals the teacher's; null for the teacher itself or with no teacher. */
  agreementWithTeacher: number | null;
}

export interface CompareOptions extends InputOptions {
  /** Per-sample input shape for the timing and memory runs (default: x's shape without its first dimension). */
  inputShape?: readonly number[];
  /** Batch size of the accuracy pass (default 256). */
  batchSize?: number;
  /** Latency settings (default batch 1, 20 warm-up, 200 timed calls). */
  latency?: Omit<LatencyOptions, keyof InputOptions>;
  /** Throughput settings (default batch 256 for about 1 s). */
  throughput?: Omit<ThroughputOptions, keyof InputOptions>;
  /** Memory settings (default batch 256). */
  memory?: Omit<PeakMemoryOptions, keyof InputOptions>;
  /** Metadata written into the exported safetensors file, so fileBytes matches it to the byte. */
  fileMetadata?: Record<string, string>;
  /** Called before each measurement with a short message, e.g. for a progress bar. */
  onProgress?: (message: string) => void;
}

/**
 * Measures every entry on the same data and inputs, in the order given, and returns one
 * row per entry in that order. Models are measured one after the other, never
 * interleaved, so one model's work cannot disturb another's timings; each model's
 * train/eval flags are restored.
 */
export function compareModels(entries: readonly CompareEntry[], data: { x: Tensor; y: Tensor }, opts: CompareOptions = {}): ComparisonRow[] {
  if (entries.length === 0) throw new torch.ConfigError('compareModels: no models to compare');
  const { x, y } = data;
  if (x.ndim < 1 || y.ndim !== 1 || x.shape[0] !== y.shape[0])
    throw new torch.ShapeError('ERR_SHAPE', 'compareModels', `data.x (N, …) and data.y (N) must have the same N, got x [${x.shape.join(', ')}] and y [${y.shape.join(', ')}]`, '');
  const inputShape = opts.inputShape ?? x.shape.slice(1);
  const input: InputOptions = { seed: opts.seed, makeInput: opts.makeInput };
  const progress = opts.onProgress ?? (() => {});
  const labels = classesOf(y, 'compareModels: data.y'); // one copy, shared by every model's accuracy

  const measured = entries.map((e, i) => {
    const step = (what: string) => progress(`[${i + 1}/${entries.length}] ${e.name}: ${what}`);
    step('accuracy');
    const preds = predictLabels(e.model, x, { batchSize: opts.batchSize });
    step('latency');
    const lat = latency(e.model, inputShape, { ...opts.latency, ...input });
    step('throughput');
    const thr = throughput(e.model, inputShape, { ...opts.throughput, ...input });
    step('memory');
    const mem = peakMemory(e.model, inputShape, { ...opts.memory, ...input });
    const row: Omit<ComparisonRow, 'agreementWithTeacher'> = {
      name: e.name,
      role: e.role,
      params: countParameters(e.model).parameters,
      fileBytes: modelFileBytes(e.model, opts.fileMetadata),
      latencyP50Ms: lat.p50Ms,
      latencyP95Ms: lat.p95Ms,
      throughputPerS: thr,
      peakMemoryBytes: mem.totalBytes,
      accuracy: accuracyOf(preds, labels),
    };
    return { row, preds };
  });

  const t = entries.findIndex((e) => e.role === 'teacher');
  progress('done');
  return measured.map(({ row, preds }, i) => ({
    ...row,
    agreementWithTeacher: t < 0 || i === t ? null : agreement(preds, measured[t].preds),
  }));
}

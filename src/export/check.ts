// Checking an exported ONNX file with the runtime people deploy it with: onnxruntime-node
// (CPU) runs the file, our libtorch forward runs the model (eval mode, no grad), and the
// logits are compared element by element. Also the batch-1 latency of both, measured in
// the same process, same thread budget, so the ratio means something.
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import * as torch from '../torch/index.js';
import type * as nn from '../nn/index.js';
import { inEval } from './layers.js';
import { mulberry32 } from '../torch/prng.js';

/** A session on one intra-op thread, the same budget the engine gets in the comparisons. */
export async function ortSession(path: string, threads = 1): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

/** onnxruntime's logits for a (batch, ...inputShape) float32 batch. */
export async function ortLogits(s: ort.InferenceSession, x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
  const out = await s.run({ input: new ort.Tensor('float32', x, [...shape]) });
  return out.logits.data as Float32Array;
}

/** Our logits for the same batch (eval mode, no grad). */
export function ourLogits(model: nn.AnyModule, x: Float32Array, shape: readonly number[]): Float32Array {
  return inEval(model, () => torch.tidy(() => (model.call(torch.tensor(x, { shape: [...shape] })) as torch.Tensor).dataSync() as Float32Array));
}

/** Uniform [0, 1) values from a small seeded generator (mulberry32), so checks repeat. */
export function seededUniform(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, mulberry32(seed));
}

/** Float input samples for onnxruntime and our engine alike. */
export interface InputBatch {
  x: Float32Array;
  /** (batch, ...inputShape) */
  shape: number[];
}

export interface CompareResult {
  samples: number;
  maxAbsDiff: number;
  /** Rows where the argmax differs. */
  argmaxMismatches: number;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates as the max
  }
  return m;
}

export function argmaxRows(z: Float32Array, classes: number): Int32Array {
  const out = new Int32Array(z.length / classes);
  for (let r = 0; r < out.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (z[r * classes + c] > z[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** Runs every batch through both and compares the logits. */
export async function compareWithOrt(model: nn.AnyModule, s: ort.InferenceSession, batches: readonly InputBatch[], classes: number): Promise<CompareResult> {
  let samples = 0, worst = 0, mismatches = 0;
  for (const b of batches) {
    const ours = ourLogits(model, b.x, b.shape);
    const theirs = await ortLogits(s, b.x, b.shape);
    worst = Math.max(worst, maxAbsDiff(ours, theirs));
    const [pa, pb] = [argmaxRows(ours, classes), argmaxRows(theirs, classes)];
    for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) mismatches++;
    samples += b.shape[0];
  }
  return { samples, maxAbsDiff: worst, argmaxMismatches: mismatches };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median batch-1 latency (ms) of both runtimes on the same input, after a warm-up. */
export async function latencyBatch1(model: nn.AnyModule, s: ort.InferenceSession, sample: Float32Array, inputShape: readonly number[], reps = 50): Promise<{ oursMs: number; ortMs: number }> {
  const shape = [1, ...inputShape];
  const ours: number[] = [], theirs: number[] = [];
  // Timed in separate loops: interleaving lets one runtime's idle worker threads (which
  // spin after a run) slow the other one down, and makes both figures wrong.
  for (let i = 0; i < 5; i++) ourLogits(model, sample, shape);
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    ourLogits(model, sample, shape);
    ours.push(performance.now() - t);
  }
  for (let i = 0; i < 5; i++) await ortLogits(s, sample, shape);
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await ortLogits(s, sample, shape);
    theirs.push(performance.now() - t);
  }
  return { oursMs: median(ours), ortMs: median(theirs) };
}

/** Accuracy of the ONNX model on labelled batches (labels in row order). */
export async function ortAccuracy(s: ort.InferenceSession, batches: readonly InputBatch[], labels: Int32Array, classes: number): Promise<{ accuracy: number; predictions: Int32Array }> {
  const preds = new Int32Array(labels.length);
  let off = 0;
  for (const b of batches) {
    const p = argmaxRows(await ortLogits(s, b.x, b.shape), classes);
    preds.set(p, off);
    off += p.length;
  }
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (preds[i] === labels[i]) right++;
  return { accuracy: right / labels.length, predictions: preds };
}

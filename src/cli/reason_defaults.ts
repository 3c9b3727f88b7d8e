// The reasoning commands' defaults, in one place: the demo's student recipe and the shipped
// teacher's. Light on purpose (no runtime imports): main.ts reads them for --help's
// "(default: …)" texts without loading libtorch.
import type { LmConfig } from '../lm/model.js';

export const REASONING_DEFAULTS = {
  problems: 1238,
  samples: 1,
  evalProblems: 322,
  // Small batches, many steps: on the same compute, 2,400 steps of 8 beat 600 of 32 (pass@1
  // 91.9% against 83.5% on seed 1's traces, bench/student_probe.ts); the pruned start needs
  // many small corrections more than precise gradients. lr scaled down with the batch.
  steps: 2400,
  batchSize: 8,
  // Traces of similar length share a batch: less padding, a step 16% faster (measured at batch 32).
  groupByLength: true,
  lr: 2e-3,
  alpha: 0.5,
  T: 1,
  topLogprobs: 8,
  seed: 0,
  // 548,832 parameters, 5.02× fewer than the shipped teacher (d 192, 6 layers, hidden 512):
  // the teacher's 6 layers with half its channels and heads and 160 of its 512 MLP neurons.
  student: { dim: 96, nLayers: 6, nHeads: 3, nKvHeads: 3, hiddenDim: 160, maxSeqLen: 384 } as Partial<LmConfig>,
  init: 'pruned' as 'pruned' | 'scratch',
};

/** `reason train-student --precision`'s default, in words (cmd_reason_student.ts defaultPrecision decides). */
export const PRECISION_DEFAULT_TEXT = 'bf16 on a CPU with native bfloat16 (AVX512-BF16 or AMX), where it measured 1.4× (the demo student) to 2.1× (real size, quiet machine) faster, else fp32; a resume keeps its checkpoint\'s (docs/benchmarks.md, "Mixed precision")';

/** The recipe that made assets/reasoning-teacher (docs/results.md). */
export const TEACHER_RECIPE = {
  config: { dim: 192, nLayers: 6, nHeads: 6, nKvHeads: 6, hiddenDim: 512, maxSeqLen: 384 },
  steps: 4000,
  batchSize: 64,
  lr: 2e-3,
  seed: 0,
};

// Inference memory, measured from the engine's own byte counter rather than estimated
// from shapes.
//
// What is counted: the bytes of every tensor held by a JS handle (numel × item size,
// tallied by the addon as handles are created and freed). A forward's peak therefore
// covers every intermediate activation the TS modules hold at once, plus the output.
//
// What is NOT counted:
//  - libtorch-internal scratch that never reaches JS: workspaces inside one op (a conv's
//    im2col buffer, a matmul's packing buffers in OpenBLAS), the allocator's caching and
//    fragmentation. The process RSS is higher than these figures by that much.
//  - sharing: a view is counted at its full size although it shares its base's storage,
//    so a model whose forward keeps views (reshape, narrow) is slightly over-counted.
//  - autograd's saved tensors: the forward runs under noGrad, as inference does. Training
//    memory is larger.
// The counter is process-wide and resetPeakTensors() resets its peak, so do not measure
// while other work in the same process relies on that peak.
import * as torch from '../torch/index.js';
import { inEvalMode, makeBatch, checkCount, type EvalModel, type InputOptions } from './model.js';
import { weightsBytes } from './size.js';

export interface PeakMemoryOptions extends InputOptions {
  /** Samples in the forward (default 256). */
  batch?: number;
}

export interface PeakMemoryResult {
  /** Parameters and buffers, Σ numel × item size: 4 × the element count for a float32 model. */
  weightsBytes: number;
  /** The input batch (batch, ...inputShape). */
  inputBytes: number;
  /** Highest tensor bytes during one forward above what was held before it (activations and output). */
  activationPeakBytes: number;
  /** weights + input + activation peak: the tensor memory inference at this batch needs. */
  totalBytes: number;
  batch: number;
}

/**
 * Peak tensor memory of one forward at `batch` on seeded random inputs, in eval mode
 * without autograd, reported apart from the weights (which do not grow with the batch).
 */
export function peakMemory(model: EvalModel, inputShape: readonly number[], opts: PeakMemoryOptions = {}): PeakMemoryResult {
  const batch = checkCount('peakMemory: batch', opts.batch ?? 256, 1);
  const x = makeBatch(inputShape, batch, opts);
  try {
    const activationPeakBytes = inEvalMode(model, () => {
      // Baseline taken after the input exists and right before the forward, so neither
      // the weights nor the input nor anything else already alive is in the difference.
      torch.resetPeakTensors();
      const before = torch.memory().nativeBytes;
      torch.tidy(() => void model.call(x));
      return torch.memory().peakNativeBytes - before;
    });
    const w = weightsBytes(model);
    const inputBytes = x.numel * torch.ITEM_SIZE[x.dtype];
    return { weightsBytes: w, inputBytes, activationPeakBytes, totalBytes: w + inputBytes + activationPeakBytes, batch };
  } finally {
    x.dispose();
  }
}

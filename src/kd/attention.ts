// Attention transfer (Zagoruyko & Komodakis 2017, "Paying More Attention to Attention:
// Improving the Performance of Convolutional Neural Networks via Attention Transfer").
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkTensor, fmt } from './util.js';

// F.normalize's eps: a map of all zeros stays zero instead of dividing by 0.
const NORM_EPS = 1e-12;

/**
 * The activation-based spatial attention map of a feature map F (B, C, H, W) (or any
 * (B, C, …)):  A(F) = vec(mean_c |F_c|^p) / ‖vec(mean_c |F_c|^p)‖₂,  → (B, H·W).
 * The paper's F_sum^p uses the sum over channels; the mean only rescales before the L2
 * normalisation, so the map is the same, and it lets student and teacher differ in C.
 */
export function attentionMap(feature: Tensor, p = 2): Tensor {
  checkTensor('attentionMap', 'feature', feature);
  if (feature.ndim < 3) throw new torch.ShapeError('ERR_SHAPE', 'attentionMap', 'expected a feature map (B, C, H, W)', `feature=${fmt(feature)}`);
  if (typeof p !== 'number' || !(p > 0)) throw new torch.ConfigError(`attentionMap: p must be a number > 0, got ${String(p)}`);
  return torch.tidy(() => {
    const a = feature.abs().pow(p).mean(1).flatten(1); // (B, H·W)
    const n = a.pow(2).sum(1, true).sqrt().clamp(NORM_EPS); // (B, 1)
    return a.div(n);
  });
}

export interface AttentionTransferOptions {
  /** The exponent on |F| (the paper's p; 2 by default). */
  p?: number;
  /**
   * false (default): the paper's formula, the L2 norm ‖A_s − A_t‖₂ per sample, averaged
   * over the batch. true: the authors' code, (A_s − A_t)² averaged over batch and
   * positions (`(at(x) - at(y)).pow(2).mean()`), the form their β = 1000 was tuned for.
   */
  squared?: boolean;
}

/**
 * L_AT = (1/P) Σ_{pairs} (1/B) Σ_b ‖ A(F_s)_b − A(F_t)_b ‖₂   over P (student, teacher)
 * pairs of feature maps with matching B and spatial size (channels may differ).
 *
 * The β/2 convention: the paper writes L = L_CE + (β/2) Σ_pairs ‖·‖₂. This function has no
 * β/2 and averages (not sums) over pairs; put β/2 · P into the loss's weight to reproduce
 * the paper (with `squared: true` and β = 1000 for the authors' code).
 */
export function attentionTransfer(pairs: readonly (readonly [Tensor, Tensor])[], opts: AttentionTransferOptions = {}): Tensor {
  const op = 'attentionTransfer';
  if (!Array.isArray(pairs as unknown) || pairs.length === 0) throw new torch.ConfigError(`${op}: pairs must be a non-empty array of [student, teacher] feature maps`);
  const p = opts.p ?? 2;
  return torch.tidy(() => {
    const losses = pairs.map(([fs, ft], j): Tensor => {
      checkTensor(op, `pairs[${j}][0]`, fs);
      checkTensor(op, `pairs[${j}][1]`, ft);
      const spatialS = fs.shape.slice(2);
      const spatialT = ft.shape.slice(2);
      if (fs.ndim < 3 || fs.shape[0] !== ft.shape[0] || spatialS.length !== spatialT.length || spatialS.some((s, i) => s !== spatialT[i]))
        throw new torch.ShapeError('ERR_SHAPE', op, `pair ${j}: student and teacher feature maps need the same batch and spatial size`, `student=${fmt(fs)}, teacher=${fmt(ft)}`);
      const d = attentionMap(fs, p).sub(attentionMap(ft, p)); // (B, H·W)
      // sqrt is clamped away from 0 so identical maps give a 0 (not NaN) gradient.
      return opts.squared ? d.pow(2).mean() : d.pow(2).sum(1).clamp(1e-24).sqrt().mean();
    });
    return torch.stack(losses).mean();
  });
}

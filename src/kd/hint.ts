// FitNets hint loss (Romero et al. 2015, "FitNets: Hints for Thin Deep Nets"): the
// student's intermediate "guided" layer is mapped by a learned regressor r to the shape
// of the teacher's "hint" layer, and L = ‖ r(f_s) − f_t ‖² is minimised. The paper uses
// ½·sum; we use the mean over elements (F.mse_loss), which only rescales the weight and
// keeps the loss independent of the feature size.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { checkTensor, fmt } from './util.js';

export interface HintRegressorOptions {
  /**
   * false (default): a Linear over the last dimension, for (B, D) or (B, L, D) features.
   * true: a 1×1 Conv2d over channels, for (B, C, H, W) feature maps (the student's and
   * teacher's H and W must then agree).
   */
  spatial?: boolean;
  bias?: boolean;
}

/**
 * The regressor r that maps student features to the teacher's width: Linear(Ds, Dt) or
 * a 1×1 Conv2d(Cs, Ct). Its parameters are trained with the student: pass
 * `regressor.parameters()` (or the loss's `parameters()`) to the optimizer.
 */
export class HintRegressor extends nn.Module {
  readonly studentDim: number;
  readonly teacherDim: number;
  readonly spatial: boolean;
  readonly proj: nn.Linear | nn.Conv2d;

  constructor(studentDim: number, teacherDim: number, opts: HintRegressorOptions = {}) {
    super();
    for (const [k, v] of [['studentDim', studentDim], ['teacherDim', teacherDim]] as const)
      if (!Number.isInteger(v) || v < 1) throw new torch.ConfigError(`HintRegressor: ${k} must be an integer ≥ 1, got ${String(v)}`);
    this.studentDim = studentDim;
    this.teacherDim = teacherDim;
    this.spatial = opts.spatial ?? false;
    const bias = opts.bias ?? true;
    this.proj = this.registerModule('proj', this.spatial ? new nn.Conv2d(studentDim, teacherDim, 1, { bias }) : new nn.Linear(studentDim, teacherDim, { bias }));
  }

  forward(x: Tensor): Tensor {
    const d = this.spatial ? x.shape[1] : x.shape[x.ndim - 1];
    if ((this.spatial && x.ndim !== 4) || (!this.spatial && x.ndim < 1) || d !== this.studentDim)
      throw new torch.ShapeError('ERR_SHAPE', 'HintRegressor',
        this.spatial ? `expected student features (B, ${this.studentDim}, H, W)` : `expected student features (…, ${this.studentDim})`, `student=${fmt(x)}`);
    return this.proj.call(x);
  }

  override extraRepr(): string {
    return `student_dim=${this.studentDim}, teacher_dim=${this.teacherDim}, spatial=${this.spatial ? 'True' : 'False'}`;
  }
}

/**
 * FitNets hint loss: L = mean over elements of (r(f_s) − f_t)², with r the regressor (or
 * the identity when `regressor` is null and the shapes already agree).
 */
export function hintLoss(studentFeature: Tensor, teacherFeature: Tensor, regressor: nn.Module | null = null): Tensor {
  checkTensor('hintLoss', 'student feature', studentFeature);
  checkTensor('hintLoss', 'teacher feature', teacherFeature);
  return torch.tidy(() => {
    const mapped = regressor ? regressor.call(studentFeature) : studentFeature;
    const a = mapped.shape;
    const b = teacherFeature.shape;
    if (a.length !== b.length || a.some((s, i) => s !== b[i]))
      throw new torch.ShapeError('ERR_SHAPE', 'hintLoss', regressor ? 'regressed student features must match the teacher features' : 'student and teacher features differ in shape; give a regressor',
        `student=${fmt(studentFeature)}${regressor ? `, regressed=${fmt(mapped)}` : ''}, teacher=${fmt(teacherFeature)}`);
    return torch.mseLoss(mapped, teacherFeature);
  });
}

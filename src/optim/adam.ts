// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"), with the
// AMSGrad variant (Reddi et al. 2018), operation for operation as torch/optim/adam.py
// `_single_tensor_adam` of PyTorch 1.13:
//
//   t ← t + 1
//   g ← ∇θ (−∇θ when maximize);  g ← g + λ·θ   (L2 weight decay, coupled: it goes through m, v)
//   m ← β₁·m + (1 − β₁)·g                      first moment (momentum)
//   v ← β₂·v + (1 − β₂)·g²                     second moment (per-coordinate scale)
//   v̂max ← max(v̂max, v)                        AMSGrad only: a non-increasing step size
//   θ ← θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)
//
// The bias corrections (1 − βᵗ) undo the zero initialisation of m and v; PyTorch applies
// them as a scalar step size and a scaled denominator rather than forming m̂ and v̂, and
// so does this file, because the order of float32 operations decides bitwise parity.
import { ConfigError, maximum, type Tensor } from '../torch/index.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface AdamOptions extends GroupOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export const ADAM_BUFFERS = ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] as const;

export class Adam extends Optimizer<AdamOptions> {
  protected readonly kind: string = 'Adam';
  protected readonly bufferNames = ADAM_BUFFERS;
  /** AdamW sets this: weight decay shrinks θ directly instead of being added to g. */
  protected readonly decoupled: boolean = false;

  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, adamDefaults(opts, 0));
  }

  protected override validateGroup(g: ParamGroup<AdamOptions>, i: number): void {
    super.validateGroup(g, i);
    const [b1, b2] = Array.isArray(g.betas) ? g.betas : [NaN, NaN];
    if (!(b1 >= 0 && b1 < 1)) throw new ConfigError(`invalid beta1 ${b1} in parameter group ${i}: expected 0 ≤ β₁ < 1`);
    if (!(b2 >= 0 && b2 < 1)) throw new ConfigError(`invalid beta2 ${b2} in parameter group ${i}: expected 0 ≤ β₂ < 1`);
    if (!(g.eps >= 0)) throw new ConfigError(`invalid eps ${g.eps} in parameter group ${i}`);
    if (!(g.weightDecay >= 0)) throw new ConfigError(`invalid weightDecay ${g.weightDecay} in parameter group ${i}`);
  }

  protected update(p: Tensor, grad0: Tensor, st: ParamState, g: ParamGroup<AdamOptions>): void {
    const { lr, eps, weightDecay, amsgrad } = g;
    const [beta1, beta2] = g.betas;
    const b = st.buffers;
    const expAvg = b.exp_avg ?? this.buffer(st, 'exp_avg', p.zerosLike());
    const expAvgSq = b.exp_avg_sq ?? this.buffer(st, 'exp_avg_sq', p.zerosLike());
    const maxExpAvgSq = amsgrad ? (b.max_exp_avg_sq ?? this.buffer(st, 'max_exp_avg_sq', p.zerosLike())) : null;

    let grad = g.maximize ? grad0.neg() : grad0;
    st.step += 1;
    if (this.decoupled) {
      // AdamW (Loshchilov & Hutter 2019): θ ← θ·(1 − lr·λ) before the Adam step.
      p.mul_(1 - lr * weightDecay);
    } else if (weightDecay !== 0) {
      grad = grad.add(p, weightDecay);
    }

    expAvg.mul_(beta1).add_(grad, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

    const step = st.step;
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const stepSize = lr / biasCorrection1;
    const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);

    let denom: Tensor;
    if (maxExpAvgSq) {
      maxExpAvgSq.copy_(maximum(maxExpAvgSq, expAvgSq));
      denom = maxExpAvgSq.sqrt().div(biasCorrection2Sqrt).add_(eps);
    } else {
      denom = expAvgSq.sqrt().div(biasCorrection2Sqrt).add_(eps);
    }
    p.addcdiv_(expAvg, denom, -stepSize);
  }
}

export function adamDefaults(opts: Partial<AdamOptions>, weightDecay: number): AdamOptions {
  return {
    lr: opts.lr ?? 1e-3,
    betas: opts.betas ? [opts.betas[0], opts.betas[1]] : [0.9, 0.999],
    eps: opts.eps ?? 1e-8,
    weightDecay: opts.weightDecay ?? weightDecay,
    amsgrad: opts.amsgrad ?? false,
    maximize: opts.maximize ?? false,
  };
}

// Stochastic gradient descent with momentum (Polyak 1964; Sutskever et al. 2013 for the
// Nesterov form), operation for operation as torch/optim/sgd.py `_single_tensor_sgd`
// of PyTorch 1.13, so trajectories match PyTorch's:
//
//   g ← ∇θ  (−∇θ when maximize)
//   g ← g + λ·θ                          (weight decay, an L2 penalty folded into g)
//   b ← g                    first step
//   b ← μ·b + (1 − τ)·g      later steps (τ = dampening)
//   g ← g + μ·b  (Nesterov)  or  g ← b
//   θ ← θ − lr·g
//
// Note lr multiplies the buffer, not the gradient inside it (unlike Sutskever's form), so
// changing lr mid-run changes the step at once, which is what schedules expect.
import { ConfigError, type Tensor } from '../torch/index.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface SGDOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  protected readonly kind = 'SGD';
  protected readonly bufferNames = ['momentum_buffer'] as const;

  /** `lr` is required (here or in every group), as in PyTorch. */
  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> = {}) {
    super(params, {
      lr: opts.lr,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
      maximize: opts.maximize ?? false,
    });
  }

  protected override validateGroup(g: ParamGroup<SGDOptions>, i: number): void {
    super.validateGroup(g, i);
    if (!(g.momentum >= 0)) throw new ConfigError(`invalid momentum ${g.momentum} in parameter group ${i}`);
    if (!(g.weightDecay >= 0)) throw new ConfigError(`invalid weightDecay ${g.weightDecay} in parameter group ${i}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      throw new ConfigError(`Nesterov momentum needs momentum > 0 and dampening 0 (parameter group ${i})`);
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, g: ParamGroup<SGDOptions>): void {
    st.step += 1; // bookkeeping only; SGD's rule does not use it
    let dp = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) dp = dp.add(p, g.weightDecay);
    if (g.momentum !== 0) {
      let buf = st.buffers.momentum_buffer;
      if (buf === undefined) buf = this.buffer(st, 'momentum_buffer', dp.clone());
      else buf.mul_(g.momentum).add_(dp, 1 - g.dampening);
      dp = g.nesterov ? dp.add(buf, g.momentum) : buf;
    }
    p.add_(dp, -g.lr);
  }
}

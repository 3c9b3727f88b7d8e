// An exponential moving average of a model's weights (Polyak averaging; timm's ModelEmaV3 and
// torch.optim.swa_utils.AveragedModel with an EMA avg_fn do the same):
//   θ̄ ← d·θ̄ + (1 − d)·θ = θ̄.lerp_(θ, 1 − d)   after every optimizer step,
// for each floating-point entry of the state dict; integer buffers are copied. The average
// weighs roughly the last 1/(1 − d) steps, so it sits nearer the centre of the basin the
// optimizer rattles around in than the last iterate does; it is validated and kept instead.
import * as torch from '../torch/index.js';
import { ConfigError, isFloating, type Tensor } from '../torch/index.js';
import type { AnyModule } from '../nn/index.js';

export class WeightEma {
  /** θ̄ by state-dict name, owned here (kept out of every scope). */
  readonly average: Record<string, Tensor>;

  constructor(private readonly model: AnyModule, readonly decay: number) {
    if (!(decay > 0 && decay < 1)) throw new ConfigError(`EMA decay must be in (0, 1), got ${decay}`);
    this.average = torch.noGrad(() => Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, torch.keep(t.detach().clone())])));
  }

  /** One averaging step, after the optimizer's. */
  update(): void {
    const live = this.model.stateDict();
    torch.noGrad(() => {
      for (const [k, avg] of Object.entries(this.average)) {
        if (isFloating(avg.dtype)) avg.lerp_(live[k], 1 - this.decay);
        else avg.copy_(live[k]);
      }
    });
  }

  /** Exchanges the model's weights and the average: call it again to swap back. */
  swap(): void {
    const live = this.model.stateDict();
    torch.noGrad(() => torch.tidy(() => {
      for (const [k, avg] of Object.entries(this.average)) {
        const own = live[k].clone();
        live[k].copy_(avg);
        avg.copy_(own);
      }
    }));
  }

  dispose(): void {
    for (const t of Object.values(this.average)) t.dispose();
  }
}

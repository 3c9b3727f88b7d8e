// A fixed 2-layer MLP problem shared by the optimizer tests: initial weights and data come
// from a seeded generator, go to PyTorch as oracle inputs, and the loss is computed with
// the same ops on both sides. Step i trains on mini-batch i mod 4 of 8 rows.
import * as torch from '../../src/torch/index.js';
import type { GroupOptions, Optimizer } from '../../src/optim/index.js';

export const PARAM_NAMES = ['W1', 'b1', 'W2', 'b2'] as const;

/** Initial weights and data (never freed: module lifetime). */
export function makeData(seed = 0): Record<string, torch.Tensor> {
  torch.manualSeed(seed);
  return torch.keep(
    torch.tidy(() => ({
      W1: torch.randn([16, 8]).mul(0.3),
      b1: torch.randn([16]).mul(0.1),
      W2: torch.randn([4, 16]).mul(0.3),
      b2: torch.randn([4]).mul(0.1),
      X: torch.randn([32, 8]),
      Y: torch.randn([32, 4]),
    })),
  );
}

/** Fresh trainable copies of the initial weights. */
export function makeParams(data: Record<string, torch.Tensor>): torch.Tensor[] {
  return PARAM_NAMES.map((k) => data[k].clone().requiresGrad_());
}

export function loss(ps: torch.Tensor[], data: Record<string, torch.Tensor>, i: number): torch.Tensor {
  const b = i % 4;
  const x = data.X.narrow(0, b * 8, 8);
  const y = data.Y.narrow(0, b * 8, 8);
  const h = torch.relu(torch.linear(x, ps[0], ps[1]));
  return torch.mseLoss(torch.linear(h, ps[2], ps[3]), y);
}

export interface TrainOptions {
  /** Negate the loss (for `maximize`). */
  negate?: boolean;
  /** Called after each optimizer step (schedulers). */
  after?: () => void;
}

/** Steps from..from+steps−1, each inside a tidy. */
export function train(opt: Optimizer<GroupOptions>, ps: torch.Tensor[], data: Record<string, torch.Tensor>, from: number, steps: number, o: TrainOptions = {}): void {
  for (let i = from; i < from + steps; i++) {
    torch.tidy(() => {
      opt.zeroGrad();
      const l = loss(ps, data, i);
      (o.negate ? l.neg() : l).backward();
      opt.step();
      o.after?.();
    });
  }
}

/** The Python twin of train(): defines `run(opt, steps, negate=False, after=None)` over `ps`. */
export const PY_PRELUDE = `
import warnings
warnings.filterwarnings("ignore")
ps = [W1.detach().clone().requires_grad_(), b1.detach().clone().requires_grad_(), W2.detach().clone().requires_grad_(), b2.detach().clone().requires_grad_()]
def run(opt, steps, negate=False, after=None):
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        b = i % 4
        x = X[b * 8:b * 8 + 8]
        y = Y[b * 8:b * 8 + 8]
        l = F.mse_loss(F.linear(F.relu(F.linear(x, ps[0], ps[1])), ps[2], ps[3]), y)
        (-l if negate else l).backward()
        opt.step()
        if after is not None:
            after()
`;

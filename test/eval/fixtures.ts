// Small models shared by the eval tests.
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';

/** Flatten · Linear(in, h₁) · ReLU · … · Linear(hₖ, out): the MLPs whose counts have a closed form. */
export function mlp(sizes: number[]): nn.Sequential {
  const layers: nn.Module[] = [new nn.Flatten()];
  for (let i = 0; i + 1 < sizes.length; i++) {
    if (i > 0) layers.push(new nn.ReLU());
    layers.push(new nn.Linear(sizes[i], sizes[i + 1]));
  }
  return new nn.Sequential(...layers);
}

/**
 * Linear(3, 3) with weight = I and bias = 0, behind a Dropout(0.5): in eval mode its
 * logits are its input, so the predicted class of a row is known by construction; in
 * train mode the dropout would scramble them.
 */
export function identityClassifier(): nn.Sequential {
  const lin = new nn.Linear(3, 3);
  torch.tidy(() => lin.loadStateDict({ weight: torch.eye(3), bias: torch.zeros([3]) }));
  return new nn.Sequential(new nn.Dropout(0.5), lin);
}

/** An exact copy of `m` (same architecture built by `make`, weights copied). */
export function copyOf<M extends nn.Module>(m: M, make: () => M): M {
  const c = make();
  c.loadStateDict(m.stateDict());
  return c;
}

export const live = () => torch.memory().liveTensors;

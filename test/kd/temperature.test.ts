// Temperature-softened distributions and entropies against PyTorch.
import type * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { parityTests } from '../helpers/parity.js';
import { R } from '../helpers/inputs.js';

type In = Record<string, torch.Tensor>;

const z = R(6, 10).mul(3), z3 = R(2, 3, 7).mul(2);

parityTests([
  ...[1, 4, 20].flatMap((T) => [
    { name: `softTargets T=${T}`, inputs: { z }, py: `F.softmax(z / ${T}, -1)`, ours: ({ z }: In) => kd.softTargets(z, T), grad: ['z'] },
    { name: `logSoftTargets T=${T}`, inputs: { z }, py: `F.log_softmax(z / ${T}, -1)`, ours: ({ z }: In) => kd.logSoftTargets(z, T), grad: ['z'] },
    { name: `entropyAtT T=${T}`, inputs: { z }, py: `-(F.softmax(z / ${T}, -1) * F.log_softmax(z / ${T}, -1)).sum(-1)`, ours: ({ z }: In) => kd.entropyAtT(z, T), grad: ['z'] },
  ]),
  { name: 'entropy of probabilities, with exact zeros (0·log 0 = 0)', inputs: { z },
    py: 'torch.special.entr(F.softmax(z, -1).masked_fill(z < -2, 0)).sum(-1)',
    ours: ({ z }: In) => kd.entropy(kd.softTargets(z, 1).maskedFill(z.lt(-2), 0)) },
  { name: 'softTargets over a sequence (B, L, C)', inputs: { z3 }, py: 'F.softmax(z3 / 4, -1)', ours: ({ z3 }: In) => kd.softTargets(z3, 4), grad: ['z3'] },
]);

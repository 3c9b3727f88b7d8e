// Attention transfer against the formula in PyTorch on (B, C, H, W) feature maps:
// A(F) = F.normalize(mean_c |F|^p), loss = mean over pairs of mean_b ‖A_s − A_t‖₂, and the
// squared form of the authors' code; gradients w.r.t. student and teacher features.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { parityTests } from '../helpers/parity.js';
import { R } from '../helpers/inputs.js';
import { gradsOf } from './checks.js';

type In = Record<string, torch.Tensor>;

const a1 = R(3, 4, 6, 6), b1 = R(3, 8, 6, 6), a2 = R(3, 2, 3, 3), b2 = R(3, 5, 3, 3);

const setup = `
def at(x, p):
    return F.normalize(x.abs().pow(p).mean(1).view(x.size(0), -1), dim=1)
def at_loss(pairs, p=2, squared=False):
    ls = [((at(a, p) - at(b, p)).pow(2).mean() if squared else (at(a, p) - at(b, p)).norm(dim=1).mean()) for a, b in pairs]
    return sum(ls) / len(ls)
`;

parityTests([
  { name: 'attentionMap p=2', inputs: { a1 }, grad: ['a1'], setup, py: 'at(a1, 2)', ours: ({ a1 }: In) => kd.attentionMap(a1) },
  { name: 'attentionMap p=1', inputs: { b2 }, grad: ['b2'], setup, py: 'at(b2, 1)', ours: ({ b2 }: In) => kd.attentionMap(b2, 1) },
  { name: 'attentionTransfer, one pair (channels differ)', inputs: { a1, b1 }, grad: ['a1', 'b1'], setup,
    py: 'at_loss([(a1, b1)])', ours: ({ a1, b1 }: In) => kd.attentionTransfer([[a1, b1]]) },
  { name: 'attentionTransfer, two pairs of different sizes: the mean over pairs', inputs: { a1, b1, a2, b2 }, grad: ['a1', 'b1', 'a2', 'b2'], setup,
    py: 'at_loss([(a1, b1), (a2, b2)])', ours: ({ a1, b1, a2, b2 }: In) => kd.attentionTransfer([[a1, b1], [a2, b2]]) },
  { name: 'attentionTransfer p=4', inputs: { a1, b1 }, grad: ['a1', 'b1'], setup,
    py: 'at_loss([(a1, b1)], p=4)', ours: ({ a1, b1 }: In) => kd.attentionTransfer([[a1, b1]], { p: 4 }) },
  { name: "attentionTransfer squared (the authors' code)", inputs: { a1, b1, a2, b2 }, grad: ['a1', 'b1', 'a2', 'b2'], setup,
    py: 'at_loss([(a1, b1), (a2, b2)], squared=True)', ours: ({ a1, b1, a2, b2 }: In) => kd.attentionTransfer([[a1, b1], [a2, b2]], { squared: true }) },
]);

test('identical maps give ~0 loss and a finite (zero) gradient, not NaN', () => {
  torch.tidy(() => {
    const { value, grads } = gradsOf([a1], (x) => kd.attentionTransfer([[x, a1.mul(2)]]));
    assert.ok(value < 1e-6, `loss ${value}`);
    assert.ok(grads[0].isfinite().all().item());
    assert.ok(grads[0].abs().max().item() < 1e-5);
  });
});

test('mismatched spatial size or batch is a ShapeError; too few dims too', () => {
  assert.throws(() => kd.attentionTransfer([[a1, b2]]), (e: Error) => e instanceof torch.ShapeError && /pair 0/.test(e.message));
  assert.throws(() => kd.attentionTransfer([[a1, R(2, 8, 6, 6)]]), torch.ShapeError);
  assert.throws(() => kd.attentionMap(R(3, 4)), torch.ShapeError);
  assert.throws(() => kd.attentionTransfer([]), torch.ConfigError);
});

// Sparse top-k teacher: with k = C the bucketed KL is the full KL (at every T); with
// k < C it matches a PyTorch implementation of the same bucketed formula at T ∈ {1, 4, 20},
// and at T = 1 also the buckets aggregated from the full teacher distribution (where the
// formula is exact, not an approximation). Oracle in float64, rounded to float32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import { parityTests, type ParityCase } from '../helpers/parity.js';
import { R } from '../helpers/inputs.js';
import { near } from './checks.js';

type In = Record<string, torch.Tensor>;

const C = 12;
const s = R(6, C).mul(2), t = R(6, C).mul(3);
const k = 4;
const top = kd.sparseTeacherFromLogits(t, k);
const idx = top.indices, z = top.logits, logZ = top.logZ;

// The bucketed formula written out in probability space, independently of ours:
// uniform-tail teacher buckets softened at T, student buckets from the full softmax.
const setup = `
def bucket_kl(s, idx, z, logZ, T):
    s, z, logZ = s.double(), z.double(), logZ.double()
    C, k = s.shape[-1], idx.shape[-1]
    kept = torch.zeros_like(s, dtype=torch.bool).scatter(1, idx, True)
    q = F.softmax(s / T, -1)
    Q = torch.cat([q.gather(1, idx), q.masked_fill(kept, 0).sum(1, keepdim=True)], 1)
    tail1 = (1 - (z - logZ[:, None]).exp().sum(1, keepdim=True)).clamp_min(0)
    zbar = logZ[:, None] + tail1.log() - math.log(C - k)      # each tail class's logit
    w = torch.cat([(z / T).exp(), (C - k) * (zbar / T).exp()], 1)
    P = w / w.sum(1, keepdim=True)
    return ((P * (P.log() - Q.log())).sum(1).mean() * T * T).float()

def bucket_kl_from_full(s, t, idx):
    s, t = s.double(), t.double()
    kept = torch.zeros_like(s, dtype=torch.bool).scatter(1, idx, True)
    def buckets(x):
        p = F.softmax(x, -1)
        return torch.cat([p.gather(1, idx), p.masked_fill(kept, 0).sum(1, keepdim=True)], 1)
    P, Q = buckets(t), buckets(s)
    return ((P * (P.log() - Q.log())).sum(1).mean()).float()
`;

const cases: ParityCase[] = [1, 4, 20].map((T) => ({
  name: `sparseKL k=${k} < C=${C}, T=${T}: the bucketed formula`,
  inputs: { s, idx, z, logZ }, grad: ['s'], setup,
  py: `bucket_kl(s, idx, z, logZ, ${T})`,
  ours: ({ s, idx, z, logZ }: In) => kd.sparseKL(s, { indices: idx, logits: z, logZ }, T),
}));
cases.push({
  name: 'sparseKL at T = 1 equals the KL between buckets aggregated from the full teacher',
  inputs: { s, t, idx, z, logZ }, grad: ['s'], setup,
  py: 'bucket_kl_from_full(s, t, idx)',
  ours: ({ s, idx, z, logZ }: In) => kd.sparseKL(s, { indices: idx, logits: z, logZ }, 1),
});
parityTests(cases);

test('k = C: the sparse KL equals the full forward KL (values to 1e-6, gradients too), in any index order', () => {
  torch.tidy(() => {
    // Indices in a random order per row, not topk's order.
    const perm = torch.rand([6, C]).argsort(-1);
    const all: kd.SparseTeacher = { indices: perm, logits: t.gather(1, perm), logZ: t.logsumexp(-1) };
    for (const T of [1, 4, 20]) {
      const a = s.detach().requiresGrad_(), b = s.detach().requiresGrad_();
      const sparse = kd.sparseKL(a, all, T), full = kd.forwardKL(b, t, T);
      sparse.backward();
      full.backward();
      near(sparse, full, { rtol: 1e-6, atol: 1e-6, label: `value T=${T}` });
      near(a.grad!, b.grad!, { rtol: 1e-6, atol: 1e-7, label: `grad T=${T}` });
    }
  });
});

test('sparse teacher over a sequence (B, L, C) equals the flattened rows; via hintonLoss and softKL too', () => {
  torch.tidy(() => {
    const s3 = s.reshape([2, 3, C]), t3 = t.reshape([2, 3, C]);
    const top3 = kd.sparseTeacherFromLogits(t3, k);
    assert.deepEqual(top3.logZ.shape, [2, 3]);
    near(kd.sparseKL(s3, top3, 4), kd.sparseKL(s, top, 4), { rtol: 1e-6 });
    near(kd.softKL(s, top, 4), kd.sparseKL(s, top, 4), { rtol: 0 });
    near(kd.hintonLoss(s, top, null, { T: 4, alpha: 0 }).parts.soft, kd.sparseKL(s, top, 4), { rtol: 0 });
  });
});

test('the bucketed KL is at most the full KL at T = 1 (coarser partition)', () => {
  torch.tidy(() => {
    for (const kk of [1, 3, 6, 11]) assert.ok(kd.sparseKL(s, kd.sparseTeacherFromLogits(t, kk), 1).item() <= kd.forwardKL(s, t, 1).item() + 1e-6, `k=${kk}`);
  });
});

test('a teacher with no tail mass (logZ of the kept logits only) gives a finite loss and gradient', () => {
  torch.tidy(() => {
    const noTail: kd.SparseTeacher = { indices: idx, logits: z, logZ: z.logsumexp(-1) };
    const a = s.detach().requiresGrad_();
    const l = kd.sparseKL(a, noTail, 4);
    l.backward();
    assert.ok(Number.isFinite(l.item()));
    assert.ok(a.grad!.isfinite().all().item());
  });
});

test('bad sparse teachers: k > C, float indices, mismatched rows', () => {
  assert.throws(() => kd.sparseKL(R(6, 3), top, 1), (e: Error) => e instanceof torch.ShapeError && /k = 4/.test(e.message));
  assert.throws(() => kd.sparseKL(s, { ...top, indices: idx.toDtype('float32') }, 1), torch.DTypeError);
  assert.throws(() => kd.sparseKL(R(5, C), top, 1), torch.ShapeError);
  assert.throws(() => kd.sparseKL(s, { ...top, logZ: R(6, 1) }, 1), torch.ShapeError);
  assert.throws(() => kd.sparseTeacherFromLogits(t, C + 1), torch.ConfigError);
});

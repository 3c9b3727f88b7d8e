// The token-loss registry against the same formulas written in PyTorch (probability space,
// float64, rounded to float32): values and the gradient w.r.t. the student's logits, with some
// rows masked out (their gradient must be 0), at T ∈ {1, 2}. The generalized JSD is also checked
// against TRL's generalized_jsd_loss as TRL writes it (log-space mixture, kl_div, the mean over
// labels ≠ −100), at β ∈ {0, 0.3, 1}: β = 0 is forward KL, β = 1 reverse KL. A top-k teacher
// (ids + log-probabilities) is compared over its k tokens plus one tail bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as kd from '../../src/kd/index.js';
import type { TokenLossName } from '../../src/kd/index.js';
import { parityTests, type ParityCase } from '../helpers/parity.js';
import { R } from '../helpers/inputs.js';
import { near } from './checks.js';

type In = Record<string, torch.Tensor>;

const s = R(8, 10).mul(2), t = R(8, 10).mul(3);
const m = torch.tensor(Uint8Array.from([1, 1, 0, 1, 0, 1, 1, 1]), { shape: [8] }).toDtype('bool'); // rows 2 and 4 left out
const labels = torch.tensor(BigInt64Array.from([5n, 1n, -100n, 7n, -100n, 0n, 2n, 9n]));

const setup = `
def KL(a, b):
    return (a * (a.log() - b.log())).sum(-1)
def akl_weights(p, q, mu):
    # Wu et al. 2024's get_ratio: sort the teacher, head = the first token and cumulative mass <= mu
    ps, idx = p.sort(dim=-1, descending=True)
    err = (ps - q.detach().gather(-1, idx)).abs()
    tail = ps.cumsum(-1) > mu
    tail[:, 0] = False
    s1 = err.masked_fill(tail, 0).sum(-1); s2 = err.masked_fill(~tail, 0).sum(-1)
    return s1 / (s1 + s2), s2 / (s1 + s2)
def loss(name, s, t, m, T, beta=0.5, alpha=0.1, mu=0.5):
    p = F.softmax(t / T, -1); q = F.softmax(s / T, -1)
    if name == 'forward_kl': r = KL(p, q)
    elif name == 'reverse_kl': r = KL(q, p)
    elif name == 'jsd':
        if beta == 0: r = KL(p, q)
        elif beta == 1: r = KL(q, p)
        else:
            mix = beta * p + (1 - beta) * q
            r = beta * KL(p, mix) + (1 - beta) * KL(q, mix)
    elif name == 'skew_kl': r = KL(p, alpha * p + (1 - alpha) * q)
    elif name == 'skew_reverse_kl': r = KL(q, alpha * q + (1 - alpha) * p)
    elif name == 'tvd': r = 0.5 * (p - q).abs().sum(-1)
    elif name == 'akl':
        h, l = akl_weights(p, q, mu)
        r = h * KL(p, q) + l * KL(q, p)
    return r[m.bool()].mean() * T * T
def trl_jsd(student_logits, teacher_logits, labels, beta):
    # TRL GKDTrainer.generalized_jsd_loss (temperature 1, reduction batchmean)
    student_log_probs = F.log_softmax(student_logits, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits, dim=-1)
    if beta == 0:
        jsd = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True)
    else:
        beta = torch.tensor(beta, dtype=student_log_probs.dtype)
        mixture_log_probs = torch.logsumexp(torch.stack([student_log_probs + torch.log(1 - beta), teacher_log_probs + torch.log(beta)]), dim=0)
        kl_teacher = F.kl_div(mixture_log_probs, teacher_log_probs, reduction="none", log_target=True)
        kl_student = F.kl_div(mixture_log_probs, student_log_probs, reduction="none", log_target=True)
        jsd = beta * kl_teacher + (1 - beta) * kl_student
    mask = labels != -100
    jsd = jsd[mask]
    return jsd.sum() / mask.sum()
def bucket_loss(name, s, lt, ids, m, beta=0.5):
    # the loss over the teacher's k tokens plus one tail bucket (floored at 1e-8 for the teacher), T = 1
    q = F.softmax(s, -1)
    pk = lt.exp(); pt = (1 - pk.sum(-1, keepdim=True)).clamp(min=1e-8)
    qk = q.gather(-1, ids); qt = q.sum(-1, keepdim=True) - qk.sum(-1, keepdim=True)
    # logits whose softmax is the buckets
    return loss(name, torch.cat([qk, qt], -1).log(), torch.cat([pk, pt], -1).log(), m, 1, beta)
def bucket_kl(s, lt, ids, m):
    # forward KL over the teacher's k tokens plus one tail bucket, T = 1
    lq = F.log_softmax(s, -1)
    pk = lt.exp(); pt = 1 - pk.sum(-1, keepdim=True)
    qk = lq.gather(-1, ids).exp(); qt = 1 - qk.sum(-1, keepdim=True)
    P = torch.cat([pk, pt], -1); Q = torch.cat([qk, qt], -1)
    return KL(P, Q)[m.bool()].mean()
`;

/** The expression in float64 over S = s.double() and U = t.double(), rounded to float32. */
const f64 = (expr: string) => `(lambda S, U: (${expr}).float())(s.double(), t.double())`;

const names: TokenLossName[] = ['forward_kl', 'reverse_kl', 'jsd', 'skew_kl', 'skew_reverse_kl', 'tvd', 'akl'];
const cases: ParityCase[] = [];
const common = { inputs: { s, t, m }, grad: ['s'], setup };
for (const T of [1, 2]) {
  for (const name of names) {
    cases.push({ name: `${name} T=${T}, masked rows`, ...common, py: f64(`loss('${name}', S, U, m, ${T})`), ours: ({ s, t, m }: In) => kd.tokenDivergence(name, s, t, { T, mask: m }) });
  }
  cases.push(
    { name: `skew_kl alpha=0.3 T=${T}`, ...common, py: f64(`loss('skew_kl', S, U, m, ${T}, alpha=0.3)`), ours: ({ s, t, m }: In) => kd.tokenDivergence('skew_kl', s, t, { T, alpha: 0.3, mask: m }) },
    { name: `skew_reverse_kl alpha=0 T=${T} is reverse KL`, ...common, py: f64(`loss('reverse_kl', S, U, m, ${T})`), ours: ({ s, t, m }: In) => kd.tokenDivergence('skew_reverse_kl', s, t, { T, alpha: 0, mask: m }) },
    { name: `akl mu=0.8 T=${T}`, ...common, py: f64(`loss('akl', S, U, m, ${T}, mu=0.8)`), ours: ({ s, t, m }: In) => kd.tokenDivergence('akl', s, t, { T, mu: 0.8, mask: m }) },
  );
}
for (const beta of [0, 0.3, 1]) {
  cases.push({
    name: `jsd beta=${beta} equals TRL's generalized_jsd_loss (labels −100 masked)`, inputs: { s, t, labels }, grad: ['s'], setup,
    py: `(lambda S, U: trl_jsd(S, U, labels, ${beta}).float())(s.double(), t.double())`,
    ours: ({ s, t, labels }: In) => kd.tokenDivergence('jsd', s, t, { beta, mask: labels.ne(-100) }),
  });
}
// A top-k teacher (ids + log-probabilities at T = 1): forward KL over k + 1 buckets.
const lt = t.logSoftmax(-1);
const { values: topLp, indices: topIds } = torch.topk(lt, 4, -1);
cases.push({
  name: 'forward_kl from a top-k teacher (k = 4 + tail), masked rows', inputs: { s, lt: topLp, ids: topIds, m }, grad: ['s'], setup,
  py: `(bucket_kl(s.double(), lt.double(), ids, m)).float()`,
  ours: ({ s, lt, ids, m }: In) => kd.tokenDivergence('forward_kl', s, { ids, logprobs: lt }, { mask: m }),
});
for (const name of names.filter((n) => n !== 'forward_kl')) {
  cases.push({
    name: `${name} from a top-k teacher (k = 4 + tail), masked rows`, inputs: { s, lt: topLp, ids: topIds, m }, grad: ['s'], setup,
    py: `(bucket_loss('${name}', s.double(), lt.double(), ids, m, 0.3)).float()`,
    ours: ({ s, lt, ids, m }: In) => kd.tokenDivergence(name, s, { ids, logprobs: lt }, { mask: m, beta: 0.3 }),
  });
}
// All V tokens given: no tail, the loss over the full distributions.
const { values: allLp, indices: allIds } = torch.topk(lt, 10, -1);
cases.push({
  name: 'jsd from a top-k teacher with k = V equals the full-logit jsd', inputs: { s, t, m }, grad: ['s'], setup, py: f64(`loss('jsd', S, U, m, 1)`),
  ours: ({ s, m }: In) => kd.tokenDivergence('jsd', s, { ids: allIds, logprobs: allLp }, { mask: m }),
});
parityTests(cases);

test('every loss is 0 when the student equals the teacher; rows given as (B, T, V) are flattened', () => {
  torch.tidy(() => {
    for (const name of names) near(kd.tokenDivergence(name, t, t, { T: 2 }), 0, { atol: 1e-6, label: name });
    const s3 = s.reshape([2, 4, 10]), t3 = t.reshape([2, 4, 10]);
    for (const name of names) near(kd.tokenDivergence(name, s3, t3), kd.tokenDivergence(name, s, t), { label: `${name} (B, T, V)` });
  });
});

test('a mask that keeps no row gives 0 with a zero gradient', () => {
  const x = s.detach().requiresGrad_();
  const l = kd.tokenDivergence('reverse_kl', x, t, { mask: torch.zeros([8], 'bool') });
  assert.equal(l.item(), 0);
  l.backward();
  near(x.grad!.abs().sum(), 0);
});

test('bad options: an unknown loss, beta / alpha / mu out of range, a top-k teacher at T ≠ 1 for a loss other than forward KL, shapes', () => {
  const err = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);
  assert.throws(() => kd.tokenDivergence('kl' as TokenLossName, s, t), err(/unknown loss 'kl'.*forward_kl/));
  assert.throws(() => kd.tokenDivergence('jsd', s, t, { beta: 1.5 }), err(/beta must be a number in \[0, 1\]/));
  assert.throws(() => kd.tokenDivergence('jsd', s, t, { beta: -0.1 }), err(/beta/));
  assert.throws(() => kd.tokenDivergence('skew_kl', s, t, { alpha: 1 }), err(/alpha/));
  assert.throws(() => kd.tokenDivergence('akl', s, t, { mu: 1 }), err(/mu/));
  assert.throws(() => kd.tokenDivergence('forward_kl', s, t, { T: 0 }), err(/temperature/));
  assert.throws(() => kd.tokenDivergence('reverse_kl', s, { ids: topIds, logprobs: topLp }, { T: 2 }), err(/reverse_kl' from a top-k teacher is defined at T = 1 only/));
  assert.throws(() => kd.tokenDivergence('reverse_kl', s, { ids: topIds.slice(0, 0, 7), logprobs: topLp.slice(0, 0, 7) }), torch.ShapeError);
  assert.throws(() => kd.tokenDivergence('forward_kl', s, R(8, 9)), torch.ShapeError);
  assert.throws(() => kd.tokenDivergence('forward_kl', s, t, { mask: torch.ones([7], 'bool') }), torch.ShapeError);
});

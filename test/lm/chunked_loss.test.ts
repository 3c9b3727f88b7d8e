// The chunked LM-head loss against the unchunked one: PyTorch computes
// hidden·Wᵀ → α·CE + (1−α)·T²·KL on the full logits and its backward; ours must give the
// same value and the same gradients for hidden and weight at every chunk size (1, sizes
// that do not divide the rows, one chunk, a chunk larger than everything, the default),
// for CE, a top-k teacher (k < V: bucketed KL; k = V: exact) and a live teacher.
// Then, in our own engine, equality with tokenKdLoss' backward and the calling forms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { chunkedLmLoss, type ChunkedLossOptions } from '../../src/lm/chunked_loss.js';
import { tokenKdLoss } from '../../src/kd/token_kd.js';
import { lossValues } from '../../src/nn/loss_result.js';
import { CausalLM, type LmConfig } from '../../src/lm/model.js';
import { forwardBackward } from '../../src/lm/checkpointing.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';

const N = 23, d = 8, V = 37, dT = 6;
const CHUNKS = [1, 4, 7, 23, 64, undefined];
const i64 = (v: number[]) => torch.tensor(BigInt64Array.from(v, BigInt));

torch.manualSeed(19);
const hidden = torch.randn([N, d]);
const weight = torch.randn([V, d]).mul(0.7);
// Positions 0–5 and 12–14 have nothing to predict (a prompt, a gap); some teacher rows sit there.
const tgtData = Array.from({ length: N }, (_, i) => (i <= 5 || (i >= 12 && i <= 14) ? -100 : (i * 7 + 3) % V));
const target = i64(tgtData);
const teacherRows = i64([17, 2, 9, 3, 1, 22, 12, 14, 8]); // unsorted, some on −100 targets
const teacherFull = torch.randn([teacherRows.shape[0], V]).mul(2).logSoftmax(-1); // (N_t, V) log-probabilities
const top5 = torch.topk(teacherFull, 5, -1);
const topV = torch.topk(teacherFull, V, -1);
const tHidden = torch.randn([N, dT]);
const tWeight = torch.randn([V, dT]);

// Reference formulas in PyTorch, on the full logits (float64 for the teacher buckets, as ours).
const setup = `
def bucket_kl(s, idx, z, T):
    V, k = s.shape[-1], idx.shape[-1]
    if k == V:
        return F.kl_div(F.log_softmax(s / T, -1).gather(1, idx), F.log_softmax(z / T, -1), reduction="batchmean", log_target=True) * T * T
    kept = torch.zeros_like(s, dtype=torch.bool).scatter(1, idx, True)
    lq = F.log_softmax(s / T, -1)
    LQ = torch.cat([lq.gather(1, idx), lq.masked_fill(kept, -math.inf).logsumexp(1, keepdim=True)], 1)
    z = z.double()
    tail1 = (1 - z.exp().sum(1, keepdim=True)).clamp_min(0)
    zbar = tail1.log() - math.log(V - k)
    w = torch.cat([(z / T).exp(), (V - k) * (zbar / T).exp()], 1)
    P = (w / w.sum(1, keepdim=True)).float()
    return F.kl_div(LQ, P, reduction="batchmean") * T * T
`;

interface Case {
  name: string;
  o: ChunkedLossOptions;
  py: string; // sets kl (already × T²) from logits, or 'kl = None'
  inputs?: Record<string, Tensor>;
}
const cases: Case[] = [
  { name: 'CE only (α = 1)', o: {}, py: 'kl = None' },
  { name: 'CE only, scale 0.25', o: { scale: 0.25 }, py: 'kl = None' },
  { name: 'top-5 teacher, α 0.3, T 2, scale 0.5', o: { alpha: 0.3, T: 2, scale: 0.5, teacher: { rows: teacherRows, ids: top5.indices, logprobs: top5.values } },
    py: 'kl = bucket_kl(logits[rows], ids, lp, 2.0)', inputs: { rows: teacherRows, ids: top5.indices, lp: top5.values } },
  { name: 'top-5 teacher, α 0.5, T 1', o: { alpha: 0.5, teacher: { rows: teacherRows, ids: top5.indices, logprobs: top5.values } },
    py: 'kl = bucket_kl(logits[rows], ids, lp, 1.0)', inputs: { rows: teacherRows, ids: top5.indices, lp: top5.values } },
  { name: 'top-V teacher (exact KL), α 0, T 3', o: { alpha: 0, T: 3, teacher: { rows: teacherRows, ids: topV.indices, logprobs: topV.values } },
    py: 'kl = bucket_kl(logits[rows], ids, lp, 3.0)', inputs: { rows: teacherRows, ids: topV.indices, lp: topV.values } },
  { name: 'live teacher, α 0.4, T 2', o: { alpha: 0.4, T: 2, teacher: { hidden: tHidden, weight: tWeight } },
    py: 'v = tgt != -100\nkl = F.kl_div(F.log_softmax(logits[v] / 2, -1), F.log_softmax((th @ tw.T)[v] / 2, -1), reduction="batchmean", log_target=True) * 4',
    inputs: { th: tHidden, tw: tWeight } },
  { name: 'live teacher, α 0, T 1, scale 2', o: { alpha: 0, scale: 2, teacher: { hidden: tHidden, weight: tWeight } },
    py: 'v = tgt != -100\nkl = F.kl_div(F.log_softmax(logits[v], -1), F.log_softmax((th @ tw.T)[v], -1), reduction="batchmean", log_target=True)',
    inputs: { th: tHidden, tw: tWeight } },
  { name: 'live teacher with a reverse-KL divergence hook, α 0, T 1.5', inputs: { th: tHidden, tw: tWeight },
    o: { alpha: 0, T: 1.5, teacher: { hidden: tHidden, weight: tWeight }, divergence: reverseKl },
    py: 'v = tgt != -100\nls = F.log_softmax(logits[v] / 1.5, -1)\nlt = F.log_softmax((th @ tw.T)[v] / 1.5, -1)\nkl = (ls.exp() * (ls - lt)).sum(1).mean() * 2.25' },
];

/** KL(p_S ‖ p_T), mean over rows: a divergence the default (forward KL) is not. */
function reverseKl(s: Tensor, t: Tensor): Tensor {
  const ls = s.logSoftmax(-1);
  const lt = torch.noGrad(() => t.logSoftmax(-1));
  return ls.exp().mul(ls.sub(lt)).sum(1).mean();
}

const scalar = (x: number) => torch.tensor([x]).reshape([]);

/** Our chunked loss and gradients on fresh leaves. */
function ours(o: ChunkedLossOptions) {
  const h = hidden.clone().requiresGrad_();
  const w = weight.clone().requiresGrad_();
  const r = chunkedLmLoss(h, w, target, o);
  return { ...r, gh: h.grad!, gw: w.grad! };
}

const checks: Check[] = cases.map((c) => {
  const { alpha = 1, T = 1, scale = 1 } = c.o;
  return {
    name: `chunkedLmLoss = PyTorch unchunked (value, d hidden, d weight) at chunk sizes ${CHUNKS.join(', ')}: ${c.name}`,
    oracle: {
      code: [
        setup,
        'logits = h @ w.T',
        'ce = F.cross_entropy(logits, tgt, ignore_index=-100)',
        c.py,
        `loss = ce if kl is None else ${alpha} * ce + ${1 - alpha} * kl`,
        `(loss * ${scale}).backward()`,
        `out = {"loss": loss, "ce": ce, "soft": kl if kl is not None else 0, "gh": h.grad, "gw": w.grad}`,
      ].join('\n'),
      inputs: { h: hidden, w: weight, tgt: target, ...c.inputs },
      grad: ['h', 'w'],
    },
    check: (r) => {
      for (const chunkSize of CHUNKS) {
        torch.tidy(() => {
          const got = ours({ ...c.o, chunkSize });
          const at = `chunk ${chunkSize ?? 'default'}`;
          assertClose(scalar(got.loss), r.loss, { rtol: 1e-5, atol: 1e-6, label: `${at} loss` });
          assertClose(scalar(got.parts.hard), r.ce, { rtol: 1e-5, atol: 1e-6, label: `${at} hard (CE)` });
          if (c.py === 'kl = None') assert.equal(got.parts.soft, undefined);
          else assertClose(scalar(got.parts.soft), r.soft, { rtol: 1e-5, atol: 1e-6, label: `${at} soft (T²·KL)` });
          assertClose(got.gh, r.gh, { rtol: 1e-4, atol: 1e-6, label: `${at} d hidden` });
          assertClose(got.gw, r.gw, { rtol: 1e-4, atol: 1e-6, label: `${at} d weight` });
        });
      }
    },
  };
});
oracleChecks(checks);

/** tokenKdLoss on the full logits hidden·Wᵀ (1, N, V) and its backward, in our engine. */
function unchunked(teacher: { rows: Tensor; ids: Tensor; logprobs: Tensor } | null, alpha: number, T: number) {
  const h = hidden.clone().requiresGrad_();
  const w = weight.clone().requiresGrad_();
  const logits = h.mm(w.transpose(0, 1)).unsqueeze(0); // (1, N, V)
  const parts = tokenKdLoss(logits, target.unsqueeze(0), teacher, { alpha, T });
  parts.loss.backward();
  return { ...lossValues(parts), gh: h.grad!, gw: w.grad! };
}

const near = (a: Tensor, b: Tensor, label: string) => {
  const err = a.sub(b).abs().max().item();
  const tol = 1e-4 * b.abs().max().item() + 1e-6;
  assert.ok(err <= tol, `${label}: max |Δ| ${err} > ${tol}`);
};

test('chunkedLmLoss equals tokenKdLoss in our engine (CE, also α < 1 without a teacher; top-k at k < V and k = V), values and gradients', () => {
  const topk = (t: { indices: Tensor; values: Tensor }) => ({ rows: teacherRows, ids: t.indices, logprobs: t.values });
  const settings: [ReturnType<typeof topk> | null, number, number][] = [[null, 1, 1], [null, 0.3, 2], [topk(top5), 0.3, 2], [topk(topV), 0.7, 1], [topk(top5), 0, 4]];
  for (const [teacher, alpha, T] of settings) {
    torch.tidy(() => {
      const ref = unchunked(teacher, alpha, T);
      for (const chunkSize of [3, 10]) {
        const got = ours({ alpha, T, chunkSize, ...(teacher ? { teacher } : {}) });
        const label = `α ${alpha}, T ${T}, k ${teacher?.ids.shape[1] ?? '-'}, chunk ${chunkSize}`;
        assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `${label}: loss ${got.loss} vs ${ref.loss}`);
        assert.ok(Math.abs(got.parts.hard - ref.parts.hard) <= 1e-5 * ref.parts.hard, `${label}: hard (CE)`);
        if (ref.parts.soft === undefined) assert.equal(got.parts.soft, undefined);
        else assert.ok(Math.abs(got.parts.soft - ref.parts.soft) <= 1e-5 * Math.abs(ref.parts.soft) + 1e-7, `${label}: soft ${got.parts.soft} vs ${ref.parts.soft}`);
        near(got.gh, ref.gh, `${label}: d hidden`);
        near(got.gw, ref.gw, `${label}: d weight`);
      }
    });
  }
});

test('chunkedLmLoss: a (B, T, d) leaf through .view lands in its .grad; a hidden with a graph runs it; grads accumulate', () => {
  torch.tidy(() => {
    const ref = unchunked(null, 1, 1);
    // forwardBackward's form: a (B, T, d) leaf, passed as a view.
    const h3 = hidden.clone().reshape([1, N, d]).requiresGrad_();
    const w = weight.clone().requiresGrad_();
    chunkedLmLoss(h3.view([-1, d]), w, target, { chunkSize: 5 });
    near(h3.grad!.reshape([N, d]), ref.gh, 'view: d hidden');
    near(w.grad!, ref.gw, 'view: d weight');
    // A second call adds to the existing gradients, as backward does.
    chunkedLmLoss(h3.view([-1, d]), w, target, { chunkSize: 5 });
    near(h3.grad!.reshape([N, d]), ref.gh.mul(2), 'accumulated d hidden');
    near(w.grad!, ref.gw.mul(2), 'accumulated d weight');
    // hidden = x·3: the gradient reaches x through the graph.
    const x = hidden.clone().requiresGrad_();
    chunkedLmLoss(x.mul(3).div(3), weight, target, { chunkSize: 4 });
    near(x.grad!, ref.gh, 'graph: d x');
  });
});

test('chunkedLmLoss: a frozen head gets no gradient; backward: false leaves every .grad alone', () => {
  torch.tidy(() => {
    const ref = unchunked(null, 1, 1);
    const h = hidden.clone().requiresGrad_();
    const frozen = weight.clone();
    chunkedLmLoss(h, frozen, target, { chunkSize: 6 });
    near(h.grad!, ref.gh, 'frozen head: d hidden');
    assert.equal(frozen.grad, null);
    const h2 = hidden.clone().requiresGrad_();
    const w2 = weight.clone().requiresGrad_();
    const r = chunkedLmLoss(h2, w2, target, { chunkSize: 6, backward: false });
    assert.ok(Math.abs(r.loss - ref.loss) <= 1e-5 * ref.loss);
    assert.equal(h2.grad, null);
    assert.equal(w2.grad, null);
  });
});

test('chunkedLmLoss: no target at all gives NaN like tokenKdLoss, with zero gradients', () => {
  torch.tidy(() => {
    const none = i64(Array(N).fill(-100));
    const h = hidden.clone().requiresGrad_();
    const w = weight.clone().requiresGrad_();
    const r = chunkedLmLoss(h, w, none, { chunkSize: 4 });
    assert.ok(Number.isNaN(r.loss) && Number.isNaN(tokenKdLoss(hidden.mm(weight.transpose(0, 1)).unsqueeze(0), none.unsqueeze(0), null, { alpha: 1, T: 1 }).loss.item()));
    assert.equal(w.grad?.abs().sum().item() ?? 0, 0);
    assert.equal(h.grad?.abs().sum().item() ?? 0, 0);
  });
});

test('chunkedLmLoss: bad shapes, options and teachers are refused with typed errors', () => {
  const topk = { rows: teacherRows, ids: top5.indices, logprobs: top5.values };
  assert.throws(() => chunkedLmLoss(hidden.unsqueeze(0), weight, target), (e: Error) => e instanceof torch.ShapeError && /view\(\[-1, d\]\)/.test(e.message));
  assert.throws(() => chunkedLmLoss(hidden, torch.randn([V, d + 1]), target), torch.ShapeError);
  assert.throws(() => chunkedLmLoss(hidden, weight, i64([1, 2])), torch.ShapeError);
  assert.throws(() => chunkedLmLoss(hidden, weight, target.toDtype('float32')), torch.DTypeError);
  assert.throws(() => chunkedLmLoss(hidden, weight, target, { alpha: 1.5 }), (e: Error) => e instanceof torch.ConfigError && /alpha/.test(e.message));
  assert.throws(() => chunkedLmLoss(hidden, weight, target, { T: 0 }), torch.ConfigError);
  assert.throws(() => chunkedLmLoss(hidden, weight, target, { chunkSize: 0 }), /chunkSize/);
  assert.throws(() => chunkedLmLoss(hidden, weight, target, { alpha: 0.5, teacher: { ...topk, rows: i64([0, 1, 2, 3, 4, 5, 6, 7, N]) } }), /teacher row 23 is outside/);
  assert.throws(() => chunkedLmLoss(hidden, weight, target, { alpha: 0.5, teacher: topk, divergence: reverseKl }), /live teacher/);
  assert.throws(() => chunkedLmLoss(hidden, weight, target, { alpha: 0.5, teacher: { hidden: tHidden, weight: torch.randn([V + 1, dT]) } }), /vocabulary/);
});

test('chunkedLmLoss frees every tensor it makes, and its tensor peak is a chunk, not the full logits', () => {
  // Sizes where the logits dominate the (V, d) weight: the byte counter counts each view
  // of the weight (detach, transpose, a .grad handle) at full size.
  const Nb = 200, Vb = 4000;
  const h = torch.randn([Nb, d]).requiresGrad_();
  const w = torch.randn([Vb, d]).requiresGrad_();
  const tgt = i64(Array.from({ length: Nb }, (_, i) => (i % 5 === 0 ? -100 : (i * 31) % Vb)));
  const rows = i64([150, 3, 70, 5]);
  const top = torch.topk(torch.randn([4, Vb]).logSoftmax(-1), 5, -1);
  const o = { alpha: 0.5, teacher: { rows, ids: top.indices, logprobs: top.values }, chunkSize: 8 };
  chunkedLmLoss(h, w, tgt, o); // .grad of h and w now exist
  const before = torch.memory().liveTensors;
  torch.resetPeakTensors();
  const base = torch.memory().nativeBytes;
  chunkedLmLoss(h, w, tgt, o);
  assert.equal(torch.memory().liveTensors, before);
  const peak = torch.memory().peakNativeBytes - base;
  const logits = Nb * Vb * 4;
  assert.ok(peak < logits / 4, `peak ${peak} B ≥ a quarter of the full logits ${logits} B`);
  // The live teacher's hand-written path (T = 1 and T ≠ 1) frees everything too.
  const live = { hidden: torch.randn([Nb, 4]), weight: torch.randn([Vb, 4]) };
  for (const T of [1, 2]) chunkedLmLoss(h, w, tgt, { alpha: 0.5, T, teacher: live, chunkSize: 8 });
  assert.equal(torch.memory().liveTensors, before + 2);
});

test('chunkedLmLoss in forwardBackward: every parameter of a CausalLM (tied and untied head, with and without checkpointing) gets the gradient of model.call + tokenKdLoss', () => {
  const base = { vocabSize: 37, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 24, maxSeqLen: 16 };
  const configs: [string, Partial<LmConfig> & { vocabSize: number }][] = [
    ['llama, untied head', { ...base, arch: 'llama' }],
    ['qwen2, tied head', { ...base, arch: 'qwen2', qkvBias: true, tieEmbeddings: true }],
  ];
  const B = 2, Tn = 9;
  for (const [label, cfg] of configs) {
    torch.tidy(() => {
      torch.manualSeed(3);
      const m = new CausalLM(cfg);
      const ids = torch.randint(0, 37, [B, Tn], 'int64');
      const tgt = i64(Array.from({ length: B * Tn }, (_, i) => (i % Tn < 3 ? -100 : (i * 5) % 37))).reshape([B, Tn]);
      const rows = i64([4, 1, 12, 16]);
      const top = torch.topk(torch.randn([4, 37]).logSoftmax(-1), 6, -1);
      const teacher = { rows, ids: top.indices, logprobs: top.values };
      const want = tokenKdLoss(m.call(ids), tgt, teacher, { alpha: 0.6, T: 2 }).loss;
      want.mul(0.5).backward();
      const ref = new Map(m.namedParameters().map(([n, p]) => [n, torch.keep(p.grad!.clone())] as const));
      for (const checkpointing of [false, true]) {
        m.zeroGrad();
        const got = forwardBackward(m, ids, (h) => chunkedLmLoss(h.view([-1, base.dim]), m.headWeight, tgt, { alpha: 0.6, T: 2, teacher, chunkSize: 4, scale: 0.5 }), { checkpointing });
        assert.ok(Math.abs(got.loss - want.item()) <= 1e-5 * want.item(), `${label}: loss ${got.loss} vs ${want.item()}`);
        for (const [n, p] of m.namedParameters()) near(p.grad!, ref.get(n)!, `${label}, checkpointing ${checkpointing}: grad ${n}`);
      }
      for (const g of ref.values()) g.dispose();
    });
  }
});

// Chat batching (only completion tokens are targets) and the token-level KD loss against
// PyTorch: α·CE + (1−α)·T²·KL(p_teacher^T ‖ p_student^T) at the positions with a teacher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { makeBatch, IGNORE } from '../../src/lm/batch.js';
import { tokenKdLoss } from '../../src/kd/token_kd.js';
import { lossValues } from '../../src/nn/loss_result.js';
import { hintonLoss } from '../../src/kd/hinton.js';
import { oracleChecks } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';

test('makeBatch: inputs are the sequence less its last token, targets only on completion tokens, right padding ignored', () => {
  const b = makeBatch([
    { prompt: [1, 2, 3], completion: [4, 5, 9] },
    { prompt: [7], completion: [8, 9], teacher: [{ ids: [8, 1], logprobs: [-0.1, -2.5] }, null] },
  ], 100, 0);
  assert.deepEqual(b.input.shape, [2, 5]);
  assert.deepEqual(Array.from(b.input.dataSync() as BigInt64Array, Number), [1, 2, 3, 4, 5, 7, 8, 0, 0, 0]);
  assert.deepEqual(Array.from(b.target.dataSync() as BigInt64Array, Number), [IGNORE, IGNORE, 4, 5, 9, 8, 9, IGNORE, IGNORE, IGNORE]);
  assert.equal(b.tokens, 5);
  // One teacher distribution: row 1, position 0 (predicting 8) = flat index 5.
  assert.deepEqual(Array.from(b.teacher!.rows.dataSync() as BigInt64Array, Number), [5]);
  assert.deepEqual(Array.from(b.teacher!.ids.dataSync() as BigInt64Array, Number), [8, 1]);
  assert.throws(() => makeBatch([], 10, 0), /no examples/);
});

function kdCase(alpha: number, T: number, k: number) {
  torch.manualSeed(11);
  const V = 7;
  const logits = torch.randn([2, 4, V]).requiresGrad_();
  const target = torch.tensor(BigInt64Array.from([-100, 3, 1, -100, -100, 2, 6, 0].map(BigInt)), { shape: [2, 4] });
  const rows = torch.tensor(BigInt64Array.from([1, 5, 6].map(BigInt)));
  const teacherLogits = torch.randn([3, V]);
  const full = torch.logSoftmax(teacherLogits, -1);
  const top = torch.topk(full, k, -1);
  const parts = tokenKdLoss(logits, target, { rows, ids: top.indices, logprobs: top.values }, { alpha, T });
  parts.loss.backward();
  return {
    name: `tokenKdLoss α=${alpha}, T=${T}, k=${k} (= V: exact) matches α·CE + (1−α)·T²·KL(batchmean) in PyTorch, value and gradient`,
    oracle: {
      code: [
        'ce = F.cross_entropy(logits.reshape(-1, 7), target.reshape(-1), ignore_index=-100)',
        'rows_ = logits.reshape(-1, 7)[rows]',
        `kl = F.kl_div(F.log_softmax(rows_ / ${T}, -1), F.log_softmax(full / ${T}, -1), reduction="batchmean", log_target=True) * ${T * T}`,
        `loss = ${alpha} * ce + ${1 - alpha} * kl`,
        'loss.backward()',
        'out = {"loss": loss, "grad": logits.grad}',
      ].join('\n'),
      inputs: { logits: logits.detach(), target, rows, full },
      grad: ['logits'],
    },
    check: (r: Record<string, unknown>) => {
      assertClose(parts.loss, r.loss as never, { rtol: 1e-5, atol: 1e-6, label: 'loss' });
      assertClose(logits.grad!, r.grad as never, { rtol: 1e-4, atol: 1e-6, label: 'grad' });
    },
  };
}

oracleChecks([kdCase(0.5, 2, 7), kdCase(0.1, 4, 7), kdCase(0, 1, 7)]);

test('tokenKdLoss: alpha = 1 or no teacher is plain SFT cross-entropy; bad alpha and T are refused', () => {
  torch.manualSeed(3);
  const logits = torch.randn([1, 3, 5]);
  const target = torch.tensor(BigInt64Array.from([1n, -100n, 4n]), { shape: [1, 3] });
  const ce = torch.crossEntropy(logits.reshape([-1, 5]), target.reshape([-1]), { ignoreIndex: -100 }).item();
  assert.ok(Math.abs(tokenKdLoss(logits, target, null, { alpha: 0.3, T: 2 }).loss.item() - ce) < 1e-6);
  assert.throws(() => tokenKdLoss(logits, target, null, { alpha: 1.5, T: 2 }), /alpha must be in \[0, 1\]/);
  assert.throws(() => tokenKdLoss(logits, target, null, { alpha: 0.5, T: 0 }), /temperature T must be/);
});

test('tokenKdLoss returns hintonLoss\'s shape { loss, parts: { hard, soft } }: equal to it where every position has a target and a full teacher', () => {
  torch.tidy(() => {
    torch.manualSeed(5);
    const V = 6;
    const logits = torch.randn([1, 4, V]); // (B, T, V), every position graded
    const target = torch.tensor(BigInt64Array.from([2n, 0n, 5n, 3n]), { shape: [1, 4] });
    const teacherLogits = torch.randn([4, V]);
    const all = torch.tensor(BigInt64Array.from([0n, 1n, 2n, 3n]));
    const ids = torch.tensor(BigInt64Array.from({ length: 4 * V }, (_, i) => BigInt(i % V)), { shape: [4, V] }); // k = V: exact
    for (const [alpha, T] of [[0.3, 2], [0, 1], [1, 4]] as const) {
      const got = tokenKdLoss(logits, target, { rows: all, ids, logprobs: teacherLogits.logSoftmax(-1) }, { alpha, T });
      const ref = hintonLoss(logits.reshape([4, V]), teacherLogits, target.reshape([-1]), { alpha, T }); // the fused native op
      const close = (a: number, b: number, label: string) => assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b) + 1e-7, `${label}: ${a} vs ${b}`);
      close(got.loss.item(), ref.loss.item(), `loss α=${alpha} T=${T}`);
      close(got.parts.hard.item(), ref.parts.hard.item(), `hard α=${alpha} T=${T}`);
      if (alpha === 1) assert.equal(got.parts.soft, undefined, 'α = 1 computes no KL');
      else close(got.parts.soft.item(), ref.parts.soft.item(), `soft α=${alpha} T=${T}`);
      const v = lossValues(got); // the numbers form, as chunkedLmLoss returns
      assert.equal(v.loss, got.loss.item());
      assert.equal(v.parts.hard, got.parts.hard.item());
      assert.equal(v.parts.soft, alpha === 1 ? undefined : got.parts.soft.item());
    }
    const sft = tokenKdLoss(logits, target, null, { alpha: 1, T: 1 });
    assert.notEqual(sft.loss, sft.parts.hard, 'loss and parts are distinct tensors');
  });
});

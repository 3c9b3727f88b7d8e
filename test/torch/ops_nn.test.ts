// NN functional ops and losses against PyTorch: forward values and input gradients.
import * as torch from '../../src/torch/index.js';
import { parityTests } from '../helpers/parity.js';
import { R, P, I } from '../helpers/inputs.js';

const x = R(4, 5), w = R(3, 5), w45 = R(4, 5), bias = R(3), bat = R(2, 3, 4), bat2 = R(2, 4, 5), v = R(5);
const img = R(2, 3, 8, 8), k = R(4, 3, 3, 3), kb = R(4), kg = R(6, 1, 3, 3), img6 = R(1, 6, 7, 7);
const seq = R(2, 3, 10), k1 = R(5, 3, 3);
const logits = R(6, 5), target = I([0, 4, 2, 2, 1, 3]), targetIgn = I([0, -100, 2, 2, -100, 3]), cw = P(5);
const logits3 = R(2, 5, 3), target3 = I([[0, 1, 4], [2, 2, 3]]);
const logp = R(6, 5).logSoftmax(1), tprob = R(6, 5).softmax(1), tlogp = R(6, 5).logSoftmax(1);
const yhat = R(4, 3), y = R(4, 3);
const q = R(2, 2, 5, 8), kk = R(2, 2, 6, 8), vv = R(2, 2, 6, 8), sq = R(2, 5, 8);
const bn = R(8, 3), rm = R(3), rv = P(3), g = P(3), beta = R(3), bn4 = R(2, 3, 4, 4);
const emb = R(10, 4), tok = I([[1, 2, 0], [9, 1, 1]]);

parityTests([
  { name: 'matmul batched broadcast', inputs: { bat, w45 }, py: 'torch.matmul(bat, w45)', ours: ({ bat, w45 }) => bat.matmul(w45), grad: ['bat', 'w45'] },
  { name: 'matmul vector', inputs: { x, v }, py: 'x @ v', ours: ({ x, v }) => x.matmul(v), grad: ['x', 'v'] },
  { name: 'mm', inputs: { x, w }, py: 'x.mm(w.t())', ours: ({ x, w }) => x.mm(w.transpose(0, 1)), grad: ['x', 'w'] },
  { name: 'bmm', inputs: { bat, bat2 }, py: 'torch.bmm(bat, bat2)', ours: ({ bat, bat2 }) => bat.bmm(bat2), grad: ['bat', 'bat2'] },
  { name: 'linear with bias', inputs: { x, w, bias }, py: 'F.linear(x, w, bias)', ours: ({ x, w, bias }) => torch.linear(x, w, bias), grad: ['x', 'w', 'bias'] },
  { name: 'linear without bias', inputs: { x, w }, py: 'F.linear(x, w)', ours: ({ x, w }) => torch.linear(x, w), grad: ['x', 'w'] },
  { name: 'conv2d stride 2 padding 1', inputs: { img, k, kb }, py: 'F.conv2d(img, k, kb, stride=2, padding=1)', ours: ({ img, k, kb }) => torch.conv2d(img, k, kb, 2, 1), grad: ['img', 'k', 'kb'], rtol: 1e-4 },
  { name: 'conv2d groups + dilation', inputs: { img6, kg }, py: 'F.conv2d(img6, kg, None, 1, 2, 2, 6)', ours: ({ img6, kg }) => torch.conv2d(img6, kg, null, 1, 2, 2, 6), grad: ['img6', 'kg'], rtol: 1e-4 },
  { name: 'conv1d', inputs: { seq, k1 }, py: 'F.conv1d(seq, k1, padding=1)', ours: ({ seq, k1 }) => torch.conv1d(seq, k1, null, 1, 1), grad: ['seq', 'k1'], rtol: 1e-4 },
  { name: 'maxPool2d', inputs: { img }, py: 'F.max_pool2d(img, 2)', ours: ({ img }) => torch.maxPool2d(img, 2), grad: ['img'] },
  { name: 'maxPool2d stride padding ceil', inputs: { img }, py: 'F.max_pool2d(img, 3, 2, 1, ceil_mode=True)', ours: ({ img }) => torch.maxPool2d(img, 3, 2, 1, 1, true), grad: ['img'] },
  { name: 'avgPool2d', inputs: { img }, py: 'F.avg_pool2d(img, 2, padding=1, count_include_pad=False)', ours: ({ img }) => torch.avgPool2d(img, 2, [], 1, false, false), grad: ['img'] },
  { name: 'adaptiveAvgPool2d', inputs: { img }, py: 'F.adaptive_avg_pool2d(img, (3, 3))', ours: ({ img }) => torch.adaptiveAvgPool2d(img, [3, 3]), grad: ['img'] },
  { name: 'batchNorm training updates running stats', inputs: { bn, rm, rv, g, beta },
    py: '(F.batch_norm(bn, rm, rv, g, beta, True, 0.1, 1e-5), rm, rv)',
    ours: ({ bn, rm, rv, g, beta }) => [torch.batchNorm(bn, rm, rv, g, beta, true, 0.1, 1e-5), rm, rv], grad: ['bn', 'g', 'beta'] },
  { name: 'batchNorm eval 4-d', inputs: { bn4, rm, rv, g, beta }, py: 'F.batch_norm(bn4, rm, rv, g, beta, False)', ours: ({ bn4, rm, rv, g, beta }) => torch.batchNorm(bn4, rm, rv, g, beta, false), grad: ['bn4', 'g', 'beta'] },
  { name: 'layerNorm', inputs: { x, v }, py: 'F.layer_norm(x, (5,), v, v)', ours: ({ x, v }) => torch.layerNorm(x, [5], v, v), grad: ['x', 'v'] },
  { name: 'dropout p=0 is identity, eval is identity', inputs: { x }, py: '(F.dropout(x, 0.0), F.dropout(x, 0.5, training=False))', ours: ({ x }) => [torch.dropout(x, 0), torch.dropout(x, 0.5, false)] },
  { name: 'dropout mask equals PyTorch under the same seed', inputs: { x }, setup: 'torch.manual_seed(7)', before: () => torch.manualSeed(7), py: 'F.dropout(x, 0.3)', ours: ({ x }) => torch.dropout(x, 0.3), grad: ['x'] },
  { name: 'embedding with padding', inputs: { emb, tok }, py: 'F.embedding(tok, emb, padding_idx=0)', ours: ({ emb, tok }) => torch.embedding(emb, tok, 0), grad: ['emb'] },

  // losses
  { name: 'crossEntropy mean', inputs: { logits, target }, py: 'F.cross_entropy(logits, target)', ours: ({ logits, target }) => torch.crossEntropy(logits, target), grad: ['logits'] },
  { name: 'crossEntropy ignoreIndex', inputs: { logits, targetIgn }, py: 'F.cross_entropy(logits, targetIgn, ignore_index=-100)', ours: ({ logits, targetIgn }) => torch.crossEntropy(logits, targetIgn), grad: ['logits'] },
  { name: 'crossEntropy labelSmoothing + weight', inputs: { logits, target, cw }, py: 'F.cross_entropy(logits, target, weight=cw, label_smoothing=0.1)', ours: ({ logits, target, cw }) => torch.crossEntropy(logits, target, { weight: cw, labelSmoothing: 0.1 }), grad: ['logits'] },
  { name: 'crossEntropy sum and none', inputs: { logits, target }, py: "(F.cross_entropy(logits, target, reduction='sum'), F.cross_entropy(logits, target, reduction='none'))", ours: ({ logits, target }) => [torch.crossEntropy(logits, target, { reduction: 'sum' }), torch.crossEntropy(logits, target, { reduction: 'none' })], grad: ['logits'] },
  { name: 'crossEntropy over a sequence (B, C, T)', inputs: { logits3, target3 }, py: 'F.cross_entropy(logits3, target3)', ours: ({ logits3, target3 }) => torch.crossEntropy(logits3, target3), grad: ['logits3'] },
  { name: 'nllLoss', inputs: { logp, targetIgn }, py: 'F.nll_loss(logp, targetIgn)', ours: ({ logp, targetIgn }) => torch.nllLoss(logp, targetIgn), grad: ['logp'] },
  ...(['mean', 'sum', 'none', 'batchmean'] as const).map((reduction) => ({
    name: `klDiv ${reduction}`, inputs: { logp, tprob }, py: `F.kl_div(logp, tprob, reduction='${reduction}')`,
    ours: ({ logp, tprob }: Record<string, torch.Tensor>) => torch.klDiv(logp, tprob, { reduction }), grad: ['logp', 'tprob'],
  })),
  { name: 'klDiv logTarget batchmean', inputs: { logp, tlogp }, py: "F.kl_div(logp, tlogp, reduction='batchmean', log_target=True)", ours: ({ logp, tlogp }) => torch.klDiv(logp, tlogp, { reduction: 'batchmean', logTarget: true }), grad: ['logp', 'tlogp'] },
  { name: 'mseLoss', inputs: { yhat, y }, py: "(F.mse_loss(yhat, y), F.mse_loss(yhat, y, reduction='none'))", ours: ({ yhat, y }) => [torch.mseLoss(yhat, y), torch.mseLoss(yhat, y, { reduction: 'none' })], grad: ['yhat', 'y'] },

  // attention (composed; PyTorch 1.13 has no public F.scaled_dot_product_attention, so the oracle uses the formula)
  { name: 'scaledDotProductAttention', inputs: { q, kk, vv }, py: 'torch.softmax(q @ kk.transpose(-2, -1) / math.sqrt(8), -1) @ vv', ours: ({ q, kk, vv }) => torch.scaledDotProductAttention(q, kk, vv), grad: ['q', 'kk', 'vv'] },
  { name: 'scaledDotProductAttention causal', inputs: { sq },
    py: 'torch.softmax((sq @ sq.transpose(-2, -1) / math.sqrt(8)).masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf")), -1) @ sq',
    ours: ({ sq }) => torch.scaledDotProductAttention(sq, sq, sq, { isCausal: true }), grad: ['sq'] },
]);

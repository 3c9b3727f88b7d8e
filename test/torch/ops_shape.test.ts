// Shape, indexing and gather/scatter ops against PyTorch, with gradients.
import * as torch from '../../src/torch/index.js';
import { parityTests } from '../helpers/parity.js';
import { R, I } from '../helpers/inputs.js';

const a = R(2, 3, 4), m = R(3, 4), c = R(1, 3, 1), b2 = R(2, 3, 4);
const idx = I([2, 0, 1]);
const gidx = I([[0, 1, 1, 0], [2, 2, 0, 1], [1, 0, 2, 2]]);

parityTests([
  { name: 'reshape with -1', inputs: { a }, py: 'a.reshape(6, -1)', ours: ({ a }) => a.reshape([6, -1]), grad: ['a'] },
  { name: 'view', inputs: { a }, py: 'a.view(4, 6)', ours: ({ a }) => a.view([4, 6]), grad: ['a'] },
  { name: 'permute + contiguous', inputs: { a }, py: 'a.permute(2, 0, 1).contiguous()', ours: ({ a }) => a.permute([2, 0, 1]).contiguous(), grad: ['a'] },
  { name: 'transpose', inputs: { a }, py: 'a.transpose(0, 2)', ours: ({ a }) => a.transpose(0, 2), grad: ['a'] },
  { name: 'squeeze all / one dim', inputs: { c }, py: '(c.squeeze(), c.squeeze(0))', ours: ({ c }) => [c.squeeze(), c.squeeze(0)] },
  { name: 'unsqueeze', inputs: { m }, py: 'm.unsqueeze(1)', ours: ({ m }) => m.unsqueeze(1), grad: ['m'] },
  { name: 'expand', inputs: { c }, py: 'c.expand(2, 3, 5)', ours: ({ c }) => c.expand([2, 3, 5]), grad: ['c'] },
  { name: 'flatten', inputs: { a }, py: '(a.flatten(), a.flatten(1))', ours: ({ a }) => [a.flatten(), a.flatten(1)] },
  { name: 'flip', inputs: { a }, py: 'a.flip([0, 2])', ours: ({ a }) => a.flip([0, 2]), grad: ['a'] },
  { name: 'repeat', inputs: { m }, py: 'm.repeat(2, 1)', ours: ({ m }) => m.repeat([2, 1]), grad: ['m'] },
  { name: 'cat', inputs: { a, b2 }, py: 'torch.cat([a, b2], 1)', ours: ({ a, b2 }) => torch.cat([a, b2], 1), grad: ['a', 'b2'] },
  { name: 'stack', inputs: { a, b2 }, py: 'torch.stack([a, b2], 0)', ours: ({ a, b2 }) => torch.stack([a, b2], 0), grad: ['a', 'b2'] },
  { name: 'split', inputs: { a }, py: 'torch.split(a, 3, 2)', ours: ({ a }) => a.split(3, 2), grad: ['a'] },
  { name: 'splitWithSizes', inputs: { a }, py: 'torch.split(a, [1, 2], 1)', ours: ({ a }) => a.splitWithSizes([1, 2], 1), grad: ['a'] },
  { name: 'chunk', inputs: { a }, py: 'torch.chunk(a, 2, 2)', ours: ({ a }) => a.chunk(2, 2), grad: ['a'] },
  { name: 'narrow', inputs: { a }, py: 'a.narrow(2, 1, 2)', ours: ({ a }) => a.narrow(2, 1, 2), grad: ['a'] },
  { name: 'slice with step', inputs: { a }, py: 'a[:, 1:, ::2]', ours: ({ a }) => a.slice(1, 1).slice(2, null, null, 2), grad: ['a'] },
  { name: 'select', inputs: { a }, py: 'a[:, 2]', ours: ({ a }) => a.select(1, 2), grad: ['a'] },
  { name: 'indexSelect', inputs: { m, idx }, py: 'm.index_select(0, idx)', ours: ({ m, idx }) => m.indexSelect(0, idx), grad: ['m'] },
  { name: 'gather', inputs: { m, gidx }, py: 'm.gather(0, gidx)', ours: ({ m, gidx }) => m.gather(0, gidx), grad: ['m'] },
  { name: 'scatter tensor', inputs: { m, gidx }, py: 'torch.zeros(3, 4).scatter(0, gidx, m)', ours: ({ m, gidx }) => torch.zeros([3, 4]).scatter(0, gidx, m), grad: ['m'] },
  { name: 'scatter value', inputs: { m, gidx }, py: 'm.scatter(1, gidx[:, :2], 7.0)', ours: ({ m, gidx }) => m.scatterValue(1, gidx.slice(1, 0, 2), 7) },
  { name: 'scatterAdd', inputs: { m, gidx }, py: 'torch.zeros(3, 4).scatter_add(0, gidx, m)', ours: ({ m, gidx }) => torch.zeros([3, 4]).scatterAdd(0, gidx, m), grad: ['m'] },
  { name: 'maskedFill', inputs: { m }, py: 'm.masked_fill(m > 0.5, -1e9)', ours: ({ m }) => m.maskedFill(m.gt(0.5), -1e9), grad: ['m'] },
  { name: 'triu/tril', inputs: { m }, py: '(m.triu(), m.tril(-1), m.triu(1))', ours: ({ m }) => [m.triu(), m.tril(-1), m.triu(1)] },
  { name: 'oneHot', inputs: { idx }, py: 'F.one_hot(idx, 4)', ours: ({ idx }) => idx.oneHot(4) },
  { name: 'toDtype float64/int32/float16/bfloat16', inputs: { m }, py: '(m.double(), (m * 10).int(), m.half().float(), m.bfloat16().float())',
    ours: ({ m }) => [m.toDtype('float64'), m.mul(10).toDtype('int32'), m.toDtype('float16').toDtype('float32'), m.toDtype('bfloat16').toDtype('float32')] },
]);

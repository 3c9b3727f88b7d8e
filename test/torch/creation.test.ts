// Creation and random ops against PyTorch. libtorch's default CPU generator is the one
// torch.manual_seed seeds, so seeded random tensors must equal PyTorch's exactly.
import * as torch from '../../src/torch/index.js';
import { parityTests } from '../helpers/parity.js';
import { P } from '../helpers/inputs.js';

const seeded = (seed: number) => ({ setup: `torch.manual_seed(${seed})`, before: () => torch.manualSeed(seed), rtol: 0, atol: 0 });
const probs = P(3, 5);

parityTests([
  { name: 'zeros/ones/full/empty-shape', inputs: {}, py: '(torch.zeros(2, 3), torch.ones(4, dtype=torch.int64), torch.full((2, 2), 7.5), torch.zeros(0, 3))',
    ours: () => [torch.zeros([2, 3]), torch.ones([4], 'int64'), torch.full([2, 2], 7.5), torch.zeros([0, 3])] },
  { name: 'arange infers int64 or float32', inputs: {}, py: '(torch.arange(5), torch.arange(1, 10, 3), torch.arange(0, 1, 0.25))',
    ours: () => [torch.arange(5), torch.arange(1, 10, 3), torch.arange(0, 1, 0.25)] },
  { name: 'linspace/eye', inputs: {}, py: '(torch.linspace(-1, 1, 7), torch.eye(3), torch.eye(2, 4))', ours: () => [torch.linspace(-1, 1, 7), torch.eye(3), torch.eye(2, 4)] },
  { name: 'tensor from nested arrays, bools, typed arrays', inputs: {},
    py: '(torch.tensor([[1.5, 2], [3, 4]]), torch.tensor([True, False]), torch.tensor([1, 2, 3], dtype=torch.int32), torch.tensor([[1, 2], [3, 4]], dtype=torch.float64), torch.tensor(3.25))',
    ours: () => [torch.tensor([[1.5, 2], [3, 4]]), torch.tensor([true, false]), torch.tensor(Int32Array.from([1, 2, 3])), torch.tensor(Float64Array.from([1, 2, 3, 4]), { shape: [2, 2] }), torch.tensor(3.25)] },
  { name: 'rand under the same seed', inputs: {}, ...seeded(0), py: 'torch.rand(3, 4)', ours: () => torch.rand([3, 4]) },
  { name: 'randn under the same seed', inputs: {}, ...seeded(1), py: 'torch.randn(5, 2)', ours: () => torch.randn([5, 2]) },
  { name: 'randn float64', inputs: {}, ...seeded(11), py: 'torch.randn(3, dtype=torch.float64)', ours: () => torch.randn([3], 'float64') },
  { name: 'randint under the same seed', inputs: {}, ...seeded(2), py: 'torch.randint(0, 10, (20,))', ours: () => torch.randint(0, 10, [20]) },
  { name: 'randperm under the same seed', inputs: {}, ...seeded(3), py: 'torch.randperm(12)', ours: () => torch.randperm(12) },
  { name: 'multinomial under the same seed', inputs: { probs }, ...seeded(4), py: '(torch.multinomial(probs, 2), torch.multinomial(probs, 8, replacement=True))',
    ours: ({ probs }) => [probs.multinomial(2), probs.multinomial(8, true)] },
  { name: 'uniform_/normal_/bernoulli_ under the same seed', inputs: {}, ...seeded(5),
    py: '(torch.empty(6).uniform_(-2, 3), torch.empty(6).normal_(1, 0.5), torch.empty(6).bernoulli_(0.3))',
    ours: () => [torch.empty([6]).uniform_(-2, 3), torch.empty([6]).normal_(1, 0.5), torch.empty([6]).bernoulli_(0.3)] },
]);

// The Module base: names and order of state_dict keys, parameters and buffers against
// PyTorch; loading PyTorch's state dict; loadStateDict errors; train/eval; gradients;
// registration rules; and memory (a training step in tidy returns to the baseline count).
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { moduleCase, runChecks, randn, type Check } from './harness.js';
import { assertClose } from '../helpers/assert.js';
import { fromOracle, type OracleValue } from '../helpers/oracle.js';

torch.manualSeed(5);

// ── a nested custom model, mirrored in Python below ──
class Block extends nn.Module {
  readonly fc: nn.Linear;
  readonly norm: nn.LayerNorm;
  readonly drop: nn.Dropout;
  constructor(d: number) {
    super();
    this.fc = this.registerModule('fc', new nn.Linear(d, d));
    this.norm = this.registerModule('norm', new nn.LayerNorm(d));
    this.drop = this.registerModule('drop', new nn.Dropout(0.1));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => x.add(this.drop.call(this.norm.call(this.fc.call(x)).relu()))); // x + drop(relu(norm(fc(x))))
  }
}

class Net extends nn.Module {
  readonly embed: nn.Embedding;
  readonly blocks: nn.ModuleList<Block>;
  readonly head: nn.Linear;
  constructor() {
    super();
    this.embed = this.registerModule('embed', new nn.Embedding(10, 6));
    this.blocks = this.registerModule('blocks', new nn.ModuleList([new Block(6), new Block(6)]));
    this.head = this.registerModule('head', new nn.Linear(6, 3));
    this.registerBuffer('step', torch.zeros([], 'int64'));
    this.registerBuffer('cache', torch.zeros([4]), { persistent: false });
  }
  forward(idx: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.embed.call(idx); // (B, T, 6)
      for (const b of this.blocks) h = b.call(h);
      return this.head.call(h); // (B, T, 3)
    });
  }
}

const setup = `
class Block(nn.Module):
    def __init__(s, d):
        super().__init__()
        s.fc, s.norm, s.drop = nn.Linear(d, d), nn.LayerNorm(d), nn.Dropout(0.1)
    def forward(s, x):
        return x + s.drop(torch.relu(s.norm(s.fc(x))))

class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.embed = nn.Embedding(10, 6)
        s.blocks = nn.ModuleList([Block(6), Block(6)])
        s.head = nn.Linear(6, 3)
        s.register_buffer('step', torch.zeros((), dtype=torch.long))
        s.register_buffer('cache', torch.zeros(4), persistent=False)
    def forward(s, idx):
        h = s.embed(idx)
        for b in s.blocks:
            h = b(h)
        return s.head(h)
`;

const mlp = () => new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.ReLU(), new nn.Linear(4, 2));
const mlpPy = 'nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))';

const names = (m: nn.Module) => ({
  keys: Object.keys(m.stateDict()),
  pnames: m.namedParameters().map(([n]) => n),
  bnames: m.namedBuffers().map(([n]) => n),
  repr: String(m),
});
const namesPy = (py: string) => `${setup}
m = ${py}
out = {"keys": list(m.state_dict().keys()), "pnames": [n for n, _ in m.named_parameters()],
       "bnames": [n for n, _ in m.named_buffers()], "repr": str(m)}`;

function namesCheck(name: string, ours: () => nn.Module, py: string): Check {
  const got = names(ours());
  return {
    name,
    oracle: { code: namesPy(py) },
    check: (r) => {
      assert.deepEqual(got.keys, r.keys, 'state_dict keys, in order');
      assert.deepEqual(got.pnames, r.pnames, 'named_parameters names, in order');
      assert.deepEqual(got.bnames, r.bnames, 'named_buffers names, in order');
      // Our Dropout has no `inplace` option, so it does not print one.
      assert.equal(got.repr, (r.repr as unknown as string).replaceAll(', inplace=False', ''), 'repr');
    },
  };
}

// PyTorch builds and trains one step, then hands over its state dict; we load it and must agree.
const xTrain = randn(6, 3);
const xEval = randn(4, 3);
const loadFromTorch: Check = {
  name: "loading PyTorch's state dict (after a train step) gives PyTorch's eval outputs",
  oracle: {
    inputs: { xt: xTrain, xe: xEval },
    code: `torch.manual_seed(3)
m = ${mlpPy}
m(xt)
m.eval()
sd = m.state_dict()
out = {"keys": list(sd.keys()), "values": list(sd.values()), "y": m(xe)}`,
  },
  check: (r) => {
    const m = mlp();
    const params = m.parameters();
    const keys = r.keys as unknown as string[];
    const sd = Object.fromEntries(keys.map((k, i) => [k, fromOracle((r.values as OracleValue[])[i])]));
    const res = m.loadStateDict(sd);
    assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
    assert.ok(m.parameters().every((p, i) => p === params[i]), 'parameters keep their identity');
    for (const [k, t] of Object.entries(m.stateDict())) assertClose(t, (r.values as OracleValue[])[keys.indexOf(k)], { rtol: 0, atol: 0, label: k });
    assert.equal(m.stateDict()['1.num_batches_tracked'].item(), 1);
    assertClose(m.eval().call(xEval), r.y, { label: 'eval output' });
  },
};

const isConfig = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && e.code === 'ERR_CONFIG' && re.test(e.message);

const checks: Check[] = [
  namesCheck('stateDict keys, parameter and buffer names and repr equal PyTorch: Sequential(Linear, BatchNorm1d, ReLU, Linear)', mlp, mlpPy),
  namesCheck('… and for a nested custom model with a ModuleList and a non-persistent buffer', () => new Net(), 'Net()'),
  moduleCase({ name: 'nested custom model: forward and all gradients equal PyTorch (eval)', ours: () => new Net(), py: 'Net()', setup, eval: true, inputs: [torch.tensor([[1, 2, 3, 9], [0, 0, 5, 4]], { dtype: 'int64' })] }),
  loadFromTorch,
  {
    name: 'loadStateDict (strict) names every missing and unexpected key and copies nothing',
    check: () => {
      const m = mlp();
      const before = m.stateDict()['0.weight'].clone();
      const sd = { ...m.stateDict(), '9.weight': randn(2), '0.weight': randn(4, 3) };
      delete (sd as Record<string, Tensor>)['1.running_mean'];
      delete (sd as Record<string, Tensor>)['3.bias'];
      assert.throws(() => m.loadStateDict(sd), isConfig(/for Sequential: missing key\(s\): "1\.running_mean", "3\.bias"; unexpected key\(s\): "9\.weight"/));
      assert.deepEqual(m.stateDict()['0.weight'].dataSync(), before.dataSync(), 'nothing copied');
      const gone = randn(2);
      gone.dispose();
      assert.throws(() => m.loadStateDict({ ...m.stateDict(), '3.bias': gone }), isConfig(/"3\.bias" has been disposed/));
    },
  },
  {
    name: 'loadStateDict (non-strict) loads the matching keys and returns the others',
    check: () => {
      const m = mlp();
      const w = randn(4, 3);
      const res = m.loadStateDict({ '0.weight': w, extra: randn(1) }, { strict: false });
      assert.equal(res.unexpectedKeys.join(), 'extra');
      assert.equal(res.missingKeys.length, 8);
      assert.ok(!res.missingKeys.includes('0.weight'));
      assert.deepEqual(m.stateDict()['0.weight'].dataSync(), w.dataSync());
    },
  },
  {
    name: 'loadStateDict: a shape mismatch throws ShapeError naming the key and both shapes, copying nothing',
    check: () => {
      const m = mlp();
      const before = m.stateDict()['0.bias'].clone();
      const sd = { ...m.stateDict(), '0.bias': randn(4).add(1), '3.weight': randn(2, 5) };
      for (const strict of [true, false])
        assert.throws(() => m.loadStateDict(sd, { strict }),
          (e: Error) => e instanceof torch.ShapeError && /size mismatch for "3\.weight": the state dict has shape \[2, 5\], the Sequential has \[2, 4\]/.test(e.message));
      assert.deepEqual(m.stateDict()['0.bias'].dataSync(), before.dataSync(), 'nothing copied');
    },
  },
  {
    name: 'stateDict holds references to the live tensors',
    check: () => {
      const m = mlp();
      const sd = m.stateDict();
      assert.equal(sd['0.weight'], (m.at(0) as nn.Linear).weight);
      assert.equal(sd['1.running_var'], (m.at(1) as nn.BatchNorm1d).runningVar);
      torch.noGrad(() => sd['3.bias'].fill_(7));
      assert.deepEqual((m.at(3) as nn.Linear).bias!.toArray(), [7, 7]);
    },
  },
  {
    name: 'train()/eval() propagate to every descendant; Dropout is the identity in eval',
    check: () => {
      const net = new Net();
      assert.ok(net.modules().every((m) => m.training));
      assert.equal(net.eval(), net);
      assert.ok(net.modules().every((m) => !m.training));
      net.blocks.at(0).train();
      assert.ok(net.blocks.at(0).modules().every((m) => m.training) && !net.blocks.at(1).training && !net.training);
      net.train();
      assert.ok(net.modules().every((m) => m.training));

      const lin = new nn.Linear(5, 5);
      const seq = new nn.Sequential(lin, new nn.Dropout(0.9));
      const x = randn(8, 5);
      const plain = lin.call(x);
      assert.notDeepEqual(seq.call(x).dataSync(), plain.dataSync(), 'train: dropout active');
      assert.deepEqual(seq.eval().call(x).dataSync(), plain.dataSync(), 'eval: identity');
    },
  },
  {
    name: 'zeroGrad sets gradients to null; requiresGrad_(false) freezes a submodule',
    check: () => {
      const m = mlp();
      m.call(randn(5, 3)).sum().backward();
      assert.ok(m.parameters().every((p) => p.grad !== null));
      m.zeroGrad();
      assert.ok(m.parameters().every((p) => p.grad === null));
      m.at(0).requiresGrad_(false);
      m.call(randn(5, 3)).sum().backward();
      assert.deepEqual(m.parameters().map((p) => p.grad !== null), [false, false, true, true, true, true]);
    },
  },
  {
    name: 'registration: bad names, clashes across kinds and non-leaf parameters are ConfigErrors',
    check: () => {
      class M extends nn.Module {
        forward(x: Tensor) {
          return x;
        }
      }
      const m = new M();
      assert.throws(() => m.registerParameter('a.b', torch.zeros([1])), isConfig(/no '\.'/));
      assert.throws(() => m.registerParameter('', torch.zeros([1])), isConfig(/non-empty/));
      m.registerParameter('w', torch.zeros([1]));
      assert.throws(() => m.registerBuffer('w', torch.zeros([1])), isConfig(/'w' is already registered/));
      assert.throws(() => m.registerModule('w', new nn.ReLU()), isConfig(/'w' is already registered/));
      const nonLeaf = m.stateDict().w.mul(2);
      assert.throws(() => m.registerParameter('v', nonLeaf), isConfig(/leaf/));
      assert.equal(m.stateDict().w.requiresGrad, true, 'a parameter requires grad');
    },
  },
  {
    name: 'a tied parameter is listed once by parameters() and under both keys by stateDict()',
    check: () => {
      class Tied extends nn.Module {
        readonly embed = this.registerModule('embed', new nn.Embedding(5, 3));
        readonly head = this.registerModule('head', new nn.Linear(3, 5, { bias: false }));
        constructor() {
          super();
          this.head.registerParameter('weight', this.embed.weight); // (5, 3) either way
        }
        forward(x: Tensor) {
          return this.head.call(this.embed.call(x));
        }
      }
      const t = new Tied();
      assert.deepEqual(t.namedParameters().map(([n]) => n), ['embed.weight']);
      assert.deepEqual(Object.keys(t.stateDict()), ['embed.weight', 'head.weight']);
      assert.equal(t.stateDict()['head.weight'], t.embed.weight);
    },
  },
  {
    name: 'containers: Sequential and ModuleList indexing, iteration, errors; apply visits children first',
    check: () => {
      const seq = mlp();
      assert.equal(seq.length, 4);
      assert.ok(seq.at(-1) instanceof nn.Linear);
      assert.throws(() => seq.at(4), isConfig(/index 4 is out of range for 4 modules/));
      const list = new nn.ModuleList([new nn.ReLU(), new nn.Tanh()]).append(new nn.SiLU());
      assert.deepEqual([...list].map((m) => m.constructor.name), ['ReLU', 'Tanh', 'SiLU']);
      assert.throws(() => list.call(), isConfig(/ModuleList has no forward/));
      const order: string[] = [];
      new Net().apply((m) => order.push(m.constructor.name));
      assert.deepEqual(order.slice(0, 5), ['Embedding', 'Linear', 'LayerNorm', 'Dropout', 'Block']);
      assert.equal(order.at(-1), 'Net');
    },
  },
  {
    name: 'memory: forward + backward in tidy returns liveTensors to its baseline',
    check: () => {
      const cnn = new nn.Sequential(new nn.Conv2d(1, 3, 3, { padding: 1 }), new nn.BatchNorm2d(3), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Flatten(), new nn.Dropout(0.2), new nn.Linear(3 * 4 * 4, 5), new nn.RMSNorm(5), new nn.GELU());
      const net = new Net();
      const x = randn(4, 1, 8, 8);
      const idx = torch.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'int64' });
      const base = torch.memory().liveTensors;
      for (let step = 0; step < 3; step++) {
        torch.tidy(() => {
          cnn.call(x).pow(2).mean().backward();
          net.call(idx).sum().backward();
          for (const p of [...cnn.parameters(), ...net.parameters()]) assert.ok(p.grad, 'gradient present');
        });
        cnn.zeroGrad();
        net.zeroGrad();
        assert.equal(torch.memory().liveTensors, base, `step ${step}`);
      }
      torch.tidy(() => {
        cnn.eval().call(x);
      });
      assert.equal(torch.memory().liveTensors, base, 'eval');
    },
  },
  {
    name: 'memory: a module built inside tidy survives it, and dispose() frees all its tensors',
    check: () => {
      const base = torch.memory().liveTensors;
      const net = torch.tidy(() => new Net());
      assert.ok(net.parameters().every((p) => !p.isDisposed));
      assert.equal(torch.memory().liveTensors, base + net.parameters().length + net.buffers().length);
      net.dispose();
      assert.ok(net.parameters().every((p) => p.isDisposed));
      assert.equal(torch.memory().liveTensors, base);
    },
  },
];

runChecks(checks);

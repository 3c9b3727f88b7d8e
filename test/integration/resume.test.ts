// A training run stopped after a checkpoint and resumed in a fresh set of objects ends
// at the same weights, bit for bit, as the run that never stopped. Real parts only:
// nn modules with dropout (RNG) and BatchNorm (buffers), Adam, a warm-up+cosine schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { Adam, warmupCosine } from '../../src/optim/index.js';
import { saveCheckpoint, loadCheckpoint } from '../../src/io/index.js';

function setup() {
  const model = new nn.Sequential(new nn.Linear(12, 32), new nn.BatchNorm1d(32), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(32, 3));
  const opt = new Adam(model.parameters(), { lr: 3e-3, weightDecay: 1e-4 });
  const sched = warmupCosine(opt, { warmupSteps: 5, totalSteps: 60 });
  return { model, opt, sched };
}

function train(s: ReturnType<typeof setup>, x: torch.Tensor, y: torch.Tensor, steps: number) {
  for (let i = 0; i < steps; i++)
    torch.tidy(() => {
      s.opt.zeroGrad();
      // A fresh random batch each step draws on the same generator as dropout.
      const idx = torch.randint(0, x.shape[0], [16]);
      torch.crossEntropy(s.model.call(x.indexSelect(0, idx)), y.indexSelect(0, idx)).backward();
      s.opt.step();
      s.sched.step();
    });
}

const weights = (m: nn.Module) => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.dataSync() as Float32Array)]));

test('a resumed run ends at the same weights as an uninterrupted one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distill-resume-'));
  try {
    torch.manualSeed(3);
    const x = torch.keep(torch.randn([200, 12]));
    const y = torch.keep(torch.randint(0, 3, [200]));

    torch.manualSeed(11);
    const straight = setup();
    train(straight, x, y, 60);
    const want = weights(straight.model);

    torch.manualSeed(11);
    const first = setup();
    train(first, x, y, 25);
    const ckpt = join(dir, 'ckpt.safetensors');
    saveCheckpoint(ckpt, { model: first.model, optimizer: first.opt, scheduler: first.sched, step: 25 });
    train(first, x, y, 7); // work after the checkpoint that the "killed" run loses
    torch.manualSeed(999); // and a different RNG position: the checkpoint must restore it

    const resumed = setup();
    const { step } = loadCheckpoint(ckpt, { model: resumed.model, optimizer: resumed.opt, scheduler: resumed.sched });
    assert.equal(step, 25);
    train(resumed, x, y, 60 - step);
    assert.deepEqual(weights(resumed.model), want);

    // The test can fail: without restoring, the weights differ.
    const naive = setup();
    train(naive, x, y, 35);
    assert.notDeepEqual(weights(naive.model), want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

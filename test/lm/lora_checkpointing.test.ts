// LoRA under the block-wise reverse pass of lm/checkpointing.ts: the adapters' gradients equal
// those of plain loss.backward() on model.call(ids), with and without activation checkpointing,
// and with dropout on the adapters' input (a recomputed block must draw the same masks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { forwardBackward } from '../../src/lm/checkpointing.js';
import { applyLora, loraModules, loraParameters, type LoraConfig } from '../../src/lm/lora.js';

const cfg = { vocabSize: 40, dim: 32, nLayers: 3, nHeads: 4, nKvHeads: 2, hiddenDim: 40, maxSeqLen: 16 };

function model(lora: LoraConfig): CausalLM {
  torch.manualSeed(7);
  const m = new CausalLM(cfg);
  applyLora(m, lora, 1);
  torch.noGrad(() => loraModules(m).forEach(([, l]) => l.lora_B.weight.copy_(torch.randn([...l.lora_B.weight.shape]).mul(0.1))));
  return m.train();
}

function grads(m: CausalLM, mode: 'plain' | 'blocks' | 'checkpointing', maskSeed = 99): torch.Tensor[] {
  m.zeroGrad();
  torch.manualSeed(3);
  const ids = torch.randint(0, cfg.vocabSize, [2, 9]);
  const x = ids.narrow(1, 0, 8), y = ids.narrow(1, 1, 8).reshape([-1]);
  torch.manualSeed(maskSeed); // the dropout masks
  if (mode === 'plain') torch.crossEntropy(m.call(x).reshape([-1, cfg.vocabSize]), y).backward();
  else forwardBackward(m, x, (h) => {
    torch.crossEntropy(torch.matmul(h, m.headWeight.transpose(0, 1)).reshape([-1, cfg.vocabSize]), y).backward();
  }, { checkpointing: mode === 'checkpointing' });
  return loraParameters(m).map((p) => p.grad!.clone());
}

for (const dropout of [0, 0.2]) {
  test(`LoRA (dropout ${dropout}): adapter gradients through forwardBackward, with and without checkpointing, equal plain backward`, () => {
    const m = model({ r: 4, alpha: 8, dropout });
    const want = grads(m, 'plain');
    if (dropout > 0) {
      // The masks matter: other masks give other gradients, so equal ones below mean equal masks.
      const other = grads(m, 'plain', 100);
      assert.ok(Math.max(...other.map((g, i) => g.sub(want[i]).abs().max().item())) > 1e-4);
    }
    for (const mode of ['blocks', 'checkpointing'] as const) {
      const got = grads(m, mode);
      got.forEach((g, i) => {
        const d = g.sub(want[i]).abs().max().item();
        assert.ok(d <= 1e-6, `${mode}: adapter tensor ${i} off by ${d}`);
      });
      assert.ok(m.parameters().filter((p) => !p.requiresGrad).every((p) => p.grad === null), 'the frozen base gets no gradient');
    }
  });
}

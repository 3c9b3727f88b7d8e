// trainLm at real size (issue 19 §6): LoRA, the chunked head loss, block checkpointing and
// packing change how a step is computed, not what it computes; only the adapters move; and a
// run killed after its checkpoint resumes to the same weights bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { CausalLM, lmConfig } from '../../src/lm/model.js';
import { trainLm, type LmTrainOptions } from '../../src/reason/sft.js';

const tok = new ByteTokenizer();
// Qwen3's layout (q/k norms), tiny; traces of different lengths so packing and padding matter.
const cfg = lmConfig({ arch: 'qwen3', vocabSize: tok.vocabSize, dim: 16, nLayers: 2, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 96, qkNorm: true, tieEmbeddings: true });
const examples = ['x+y=10', 'y=8/2=4 so x=6', '2y=28-20=8', 'x=10-4=6, y=4: \\boxed{6, 4}', 'no', 'heads 10, legs 28'].map((s, i) => ({
  prompt: tok.chatPrompt([{ role: 'user', content: `question ${i}${'?'.repeat(i)}` }]), completion: [...tok.encode(s), tok.eosId],
}));
const work = mkdtempSync(join(tmpdir(), 'sft-lora-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function run(o: Partial<LmTrainOptions> & { crashAt?: number } = {}): CausalLM {
  torch.manualSeed(5);
  const model = new CausalLM(cfg);
  const { crashAt, ...rest } = o;
  trainLm({
    model, examples, steps: 6, batchSize: 3, lr: 1e-2, seed: 9, padId: tok.eosId, maxLen: 63, lora: { r: 4, alpha: 8 },
    onStep: (s) => {
      if (s.step === crashAt) throw new Error('killed');
    },
    ...rest,
  });
  return model;
}

const maxDiff = (a: CausalLM, b: CausalLM) => {
  const sb = b.stateDict();
  return Math.max(...Object.entries(a.stateDict()).map(([k, t]) => t.sub(sb[k]).abs().max().item()));
};

test('LoRA + chunked loss + checkpointing + packing = LoRA alone (same steps, same adapters); the base weights do not move', () => {
  const plain = run();
  const all = run({ chunkedLoss: true, chunkSize: 16, checkpointing: true, pack: true });
  const keys = Object.keys(plain.stateDict());
  assert.ok(keys.some((k) => k.includes('lora_A')) && keys.some((k) => k.includes('lora_B')), keys.join(', '));
  const d = maxDiff(plain, all);
  assert.ok(d < 1e-5, `max |Δ| over every weight and adapter after 6 steps: ${d}`);
  torch.manualSeed(5);
  const start = new CausalLM(cfg).stateDict();
  for (const [k, t] of Object.entries(all.stateDict())) {
    if (k.includes('lora_')) continue;
    assert.equal(t.sub(start[k]).abs().max().item(), 0, `${k}: frozen`);
  }
  assert.ok(Object.entries(all.stateDict()).some(([k, t]) => k.includes('lora_B') && t.abs().max().item() > 0), 'the adapters trained');
});

test('a LoRA run (chunked, checkpointed, packed) killed after its checkpoint resumes bit for bit; other LoRA settings are refused', () => {
  const o = { chunkedLoss: true, chunkSize: 16, checkpointing: true, pack: true, checkpointEvery: 2 };
  // trainLm puts the LoRA settings (defaults filled in) into the checkpoint's recipe.
  const straight = run({ ...o, checkpoint: join(work, 'a.ckpt'), recipe: {} });
  assert.throws(() => run({ ...o, checkpoint: join(work, 'b.ckpt'), recipe: {}, crashAt: 5 }), /killed/);
  assert.throws(() => run({ ...o, checkpoint: join(work, 'b.ckpt'), recipe: {}, lora: { r: 8, alpha: 8 } }),
    /b\.ckpt was written by a run with other options \(\{"lora":\{"r":4,"alpha":8,.*now \{"lora":\{"r":8,"alpha":8,/);
  const resumed = run({ ...o, checkpoint: join(work, 'b.ckpt'), recipe: {} });
  assert.equal(maxDiff(straight, resumed), 0);
});

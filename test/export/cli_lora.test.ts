// `distill export <lm folder> --lora <adapter>`: the PEFT adapter is loaded onto the base and
// merged before export, so ONNX, GGUF (llama.cpp) and the HF folder all hold the fine-tuned model:
// the HF folder read back gives the unmerged LoRA model's logits; each runtime's own check passes.
// An adapter for another base, or --lora on a run folder, is refused before anything is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { saveLm, loadLm } from '../../src/lm/checkpoint.js';
import { CausalLM } from '../../src/lm/model.js';
import { applyLora, loraModules } from '../../src/lm/lora.js';
import { saveLoraAdapter } from '../../src/lm/peft.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { SMALL, randomLm, tok } from './lm_fixtures.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-export-lora-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

const cfg = { ...SMALL, maxSeqLen: 96 };
const baseDir = join(work, 'base');
{
  const m = randomLm(cfg, 8);
  torch.noGrad(() => m.parameters().forEach((p) => void (p.ndim === 2 && p.mul_(3))));
  saveLm(baseDir, m, tok);
}

/** The base with a LoRA adapter whose B is random (a trained adapter moves the logits), saved in PEFT's layout. */
function adapter(dir: string, baseModel: string): CausalLM {
  const { model } = loadLm(baseDir);
  applyLora(model, { r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] }, 2);
  torch.noGrad(() => loraModules(model).forEach(([, l]) => l.lora_B.weight.copy_(torch.randn([...l.lora_B.weight.shape]).mul(0.3))));
  saveLoraAdapter(model, dir, { baseModel });
  return model.eval();
}

const ids = () => {
  torch.manualSeed(5);
  return torch.randint(0, cfg.vocabSize, [2, 12]);
};

test('--lora merges the adapter: ONNX, GGUF and HF checks pass on the merged model, and the HF folder gives the LoRA model\'s logits', () => {
  const lora = adapter(join(work, 'adapter'), baseDir);
  const want = torch.noGrad(() => lora.call(ids()));
  const out = join(work, 'out');
  const r = cli('export', baseDir, '--lora', join(work, 'adapter'), '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as { ok: boolean; lora: { r: number; alpha: number; targets: string[] }; onnx: { ok: boolean }; gguf: { ok: boolean }; safetensors: { ok: boolean } };
  assert.equal(rep.ok, true);
  assert.deepEqual([rep.lora.r, rep.lora.alpha, rep.lora.targets], [4, 8, ['q_proj', 'v_proj', 'down_proj']]);
  assert.ok(rep.onnx.ok && rep.gguf.ok && rep.safetensors.ok);
  // The HF folder holds plain weights (no lora_ tensors) that reproduce the adapter's logits.
  const { tensors } = loadSafetensors(join(out, 'hf', 'model.safetensors'));
  assert.ok(!Object.keys(tensors).some((k) => k.includes('lora_')));
  const merged = new CausalLM(cfg).eval();
  merged.loadStateDict(Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k.replace(/^model\./, ''), t])));
  const got = torch.noGrad(() => merged.call(ids()));
  const d = got.sub(want).abs().max().item();
  assert.ok(d <= 1e-5, `max |exported − LoRA model| = ${d}`);
  // And differ from the base's: the adapter was really merged.
  const base = loadLm(baseDir).model.eval();
  assert.ok(torch.noGrad(() => base.call(ids())).sub(want).abs().max().item() > 1e-2);
  // The text report names the adapter.
  const text = cli('export', baseDir, '--lora', join(work, 'adapter'), '--out', join(work, 'out-text'), '--format', 'safetensors');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /LoRA adapter .*adapter merged in \(r=4, alpha=8, targets q_proj, v_proj, down_proj\)/);
});

test('--lora refuses an adapter for another base (naming both) and --lora on a run folder, writing nothing', () => {
  adapter(join(work, 'other'), 'HuggingFaceTB/SmolLM2-135M');
  const out = join(work, 'refused');
  const r = cli('export', baseDir, '--lora', join(work, 'other'), '--out', out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`trained on base model 'HuggingFaceTB/SmolLM2-135M', not on '${baseDir.replace(/[/.]/g, '\\$&')}'`));
  assert.ok(!existsSync(out), 'nothing written');
  // Shapes: an adapter made on a narrower base (d 32) does not fit this one (d 64).
  const narrow = join(work, 'narrow');
  saveLm(narrow, randomLm({ ...cfg, dim: 32 }, 1), tok);
  const { model } = loadLm(narrow);
  applyLora(model, { r: 2, alpha: 2 });
  saveLoraAdapter(model, join(work, 'narrow-adapter'), { baseModel: baseDir });
  const s = cli('export', baseDir, '--lora', join(work, 'narrow-adapter'), '--out', out);
  assert.equal(s.status, 1);
  assert.match(s.stderr, /lora_A\.weight' has shape \[2, 32\] but this base model needs \[2, 64\]/);
  assert.ok(!existsSync(out));
  const run = mkdtempSync(join(work, 'run-'));
  const t = cli('export', run, '--lora', join(work, 'other'));
  assert.equal(t.status, 1);
  assert.match(t.stderr, /--lora is for LM folders/);
});

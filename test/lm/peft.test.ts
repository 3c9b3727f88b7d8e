// LoRA adapters in PEFT's file layout. PEFT itself is not installed here, so its layout is written
// into the tests from its documentation (huggingface/peft docs/source/developer_guides/checkpoint.md:
// keys "base_model.model." + the transformers module name + ".lora_A.weight" / ".lora_B.weight",
// adapter name stripped; adapter_config.json with peft_type "LORA", r, lora_alpha, target_modules, …),
// and PyTorch plays PEFT's part: it reads our file by those rules and computes the LoRA'd
// logits on the Hugging Face names, and it writes an adapter by them for us to load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { applyLora, loraModules, loraConfigOf, type LoraConfig } from '../../src/lm/lora.js';
import { saveLoraAdapter, loadLoraAdapter } from '../../src/lm/peft.js';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const cfg = { vocabSize: 40, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 40, maxSeqLen: 16, arch: 'qwen2' as const, qkvBias: true };
const tmp = () => mkdtempSync(join(tmpdir(), 'peft-'));
const isConfig = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);

function base(seed = 7, c: Partial<typeof cfg> = {}): CausalLM {
  torch.manualSeed(seed);
  return new CausalLM({ ...cfg, ...c }).eval();
}

/** A base with LoRA whose B are random, so the adapter changes the logits. */
function trained(lora: LoraConfig, seed = 7): CausalLM {
  const m = base(seed);
  applyLora(m, lora, 3);
  m.eval();
  torch.noGrad(() => loraModules(m).forEach(([, l]) => l.lora_B.weight.copy_(torch.randn([...l.lora_B.weight.shape]).mul(0.1))));
  return m;
}

function ids(): torch.Tensor {
  torch.manualSeed(4);
  return torch.randint(0, cfg.vocabSize, [2, 7]);
}
const logits = (m: CausalLM, x: torch.Tensor) => torch.noGrad(() => m.call(x));

/** The base's tensors under Hugging Face names (what a transformers model's state_dict holds). */
function hfInputs(m: CausalLM): { names: string[]; inputs: Record<string, torch.Tensor> } {
  const sd = Object.entries(m.stateDict()).filter(([k]) => !k.includes('.lora_'));
  const names = sd.map(([k]) => (k === 'lm_head.weight' ? k : `model.${k}`));
  return { names, inputs: Object.fromEntries(sd.map(([, t], i) => [`p${i}`, t])) };
}

// PEFT's side in Python: the base as a transformers state dict, an adapter by PEFT's keys.
const PEFT_FORWARD = [
  'import sys, json, math; sys.path.insert(0, HELPERS)',
  'import torch.nn.functional as F',
  'import safetensors_ref',
  'from llama_ref import hf_logits',
  'sd = {n: globals()[f"p{i}"] for i, n in enumerate(names)}',
  'def peft_logits(adapter, conf, ids):',
  // PeftModel → LoraModel → transformers model: strip "base_model.model.", then ".lora_A.weight".
  '    s = conf["lora_alpha"] / (math.sqrt(conf["r"]) if conf["use_rslora"] else conf["r"])',
  '    mods = sorted({k[len("base_model.model."):-len(".lora_A.weight")] for k in adapter if k.endswith(".lora_A.weight")})',
  '    assert all(k.startswith("base_model.model.") for k in adapter), list(adapter)',
  '    lora = {m: (lambda a, b: (lambda h: F.linear(F.linear(h, a), b) * s))(adapter[f"base_model.model.{m}.lora_A.weight"], adapter[f"base_model.model.{m}.lora_B.weight"]) for m in mods}',
  '    return hf_logits(sd, hf_cfg, ids, lora), mods',
].join('\n');

function hfConfig(m: CausalLM) {
  const c = m.cfg;
  return { model_type: c.arch, hidden_size: c.dim, num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads, head_dim: c.headDim, num_hidden_layers: c.nLayers, rope_theta: c.ropeTheta, rms_norm_eps: c.normEps, tie_word_embeddings: c.tieEmbeddings };
}

/** Our saved adapter, read and applied by PEFT's rules in PyTorch, gives our LoRA'd logits. */
function oursReadByPeft(): Check {
  const m = trained({ r: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'o_proj', 'down_proj'], rslora: true });
  const dir = tmp();
  saveLoraAdapter(m, dir, { baseModel: 'Qwen/Qwen2.5-0.5B' });
  const x = ids();
  const ours = logits(m, x);
  const { names, inputs } = hfInputs(m);
  return {
    name: 'an adapter we save, read by PEFT\'s key rules in PyTorch, gives our LoRA\'d logits on the Hugging Face module names',
    oracle: {
      code: [
        `HELPERS = ${JSON.stringify(HELPERS)}`, `names = ${JSON.stringify(names)}`, PEFT_FORWARD, `hf_cfg = json.loads(${JSON.stringify(JSON.stringify(hfConfig(m)))})`,
        `adapter, _ = safetensors_ref.load(${JSON.stringify(join(dir, 'adapter_model.safetensors'))})`,
        `conf = json.load(open(${JSON.stringify(join(dir, 'adapter_config.json'))}))`,
        'y, mods = peft_logits(adapter, conf, x)',
        'out = {"y": y, "mods": mods}',
      ].join('\n'),
      inputs: { ...inputs, x },
    },
    check: (r) => {
      assert.deepEqual(r.mods, [0, 1].flatMap((i) => ['mlp.down_proj', 'self_attn.o_proj', 'self_attn.q_proj', 'self_attn.v_proj'].map((n) => `model.layers.${i}.${n}`)));
      assertClose(ours, r.y, { rtol: 1e-4, atol: 1e-5, label: 'logits' });
    },
  };
}

/** An adapter written by PEFT's layout in PyTorch loads here and gives PyTorch's logits. */
function peftWrittenLoadsHere(): Check {
  const m = base();
  const dir = tmp();
  const x = ids();
  const { names, inputs } = hfInputs(m);
  return {
    name: 'an adapter written in PEFT\'s layout by PyTorch (r 3, α 7, gate/up/k) loads onto our base and gives PyTorch\'s logits',
    oracle: {
      code: [
        `HELPERS = ${JSON.stringify(HELPERS)}`, `names = ${JSON.stringify(names)}`, PEFT_FORWARD, `hf_cfg = json.loads(${JSON.stringify(JSON.stringify(hfConfig(m)))})`,
        `d = ${JSON.stringify(dir)}`,
        'torch.manual_seed(0)',
        'adapter = {}',
        'for i in range(hf_cfg["num_hidden_layers"]):',
        '    for mod in ("self_attn.k_proj", "mlp.gate_proj", "mlp.up_proj"):',
        '        w = sd[f"model.layers.{i}.{mod}.weight"]',
        '        adapter[f"base_model.model.model.layers.{i}.{mod}.lora_A.weight"] = torch.randn(3, w.shape[1]) * 0.2',
        '        adapter[f"base_model.model.model.layers.{i}.{mod}.lora_B.weight"] = torch.randn(w.shape[0], 3) * 0.2',
        'safetensors_ref.save(d + "/adapter_model.safetensors", adapter, {"format": "pt"})',
        'conf = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "Qwen/Qwen2.5-0.5B", "r": 3, "lora_alpha": 7, "lora_dropout": 0.05,',
        '        "target_modules": ["up_proj", "k_proj", "gate_proj"], "use_rslora": False, "use_dora": False, "bias": "none", "fan_in_fan_out": False,',
        '        "inference_mode": True, "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {}, "layers_to_transform": None, "revision": None}',
        'json.dump(conf, open(d + "/adapter_config.json", "w"))',
        'y, _ = peft_logits(adapter, conf, x)',
        'out = {"y": y}',
      ].join('\n'),
      inputs: { ...inputs, x },
    },
    check: (r) => {
      loadLoraAdapter(m, dir, { baseModel: '/models/Qwen2.5-0.5B/' });
      assert.deepEqual(loraConfigOf(m), { r: 3, alpha: 7, dropout: 0.05, targets: ['up_proj', 'k_proj', 'gate_proj'], rslora: false });
      m.eval();
      assertClose(logits(m, x), r.y, { rtol: 1e-4, atol: 1e-5, label: 'logits' });
    },
  };
}

oracleChecks([oursReadByPeft(), peftWrittenLoadsHere()]);

test('the saved files: PEFT\'s key names, shapes, dtype and metadata, and adapter_config.json\'s LoRA fields', () => {
  const m = trained({ r: 4, alpha: 16, dropout: 0.05 });
  const dir = tmp();
  saveLoraAdapter(m, dir, { baseModel: 'HuggingFaceTB/SmolLM2-135M' });
  assert.deepEqual(readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors'], 'two files, no temp file left');
  const h = readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
  const expected = new Map<string, number[]>();
  const dims: Record<string, [number, number]> = { // (in, out) with d 32, 4 q heads / 2 kv heads × 8, MLP 40
    'self_attn.q_proj': [32, 32], 'self_attn.k_proj': [32, 16], 'self_attn.v_proj': [32, 16], 'self_attn.o_proj': [32, 32],
    'mlp.gate_proj': [32, 40], 'mlp.up_proj': [32, 40], 'mlp.down_proj': [40, 32],
  };
  for (let i = 0; i < 2; i++)
    for (const [mod, [inF, outF]] of Object.entries(dims)) {
      expected.set(`base_model.model.model.layers.${i}.${mod}.lora_A.weight`, [4, inF]);
      expected.set(`base_model.model.model.layers.${i}.${mod}.lora_B.weight`, [outF, 4]);
    }
  const got = new Map(h.entries.map((e) => [e.name, e.shape]));
  assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
  for (const [k, s] of expected) assert.deepEqual(got.get(k), s, k);
  assert.ok(h.entries.every((e) => e.dtype === 'float32'));
  assert.deepEqual(h.metadata, { format: 'pt' });
  const conf = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  assert.deepEqual(
    { ...conf, target_modules: [...conf.target_modules].sort() },
    {
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'HuggingFaceTB/SmolLM2-135M', revision: null, r: 4, lora_alpha: 16, lora_dropout: 0.05,
      target_modules: ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'], use_rslora: false, use_dora: false, bias: 'none',
      fan_in_fan_out: false, init_lora_weights: true, modules_to_save: null, layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {}, inference_mode: true,
    });
});

test('save → load onto a fresh base: the same adapters bit for bit, the same logits', () => {
  const m = trained({ r: 2, alpha: 3, targets: ['q_proj', 'up_proj', 'lm_head'], dropout: 0.1, rslora: true });
  const dir = tmp();
  saveLoraAdapter(m, dir, { baseModel: 'base' });
  // The head sits at the top of a transformers CausalLM, outside its "model." decoder.
  const head = readSafetensorsHeader(join(dir, 'adapter_model.safetensors')).entries.filter((e) => e.name.includes('lm_head'));
  assert.deepEqual(head.map((e) => [e.name, e.shape]), [['base_model.model.lm_head.lora_A.weight', [2, 32]], ['base_model.model.lm_head.lora_B.weight', [40, 2]]]);
  const again = base();
  torch.manualSeed(21);
  const next = torch.rand([3]);
  torch.manualSeed(21);
  loadLoraAdapter(again, dir, { baseModel: 'base' });
  assert.equal(torch.rand([3]).sub(next).abs().max().item(), 0, 'loading draws no random numbers');
  assert.deepEqual(loraConfigOf(again), loraConfigOf(m));
  const a = loraModules(m), b = loraModules(again);
  assert.deepEqual(b.map(([n]) => n), a.map(([n]) => n));
  a.forEach(([n, l], i) => {
    assert.equal(l.lora_A.weight.sub(b[i][1].lora_A.weight).abs().max().item(), 0, `${n}.lora_A`);
    assert.equal(l.lora_B.weight.sub(b[i][1].lora_B.weight).abs().max().item(), 0, `${n}.lora_B`);
  });
  again.eval();
  const x = ids();
  assert.equal(logits(m, x).sub(logits(again, x)).abs().max().item(), 0);
  // Onto a model that already has the same LoRA: the weights are replaced, nothing re-applied.
  const third = base();
  applyLora(third, { r: 2, alpha: 3, targets: ['lm_head', 'up_proj', 'q_proj'], dropout: 0.1, rslora: true });
  loadLoraAdapter(third, dir);
  third.eval();
  assert.equal(logits(third, x).sub(logits(m, x)).abs().max().item(), 0);
});

test('an adapter for another base is refused naming both, and nothing is applied', () => {
  const m = trained({ r: 4, alpha: 8, targets: ['q_proj', 'down_proj'] });
  const dir = tmp();
  saveLoraAdapter(m, dir, { baseModel: 'Qwen/Qwen2.5-0.5B' });
  const untouched = (t: CausalLM) => {
    assert.equal(loraModules(t).length, 0, 'no adapter applied');
    assert.ok(t.parameters().every((p) => p.requiresGrad), 'nothing frozen');
  };
  // By name.
  const other = base();
  assert.throws(() => loadLoraAdapter(other, dir, { baseModel: 'meta-llama/Llama-3.2-1B' }),
    isConfig(/trained on base model 'Qwen\/Qwen2\.5-0\.5B', not on 'meta-llama\/Llama-3\.2-1B'/));
  untouched(other);
  // By shape: a wider MLP (down_proj takes 48 inputs).
  const wider = base(7, { hiddenDim: 48 });
  assert.throws(() => loadLoraAdapter(wider, dir),
    isConfig(/'base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight' has shape \[4, 40\] but this base model needs \[4, 48\] \(adapter for base 'Qwen\/Qwen2\.5-0\.5B'\).*intermediate_size 48/));
  untouched(wider);
  // By layers: a one-layer base has no module for layer 1's tensors.
  const shallow = base(7, { nLayers: 1 });
  assert.throws(() => loadLoraAdapter(shallow, dir), isConfig(/does not fit this base model \(adapter for base 'Qwen\/Qwen2\.5-0\.5B'\): tensors the base has no module for: 'base_model\.model\.model\.layers\.1\..*the base has 1 layers/));
  untouched(shallow);
  // A model whose LoRA has other settings (a checkpoint's) refuses the adapter, naming both.
  const mixed = base();
  applyLora(mixed, { r: 8, alpha: 8, targets: ['q_proj', 'down_proj'] });
  assert.throws(() => loadLoraAdapter(mixed, dir), isConfig(/adapter's settings \(r=4, alpha=8, dropout=0, targets=q_proj\+down_proj\) differ from the model's LoRA \(r=8, alpha=8, dropout=0, targets=q_proj\+down_proj\)/));
});

test('adapter folders that are not a plain PEFT LoRA are refused with one ConfigError each', () => {
  const m = trained({ r: 2, alpha: 4, targets: ['q_proj'] });
  const dir = tmp();
  saveLoraAdapter(m, dir, { baseModel: 'b' });
  const conf = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  const withConf = (patch: Record<string, unknown>) => {
    const d = tmp();
    writeFileSync(join(d, 'adapter_model.safetensors'), readFileSync(join(dir, 'adapter_model.safetensors')));
    writeFileSync(join(d, 'adapter_config.json'), JSON.stringify({ ...conf, ...patch }));
    return d;
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ peft_type: 'IA3' }, /peft_type is "IA3"; only LORA/],
    [{ use_dora: true }, /DoRA adapters are not supported/],
    [{ target_modules: '.*q_proj' }, /target_modules is the pattern ".\*q_proj"; only a list/],
    [{ rank_pattern: { q_proj: 8 } }, /rank_pattern is set/],
    [{ fan_in_fan_out: true }, /fan_in_fan_out is true/],
    [{ r: 0 }, /rank r must be an integer ≥ 1, got 0/],
    [{ lora_alpha: -1 }, /alpha must be a number > 0/],
    [{ target_modules: ['q_proj', 'c_attn'] }, /'c_attn' match no Linear module of this model; its Linear modules are q_proj, k_proj, v_proj, o_proj, gate_proj/],
  ];
  for (const [patch, re] of cases) {
    const t = base();
    assert.throws(() => loadLoraAdapter(t, withConf(patch)), isConfig(re), JSON.stringify(patch));
    assert.equal(loraModules(t).length, 0);
  }
  assert.throws(() => loadLoraAdapter(base(), tmp()), isConfig(/no adapter_config\.json \(not a PEFT adapter folder\)/));
  const noWeights = tmp();
  writeFileSync(join(noWeights, 'adapter_config.json'), JSON.stringify(conf));
  assert.throws(() => loadLoraAdapter(base(), noWeights), isConfig(/no adapter_model\.safetensors/));
  assert.throws(() => saveLoraAdapter(base(), tmp(), { baseModel: 'b' }), isConfig(/has no LoRA adapters/));
  assert.ok(!existsSync(join(noWeights, 'adapter_model.safetensors')));
});

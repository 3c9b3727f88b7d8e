// LoRA on the CausalLM against PyTorch: the reference Llama forward (test/helpers/llama_ref.py)
// with each targeted Linear's output plus s·B(A(dropout(x))), PEFT's lora.Linear.forward, on the
// same weights; PEFT's initialisation draws; merging; only the adapters training; bad settings;
// and the LM trainer resuming a LoRA run to bit-identical adapters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { CausalLM, type LmConfig } from '../../src/lm/model.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import {
  applyLora, loraParameters, loraConfigOf, mergeLora, parseLoraFlag, loraModules, LoraLinear, DEFAULT_LORA_TARGETS, type LoraConfig,
} from '../../src/lm/lora.js';
import type { Linear } from '../../src/nn/index.js';
import { trainLm } from '../../src/reason/sft.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { launch } from '../helpers/dist.js';
import { assertClose } from '../helpers/assert.js';
import type { OracleValue } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));

function ids(B: number, T: number, V: number, seed: number): torch.Tensor {
  torch.manualSeed(seed);
  return torch.randint(0, V, [B, T]);
}

/** A LoRA'd model whose B are random (B starts at zero, which would hide the adapter's path). */
function loraModel(cfg: Partial<LmConfig> & { vocabSize: number }, lora: LoraConfig): CausalLM {
  torch.manualSeed(7);
  const m = new CausalLM(cfg);
  applyLora(m, lora, 11);
  torch.noGrad(() => loraModules(m).forEach(([, l]) => l.lora_B.weight.copy_(torch.randn([...l.lora_B.weight.shape]).mul(0.1))));
  return m;
}

/**
 * Our logits and the gradients of Σ logits·g for a LoRA'd model; PyTorch recomputes both with the
 * base weights as constants and A, B as leaves. With dropout, both sides seed libtorch's
 * generator alike right before the forward and draw the masks in the same order (q, k, v, o,
 * gate, up, down per layer), so the masks are the same.
 */
function parity(name: string, cfg: Partial<LmConfig> & { vocabSize: number }, lora: LoraConfig, B: number, T: number): Check {
  const m = loraModel(cfg, lora);
  const x = ids(B, T, cfg.vocabSize, 3);
  const g = torch.randn([B, T, cfg.vocabSize]);
  torch.manualSeed(99);
  m.train();
  const logits = m.call(x);
  logits.mul(g).sum().backward();
  const base = Object.entries(m.stateDict()).filter(([k]) => !k.includes('.lora_'));
  const mods = loraModules(m);
  const inputs: Record<string, torch.Tensor> = { x, g };
  base.forEach(([, t], i) => (inputs[`p${i}`] = t));
  mods.forEach(([, l], i) => {
    inputs[`a${i}`] = l.lora_A.weight;
    inputs[`b${i}`] = l.lora_B.weight;
  });
  const c = loraConfigOf(m)!;
  // The scale from the config, computed on the Python side.
  const scale = c.rslora ? `${c.alpha} / math.sqrt(${c.r})` : `${c.alpha} / ${c.r}`;
  return {
    name: `${name}: logits and the adapters' gradients match PyTorch; the frozen base gets none`,
    oracle: {
      code: [
        `import sys, json, math; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
        'import torch.nn.functional as F',
        'from llama_ref import llama_logits',
        `names = ${JSON.stringify(base.map(([k]) => k))}`,
        `mods = ${JSON.stringify(mods.map(([n]) => n))}`,
        'sd = {n: globals()[f"p{i}"] for i, n in enumerate(names)}',
        'A = [globals()[f"a{i}"] for i in range(len(mods))]',
        'Bs = [globals()[f"b{i}"] for i in range(len(mods))]',
        `s = ${scale}`,
        // PEFT's lora.Linear.forward: result + lora_B(lora_A(dropout(x))) * scaling
        `lora = {n: (lambda a, b: (lambda h: F.linear(F.linear(F.dropout(h, ${c.dropout}, True), a), b) * s))(A[i], Bs[i]) for i, n in enumerate(mods)}`,
        'torch.manual_seed(99)',
        `y = llama_logits(sd, json.loads(${JSON.stringify(JSON.stringify(m.cfg))}), x, lora)`,
        '(y * g).sum().backward()',
        'out = {"y": y, "ga": [a.grad for a in A], "gb": [b.grad for b in Bs]}',
      ].join('\n'),
      inputs,
      grad: mods.flatMap((_, i) => [`a${i}`, `b${i}`]),
    },
    check: (r) => {
      assertClose(logits, r.y, { rtol: 1e-4, atol: 1e-5, label: 'logits' });
      mods.forEach(([n, l], i) => {
        assertClose(l.lora_A.weight.grad!, (r.ga as OracleValue[])[i], { rtol: 1e-3, atol: 1e-5, label: `grad ${n}.lora_A` });
        assertClose(l.lora_B.weight.grad!, (r.gb as OracleValue[])[i], { rtol: 1e-3, atol: 1e-5, label: `grad ${n}.lora_B` });
      });
      for (const [k, t] of base) assert.equal(t.grad, null, `${k} is frozen and must get no gradient`);
    },
  };
}

/** PEFT's update_layer draws: nn.Linear(in, r), nn.Linear(r, out), then kaiming_uniform_(A, a=√5) and zeros_(B). */
function initParity(): Check {
  const cfg = { vocabSize: 20, dim: 16, nLayers: 2, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 8 };
  torch.manualSeed(1);
  const m = new CausalLM(cfg);
  applyLora(m, { r: 3, alpha: 6 }, 1234);
  const mods = loraModules(m);
  return {
    name: "applyLora with a seed draws A exactly as PEFT's LoRA layers after torch.manual_seed; B is zero",
    oracle: {
      code: [
        'import math',
        `shapes = ${JSON.stringify(mods.map(([, l]) => [l.inFeatures, l.outFeatures]))}`,
        'torch.manual_seed(1234)',
        'As = []',
        'for i, o in shapes:',
        '    a = torch.nn.Linear(i, 3, bias=False); b = torch.nn.Linear(3, o, bias=False)',
        '    torch.nn.init.kaiming_uniform_(a.weight, a=math.sqrt(5)); torch.nn.init.zeros_(b.weight)',
        '    As.append(a.weight.detach())',
        'out = {"A": As}',
      ].join('\n'),
    },
    check: (r) => {
      assert.deepEqual(mods.map(([n]) => n.split('.').pop()), [0, 1].flatMap(() => DEFAULT_LORA_TARGETS), 'model order, every default target');
      mods.forEach(([n, l], i) => {
        assertClose(l.lora_A.weight, (r.A as OracleValue[])[i], { rtol: 0, atol: 0, label: `${n}.lora_A` });
        assert.equal(l.lora_B.weight.abs().max().item(), 0);
      });
    },
  };
}

const tiny = { vocabSize: 40, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 40, maxSeqLen: 16 };

oracleChecks([
  parity('every default target, GQA, Qwen2 q/k/v biases', { ...tiny, arch: 'qwen2', qkvBias: true }, { r: 4, alpha: 8 }, 2, 7),
  parity('q_proj+v_proj, rsLoRA, tied head', { ...tiny, tieEmbeddings: true }, { r: 3, alpha: 5, targets: ['q_proj', 'v_proj'], rslora: true }, 2, 6),
  parity('dropout 0.25 on the adapter input (training mode)', tiny, { r: 2, alpha: 4, dropout: 0.25, targets: ['o_proj', 'up_proj', 'down_proj'] }, 2, 5),
  initParity(),
]);

test('stateDict keeps every base key and adds lora_A/lora_B; only the adapters require grad', () => {
  torch.manualSeed(1);
  const m = new CausalLM(tiny);
  const before = Object.keys(m.stateDict());
  applyLora(m, { r: 4, alpha: 8, targets: ['q_proj', 'down_proj'] });
  const sd = m.stateDict();
  const added = Object.keys(sd).filter((k) => !before.includes(k));
  assert.ok(before.every((k) => k in sd), 'base keys unchanged');
  assert.deepEqual(added.sort(), [0, 1].flatMap((i) => ['self_attn.q_proj', 'mlp.down_proj'].flatMap((n) => [`layers.${i}.${n}.lora_A.weight`, `layers.${i}.${n}.lora_B.weight`])).sort());
  assert.deepEqual(sd['layers.0.self_attn.q_proj.lora_A.weight'].shape, [4, 32]);
  assert.deepEqual(sd['layers.1.mlp.down_proj.lora_B.weight'].shape, [32, 4]);
  const trainable = m.parameters().filter((p) => p.requiresGrad);
  const adapters = loraParameters(m);
  assert.equal(adapters.length, 8);
  assert.equal(trainable.length, adapters.length);
  assert.ok(adapters.every((p) => trainable.includes(p)));
  assert.deepEqual(loraConfigOf(m), { r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'down_proj'], rslora: false });
});

test('mergeLora: W ← W + s·B·A, the merged model gives the unmerged logits (≤ 1e-5), plain Linears and base keys again', () => {
  const m = loraModel(tiny, { r: 4, alpha: 16, dropout: 0.1 });
  m.eval(); // dropout off: the adapter's output is deterministic
  const x = ids(2, 9, tiny.vocabSize, 4);
  const unmerged = torch.noGrad(() => m.call(x));
  const l = loraModules(m)[0][1];
  const expected = torch.noGrad(() => l.weight.add(torch.matmul(l.lora_B.weight, l.lora_A.weight).mul(16 / 4)));
  const keys = Object.keys(m.stateDict()).filter((k) => !k.includes('.lora_'));
  mergeLora(m);
  assert.equal(loraModules(m).length, 0);
  assert.equal(loraConfigOf(m), null);
  assert.deepEqual(Object.keys(m.stateDict()), keys);
  assert.equal(m.stateDict()['layers.0.self_attn.q_proj.weight'].sub(expected).abs().max().item(), 0);
  assert.ok(m.parameters().every((p) => p.requiresGrad), 'the base trains again after a merge');
  const merged = torch.noGrad(() => m.call(x));
  const d = merged.sub(unmerged).abs().max().item();
  assert.ok(d <= 1e-5, `max |merged − unmerged| = ${d}`);
  assert.throws(() => mergeLora(m), /no LoRA adapters/);
});

test('saveLm refuses a model with unmerged adapters (its folder would not load) and writes nothing', () => {
  const m = loraModel(tiny, { r: 2, alpha: 2 });
  const dir = join(mkdtempSync(join(tmpdir(), 'lora-savelm-')), 'lm');
  assert.throws(() => saveLm(dir, m, new ByteTokenizer()), (e: Error) => e instanceof torch.ConfigError && /has LoRA adapters; merge them first \(mergeLora\)/.test(e.message));
  assert.ok(!existsSync(dir));
});

test('parseLoraFlag reads the CLI form; bad settings are one ConfigError each', () => {
  assert.deepEqual(parseLoraFlag('r=16,alpha=32'), { r: 16, alpha: 32 });
  assert.deepEqual(parseLoraFlag('r=8, alpha=16,dropout=0.05,targets=q_proj+v_proj,rslora'), { r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'], rslora: true });
  assert.deepEqual(parseLoraFlag('r=8,alpha=16,rslora=false'), { r: 8, alpha: 16, rslora: false });
  const bad: [string, RegExp][] = [
    ['r=0,alpha=8', /rank r must be an integer ≥ 1, got 0/],
    ['r=-2,alpha=8', /rank r must be an integer ≥ 1, got -2/],
    ['r=2.5,alpha=8', /rank r must be an integer ≥ 1, got 2.5/],
    ['r=x,alpha=8', /r='x' is not a number/],
    ['r=8,alpha=0', /alpha must be a number > 0, got 0/],
    ['r=8,alpha=16,dropout=1', /dropout must be in \[0, 1\), got 1/],
    ['r=8,alpha=16,dropout=-0.1', /dropout must be in \[0, 1\)/],
    ['r=8', /r and alpha are required/],
    ['r=8,alpha=16,rank=3', /unknown setting 'rank'/],
    ['r=8,r=4,alpha=16', /'r' is given twice/],
    ['r=8,alpha=16,targets=', /targets must be a non-empty list/],
    ['', /empty value/],
  ];
  for (const [s, re] of bad) assert.throws(() => parseLoraFlag(s), (e: Error) => e instanceof torch.ConfigError && re.test(e.message), s);
});

test('applyLora refuses targets that match no Linear (naming those that exist), bad settings, and a second application', () => {
  torch.manualSeed(1);
  const m = new CausalLM(tiny);
  const isConfig = (re: RegExp) => (e: Error) => e instanceof torch.ConfigError && re.test(e.message);
  assert.throws(() => applyLora(m, { r: 4, alpha: 8, targets: ['q_proj', 'qkv_proj'] }),
    isConfig(/target\(s\) 'qkv_proj' match no Linear module of this model; its Linear modules are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head/));
  assert.throws(() => applyLora(m, { r: 4, alpha: 8, targets: ['mlp'] }), isConfig(/'layers\.0\.mlp' is a SwiGLU, not a Linear/));
  assert.throws(() => applyLora(m, { r: 0, alpha: 8 }), isConfig(/rank r must be an integer ≥ 1/));
  assert.throws(() => applyLora(m, { r: 3.5, alpha: 8 }), isConfig(/rank r must be an integer ≥ 1/));
  assert.throws(() => applyLora(m, { r: 4, alpha: -1 }), isConfig(/alpha must be a number > 0/));
  assert.throws(() => applyLora(m, { r: 4, alpha: 8, dropout: 1 }), isConfig(/dropout must be in \[0, 1\)/));
  // Nothing was changed by the refusals.
  assert.equal(loraModules(m).length, 0);
  assert.ok(m.parameters().every((p) => p.requiresGrad));
  applyLora(m, { r: 4, alpha: 8 });
  assert.throws(() => applyLora(m, { r: 4, alpha: 8 }), isConfig(/already has LoRA adapters/));
});

test('trainLm with LoRA: the base stays bit-identical, the adapters train, and a killed run resumes to bit-identical adapters', () => {
  const tok = new ByteTokenizer();
  const examples = ['x+y=10', 'y=8/2=4', '2y=28-20=8', 'x=10-4=6'].map((s, i) => ({ prompt: tok.chatPrompt([{ role: 'user', content: `q${i}` }]), completion: [...tok.encode(s), tok.eosId] }));
  const cfg = { vocabSize: tok.vocabSize, dim: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, hiddenDim: 24, maxSeqLen: 64 };
  const lora = { r: 4, alpha: 8, dropout: 0.1 }; // dropout: the resume must restore the generator too
  const run = (ckpt: string, crashAt?: number, l: LoraConfig = lora) => {
    torch.manualSeed(5);
    const m = new CausalLM(cfg);
    applyLora(m, l, 6);
    // trainLm adds the LoRA settings to the recipe: a resume with others is refused by the Trainer.
    trainLm({ model: m, examples, steps: 12, batchSize: 3, lr: 1e-2, seed: 9, padId: tok.eosId, checkpoint: ckpt, checkpointEvery: 4, recipe: { lr: 1e-2 }, onStep: (s) => {
      if (s.step === crashAt) throw new Error('killed');
    } });
    return m;
  };
  torch.manualSeed(5);
  const init = new CausalLM(cfg);
  const dir = mkdtempSync(join(tmpdir(), 'lora-sft-'));
  const straight = run(join(dir, 'a.ckpt'));
  for (const [k, t] of Object.entries(init.stateDict())) assert.equal(t.sub(straight.stateDict()[k]).abs().max().item(), 0, `base ${k} must not move`);
  const B0 = loraModules(straight)[0][1].lora_B.weight;
  assert.ok(B0.abs().max().item() > 0, 'the adapters trained (B left zero)');
  assert.throws(() => run(join(dir, 'b.ckpt'), 10), /killed/);
  const before = readFileSync(join(dir, 'b.ckpt'));
  // Another alpha changes no tensor shape: only the recipe tells it apart.
  assert.throws(() => run(join(dir, 'b.ckpt'), undefined, { ...lora, alpha: 16 }), (e: Error) => e instanceof torch.ConfigError && /other options .*"alpha":8.*now .*"alpha":16/.test(e.message));
  assert.throws(() => run(join(dir, 'b.ckpt'), undefined, { ...lora, r: 8 }), (e: Error) => e instanceof torch.ConfigError && /b\.ckpt was written by a run with other options \(\{"lr":0\.01,"lora":\{"r":4,"alpha":8,"dropout":0\.1,.*now \{"lr":0\.01,"lora":\{"r":8,/.test(e.message));
  assert.ok(readFileSync(join(dir, 'b.ckpt')).equals(before), 'the refused resume left the checkpoint as it was');
  const resumed = run(join(dir, 'b.ckpt'));
  for (const [k, t] of Object.entries(straight.stateDict())) {
    const d = t.sub(resumed.stateDict()[k]).abs().max().item();
    assert.equal(d, 0, `${k} differs by ${d}`);
  }
});

test('a bfloat16 base: float32 adapters, output in bfloat16 equal to the float32 computation rounded, and merge in bfloat16', () => {
  torch.manualSeed(3);
  const w = torch.randn([6, 8]).toDtype('bfloat16');
  const base = { weight: w, bias: null, inFeatures: 8, outFeatures: 6 } as unknown as Linear;
  const l = new LoraLinear(base, 2, 4, 0, false);
  torch.noGrad(() => l.lora_B.weight.copy_(torch.randn([6, 2])));
  assert.equal(l.lora_A.weight.dtype, 'float32');
  const x = torch.randn([3, 8]).toDtype('bfloat16');
  const y = torch.noGrad(() => l.call(x));
  assert.equal(y.dtype, 'bfloat16');
  // Float32 reference: bf16(x·Wᵀ) + bf16(2·(x·Aᵀ)·Bᵀ), each part as PEFT computes it.
  const xf = x.toDtype('float32');
  const want = torch.noGrad(() => torch.matmul(xf, w.toDtype('float32').transpose(0, 1)).toDtype('bfloat16').toDtype('float32')
    .add(torch.matmul(torch.matmul(xf, l.lora_A.weight.transpose(0, 1)), l.lora_B.weight.transpose(0, 1)).mul(2).toDtype('bfloat16').toDtype('float32')));
  const d = y.toDtype('float32').sub(want).abs().max().item();
  assert.ok(d <= 0.02 * want.abs().max().item(), `bf16 LoRA output off by ${d}`);
  const delta = l.deltaWeight();
  assert.equal(delta.dtype, 'bfloat16');
});

test('data parallel (2 processes over c10d): only the adapters are all-reduced, and 2 ranks × 2 rows reach 1 process × 4 rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lora-dist-'));
  const run = async (world: number) => {
    const ranks = await launch(world, { mode: 'lora', rows: 4, out: join(dir, `w${world}`) });
    const exits = await Promise.all(ranks.map((r) => r.exited));
    exits.forEach((e, i) => assert.equal(e.code, 0, `rank ${i}: ${ranks[i].stderr} ${JSON.stringify(ranks[i].lines)}`));
    return Array.from({ length: world }, (_, r) => JSON.parse(readFileSync(join(dir, `w${world}.${r}.json`), 'utf8')) as { state: Record<string, number[]>; frozenGrads: number });
  };
  const [one] = await run(1);
  const two = await run(2);
  assert.deepEqual(two[0].state, two[1].state, 'replicas stay bit-identical');
  assert.deepEqual(two.map((r) => r.frozenGrads), [0, 0], 'no frozen parameter was given a gradient to all-reduce');
  let moved = 0;
  for (const [k, v] of Object.entries(one.state)) {
    const d = Math.max(...v.map((x, i) => Math.abs(x - two[0].state[k][i])));
    assert.ok(d < 1e-5, `${k}: max |Δ| ${d}`);
    if (k.includes('lora_B')) moved = Math.max(moved, ...v.map(Math.abs));
  }
  assert.ok(moved > 0, 'the adapters trained');
});

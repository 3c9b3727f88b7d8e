// `distill reason prune` of the Qwen layouts, through the CLI: a Qwen2 teacher (random q/k/v
// biases, tied head) and a Qwen3 teacher (q/k norms, head_dim 32 ≠ 64 / 4 heads) as Hugging Face
// folders with the real Llama 2 tokenizer are pruned (layers, heads, MLP width, residual
// channels), the pruned LM folder is exported to a Hugging Face folder, and the PyTorch
// reference (test/helpers/llama_ref.py, modelled on transformers' modeling_qwen2/qwen3.py) runs
// those weights: its logits equal our pruned model's; the HF folder reloads here with the same
// logits and the teacher's tokenizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportHfLm } from '../../src/export/index.js';
import { loadAnyLm } from '../../src/lm/load.js';
import type { LmConfig } from '../../src/lm/model.js';
import { randomWeightsLm } from '../export/lm_fixtures.js';
import { realTokenizer } from '../helpers/real_tokenizers.js';
import { maxDiff, ourLogits, referenceLogits } from '../helpers/hf_folder_ref.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const work = mkdtempSync(join(tmpdir(), 'distill-prune-qwen-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** Verified traces to calibrate on (the shipped teacher's, on 8 problems). */
let tracesFile: string | undefined;
function traces(): string {
  if (tracesFile) return tracesFile;
  const problems = join(work, 'problems.jsonl'), out = join(work, 'traces');
  assert.equal(cli('reason', 'problems', '--families', 'chickens-rabbits', '--n', '8', '--out', problems).status, 0);
  const t = cli('reason', 'traces', '--problems', problems, '--lm', TEACHER, '--out', out);
  assert.equal(t.status, 0, t.stderr);
  return (tracesFile = join(out, 'traces.jsonl'));
}

/** PyTorch's logits of `ids` on the HF folder `dir`; also checks the folder holds the layout's own tensors. */
const reference = (dir: string, ids: number[], mustHave: string[]) =>
  referenceLogits(dir, ids, `missing = [k for k in ${JSON.stringify(mustHave)} if k not in sd]\nassert not missing, missing`);

const BASE = { dim: 64, nLayers: 3, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 256, ropeTheta: 1e6, normEps: 1e-6 };
const CASES: { name: string; cfg: Partial<LmConfig>; flags: string[]; want: Partial<LmConfig>; tensors: string[] }[] = [
  {
    name: 'qwen2', cfg: { ...BASE, arch: 'qwen2', qkvBias: true, tieEmbeddings: true },
    flags: ['--dim', '32', '--heads', '2', '--kv-heads', '1', '--layers', '2', '--hidden', '64'],
    want: { arch: 'qwen2', dim: 32, nHeads: 2, nKvHeads: 1, headDim: 16, nLayers: 2, hiddenDim: 64, qkvBias: true, tieEmbeddings: true },
    tensors: ['model.layers.1.self_attn.q_proj.bias', 'model.layers.1.self_attn.k_proj.bias', 'model.layers.0.self_attn.v_proj.bias'],
  },
  {
    name: 'qwen3', cfg: { ...BASE, arch: 'qwen3', qkNorm: true, headDim: 32 },
    // 48 / 2 heads = 24, but Qwen3's head_dim is its own: it stays 32.
    flags: ['--dim', '48', '--heads', '2', '--kv-heads', '1', '--layers', '2', '--hidden', '96'],
    want: { arch: 'qwen3', dim: 48, nHeads: 2, nKvHeads: 1, headDim: 32, nLayers: 2, hiddenDim: 96, qkNorm: true },
    tensors: ['model.layers.1.self_attn.q_norm.weight', 'model.layers.0.self_attn.k_norm.weight', 'lm_head.weight'],
  },
];

for (const c of CASES)
  test(`reason prune of a ${c.name} HF folder: the pruned weights run in PyTorch with our logits; the pruned HF folder reloads`, (t) => {
    const tok = realTokenizer('llama2');
    const teacherDir = join(work, `${c.name}-teacher`);
    const m = randomWeightsLm({ ...c.cfg, vocabSize: tok.vocabSize }, 21);
    try {
      exportHfLm(m, tok, teacherDir);
    } finally {
      m.dispose();
    }
    const pruned = join(work, `${c.name}-pruned`);
    const r = cli('reason', 'prune', '--teacher', teacherDir, '--traces', traces(), '--out', pruned, ...c.flags, '--json');
    assert.equal(r.status, 0, r.stderr);
    const student = loadAnyLm(pruned);
    const hfDir = join(work, `${c.name}-pruned-hf`);
    const e = cli('export', pruned, '--format', 'safetensors', '--out', hfDir, '--json');
    assert.equal(e.status, 0, e.stderr);
    const back = loadAnyLm(join(hfDir, 'hf'));
    try {
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(student.model.cfg[k as keyof LmConfig], v, k);
      assert.deepEqual(back.model.cfg, student.model.cfg, 'the HF folder reloads with the pruned config');
      const text = 'Hello 世界: 10 heads, 28 legs?';
      assert.deepEqual(back.tokenizer.encode(text), tok.encode(text));
      const ids = tok.encode(text, { addSpecialTokens: true });
      const ours = ourLogits(student.model, ids);
      const d = maxDiff(ours, reference(join(hfDir, 'hf'), ids, c.tensors));
      t.diagnostic(`${c.name} pruned (${JSON.parse(r.stdout).params} of ${JSON.parse(r.stdout).teacherParams} parameters): max |ours − PyTorch| = ${d.toExponential(2)}`);
      assert.ok(d < 1e-4, `max |ours − PyTorch| = ${d}`);
      assert.equal(maxDiff(ours, ourLogits(back.model, ids)), 0);
    } finally {
      student.model.dispose();
      back.model.dispose();
    }
  });

// ONNX export of the LM: the official checker (onnx 1.12, full_check) accepts every file,
// and onnxruntime-node's logits equal our libtorch forward to 1e-4 on 100 random token
// sequences in batches of varying batch size and sequence length (both axes dynamic).
// The int8 file: weights within half a quantisation step of ours, and the shipped teacher's
// next-token predictions kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { decodeModel } from '../../src/export/onnx_graph.js';
import { maxAbsDiff, ortSession } from '../../src/export/check.js';
import { exportOnnxLm, buildOnnxLm } from '../../src/export/onnx_lm.js';
import { compareLmWithOrt, ortLmLogits, ourLmLogits, randomIdBatches } from '../../src/export/lm_check.js';
import { SMALL, randomLm } from './lm_fixtures.js';
import { onnxCheck } from './fixtures.js';
import { loadLm } from '../../src/lm/checkpoint.js';
import { generateProblems } from '../../src/reason/problems/index.js';
import { fileURLToPath } from 'node:url';

const TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'distill-onnx-lm-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const SM = SMALL as Required<typeof SMALL>;
const CASES = [
  { name: 'gqa', cfg: SMALL },
  { name: 'tied-mha', cfg: { ...SMALL, vocabSize: 97, dim: 48, nLayers: 3, nHeads: 6, nKvHeads: 6, hiddenDim: 80, maxSeqLen: 40, tieEmbeddings: true, ropeTheta: 500, normEps: 1e-6 } },
  { name: 'mqa', cfg: { ...SMALL, vocabSize: 50, nKvHeads: 1, nLayers: 1, maxSeqLen: 24 } },
];

/** A random model with weights scaled ×6, so logits are large enough for the tolerance to mean something. */
function model(cfg: typeof SMALL, seed: number) {
  const m = randomLm(cfg, seed);
  torch.noGrad(() => m.parameters().forEach((p) => void (p.ndim === 2 && p.mul_(6))));
  return m;
}

test('checker accepts; onnxruntime-node equals libtorch to 1e-4 on 100 random sequences of varying batch and length', async (t) => {
  const files: string[] = [];
  for (const [i, c] of CASES.entries()) {
    const m = model(c.cfg, 10 + i);
    const path = join(work, `${c.name}.onnx`);
    const before = torch.memory().liveTensors;
    const info = exportOnnxLm(m, path, { modelName: c.name, metadata: { fixture: c.name } });
    assert.equal(torch.memory().liveTensors, before, `${c.name}: export leaks no tensors`);
    assert.equal(info.bytes, statSync(path).size);
    files.push(path);
    const s = await ortSession(path);
    const batches = randomIdBatches(m.cfg.vocabSize, m.cfg.maxSeqLen, 100, 3 + i);
    assert.ok(new Set(batches.map((b) => b.shape[0])).size >= 4 && new Set(batches.map((b) => b.shape[1])).size >= 8, 'both axes vary');
    const r = await compareLmWithOrt(m, s, batches);
    const scale = Math.max(...batches.slice(0, 3).flatMap((b) => Array.from(ourLmLogits(m, b), Math.abs)));
    t.diagnostic(`${c.name}: ${r.samples} sequences (${r.tokens} positions, ${batches.length} runs), max |ours − ort| = ${r.maxAbsDiff.toExponential(2)} (logits up to ${scale.toFixed(1)}), argmax mismatches ${r.argmaxMismatches}`);
    assert.equal(r.samples, 100);
    assert.ok(r.maxAbsDiff <= 1e-4, `${c.name}: max |ours − ort| = ${r.maxAbsDiff}`);
    assert.equal(r.argmaxMismatches, 0);
    // The longest sequence the model takes also runs.
    const full = { ids: BigInt64Array.from({ length: 2 * m.cfg.maxSeqLen }, (_, k) => BigInt((k * 7) % m.cfg.vocabSize)), shape: [2, m.cfg.maxSeqLen] as [number, number] };
    const d = maxAbsDiff(await ortLmLogits(s, full), ourLmLogits(m, full));
    assert.ok(d <= 1e-4, `${c.name} at maxSeqLen: ${d}`);
    await s.release();
  }
  const checked = onnxCheck(files);
  for (const f of files) assert.deepEqual(checked[f], { ir: 8, opset: 17, batch: 'batch', output_batch: 'batch' }, f);
});

test('the file: int64 input_ids (batch, sequence), logits (batch, sequence, vocab), opset-17 ops only, weights under our names', () => {
  const m = randomLm(SMALL, 1);
  const { bytes, info } = buildOnnxLm(m, { metadata: { role: 'student' } });
  const pm = decodeModel(bytes);
  assert.equal(Number(pm.irVersion), 8);
  assert.equal(pm.producerName, 'distill');
  assert.match(pm.producerVersion ?? '', /^\d+\.\d+\.\d+/);
  assert.deepEqual(pm.opsetImport!.map((o) => [o.domain, Number(o.version)]), [['', 17]]);
  const g = pm.graph!;
  const dims = (v: NonNullable<typeof g.input>[number]) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  assert.deepEqual(g.input!.map((v) => [v.name, v.type!.tensorType!.elemType, dims(v)]), [['input_ids', 7, ['batch', 'sequence']]]);
  assert.deepEqual(g.output!.map((v) => [v.name, v.type!.tensorType!.elemType, dims(v)]), [['logits', 1, ['batch', 'sequence', 260]]]);
  const allowed = new Set(['Shape', 'Slice', 'Concat', 'Expand', 'Trilu', 'Gather', 'Pow', 'ReduceMean', 'Add', 'Sqrt', 'Div', 'Mul', 'MatMul',
    'Reshape', 'Transpose', 'Neg', 'Unsqueeze', 'Softmax', 'Sigmoid']);
  for (const op of Object.keys(info.ops)) assert.ok(allowed.has(op), op);
  assert.equal(info.ops.Softmax, SM.nLayers);
  assert.equal(info.ops.Unsqueeze, 2 * SM.nLayers, 'GQA: k and v expanded in each layer');
  const names = new Set(g.initializer!.map((x) => x.name));
  for (const n of ['embed_tokens.weight', 'layers.1.self_attn.k_proj.weight_t', 'layers.0.mlp.down_proj.weight_t', 'norm.weight', 'lm_head.weight_t', 'rope.cos', 'rope.sin'])
    assert.ok(names.has(n), n);
  const params = m.parameters().reduce((a, p) => a + p.numel, 0);
  const hd = SM.dim / SM.nHeads;
  assert.ok(info.params >= params + 2 * SM.maxSeqLen * hd && info.params < params + 2 * SM.maxSeqLen * hd + 16, `${info.params} stored floats`);
  const meta = Object.fromEntries(pm.metadataProps!.map((p) => [p.key, p.value]));
  assert.equal(meta.role, 'student');
  assert.deepEqual(JSON.parse(meta.lm_config!), m.cfg);
  // Tied: no lm_head initializer, one Transpose of the embedding.
  const tied = buildOnnxLm(randomLm({ ...SMALL, tieEmbeddings: true }, 1));
  const tnames = decodeModel(tied.bytes).graph!.initializer!.map((x) => x.name);
  assert.ok(!tnames.some((n) => n!.startsWith('lm_head')));
  assert.ok(tied.info.bytes < info.bytes - 4 * 260 * 64 + 1024);
});

// Debian's onnx 1.12 knows opsets up to 17, so its checker cannot judge an opset-18 file;
// onnxruntime (which implements 18) is the check here.
test('opset 18 (ReduceMean axes as an input) runs in onnxruntime and matches', async () => {
  const m = model(SMALL, 4);
  const path = join(work, 'opset18.onnx');
  assert.equal(exportOnnxLm(m, path, { opset: 18 }).opset, 18);
  const s = await ortSession(path);
  const r = await compareLmWithOrt(m, s, randomIdBatches(260, SM.maxSeqLen, 12, 9));
  assert.ok(r.maxAbsDiff <= 1e-4, String(r.maxAbsDiff));
  await s.release();
});

test('unsupported: a classifier, a substituted layer, an opset outside 17–20; ConfigError and no file', () => {
  const path = join(work, 'bad.onnx');
  assert.throws(() => exportOnnxLm(new nn.Sequential(new nn.Linear(3, 3)), path), /ONNX export: the model \(Sequential\) is not supported/);
  const m = randomLm(SMALL, 2);
  m.layers.at(1).registerModule('post_attention_layernorm', new nn.LayerNorm(64));
  assert.throws(() => exportOnnxLm(m, path), /layer 'layers\.1\.post_attention_layernorm' \(LayerNorm\) is not supported.*expected LlamaRMSNorm/);
  assert.throws(() => exportOnnxLm(randomLm(SMALL, 2), path, { opset: 13 }), /opset 13 is not supported/);
  assert.throws(() => statSync(path), /ENOENT/);
});

test('int8: every Linear is MatMulInteger on per-channel int8 weights within half a step of ours; the shipped teacher predicts the same next tokens on real solutions', async (t) => {
  // The weights: W_q · w_scale reproduces each of our weights to half a quantisation step.
  const m = randomLm(SMALL, 5);
  const { bytes, info } = buildOnnxLm(m, { quantize: 'int8' });
  assert.equal(info.quantized, true);
  const linears = 1 + SM.nLayers * 7; // q, k, v, o, gate, up, down per layer + the untied lm_head
  assert.equal(info.ops.MatMulInteger, linears);
  assert.equal(info.ops.DynamicQuantizeLinear, linears);
  const inits = new Map(decodeModel(bytes).graph!.initializer!.map((x) => [x.name!, x]));
  for (const [name, p] of m.namedParameters()) {
    if (p.ndim !== 2 || name === 'embed_tokens.weight') continue;
    const base = name.replace(/\.weight$/, '');
    const q = inits.get(`${base}.weight_q`), s = inits.get(`${base}.weight_scale`);
    assert.ok(q && s, `${base}: int8 weight and scale`);
    assert.equal(q.dataType, 3, `${base}: INT8`);
    const [outF, inF] = p.shape;
    const qv = new Int8Array(q.rawData!.buffer, q.rawData!.byteOffset, inF * outF);
    const sv = new Float32Array(Uint8Array.from(s.rawData!).buffer);
    const w = p.dataSync() as Float32Array;
    let worst = 0;
    for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) worst = Math.max(worst, Math.abs(qv[i * outF + o] * sv[o] - w[o * inF + i]) / sv[o]);
    assert.ok(worst <= 0.5 + 1e-3, `${base}: worst error ${worst} steps`);
  }
  const file = join(work, 'int8.onnx');
  writeFileSync(file, bytes);
  assert.deepEqual(onnxCheck([file])[file], { ir: 8, opset: 17, batch: 'batch', output_batch: 'batch' });

  // The shipped teacher on prompts + reference solutions of held-out problems: where it writes
  // the solution, int8 picks our float model's next token almost everywhere (the prompt's
  // positions are left out: there the next token is a guess for either model). The file is
  // about 3.5× smaller (the embedding stays float).
  const { model: teacher, tokenizer } = loadLm(TEACHER);
  const problems = generateProblems({ families: ['chickens-rabbits'], n: 16, seed: 7, split: 'test', lang: 'both' });
  const float = exportOnnxLm(teacher, join(work, 'teacher.onnx'));
  const q8 = exportOnnxLm(teacher, join(work, 'teacher.int8.onnx'), { quantize: 'int8' });
  const s = await ortSession(join(work, 'teacher.int8.onnx'));
  const V = teacher.cfg.vocabSize;
  const argmax = (z: Float32Array, r: number) => {
    let best = 0;
    for (let i = 1; i < V; i++) if (z[r * V + i] > z[r * V + best]) best = i;
    return best;
  };
  let same = 0, positions = 0, worst = 0;
  for (const p of problems) {
    const prompt = tokenizer.chatPrompt([{ role: 'user', content: p.question }]);
    const ids = [...prompt, ...tokenizer.encode(p.solution!)];
    const b = { ids: BigInt64Array.from(ids, BigInt), shape: [1, ids.length] as [number, number] };
    const ours = ourLmLogits(teacher, b), theirs = await ortLmLogits(s, b);
    worst = Math.max(worst, maxAbsDiff(ours, theirs));
    for (let r = prompt.length - 1; r < ids.length - 1; r++, positions++) if (argmax(ours, r) === argmax(theirs, r)) same++;
  }
  await s.release();
  t.diagnostic(`teacher int8: ${q8.bytes} bytes against ${float.bytes} float; next token agrees at ${same}/${positions} solution positions; max |Δ logit| ${worst.toFixed(3)}`);
  assert.ok(same / positions >= 0.99, `agreement ${same}/${positions}`);
  assert.ok(q8.bytes < float.bytes / 3, `${q8.bytes} vs ${float.bytes}`);
  teacher.dispose();
});

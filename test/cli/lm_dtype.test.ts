// The dtype option everywhere a model is named (loadAnyLm: LM folder, Hugging Face folder,
// GGUF) and the teachers built on a bfloat16 model: the scorer's log-probabilities are PyTorch's
// log_softmax(logits.float()) of the bf16 forward bit for bit, and the GKD teacher hands the
// loss float32 logits. The CLI flags: `--dtype` on serve and `reason traces --lm`,
// `--teacher-dtype` on `reason train-student --kind gkd`; a bad value is one clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { loadAnyLm } from '../../src/lm/load.js';
import { loadGgufLm } from '../../src/lm/gguf_lm.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { exportGguf } from '../../src/export/gguf.js';
import { scoreWithModel } from '../../src/reason/teachers/scorer.js';
import { localTeacher } from '../../src/reason/gkd.js';
import { oracleChecks } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';
import type { Encoded } from '../helpers/oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const work = mkdtempSync(join(tmpdir(), 'distill-load-dtype-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const tok = new ByteTokenizer();
const CFG = { vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 128, maxSeqLen: 512 };
torch.manualSeed(5);
const f32 = new CausalLM(CFG).eval();
torch.noGrad(() => f32.namedParameters().forEach(([n, p]) => void (n.endsWith('norm.weight') ? p.uniform_(0.5, 1.5) : p.mul_(6))));
const lmDir = join(work, 'lm');
saveLm(lmDir, f32, tok);
const ggufPath = join(work, 'm-bf16.gguf');
exportGguf(f32, tok, ggufPath, { dtype: 'bf16' });
const dtypes = (m: CausalLM) => [...new Set(m.parameters().map((p) => p.dtype))];
const sameAsRounded = (m: CausalLM, label: string) => {
  const want = new Map(f32.namedParameters());
  for (const [n, p] of m.namedParameters()) assert.deepEqual(p.dataSync(), want.get(n)!.toDtype('bfloat16').dataSync(), `${label} ${n}`);
};

test("loadAnyLm: an LM folder stays float32 under 'auto' and rounds under 'bfloat16'; a BF16 GGUF stays bfloat16 under 'auto'", () => {
  assert.deepEqual(dtypes(loadAnyLm(lmDir).model), ['float32']);
  assert.deepEqual(dtypes(loadAnyLm(lmDir, { dtype: 'auto' }).model), ['float32']);
  const lm = loadAnyLm(lmDir, { dtype: 'bfloat16' }).model;
  assert.deepEqual(dtypes(lm), ['bfloat16']);
  sameAsRounded(lm, 'LM folder');
  assert.deepEqual(dtypes(loadGgufLm(ggufPath)), ['float32']);
  const g = loadGgufLm(ggufPath, 'auto');
  assert.deepEqual(dtypes(g), ['bfloat16']);
  sameAsRounded(g, 'GGUF'); // the exporter rounds to bf16 as torch does; reading it back is exact
  assert.throws(() => loadAnyLm(lmDir, { dtype: 'half' as 'auto' }), (e: Error) => e instanceof torch.ConfigError && /dtype must be one of float32, bfloat16, float16, auto; got "half"/.test(e.message));
});

// The scorer and the GKD teacher on a bfloat16 model.
const bf = loadAnyLm(lmDir, { dtype: 'bfloat16' }).model;
const prompts = [[5, 40, 41, 42, 43, 44, 45, 46, 47], [9, 60, 61, 62, 63, 64]];
const scores = scoreWithModel(bf, prompts, 3);
const sd = bf.stateDict();
const names = Object.keys(sd);
const inputs: Record<string, torch.Tensor> = { x: torch.tensor([prompts[0]], { dtype: 'int64' }) };
names.forEach((n, i) => (inputs[`p${i}`] = sd[n]));

oracleChecks([{
  name: "a bfloat16 teacher's scores (log-probabilities, top-k, ranks) are PyTorch's log_softmax(logits.float()) of its bf16 forward",
  oracle: {
    code: [
      `import sys, json; sys.path.insert(0, ${JSON.stringify(HELPERS)})`,
      'from llama_ref import llama_logits',
      `names = ${JSON.stringify(names)}`,
      'sd = {n: globals()[f"p{i}"] for i, n in enumerate(names)}',
      `z = llama_logits(sd, json.loads(${JSON.stringify(JSON.stringify(bf.cfg))}), x)`,
      'lp = z.float().log_softmax(-1)[0, :-1]',
      'out = {"own": lp.gather(-1, x[0, 1:, None])[:, 0], "dtype": str(z.dtype)}',
    ].join('\n'),
    inputs,
  },
  check: (r) => {
    assert.equal(r.dtype as unknown as string, 'torch.bfloat16');
    assertClose(torch.tensor(scores[0].logprobs), r.own, { rtol: 0, atol: 0, label: 'log p(next token)' });
    assert.ok(scores[0].logprobs.some((v) => v !== Math.fround(v) || v !== Math.round(v * 256) / 256), 'float32 log-probabilities, not bf16-rounded ones');
  },
}]);

test('the GKD teacher hands the loss float32 logits from a bfloat16 model (its bf16 logits, upcast)', () => {
  const t = localTeacher(bf);
  const input = torch.tensor([prompts[1]], { dtype: 'int64' });
  const rows = torch.tensor([2, 3, 4], { dtype: 'int64' });
  const z = t.grade(input, rows, input) as torch.Tensor;
  assert.equal(z.dtype, 'float32');
  const want = torch.noGrad(() => bf.call(input)).view([-1, bf.cfg.vocabSize]).indexSelect(0, rows);
  assert.equal(want.dtype, 'bfloat16');
  assert.deepEqual(z.dataSync(), want.dataSync());
});

test('CLI: serve and reason traces take --dtype, train-student --teacher-dtype; a bad value is one error', () => {
  const problems = join(work, 'problems.jsonl');
  assert.equal(cli('reason', 'problems', '--families', 'chickens-rabbits', '--n', '2', '--out', problems).status, 0);
  for (const [args, flag] of [
    [['serve', lmDir, '--dtype', 'bf16'], '--dtype'],
    [['reason', 'traces', '--problems', problems, '--lm', lmDir, '--out', join(work, 'x'), '--dtype', 'int8'], '--dtype'],
    [['reason', 'train-student', '--kind', 'gkd', '--traces', problems, '--init', lmDir, '--teacher', lmDir, '--out', join(work, 'y'), '--teacher-dtype', 'f16'], '--teacher-dtype'],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${flag} must be float32, bfloat16 or auto, got '`));
  }
  const out = join(work, 'traces');
  const r = cli('reason', 'traces', '--problems', problems, '--lm', lmDir, '--dtype', 'bfloat16', '--preset', 'greedy', '--max-tokens', '6', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(join(out, 'traces.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2, 'one trace per problem');
});

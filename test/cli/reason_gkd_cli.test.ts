// `distill reason train-student --kind gkd` as a user runs it (child processes of the built CLI)
// with tiny LM folders as teacher and student: the run mixes on- and off-policy steps, logs its
// samples beside the checkpoint, records its recipe, reports the KD and CE parts' magnitudes, and
// a rerun resumes to the same weights; a teacher padded past the shared tokenizer is cut to the
// student's ids; bad flags and, with --teacher-tokenizer same, a teacher with another tokenizer end with
// one clear message and nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { CausalLM } from '../../src/lm/model.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { realTokenizerDir } from '../helpers/real_tokenizers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-gkd-cli-'));
const at = (...p: string[]) => join(work, ...p);
const distill = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });

const tok = new ByteTokenizer();
const cfg = (dim: number, layers: number, vocabSize = tok.vocabSize) => ({ vocabSize, dim, nLayers: layers, nHeads: 2, nKvHeads: 2, hiddenDim: 2 * dim, maxSeqLen: 192 });
torch.manualSeed(1);
saveLm(at('teacher'), new CausalLM(cfg(32, 2)), tok);
saveLm(at('student'), new CausalLM(cfg(16, 1)), tok);
saveLm(at('other-vocab'), new CausalLM(cfg(16, 1, 300)), tok);
// A Hugging Face folder's headers with Qwen3's tokenizer (no weights: the refusal comes first).
mkdirSync(at('qwen'));
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(realTokenizerDir('qwen3'), f), at('qwen', f));
writeFileSync(at('qwen', 'config.json'), JSON.stringify({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true }));
const trace = (i: number, ok = true) => ({
  id: `t${i}`, problemId: `p${i}`, sample: 0, question: `q${i}`, answer: String(i), reasoning: `${i}+0=${i}`, content: `\\boxed{${i}}`, finishReason: 'stop',
  usage: { promptTokens: 4, completionTokens: 9 }, model: 'teacher', verdict: { ok, reason: ok ? 'correct' : 'wrong-answer', extracted: [i] }, createdAt: '',
});
writeFileSync(at('traces.jsonl'), [0, 1, 2, 3, 4].map((i) => JSON.stringify(trace(i, i !== 4)) + '\n').join(''));

const args = (out: string, more: string[] = []) => ['reason', 'train-student', '--kind', 'gkd', '--teacher', at('teacher'), '--init', at('student'), '--traces', at('traces.jsonl'),
  '--lambda', '0.5', '--beta', '0.5', '--temperature', '1', '--steps', '4', '--batch-size', '2', '--max-new-tokens', '8', '--seed', '2', '--out', at(out), ...more];

test('train-student --kind gkd: a resumable on-policy run that logs its samples and its parts, measured on a problems file', () => {
  assert.equal(distill(['reason', 'problems', '--families', 'chickens-rabbits', '--split', 'test', '--n', '3', '--seed', '4', '--out', at('test.jsonl'), '--json']).status, 0);
  const r = distill(args('gkd', ['--json', '--eval', at('test.jsonl')]));
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual([s.kind, s.examples, s.steps], ['gkd', 4, 4]);
  assert.ok(s.onPolicySteps >= 1 && s.onPolicySteps <= 3, `${s.onPolicySteps} of 4 steps on-policy at λ = 0.5, seed 2`);
  assert.equal(s.samples + s.skipped, 2 * s.onPolicySteps);
  assert.ok(s.kd > 0 && s.ce === null);
  assert.equal(s.evaluation.total, 3);
  const log = readFileSync(at('gkd.ckpt.samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.length, 5, 'a header and one line per step');
  assert.equal(log.slice(1).filter((l) => l.source === 'student').length, s.onPolicySteps);
  const info = JSON.parse(readFileSync(at('gkd', 'lm.json'), 'utf8')).info;
  assert.deepEqual([info.recipe.kind, info.recipe.lambda, info.recipe.beta, info.recipe.divergence, info.recipe.teacher], ['gkd', 0.5, 0.5, 'jsd', at('teacher')]);
  const weights = readFileSync(at('gkd', 'model.safetensors'));
  assert.notDeepEqual(weights, readFileSync(at('student', 'model.safetensors')));
  // A rerun resumes from the finished checkpoint: the same weights and counts.
  const again = distill(args('gkd', ['--json', '--eval', at('test.jsonl')]));
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(readFileSync(at('gkd', 'model.safetensors')), weights);
  assert.deepEqual(JSON.parse(again.stdout.trim().split('\n').pop()!), s);
  // Other options into the same folder: refused, the student kept.
  const other = distill(args('gkd', ['--json', '--beta', '0.9']));
  assert.notEqual(other.status, 0);
  assert.match(other.stderr, /already holds a student trained with other options/);
  assert.deepEqual(readFileSync(at('gkd', 'model.safetensors')), weights);
});

test('train-student --kind gkd --precision bf16: recorded in the student\'s recipe; a rerun keeps it, and fp32 on its checkpoint is refused naming both', () => {
  const r = distill(args('gkd-bf16', ['--precision', 'bf16', '--steps', '2']));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(at('gkd-bf16', 'lm.json'), 'utf8')).info.recipe.precision, 'bf16');
  const weights = readFileSync(at('gkd-bf16', 'model.safetensors'));
  const again = distill(args('gkd-bf16', ['--steps', '2'])); // no --precision: the checkpoint's
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(readFileSync(at('gkd-bf16', 'model.safetensors')), weights);
  rmSync(at('gkd-bf16'), { recursive: true });
  const fp32 = distill(args('gkd-bf16', ['--precision', 'fp32', '--steps', '2']));
  assert.notEqual(fp32.status, 0);
  assert.match(fp32.stderr, /written by a run with precision bf16, but this run asks for precision fp32/);
});

test('train-student --kind gkd with an SFT share prints both parts\' magnitudes, and says when KD is negligible', () => {
  const r = distill(args('mixed', ['--lambda', '0', '--alpha', '0.5', '--divergence', 'reverse_kl']));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /0 of 4 steps on-policy/);
  assert.match(r.stdout, /mean reverse_kl \d\.\d+e[-+]\d+, mean CE \d\.\d+e[-+]\d+ \(CE\/KD [\d.e+-]+\)/);
  assert.doesNotMatch(r.stdout, /1000× smaller/);
  // The student as its own teacher: KD starts at 0 and stays tiny, and the summary says the KD term is negligible.
  const self = distill(args('self', ['--teacher', at('student'), '--lambda', '0', '--alpha', '0.5']));
  assert.equal(self.status, 0, self.stderr);
  assert.match(self.stdout, /mean jsd \d\.\d+e-\d+, mean CE \d\.\d+e\+0/);
  assert.match(self.stdout, /note: the weighted KD term is over 1000× smaller than the CE term/);
});

test('train-student --kind gkd: a teacher with the same tokenizer and a padded embedding has its logits cut to the student\'s ids', () => {
  const r = distill(args('padded', ['--teacher', at('other-vocab'), '--steps', '2']));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /the teacher's 300 logits are cut to the student's 260 ids/);
  assert.ok(existsSync(at('padded', 'lm.json')));
});

test('train-student --kind gkd: bad flags and a teacher with another tokenizer are refused before any work', () => {
  const refused = (more: string[], re: RegExp, out = 'bad') => {
    const r = distill(args(out, more));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(at(out)) && !existsSync(at(`${out}.ckpt`)), 'nothing written');
  };
  refused(['--lambda', '1.5'], /distill: --lambda must be a number ≥ 0 and ≤ 1, got '1\.5'/);
  refused(['--beta', '-0.5'], /distill: --beta must be a number ≥ 0 and ≤ 1, got '-0\.5'/);
  refused(['--divergence', 'kl'], /distill: --divergence must be forward_kl, reverse_kl, .* or akl, got 'kl'/);
  refused(['--teacher', at('qwen'), '--teacher-tokenizer', 'same'], /--teacher .*qwen and the student .* have different tokenizers \(260 tokens against 151669\); .* needs one tokenizer.*cross-tokenizer KD \(--teacher-tokenizer auto\)/);
  refused(['--teacher-url', 'http://127.0.0.1:9/v1'], /give --teacher <model> or --teacher-url <url>, not both/);
  refused(['--xtok-method', 'gold'], /distill: --xtok-method must be span_kl or uld, got 'gold'/);
  refused(['--init', at('other-vocab')], /the student .* has 300 embedding rows, more than the teacher's 260/);
  const noTeacher = distill(['reason', 'train-student', '--kind', 'gkd', '--init', at('student'), '--traces', at('traces.jsonl'), '--out', at('bad')]);
  assert.notEqual(noTeacher.status, 0);
  assert.match(noTeacher.stderr, /needs --teacher <model>/);
});

// `distill reason prune` and `distill reason train-student` as a user runs them, real child
// processes of the built CLI on traces the shipped teacher writes: pruning to the teacher's
// own size gives the teacher's logits back; a pruned student trained with token-level KD
// records its recipe, is measured on a problems file, a rerun resumes to the same weights
// and other options never overwrite it; bad flags and unusable traces end with one clear
// message before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { loadLm } from '../../src/lm/checkpoint.js';
import { countLmParameters } from '../../src/lm/model.js';
import { trainStudent, type StudentJob } from '../../src/cli/reason_student.js';
import { REASONING_DEFAULTS } from '../../src/cli/reason_defaults.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-student-cli-'));
const at = (...p: string[]) => join(work, ...p);
const distill = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 });
const ok = (args: string[]) => {
  const r = distill(args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};

// Traces from the shipped teacher, run in-process with its top-4 log-probabilities, sampled
// as the demo samples them (the bare question, temperature 0.6).
ok(['reason', 'problems', '--families', 'chickens-rabbits', '--n', '12', '--seed', '3', '--out', at('train.jsonl'), '--json']);
ok(['reason', 'problems', '--families', 'chickens-rabbits', '--split', 'test', '--n', '6', '--seed', '4', '--out', at('test.jsonl'), '--json']);
ok(['reason', 'traces', '--problems', at('train.jsonl'), '--lm', TEACHER, '--preset', 'bare', '--seed', '1', '--top-logprobs', '4', '--max-tokens', '256', '--out', at('traces'), '--json']);
const TRACES = at('traces', 'traces.jsonl');
const verifiedTraces = () => readFileSync(TRACES, 'utf8').split('\n').filter(Boolean).filter((l) => JSON.parse(l).verdict.ok).length;

test('reason prune: to the teacher\'s own size it is the teacher (same logits); to the demo size, the demo student', () => {
  ok(['reason', 'prune', '--teacher', TEACHER, '--traces', TRACES, '--dim', '192', '--layers', '6', '--heads', '6', '--hidden', '512', '--out', at('same'), '--json']);
  const small = ok(['reason', 'prune', '--teacher', TEACHER, '--traces', TRACES, '--out', at('init'), '--json']);
  assert.equal(small.params, 548_832);
  assert.deepEqual([small.config.dim, small.config.nLayers, small.config.nHeads, small.config.hiddenDim], [96, 6, 3, 160]);
  const verified = verifiedTraces();
  assert.ok(verified >= 10, `${verified} of 12 traces verified`);
  assert.equal(small.calibrationSequences, verified);
  const teacher = loadLm(TEACHER).model;
  const same = loadLm(at('same')).model;
  torch.tidy(() => {
    const ids = torch.tensor(new BigInt64Array([60n, 124n, 117n, 115n, 101n, 114n, 124n, 62n, 10n, 84n, 101n, 110n]), { dtype: 'int64' }).view([1, 12]);
    const diff = teacher.call(ids).sub(same.call(ids)).abs().max().item();
    assert.ok(diff < 1e-3, `max |Δlogit| ${diff}`);
  });
  assert.equal(countLmParameters(same.cfg), countLmParameters(teacher.cfg));
});

test('reason train-student: a pruned student with token-level KD, measured on a problems file, resumable', () => {
  const args = ['reason', 'train-student', '--traces', TRACES, '--init', at('init'), '--kind', 'sft+kd', '--steps', '6', '--batch-size', '4', '--eval', at('test.jsonl'), '--out', at('student'), '--json'];
  const first = ok(args);
  assert.equal(first.kind, 'sft+kd');
  assert.equal(first.examples, verifiedTraces());
  assert.equal(first.evaluation.total, 6);
  const info = JSON.parse(readFileSync(at('student', 'lm.json'), 'utf8')).info;
  assert.deepEqual([info.kind, info.steps, info.alpha, info.batchSize, info.init], ['sft+kd', 6, 0.5, 4, at('init')]);
  // The student moved away from its start.
  const start = readFileSync(at('init', 'model.safetensors'));
  const weights = readFileSync(at('student', 'model.safetensors'));
  assert.notDeepEqual(weights, start);
  // A rerun resumes from the finished checkpoint: the same weights, the same score.
  const again = ok(args);
  assert.deepEqual(readFileSync(at('student', 'model.safetensors')), weights);
  assert.deepEqual(again.evaluation, first.evaluation);
  // Other options into the same folder: refused, the finished student kept.
  const other = distill(args.map((a) => (a === '6' ? '7' : a)));
  assert.notEqual(other.status, 0);
  assert.match(other.stderr, /already holds a student trained with other options/);
  assert.deepEqual(readFileSync(at('student', 'model.safetensors')), weights);
  // An interrupted run (a checkpoint, no student folder) resumed with other options: refused, the checkpoint kept.
  rmSync(at('student'), { recursive: true });
  const ckpt = readFileSync(at('student.ckpt'));
  const changed = distill(args.map((a) => (a === '6' ? '7' : a)));
  assert.notEqual(changed.status, 0);
  assert.match(changed.stderr, /student\.ckpt was written by a run with other options \(\{"kind":"sft\+kd","steps":6,.*now \{"kind":"sft\+kd","steps":7,/);
  assert.deepEqual(readFileSync(at('student.ckpt')), ckpt);
  ok(args);
  assert.deepEqual(readFileSync(at('student', 'model.safetensors')), weights, 'the same options resume it');
});

test('reason train-student --precision: bf16 trained and recorded; a resume keeps it (refused in fp32, naming both); the default follows the CPU', () => {
  const args = ['reason', 'train-student', '--traces', TRACES, '--init', at('init'), '--kind', 'sft', '--steps', '3', '--batch-size', '4', '--out', at('bf16'), '--json'];
  ok([...args, '--precision', 'bf16']);
  assert.equal(JSON.parse(readFileSync(at('bf16', 'lm.json'), 'utf8')).info.precision, 'bf16');
  const weights = readFileSync(at('bf16', 'model.safetensors'));
  ok([...args.map((a) => (a === at('bf16') ? at('fp32') : a)), '--precision', 'fp32']);
  assert.notDeepEqual(readFileSync(at('fp32', 'model.safetensors')), weights, 'bf16 computed something else than fp32');
  assert.equal(JSON.parse(readFileSync(at('fp32', 'lm.json'), 'utf8')).info.precision, undefined);
  // An interrupted bf16 run (its checkpoint, no student folder) resumed in fp32: refused, the checkpoint kept.
  rmSync(at('bf16'), { recursive: true });
  const ckpt = readFileSync(at('bf16.ckpt'));
  const r = distill([...args, '--precision', 'fp32']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bf16\.ckpt was written by a run with precision bf16, but this run asks for precision fp32; rerun with --precision bf16/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.deepEqual(readFileSync(at('bf16.ckpt')), ckpt);
  // Without --precision the resume keeps the checkpoint's: the same weights.
  ok(args);
  assert.deepEqual(readFileSync(at('bf16', 'model.safetensors')), weights, 'resumed in bf16: the same weights');
  // A fresh run without --precision: bf16 where the CPU has native bfloat16, else fp32.
  const native = /\b(avx512_bf16|amx_bf16)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  ok(args.map((a) => (a === at('bf16') ? at('default') : a)));
  assert.equal(JSON.parse(readFileSync(at('default', 'lm.json'), 'utf8')).info.precision, native ? 'bf16' : undefined);
  const bad = distill([...args, '--precision', 'fp16']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--precision must be fp32 or bf16, got 'fp16'/);
});

test('the reasoning demo\'s jobs (restartStale) delete a checkpoint of another recipe and train anew', () => {
  const init = JSON.parse(readFileSync(at('init', 'lm.json'), 'utf8'));
  const job: StudentJob = {
    kind: 'sft+kd', traces: TRACES, out: at('stale'), config: init.config, init: at('init'), tokenizer: init.tokenizer, steps: 3, batchSize: 4,
    groupByLength: true, lr: REASONING_DEFAULTS.lr, alpha: REASONING_DEFAULTS.alpha, T: REASONING_DEFAULTS.T, seed: 0, threads: 1,
  };
  trainStudent(job);
  const ckpt = readFileSync(at('stale.ckpt'));
  assert.throws(() => trainStudent({ ...job, steps: 4 }), /stale\.ckpt was written by a run with other options/);
  assert.deepEqual(readFileSync(at('stale.ckpt')), ckpt, 'refused without restartStale: the checkpoint kept');
  trainStudent({ ...job, steps: 4, restartStale: true });
  // The oracle: the same 4-step recipe trained from scratch in a fresh folder.
  trainStudent({ ...job, steps: 4, out: at('fresh') });
  assert.deepEqual(readFileSync(at('stale', 'model.safetensors')), readFileSync(at('fresh', 'model.safetensors')));
  assert.equal(JSON.parse(readFileSync(at('stale', 'lm.json'), 'utf8')).info.steps, 4);
});

test('reason train-student / prune: bad flags and unusable traces get one clear message, exit ≠ 0, nothing written', () => {
  const cases: [string[], RegExp][] = [
    [['reason', 'train-student', '--traces', TRACES, '--kind', 'rl', '--out', at('bad1')], /--kind must be sft, sft\+kd, answer-only or gkd, got 'rl'/],
    [['reason', 'train-student', '--traces', TRACES, '--init', work, '--out', at('bad2')], /is neither an LM folder \(no lm.json\) nor a Hugging Face folder/],
    [['reason', 'train-student', '--traces', at('none.jsonl'), '--out', at('bad3')], /none.jsonl: no such traces file or folder/],
    [['reason', 'train-student', '--traces', TRACES, '--lr', '-1', '--out', at('bad4')], /--lr must be a positive number, got '-1'/],
    [['reason', 'prune', '--teacher', TEACHER, '--traces', TRACES, '--residual', 'svd', '--out', at('bad5')], /--residual must be channels or pca, got 'svd'/],
    [['reason', 'prune', '--teacher', TEACHER, '--traces', TRACES, '--dim', '256', '--heads', '8', '--out', at('bad6')], /prune: dim 256 is larger than the teacher's 192; pruning only removes/],
  ];
  // Traces without log-probabilities (neither JSON nor in the top-k store): nothing for token-level KD to learn from.
  const plain = readFileSync(TRACES, 'utf8').split('\n').filter(Boolean).map((l) => JSON.stringify({ ...JSON.parse(l), logprobs: undefined, tokens: undefined, tokenLogprobs: undefined, topk: undefined })).join('\n') + '\n';
  writeFileSync(at('plain.jsonl'), plain);
  cases.push([['reason', 'train-student', '--traces', at('plain.jsonl'), '--kind', 'sft+kd', '--out', at('bad7')], /no trace has log-probabilities/]);
  for (const [args, message] of cases) {
    const r = distill(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(existsSync(args[args.length - 1]), false, `${args.at(-1)} was written`);
  }
});

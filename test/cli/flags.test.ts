// The command line's own checks (issue #21, "CLI flags"), each through the built CLI as a user
// runs it:
//   - every numeric flag refuses a non-number (and a fraction where a count is meant) with one
//     line naming the flag and the value, exit 1, nothing written: no NaN reaches a command;
//   - word-valued flags take only their choices; required options are required;
//   - the run folder is --out everywhere (--name still works, hidden, and not with --out);
//   - --api-key-env names the --ui dashboard's key variable, refused when unset;
//   - help shows every default as `(default: …)`;
//   - errors start with `distill:`, and no informational line does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '../../src/reason/traces/generate.js';
import { commanderError } from '../../src/cli/flags.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-flags-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, NO_COLOR: '1', DISTILL_CACHE: join(work, 'cache') };
const distill = (args: string[], extraEnv: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { cwd: work, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120_000 });
const tiny = ['--set', 'data.dataset=mnist-digits', 'student.arch=mlp:16', 'student.train.epochs=1', 'threads=1'];

/** One error line, exit 1, and nothing created in the work folder (compared without the error's code or help hint). */
function refused(args: string[], message: RegExp) {
  const before = readdirSync(work).sort();
  const r = distill(args);
  assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0].replace(/ \[ERR_\w+\]$| \(see --help\)$/, ''), message, args.join(' ')); // a typed error's code or the help hint may follow
  assert.deepEqual(readdirSync(work).sort(), before, `${args.join(' ')} wrote something`);
}

// Every numeric flag of the reasoning commands (and the reasoning demo) with the rest of a valid command line.
const NUMERIC: [string[], string[]][] = [
  [['reason', 'problems', '--out', 'p.jsonl'], ['--n', '--seed']],
  [['reason', 'traces', '--problems', 'p.jsonl', '--out', 't', '--lm', 'x'],
    ['--threads', '--samples', '--seed', '--top-logprobs', '--max-tokens', '--concurrency', '--rpm', '--tpm', '--max-retries', '--timeout', '--chunk-size', '--lease-ttl', '--weights', '--price']],
  [['reason', 'train-teacher', '--out', 'teacher'], ['--steps', '--batch-size', '--threads']],
  [['reason', 'prune', '--teacher', 't', '--traces', 't.jsonl', '--out', 'o'], ['--dim', '--layers', '--heads', '--kv-heads', '--hidden', '--calibration']],
  [['reason', 'train-student', '--traces', 't.jsonl', '--out', 'o'],
    ['--dim', '--layers', '--heads', '--kv-heads', '--hidden', '--steps', '--batch-size', '--lr', '--alpha', '--temperature', '--seed', '--threads']],
  [['demo', 'reasoning', '--out', 'demo'],
    ['--problems', '--samples', '--eval-problems', '--steps', '--batch-size', '--lr', '--alpha', '--temperature', '--seed', '--threads']],
  [['sweep', ...tiny], ['--sizes', '--layers']],
  [['train-student', ...tiny], ['--nproc', '--rank', '--world-size', '--master-port', '--dist-timeout', '--zero']],
  [['evaluate', 'w.safetensors'], ['--dropout']],
  [['report', 'run'], ['--example']],
];

test("every numeric flag refuses 'abc' before the command runs: one line naming the flag and the value", () => {
  let n = 0;
  for (const [base, flags] of NUMERIC)
    for (const flag of flags) {
      refused([...base, flag, 'abc'], new RegExp(`^distill: ${flag} must be .*, got 'abc'$`));
      n++;
    }
  assert.equal(n, 57, 'the flags listed');
});

test('counts refuse fractions and negatives; probabilities stay in [0, 1]; lists check each item', () => {
  refused(['reason', 'train-teacher', '--steps', '2.5'], /^distill: --steps must be a whole number ≥ 1, got '2\.5'$/);
  refused(['reason', 'train-student', '--traces', 't', '--out', 'o', '--batch-size', '0'], /^distill: --batch-size must be a whole number ≥ 1, got '0'$/);
  refused(['reason', 'train-student', '--traces', 't', '--out', 'o', '--alpha', '1.5'], /^distill: --alpha must be a number ≥ 0 and ≤ 1, got '1\.5'$/);
  refused(['reason', 'train-student', '--traces', 't', '--out', 'o', '--lr', '-1'], /^distill: --lr must be a positive number, got '-1'$/);
  refused(['demo', 'reasoning', '--seed', '-3'], /^distill: --seed must be a whole number ≥ 0, got '-3'$/);
  refused(['reason', 'traces', '--problems', 'p', '--out', 't', '--lm', 'x', '--timeout', ''], /^distill: --timeout must be a positive number, got ''$/);
  refused(['reason', 'traces', '--problems', 'p', '--out', 't', '--lm', 'x', '--price', '1,2,3'], /^distill: --price must be 1 to 2 comma-separated values, got '1,2,3'$/);
  refused(['sweep', '--sizes', '16,x,64'], /^distill: --sizes must be comma-separated values, each a whole number ≥ 1 \('x' is not\), got '16,x,64'$/);
  refused(['train-student', '--master-port', '70000'], /^distill: --master-port must be a whole number from 1 to 65535, got '70000'$/);
});

test('word-valued flags take only their choices; the trace presets are the pipeline\'s', () => {
  refused(['reason', 'problems', '--out', 'p', '--split', 'dev'], /^distill: --split must be train or test, got 'dev'$/);
  refused(['reason', 'problems', '--out', 'p', '--lang', 'fr'], /^distill: --lang must be en, zh or both, got 'fr'$/);
  refused(['reason', 'problems', '--out', 'p', '--import', 'csv'], /^distill: --import must be gsm8k, math or jsonl, got 'csv'$/);
  refused(['reason', 'traces', '--problems', 'p', '--out', 't', '--lm', 'x', '--on-error', 'retry'], /^distill: --on-error must be stop or skip, got 'retry'$/);
  refused(['reason', 'export', '--traces', 't', '--out', 'o', '--format', 'csv'], /^distill: --format must be messages, sharegpt or alpaca, got 'csv'$/);
  refused(['reason', 'export', '--traces', 't', '--out', 'o', '--reasoning', 'none'], /^distill: --reasoning must be inline or field, got 'none'$/);
  refused(['export', 'run', '--which', 'both'], /^distill: --which must be student, baseline, teacher or all, got 'both'$/);
  refused(['demo', 'speech'], /^distill: which must be vision or reasoning, got 'speech'$/);
  const presets = Object.keys(PRESETS);
  refused(['reason', 'traces', '--problems', 'p', '--out', 't', '--lm', 'x', '--preset', 'nope'],
    new RegExp(`^distill: --preset must be ${presets.slice(0, -1).join(', ')} or ${presets[presets.length - 1]}, got 'nope'$`));
});

test('required options are required', () => {
  refused(['reason', 'problems'], /^distill: required option '--out <file>' not specified$/);
  refused(['reason', 'traces', '--out', 't', '--lm', 'x'], /^distill: required option '--problems <file>' not specified$/);
  refused(['reason', 'prune', '--teacher', 't', '--out', 'o'], /^distill: required option '--traces <file>' not specified$/);
  refused(['reason', 'train-student', '--traces', 't'], /^distill: required option '--out <dir>' not specified$/);
  refused(['reason', 'export', '--out', 'o'], /^distill: required option '--traces <file>' not specified$/);
});

test('help: every default is written `(default: …)`, unquoted, and every command has an example', () => {
  const commands = [['demo'], ['train-teacher'], ['train-student'], ['distill'], ['sweep'], ['evaluate'], ['compare'], ['report'], ['export'], ['doctor'],
    ['reason', 'problems'], ['reason', 'traces'], ['reason', 'train-teacher'], ['reason', 'prune'], ['reason', 'train-student'], ['reason', 'export']];
  for (const cmd of commands) {
    const r = distill([...cmd, '--help']);
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout.replace(/\s+/g, ' ');
    assert.doesNotMatch(text, /\(default [^:]|default \d|\(default: "|default: "/, `${cmd.join(' ')}: a default in another style`);
    assert.match(r.stdout, /Example:\n {2}npx distill /, cmd.join(' '));
    if (cmd[0] !== 'doctor' && cmd[0] !== 'compare') assert.match(text, /default: [^)"]+\)/, `${cmd.join(' ')} shows its defaults`);
  }
  assert.doesNotMatch(distill(['demo', '--help']).stdout, /--name/, '--name is hidden');
});

test('commanderError: refused values, choices, and the rest get the distill: prefix', () => {
  assert.equal(commanderError("error: option '--n <n>' argument 'x' is invalid. Expected a whole number ≥ 1.\n"), "distill: --n must be a whole number ≥ 1, got 'x'\n");
  assert.equal(commanderError("error: option '-c, --kind <k>' argument 'rl' is invalid. Allowed choices are a, b, c.\n"), "distill: --kind must be a, b or c, got 'rl'\n");
  assert.equal(commanderError("error: unknown option '--nope'\n"), "distill: unknown option '--nope'\n");
});

test('--out is the run folder of the training commands; --name still works hidden, not both; --api-key-env for --ui; info lines are not errors', () => {
  const out = join(work, 'runs-here', 'first');
  const r = distill(['train-student', ...tiny, '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).runDir, join(out, 'baseline'));
  assert.ok(existsSync(join(out, 'config.json')) && existsSync(join(out, 'baseline', 'model.safetensors')));
  refused(['train-student', ...tiny, '--out', 'a', '--name', 'b'], /^distill: give the run folder once: --out DIR \(--name is its deprecated spelling\)$/);
  refused(['train-student', ...tiny, '--out', join(work, '-x')], /^distill: --out \S+-x: the folder's name '-x' must be letters, digits/);
  refused(['train-student', ...tiny, '--ui', '--api-key-env', 'DISTILL_TEST_NO_SUCH_VAR'], /^distill: --api-key-env DISTILL_TEST_NO_SUCH_VAR: that environment variable is not set or empty$/);
  // Progress and notes (without --json) never look like errors; an error does.
  const talk = distill(['train-student', ...tiny, '--name', 'second']);
  assert.equal(talk.status, 0, talk.stderr);
  assert.ok(existsSync(join(work, 'runs', 'second', 'baseline', 'model.safetensors')), '--name: a folder under runs/');
  assert.match(talk.stderr, /^run: \S+second with 1 thread\(s\)$/m);
  assert.deepEqual(talk.stderr.split('\n').filter((l) => l.startsWith('distill')), []);
});

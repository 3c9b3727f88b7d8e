// loadHfFolder's dtype option: 'auto' keeps a bfloat16 folder in bfloat16 (each parameter's
// bytes are the file's bytes, no widening) and the loaded model's logits equal PyTorch's
// HF-eager bfloat16 forward of the same folder bit for bit; 'bfloat16' rounds a float32
// folder as PyTorch's .to(torch.bfloat16); 'auto' widens float16 (no float16 matmul on the
// CPU); the default stays float32; a bad dtype is one ConfigError naming the choices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { init } from '../../src/nn/index.js';
import { loadHfFolder, saveHfFolder } from '../../src/lm/index.js';
import { CausalLM, type LmConfig } from '../../src/lm/model.js';
import { hfName } from '../../src/lm/hf_weights.js';
import { oracleChecks, type Check } from '../helpers/checks.js';
import { assertClose } from '../helpers/assert.js';
import type { Encoded } from '../helpers/oracle.js';
import { folderTensorBytes } from '../helpers/hf_folder_ref.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'distill-hf-dtype-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const QWEN2: Partial<LmConfig> & { vocabSize: number } = {
  arch: 'qwen2', vocabSize: 96, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 160, maxSeqLen: 64,
  qkvBias: true, tieEmbeddings: true, ropeTheta: 1e6, normEps: 1e-6,
};

/** A folder of random weights (spread wide enough that bf16 rounding shows) saved in `dtype`. */
function folder(name: string, dtype: 'float32' | 'bfloat16' | 'float16', shard = Infinity): string {
  torch.manualSeed(21);
  const m = init.skipInit(() => new CausalLM(QWEN2));
  torch.noGrad(() => m.namedParameters().forEach(([n, p]) => void (n.endsWith('norm.weight') ? p.uniform_(0.5, 1.5) : p.normal_(0, n.endsWith('bias') ? 0.1 : 0.15))));
  const dir = join(work, name);
  saveHfFolder(dir, m, { dtype, maxShardBytes: shard });
  m.dispose();
  return dir;
}


const bf16Dir = folder('qwen2-bf16', 'bfloat16', 40_000); // sharded, with an index
const f32Dir = folder('qwen2-f32', 'float32');
const f16Dir = folder('qwen2-f16', 'float16');
const ids = torch.tensor([[3, 17, 42, 8, 77, 5, 60], [9, 1, 2, 95, 33, 33, 4]], { dtype: 'int64' });
const pyLoad = (dir: string) => [`import sys; sys.path.insert(0, ${JSON.stringify(HELPERS)})`, 'from llama_ref import hf_logits, load_hf_folder', `cfg, sd = load_hf_folder(${JSON.stringify(dir)})`];

const auto = loadHfFolder(bf16Dir, { dtype: 'auto' });
const autoLogits = torch.noGrad(() => auto.model.call(ids));
const rounded = loadHfFolder(f32Dir, { dtype: 'bfloat16' });
const roundedLogits = torch.noGrad(() => rounded.model.call(ids));

oracleChecks([
  {
    name: "dtype 'auto' on a bfloat16 folder: bfloat16 parameters holding the file's bytes; logits equal PyTorch's bfloat16 forward bit for bit",
    oracle: { code: [...pyLoad(bf16Dir), 'out = {"y": hf_logits(sd, cfg, ids, dtype=torch.bfloat16)}'].join('\n'), inputs: { ids } },
    check: (r) => {
      assert.equal(auto.dtype, 'bfloat16');
      assert.equal(auto.weightFiles.length > 1, true, 'sharded');
      const src = folderTensorBytes(bf16Dir);
      for (const [n, p] of auto.model.namedParameters()) {
        assert.equal(p.dtype, 'bfloat16', n);
        assert.equal(p.requiresGrad, true, `${n}: still a parameter`);
        assert.ok(Buffer.from(p.bytes()).equals(src.get(hfName(n))!.bytes), `${n}: the file's bytes`);
      }
      assert.deepEqual(auto.model.buffers().map((b) => b.dtype), ['float32', 'float32'], 'RoPE tables stay float32');
      assert.equal(autoLogits.dtype, 'bfloat16');
      assert.equal((r.y as Encoded).dtype, 'bfloat16');
      assertClose(autoLogits, r.y, { rtol: 0, atol: 0, label: 'logits' });
    },
  },
  {
    name: "dtype 'bfloat16' on a float32 folder rounds each weight as PyTorch's .to(torch.bfloat16); logits follow bit for bit",
    oracle: {
      code: [...pyLoad(f32Dir), 'out = {"names": list(sd), "w": [v.to(torch.bfloat16) for v in sd.values()], "y": hf_logits(sd, cfg, ids, dtype=torch.bfloat16)}'].join('\n'),
      inputs: { ids },
    },
    check: (r) => {
      assert.equal(rounded.dtype, 'float32', 'the file dtype is reported as it is on disk');
      const params = new Map(rounded.model.namedParameters().map(([n, p]) => [hfName(n), p]));
      const names = r.names as unknown as string[];
      names.forEach((n, i) => {
        const p = params.get(n)!;
        assert.equal(p.dtype, 'bfloat16', n);
        assertClose(p, (r.w as Encoded[])[i], { rtol: 0, atol: 0, label: n });
      });
      assertClose(roundedLogits, r.y, { rtol: 0, atol: 0, label: 'logits' });
    },
  },
] satisfies Check[]);

test("'auto' keeps float32 in float32 and widens float16 to float32; 'float16' keeps float16's bytes; the default is float32", () => {
  const dtypes = (m: CausalLM) => [...new Set(m.parameters().map((p) => p.dtype))];
  assert.deepEqual(dtypes(loadHfFolder(f32Dir, { dtype: 'auto' }).model), ['float32']);
  const f16 = folderTensorBytes(f16Dir);
  const widened = loadHfFolder(f16Dir, { dtype: 'auto' });
  assert.equal(widened.dtype, 'float16');
  assert.deepEqual(dtypes(widened.model), ['float32']);
  const kept = loadHfFolder(f16Dir, { dtype: 'float16' });
  for (const [n, p] of kept.model.namedParameters()) {
    assert.equal(p.dtype, 'float16');
    assert.ok(Buffer.from(p.bytes()).equals(f16.get(hfName(n))!.bytes), n);
    // float16 → float32 is exact, so the widened model holds the same values.
    assert.deepEqual(widened.model.stateDict()[n].dataSync(), p.dataSync(), n);
  }
  assert.deepEqual(dtypes(loadHfFolder(bf16Dir).model), ['float32'], 'default');
});

test('a bfloat16 load holds half the bytes of a float32 load', () => {
  const bytes = (dtype: 'auto' | 'float32') => {
    const before = torch.memory().nativeBytes;
    const f = loadHfFolder(bf16Dir, { dtype });
    const held = torch.memory().nativeBytes - before - f.model.buffers().reduce((a, b) => a + b.numel * 4, 0);
    f.model.dispose();
    return held;
  };
  const n = auto.model.parameters().reduce((a, p) => a + p.numel, 0);
  assert.equal(bytes('float32'), 4 * n);
  assert.equal(bytes('auto'), 2 * n);
});

test('an unsupported dtype is one ConfigError naming the choices', () => {
  for (const bad of ['bf16', 'int8', ''])
    assert.throws(() => loadHfFolder(bf16Dir, { dtype: bad as 'auto' }),
      (e: Error) => e instanceof torch.ConfigError && /dtype must be one of float32, bfloat16, float16, auto; got "/.test(e.message));
});

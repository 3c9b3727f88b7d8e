// What several tests do with a Hugging Face folder: run the PyTorch reference
// (test/helpers/llama_ref.py, which reads config.json + safetensors on its own) on it, read
// its tensors' raw bytes, and compare flat logits.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import type { CausalLM } from '../../src/lm/model.js';
import { PYTHON } from './oracle.js';

const HELPERS = fileURLToPath(new URL('../../../test/helpers', import.meta.url));

/** Our logits of `ids` (one row), flat (T·V). */
export const ourLogits = (m: CausalLM, ids: number[]): Float32Array =>
  torch.tidy(() => torch.noGrad(() => m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })).dataSync() as Float32Array));

/**
 * The PyTorch reference's logits of `ids` (one row) on the HF folder `dir`, flat (T·V).
 * `check`: Python lines run after loading, with `cfg` (config.json) and `sd` (the state dict) in scope.
 */
export function referenceLogits(dir: string, ids: number[], check = ''): Float32Array {
  const tmp = mkdtempSync(join(tmpdir(), 'distill-hf-ref-'));
  try {
    const out = join(tmp, 'y.bin');
    execFileSync(PYTHON, ['-c', `import sys, torch; sys.path.insert(0, ${JSON.stringify(HELPERS)})
from llama_ref import hf_logits, load_hf_folder
cfg, sd = load_hf_folder(${JSON.stringify(dir)})
${check}
y = hf_logits(sd, cfg, torch.tensor([${JSON.stringify(ids)}]))
open(${JSON.stringify(out)}, 'wb').write(y.detach().numpy().astype('<f4').tobytes())`]);
    return new Float32Array(new Uint8Array(readFileSync(out)).buffer);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** max |a − b| over two equally long arrays. */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** HF name → the raw bytes and dtype of every tensor in a folder's weight files. */
export function folderTensorBytes(dir: string): Map<string, { dtype: string; bytes: Buffer }> {
  const out = new Map<string, { dtype: string; bytes: Buffer }>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.safetensors'))) {
    const { tensors } = loadSafetensors(join(dir, f));
    for (const [n, t] of Object.entries(tensors)) {
      out.set(n, { dtype: t.dtype, bytes: Buffer.from(t.bytes()) });
      t.dispose();
    }
  }
  return out;
}

// Runs llama.cpp's ggml (the libraries node-llama-cpp 3.21.1 ships) as the oracle for the
// GGUF tests, through test/helpers/ggml_ref.py (/usr/bin/python3 + ctypes). Arrays travel
// as raw files in a scratch folder, so nothing is rounded on the way.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON } from './oracle.js';

const SCRIPT = fileURLToPath(new URL('../../../test/helpers/ggml_ref.py', import.meta.url));

export type GgmlResult = any;

/** Runs the operations in one Python process; an operation that failed throws with its message. */
export function runGgml(ops: object[]): GgmlResult[] {
  // stderr (llama.cpp's logging) is kept out of the test output unless the process fails.
  const p = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify(ops), maxBuffer: 1 << 30, encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`ggml_ref.py exited with ${p.status ?? p.signal}: ${p.stderr.slice(-4000)}`);
  const results = JSON.parse(p.stdout) as GgmlResult[];
  results.forEach((r, i) => {
    if (r && !Array.isArray(r) && typeof r.error === 'string') throw new Error(`ggml_ref.py op ${i} (${JSON.stringify(ops[i]).slice(0, 200)}): ${r.error}`);
  });
  return results;
}

/** A scratch folder for the files the oracle reads and writes. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'distill-ggml-'));
  path(name: string): string { return join(this.dir, name); }
  write(name: string, data: Uint8Array | Float32Array): string {
    const p = this.path(name);
    writeFileSync(p, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return p;
  }
  bytes(name: string): Uint8Array { return new Uint8Array(readFileSync(this.path(name))); }
  floats(name: string): Float32Array {
    const b = readFileSync(this.path(name));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  dispose(): void { rmSync(this.dir, { recursive: true, force: true }); }
}

/** Seeded uniform [0, 1) (LCG) and standard normal (Box–Muller) draws. */
export function rng(seed: number): { uniform: () => number; normal: () => number; byte: () => number } {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal, byte: () => Math.floor(uniform() * 256) };
}

/** Elements whose float32 bits differ, NaNs of any payload counting as equal when `nanEqual`; and max |Δ|. */
export function bitDiff(a: Float32Array, b: Float32Array, nanEqual = false): { mismatches: number; maxAbs: number; first?: string } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  const ab = new Uint32Array(a.buffer, a.byteOffset, a.length), bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let mismatches = 0, maxAbs = 0, first: string | undefined;
  for (let i = 0; i < a.length; i++) {
    if (ab[i] === bb[i] || (nanEqual && Number.isNaN(a[i]) && Number.isNaN(b[i]))) continue;
    mismatches++;
    first ??= `[${i}] ${a[i]} (0x${ab[i].toString(16)}) vs ${b[i]} (0x${bb[i].toString(16)})`;
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbs)) maxAbs = d; // NaN/inf differences make it NaN/inf
  }
  return { mismatches, maxAbs, first };
}

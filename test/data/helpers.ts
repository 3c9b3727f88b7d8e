// Shared bits of the data-layer tests: temp folders, tensor → JS arrays, leak checks.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as torch from '../../src/torch/index.js';
import type { DistillError } from '../../src/torch/index.js';

/** A fresh temp folder removed when the test file ends. */
export function tempDir(prefix = 'distill-data-'): string {
  const dir = fs.mkdtempSync(join(os.tmpdir(), prefix));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const ints = (t: torch.Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
export const floats = (t: torch.Tensor): Float32Array => t.dataSync() as Float32Array;

/** Runs fn and asserts the live tensor count is back where it started. */
export function noLeak<T>(label: string, fn: () => T): T {
  const before = torch.memory().liveTensors;
  const out = fn();
  assert.equal(torch.memory().liveTensors, before, `${label}: tensors leaked`);
  return out;
}

/** Asserts fn throws an error of class `cls` whose message matches every pattern, without leaking tensors. */
export function throwsClean(fn: () => unknown, cls: new (...a: never[]) => DistillError, ...patterns: RegExp[]): void {
  const before = torch.memory().liveTensors;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    for (const p of patterns) assert.match((e as Error).message, p);
    return true;
  });
  assert.equal(torch.memory().liveTensors, before, 'tensors leaked on the error path');
}

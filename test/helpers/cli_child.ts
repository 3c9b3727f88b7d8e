// The `distill` CLI as child processes for CLI tests that talk to it while it runs (a served teacher).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const env = { ...process.env, NO_COLOR: '1' };

/** `distill …` in `cwd`, awaited without blocking (the test's own servers keep answering meanwhile). */
export function distillAsync(cwd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  return new Promise((ok) => p.on('close', (status) => ok({ status, stdout, stderr })));
}

/** `distill serve <folder>` in `cwd`; resolves with the base URL it prints first. */
export function serveFolder(cwd: string, folder: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [CLI, 'serve', folder], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((ok, fail) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const url = /^(http:\/\/\S+)\n/.exec(out)?.[1];
      if (url) ok({ url, proc });
    });
    proc.on('exit', (code) => fail(new Error(`serve exited (${code}): ${err}`)));
  });
}

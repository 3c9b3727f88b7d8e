// reason/ reaches the rest of the library the way docs say it may (issue #21, "Layering"):
// kd/ only through kd/index.ts (its public surface); the llama.cpp runner a GGUF teacher
// needs lives in lm/llama_cpp.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/** Every relative import of every .ts file under src/<layer>/, resolved to a path under src/. */
function importsOf(layer: string): { file: string; target: string }[] {
  const out: { file: string; target: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g))
          out.push({ file: relative(SRC, p), target: relative(SRC, resolve(dirname(p), m[1])) });
    }
  };
  walk(join(SRC, layer));
  return out;
}

test('reason/ imports kd/ only through kd/index.ts (the whole import graph: test/integration/layers.test.ts)', () => {
  const imports = importsOf('reason');
  assert.ok(imports.length > 50, 'the scan found the imports');
  const deepKd = imports.filter((i) => i.target.startsWith('kd/') && i.target !== 'kd/index.js');
  assert.deepEqual(deepKd, [], 'deep imports into kd/');
  assert.ok(imports.some((i) => i.file === 'reason/teachers/gguf.ts' && i.target === 'lm/llama_cpp.js'));
});

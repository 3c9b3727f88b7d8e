// The layering rule of docs/architecture.md, checked on the source: a layer imports only the
// layers below it, and only the peer imports listed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

// Rank of each layer; a file may import layers of a lower rank.
const RANK: Record<string, number> = {
  torch: 0, io: 1, nn: 1, optim: 1, data: 2, lm: 2, train: 3, kd: 4, reason: 4, eval: 4, export: 4, serve: 5, report: 5, cli: 6,
};
// Imports between layers of one rank that the architecture allows.
const PEERS = new Set(['optim→nn', 'reason→kd', 'cli→serve', 'cli→report']);

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

test('every layer imports only the layers below it (and the allowed peers)', () => {
  const bad: string[] = [];
  let imports = 0;
  for (const file of files(SRC)) {
    const layer = relative(SRC, file).split(sep)[0];
    if (layer.endsWith('.ts')) continue; // src/index.ts, the package entry, sees every layer
    assert.ok(layer in RANK, `${layer}/ is not in the layer table of docs/architecture.md`);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = relative(SRC, normalize(join(dirname(file), m[1]))).split(sep)[0];
      if (target === layer) continue;
      imports++;
      if (!(target in RANK)) continue; // outside src/ (package.json)
      if (RANK[target] < RANK[layer] || PEERS.has(`${layer}→${target}`)) continue;
      bad.push(`${relative(SRC, file)} imports ${m[1]} (${layer} → ${target})`);
    }
  }
  assert.ok(imports > 100, `the scan found ${imports} cross-layer imports`);
  assert.deepEqual(bad, []);
});

// Browser code (src/<layer>/browser/, bundled by scripts/build-browser.mjs into a page) runs in
// the page, not in Node: it may import its own folder, and anything else only as `import type`
// (erased by the bundler), so neither libtorch, the addon nor a Node built-in can reach a bundle.
test('browser code imports only its own folder, and types', () => {
  const bad: string[] = [];
  let browserFiles = 0, typeImports = 0;
  for (const file of files(SRC)) {
    const parts = relative(SRC, file).split(sep);
    if (parts[1] !== 'browser') continue;
    browserFiles++;
    const folder = join(SRC, parts[0], 'browser');
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?'([^']+)'/gm)) {
      const inside = m[2].startsWith('.') && !relative(folder, normalize(join(dirname(file), m[2]))).startsWith('..');
      if (m[1]) typeImports++;
      else if (!inside) bad.push(`${relative(SRC, file)} imports ${m[2]} (only \`import type\` may leave ${parts[0]}/browser/)`);
    }
    if (/\b(?:require|import)\s*\(/.test(text)) bad.push(`${relative(SRC, file)} has a dynamic import or require`);
  }
  assert.ok(browserFiles >= 6, `found ${browserFiles} browser files`);
  assert.ok(typeImports >= 4, `found ${typeImports} type imports`);
  assert.deepEqual(bad, []);
});

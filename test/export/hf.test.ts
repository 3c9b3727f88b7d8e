// The Hugging Face style folder: PyTorch (Debian python3-torch) rebuilds nn.Sequential from
// config.json exactly as the folder's README says, loads model.safetensors strictly, and its
// logits equal ours to 1e-5.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ex from '../../src/export/index.js';
import { fixtures, refPython } from './fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'distill-hf-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('PyTorch rebuilds every fixture from config.json + model.safetensors; logits equal ours to 1e-5', () => {
  for (const f of fixtures()) {
    const dir = join(work, f.name);
    const names = Array.from({ length: f.classes }, (_, i) => `class ${i}`);
    const info = ex.exportHf(f.model, dir, { arch: f.name, inputShape: f.inputShape, numClasses: f.classes, classNames: names });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as ex.HfConfig;
    assert.deepEqual(cfg, info.config);
    assert.equal(cfg.layers.length, f.model.length);
    assert.deepEqual(cfg.layers.map((l) => l.name), cfg.layers.map((_, i) => String(i)));
    assert.equal(cfg.id2label['1'], 'class 1');
    assert.equal(cfg.label2id['class 2'], 2);
    assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /getattr\(nn, l\["type"\]\)\(\*\*l\["kwargs"\]\)/);

    const n = 9;
    const per = f.inputShape.reduce((a, b) => a * b, 1);
    const x = ex.seededUniform(n * per, 21);
    writeFileSync(join(dir, 'x.bin'), x);
    const py = JSON.parse(refPython('hf', dir, join(dir, 'x.bin'), String(n), join(dir, 'y.bin'))) as { layers: string[]; missing: string[]; unexpected: string[]; shape: number[] };
    assert.deepEqual([py.missing, py.unexpected], [[], []]);
    assert.deepEqual(py.shape, [n, f.classes]);
    // PyTorch prints the same modules as our toString() (same class names and arguments).
    const ours = f.model.namedChildren().map(([, m]) => String(m).split('(')[0]);
    assert.deepEqual(py.layers.map((l) => l.split('(')[0]), ours);
    const theirs = new Float32Array(new Uint8Array(readFileSync(join(dir, 'y.bin'))).buffer);
    const mine = ex.ourLogits(f.model, x, [n, ...f.inputShape]);
    const d = ex.maxAbsDiff(mine, theirs);
    assert.ok(d <= 1e-5, `${f.name}: max |ours − pytorch| = ${d}`);
  }
});

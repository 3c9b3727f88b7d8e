// Every shipped example config parses and validates, so a newcomer's first `-c examples/…` works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadExperiment } from '../../src/cli/experiment.js';

const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));

test('examples/*.yaml load with their own names', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 5, files.join(', '));
  for (const f of files) assert.equal(loadExperiment(dir + f).name, f.replace(/\.yaml$/, ''), f);
});

// The user's own CSV and JSONL files: parsing (quotes, CRLF, BOM, gzip, named classes) and
// errors that name the file, the row/line and the column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, FormatError } from '../../src/torch/index.js';
import { loadTabular, parseCsv, disposeDataset } from '../../src/data/index.js';
import { floats, ints, tempDir, throwsClean } from './helpers.js';

const dir = tempDir();
function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

test('CSV: label column anywhere, quoted cells, CRLF, BOM, blank trailing lines', () => {
  const p = file('a.csv', '\uFEFFa,label,"b"\r\n1.5,2,-3\r\n"4",0,5e-1\r\n\r\n.25,1,+7\r\n\r\n');
  const ds = loadTabular(p);
  assert.deepEqual([...ds.x.shape], [3, 2]);
  assert.deepEqual(Array.from(floats(ds.x)), [1.5, -3, 4, 0.5, 0.25, 7]);
  assert.deepEqual(ints(ds.y), [2, 0, 1]);
  assert.equal(ds.numClasses, 3);
  assert.equal(ds.classNames, undefined);
  disposeDataset(ds);
});

test('CSV: parseCsv handles commas, escaped quotes and newlines inside quotes', () => {
  const { rows, lines } = parseCsv('x,y\n"a,b","say ""hi""\nthere"\nc,d', 't.csv');
  assert.deepEqual(rows, [['x', 'y'], ['a,b', 'say "hi"\nthere'], ['c', 'd']]);
  assert.deepEqual(lines, [1, 2, 4]);
});

test('CSV: class-name labels map to sorted classNames; gzipped file; custom label column; numClasses', () => {
  const p = file('named.csv.gz', gzipSync(Buffer.from('f1,f2,species\n1,2,setosa\n3,4,virginica\n5,6,setosa\n7,8,versicolor\n')));
  const ds = loadTabular(p, { labelColumn: 'species' });
  assert.deepEqual(ds.classNames, ['setosa', 'versicolor', 'virginica']);
  assert.deepEqual(ints(ds.y), [0, 2, 0, 1]);
  disposeDataset(ds);
  const wide = loadTabular(file('wide.csv', 'label,f\n0,1\n1,2\n'), { numClasses: 10 });
  assert.equal(wide.numClasses, 10);
  disposeDataset(wide);
});

test('CSV errors: non-numeric cell names row and column; ragged row; missing label column; empty', () => {
  const bad = file('bad.csv', 'a,b,label\n1,2,0\n3,oops,1\n');
  throwsClean(() => loadTabular(bad), FormatError, /bad\.csv/, /line 3 \(row 2\), column "b"/, /"oops" is not a number/);
  throwsClean(() => loadTabular(file('blank.csv', 'a,label\n,1\n')), FormatError, /line 2 \(row 1\), column "a"/, /"" is not a number/);
  throwsClean(() => loadTabular(file('hex.csv', 'a,label\n0x10,1\n')), FormatError, /"0x10" is not a number/);
  throwsClean(() => loadTabular(file('ragged.csv', 'a,b,label\n1,2,0\n3,1\n')), FormatError, /line 3 \(row 2\) has 2 cells, the header has 3/);
  throwsClean(() => loadTabular(file('nolabel.csv', 'a,b\n1,2\n')), ConfigError, /no label column "label"/, /columns: a, b/);
  throwsClean(() => loadTabular(file('empty.csv', '')), FormatError, /empty\.csv/, /empty/);
  throwsClean(() => loadTabular(file('header.csv', 'a,label\n')), FormatError, /header\.csv/, /no data rows/);
  throwsClean(() => loadTabular(file('quote.csv', 'a,label\n"1,0\n')), FormatError, /unterminated quoted field/);
  throwsClean(() => loadTabular(file('dup.csv', 'a,a,label\n1,2,0\n')), FormatError, /"a" appears twice/);
});

test('labels: out of range for numClasses, negative, fractional', () => {
  throwsClean(() => loadTabular(file('range.csv', 'a,label\n1,0\n2,5\n'), { numClasses: 3 }), FormatError, /sample 1 has label 5, out of range for numClasses=3/);
  throwsClean(() => loadTabular(file('neg.csv', 'a,label\n1,-1\n')), FormatError, /label "-1" is not a non-negative integer/);
  throwsClean(() => loadTabular(file('frac.csv', 'a,label\n1,0.5\n')), FormatError, /line 2 \(row 1\), column "label"/, /"0.5"/);
  throwsClean(() => loadTabular(file('names.csv', 'a,label\n1,x\n2,y\n3,z\n'), { numClasses: 2 }), FormatError, /3 distinct class names/);
});

test('JSONL: numeric keys and numeric arrays flatten into features; string labels', () => {
  const p = file('a.jsonl', '{"pix":[0.1,0.2],"w":3,"label":1}\n\n{"w":4,"label":0,"pix":[0.3,0.4]}\n');
  const ds = loadTabular(p);
  assert.deepEqual([...ds.x.shape], [2, 3]);
  assert.deepEqual(Array.from(floats(ds.x)), [0.1, 0.2, 3, 0.3, 0.4, 4].map(Math.fround));
  assert.deepEqual(ints(ds.y), [1, 0]);
  disposeDataset(ds);
  const named = loadTabular(file('b.ndjson', '{"x":1,"y":"cat"}\n{"x":2,"y":"dog"}\n'), { labelColumn: 'y' });
  assert.deepEqual(named.classNames, ['cat', 'dog']);
  disposeDataset(named);
});

test('JSONL errors name the line and key', () => {
  throwsClean(() => loadTabular(file('json.jsonl', '{"a":1,"label":0}\n{"a":1,"label":0\n')), FormatError, /json\.jsonl/, /line 2: not valid JSON/);
  throwsClean(() => loadTabular(file('str.jsonl', '{"a":1,"label":0}\n{"a":"2","label":0}\n')), FormatError, /line 2, key "a"/, /"2" is not a number/);
  throwsClean(() => loadTabular(file('miss.jsonl', '{"a":1,"b":2,"label":0}\n{"a":1,"label":0}\n')), FormatError, /line 2: missing key "b"/);
  throwsClean(() => loadTabular(file('extra.jsonl', '{"a":1,"label":0}\n{"a":1,"c":2,"label":0}\n')), FormatError, /line 2: key "c" is not in the first record/);
  throwsClean(() => loadTabular(file('len.jsonl', '{"a":[1,2],"label":0}\n{"a":[1],"label":0}\n')), FormatError, /line 2, key "a": 1 values, the first record has 2/);
  throwsClean(() => loadTabular(file('nolab.jsonl', '{"a":1}\n')), FormatError, /line 1: no "label" key/);
  throwsClean(() => loadTabular(file('arr.jsonl', '[1,2]\n')), FormatError, /line 1: expected a JSON object/);
  throwsClean(() => loadTabular(file('blank.jsonl', '\n\n')), FormatError, /no data rows/);
  throwsClean(() => loadTabular(file('nofeat.jsonl', '{"label":1}\n')), FormatError, /no feature columns/);
});

test('tabular: unknown extension and missing file', () => {
  throwsClean(() => loadTabular(file('data.txt', 'a,label\n1,0\n')), ConfigError, /cannot tell the format/);
  throwsClean(() => loadTabular(join(dir, 'absent.csv')), ConfigError, /absent\.csv/, /file not found/);
  const ds = loadTabular(file('data.txt', 'a,label\n1,0\n'), { format: 'csv' });
  assert.equal(ds.y.shape[0], 1);
  disposeDataset(ds);
});

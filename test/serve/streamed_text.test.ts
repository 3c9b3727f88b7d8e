// StreamedText: the pieces a backend streams, as the server forwards them, add up to the
// backend's final (trimmed) field, whatever whitespace the pieces carry at either end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamedText } from '../../src/serve/streamed_text.js';

function replay(pieces: string[], final: string): { chunks: string[]; total: string } {
  const s = new StreamedText();
  const chunks = pieces.map((p) => s.push(p));
  chunks.push(s.finish(final));
  return { chunks, total: chunks.join('') };
}

test('whitespace at the ends is held back or dropped; inner whitespace goes out once more text follows', () => {
  // LocalTeacher's stream of "<think>\nA\nB\n</think>\n\nC": reasoning pieces, then content pieces.
  const r = replay(['A', '\n', 'B', '\n'], 'A\nB');
  assert.deepEqual(r.chunks, ['A', '', '\nB', '', '']);
  assert.equal(r.total, 'A\nB');
  const c = replay(['\n', 'C', ' ', 'D', '\n'], 'C D');
  assert.deepEqual(c.chunks, ['', 'C', '', ' D', '', '']);
  // Each concatenation equals the final text: trimmed final = trimmed stream.
  for (const pieces of [['  x', ' y ', '\t'], ['\n\n', '\n'], ['a b', '  ', '  c\n\n']]) {
    const final = pieces.join('').trim();
    assert.equal(replay(pieces, final).total, final, JSON.stringify(pieces));
  }
});

test('finish sends a tail the backend never streamed (half a character held back)', () => {
  const s = new StreamedText();
  assert.equal(s.push('caf'), 'caf');
  assert.equal(s.finish('café'), 'é');
  assert.equal(s.sent, 'café');
  // A final text that does not extend the stream adds nothing (the stream cannot be taken back).
  const t = new StreamedText();
  t.push('abc');
  assert.equal(t.finish('xyz'), '');
});

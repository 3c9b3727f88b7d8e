// scoreWithModel on its own: prompts grouped and right-padded through the blocks, the head run a
// few positions at a time — every grouping and chunking gives the model's own log_softmax
// (computed here directly, one prompt at a time, in float64), top-k ids and vLLM ranks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { scoreWithModel } from '../../src/reason/teachers/scorer.js';
import { oracleRows, rankOf, topkMatches } from '../helpers/score_oracle.js';

test('any grouping and head chunking gives the model\'s log_softmax, top-k and ranks', async () => {
  // A padded vocabulary (5,000 rows for the 260 byte tokens): the head's cost is what chunking bounds.
  const t = LocalTeacher.random({ seed: 11, config: { vocabSize: 5000 } });
  try {
    const prompts = [[1], t.tokenizer.encode('a'), t.tokenizer.encode('grouped with the short ones'), t.tokenizer.encode('mid length prompt'), [7, 7, 7, 7, 7, 7]];
    const k = 4;
    const whole = scoreWithModel(t.model, prompts, k);
    // One position per head call (budget = one row of logits), one prompt per group.
    const chunked = scoreWithModel(t.model, prompts, k, { logitBudget: 5000, tokenBudget: 1 });
    // Three positions per head call over groups of several rows.
    const mixed = scoreWithModel(t.model, prompts, k, { logitBudget: 3 * 5000 * 3, tokenBudget: 64 });
    for (const got of [whole, chunked, mixed])
      got.forEach((s, i) => {
        const ids = prompts[i];
        assert.deepEqual(s.ids, ids);
        assert.equal(s.logprobs.length, ids.length - 1);
        const rows = oracleRows(t.model, ids);
        for (let p = 1; p < ids.length; p++) {
          const lp = rows[p - 1].lp;
          assert.ok(Math.abs(s.logprobs[p - 1] - lp[ids[p]]) < 1e-4, `prompt ${i} position ${p}`);
          assert.equal(s.ranks![p - 1], rankOf(lp, ids[p]));
          assert.equal(topkMatches(lp, s.top[p - 1].ids, s.top[p - 1].logprobs, k), null);
        }
      });
    assert.throws(() => scoreWithModel(t.model, [[1, 5000]], 2), /token 1 is 5000, not an id in \[0, 5000\)/);
    assert.throws(() => scoreWithModel(t.model, [[1, 2]], 5001), /k must be an integer in \[0, 5000\]/);
  } finally {
    await t.close();
  }
});

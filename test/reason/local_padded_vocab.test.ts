// LocalTeacher with a padded vocabulary (Qwen: 151,936 embedding rows for 151,665 tokenizer ids):
// the rows past the tokenizer have no text, so they must never be sampled nor reported. The
// model here has a byte tokenizer (260 ids) and 300 rows, and its head gives the 40 padded rows
// logits near 500 at every position (a residual channel held constant, read only by those rows),
// so an unmasked sampler would pick them every time (checked). Oracle: the model's own logits
// through torch, cut to the tokenizer's ids, log-softmaxed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { CausalLM } from '../../src/lm/model.js';
import { ByteTokenizer } from '../../src/lm/tokenizer.js';
import { LocalTeacher } from '../../src/reason/teachers/local.js';
import { scoreWithModel } from '../../src/reason/teachers/scorer.js';
import { localTeacher, trainGkd, type GkdOptions } from '../../src/reason/gkd.js';
import type { GkdLogRecord } from '../../src/reason/gkd_log.js';

const TOKENS = 260; // ByteTokenizer's ids
const ROWS = 300; // the padded embedding

/** A random model whose padded rows (ids 260…299) win by ~500 logits everywhere. */
function paddedModel(): CausalLM {
  torch.manualSeed(7);
  const m = new CausalLM({ vocabSize: ROWS, dim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, hiddenDim: 64, maxSeqLen: 256, tieEmbeddings: false }).eval();
  const sd = m.stateDict();
  torch.noGrad(() => {
    // Channel 0 of the residual stream is 5 for every token, and no block writes to it.
    sd['embed_tokens.weight'].narrow(1, 0, 1).fill_(5);
    sd['layers.0.self_attn.o_proj.weight'].narrow(0, 0, 1).zero_();
    sd['layers.0.mlp.down_proj.weight'].narrow(0, 0, 1).zero_();
    // Only the padded rows read it, ×100 (the normed channel is ≈ √32 · 5 / 5 ≈ 5.6).
    sd['lm_head.weight'].narrow(1, 0, 1).zero_();
    sd['lm_head.weight'].narrow(0, TOKENS, ROWS - TOKENS).narrow(1, 0, 1).fill_(100);
  });
  return m;
}

/** log_softmax of the last position's logits over the tokenizer's ids only (the oracle), and the unmasked argmax. */
function lastLogprobs(m: CausalLM, ids: number[]): { lp: Float32Array; argmaxAll: number } {
  return torch.tidy(() => torch.noGrad(() => {
    const z = m.call(torch.tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] })).select(1, ids.length - 1).squeeze(0); // (V)
    return { lp: z.narrow(0, 0, TOKENS).logSoftmax(0).dataSync() as Float32Array, argmaxAll: Number(z.argmax(0).item()) };
  }));
}

test('sampling, greedy decoding, top logprobs and scoreTokens never give an id past the tokenizer; the log-probabilities are the cut softmax', async () => {
  const m = paddedModel();
  const tok = new ByteTokenizer();
  const teacher = new LocalTeacher(m, tok, 'padded');
  try {
    const messages = [{ role: 'user' as const, content: 'Hi! 10 heads, 28 legs?' }];
    const prompt = tok.chatPrompt(messages);
    const first = lastLogprobs(m, prompt);
    assert.ok(first.argmaxAll >= TOKENS, `the padded rows win unmasked (argmax ${first.argmaxAll})`);
    for (const temperature of [0, 1, 1.5]) {
      const c = await teacher.complete({ messages, temperature, maxTokens: 24, topLogprobs: 5, seed: 3 });
      const lps = c.logprobs!;
      assert.ok(lps.length > 0, `temperature ${temperature}: some tokens`);
      for (const t of lps) {
        assert.ok(t.id! < TOKENS, `temperature ${temperature}: generated id ${t.id}`);
        for (const a of t.top) assert.ok(a.id! < TOKENS, `temperature ${temperature}: top id ${a.id}`);
      }
      // The first token's log-probability and top-5: the softmax over the tokenizer's 260 ids.
      const id0 = lps[0].id!;
      assert.ok(Math.abs(lps[0].logprob - first.lp[id0]) < 1e-5, `${lps[0].logprob} vs ${first.lp[id0]}`);
      const want = Array.from(first.lp.keys()).sort((a, b) => first.lp[b] - first.lp[a]).slice(0, 5);
      assert.deepEqual(lps[0].top.map((a) => a.id), want);
      const mass = Array.from(first.lp).reduce((s, x) => s + Math.exp(x), 0);
      assert.ok(Math.abs(mass - 1) < 1e-4, `the cut distribution sums to ${mass}`);
    }

    // scoreTokens (the teacher's grades for KD): top-k and ranks over the tokenizer's ids only.
    const [s] = await teacher.scoreTokens([prompt], 8);
    const t = prompt.length - 2; // position t predicts prompt[t + 1]
    const at = lastLogprobs(m, prompt.slice(0, t + 1));
    assert.ok(s.top[t].ids.every((id) => id < TOKENS), JSON.stringify(s.top[t].ids));
    assert.ok(Math.abs(s.logprobs[t] - at.lp[prompt[t + 1]]) < 1e-4, `${s.logprobs[t]} vs ${at.lp[prompt[t + 1]]}`);
    assert.ok(s.top.every((x) => x.ids.every((id) => id < TOKENS)));
    // Without the limit the same scorer ranks the padded rows first: the check above has teeth.
    const [raw] = scoreWithModel(m, [prompt], 8);
    assert.ok(raw.top[t].ids.every((id) => id >= TOKENS));
    assert.throws(() => scoreWithModel(m, [[1, 270]], 2, { vocabLimit: TOKENS }), /token 1 is 270, not an id in \[0, 260\)/);
  } finally {
    await teacher.close();
    m.dispose();
  }
});

test('on-policy distillation (trainGkd) samples no id past the tokenizer, the student\'s nor a seqKd teacher\'s; without vocabLimit it does', () => {
  const tok = new ByteTokenizer();
  const dir = mkdtempSync(join(tmpdir(), 'gkd-padded-'));
  const examples = ['x+y=10', 'y=4', 'x=6'].map((s, i) => ({ prompt: tok.chatPrompt([{ role: 'user', content: `q${i}` }]), completion: [...tok.encode(s), tok.eosId] }));
  /** The ids of every logged completion of a 4-step run (2 on-policy steps forced by λ = 1, seqKd otherwise). */
  const sampled = (name: string, o: Partial<GkdOptions>) => {
    const ckpt = join(dir, `${name}.ckpt`);
    const teacher = paddedModel();
    trainGkd({
      model: paddedModel().train(), teacher: localTeacher(teacher), examples, steps: 4, lambda: 0.5, seqKd: true, temperature: 1,
      maxNewTokens: 8, eosIds: [tok.eosId], padId: tok.eosId, batchSize: 3, lr: 1e-3, seed: 1, checkpoint: ckpt, ...o,
    });
    teacher.dispose();
    const recs = readFileSync(`${ckpt}.samples.jsonl`, 'utf8').split('\n').filter(Boolean).slice(1).map((l) => JSON.parse(l) as GkdLogRecord);
    assert.ok(recs.some((r) => r.source === 'student') && recs.some((r) => r.source === 'teacher'), `both sources drawn: ${recs.map((r) => r.source).join(', ')}`);
    return recs.flatMap((r) => r.completions ?? []).flat().filter((id) => id !== tok.eosId);
  };
  try {
    const cut = sampled('cut', { vocabLimit: TOKENS });
    assert.ok(cut.length > 0 && cut.every((id) => id < TOKENS), `ids past ${TOKENS}: ${cut.filter((id) => id >= TOKENS).join(', ')}`);
    const raw = sampled('raw', {});
    assert.ok(raw.some((id) => id >= TOKENS), 'the unmasked sampler does pick the padded rows');
    assert.throws(() => sampled('bad', { vocabLimit: ROWS + 1 }), /vocabLimit must be a whole number in \[1, 300\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ZeRO-1 (optim/zero.ts) in the Trainer, between real processes over c10d: the sharded run
// must equal the unsharded one. The oracle is the unsharded data-parallel run itself (the same
// program with zero: 0, whose optimizer is checked against PyTorch in test/optim), bit for bit;
// and one process with the whole batch, to float32 rounding (its gradient sums in another order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import * as optim from '../../src/optim/index.js';
import { loadSafetensors } from '../../src/io/index.js';
import { Trainer } from '../../src/train/index.js';
import { launch } from '../helpers/dist.js';

interface Out {
  state: Record<string, number[]>;
  stateBytes: number;
  step: number;
  numel: number;
}

const dir = mkdtempSync(join(tmpdir(), 'zero-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function run(world: number, name: string, job: Record<string, unknown>): Promise<Out[]> {
  const ranks = await launch(world, { mode: 'zero', rows: 4, out: join(dir, name), ...job });
  const exits = await Promise.all(ranks.map((r) => r.exited));
  exits.forEach((e, i) => assert.equal(e.code, 0, `rank ${i}: ${ranks[i].stderr} ${JSON.stringify(ranks[i].lines)}`));
  return Array.from({ length: world }, (_, r) => JSON.parse(readFileSync(join(dir, `${name}.${r}.json`), 'utf8')) as Out);
}

/** The optimizer half of a checkpoint: its tensors (as bytes) and its JSON meta. */
function optimizerOf(path: string): { tensors: Record<string, number[]>; meta: unknown } {
  const { tensors, metadata } = loadSafetensors(path);
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(tensors)) {
    if (k.startsWith('optim.')) out[k] = Array.from(t.dataSync() as Float32Array);
    t.dispose();
  }
  return { tensors: out, meta: JSON.parse(metadata.optimizer) };
}

function maxDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let d = 0;
  for (const [k, v] of Object.entries(a)) v.forEach((x, i) => (d = Math.max(d, Math.abs(x - b[k][i]))));
  return d;
}

test('ZeRO-1 on 2 processes: the weights and the checkpointed optimizer state equal the unsharded run bit for bit; each rank holds half the state', async () => {
  const [one] = await run(1, 'one', { zero: 0, ckpt: join(dir, 'one.ckpt') });
  const plain = await run(2, 'plain', { zero: 0, ckpt: join(dir, 'plain.ckpt') });
  // Allgathers of 1,000 elements per rank: a shard of 2,444 takes 3 buckets, the last one partial (and padded on rank 1).
  const zero = await run(2, 'zero', { zero: 1, bucket: 1000, ckpt: join(dir, 'zero.ckpt') });
  assert.equal(zero[0].step, 6);
  assert.deepEqual(zero[0].state, zero[1].state, 'the all-gather leaves the replicas identical');
  assert.deepEqual(zero[0].state, plain[0].state, 'sharded = unsharded, bit for bit');
  const ck = optimizerOf(join(dir, 'zero.ckpt')), ckPlain = optimizerOf(join(dir, 'plain.ckpt'));
  assert.ok(Object.keys(ck.tensors).length > 0);
  assert.deepEqual(ck.meta, ckPlain.meta, 'the gathered state has the unsharded layout, step counts and hyper-parameters');
  assert.deepEqual(ck.tensors, ckPlain.tensors, 'the gathered moments are the unsharded moments');

  // Memory: AdamW keeps m and v (2 × 4 bytes per element); sharded, rank r keeps its ⌈N/2⌉ or ⌊N/2⌋ elements' worth.
  const N = zero[0].numel;
  assert.equal(plain[0].stateBytes, 8 * N);
  assert.deepEqual(zero.map((r) => r.stateBytes), [8 * Math.ceil(N / 2), 8 * (N - Math.ceil(N / 2))]);
  console.log(`# optimizer state per rank: unsharded ${plain[0].stateBytes} B, ZeRO-1 ${zero.map((r) => r.stateBytes).join(' + ')} B (N = ${N})`);

  // One process with the whole batch: the same mean gradient summed in another order.
  const d = maxDiff(one.state, zero[0].state);
  assert.ok(d < 1e-5, `1 process vs ZeRO-1 on 2: max |Δ| ${d}`);
});

test('ZeRO-1 resume: stopped at step 3 and resumed on 2 processes it ends bit-identical; its checkpoint also resumes unsharded on 1 process', async () => {
  const full = await run(2, 'full', { zero: 1 });
  const [oneFull] = await run(1, 'onefull', { zero: 0 });
  const ckpt = join(dir, 'part.ckpt');
  const part = await run(2, 'part', { zero: 1, ckpt, maxSteps: 3 });
  assert.equal(part[0].step, 3);
  assert.notDeepEqual(part[0].state, full[0].state);
  copyFileSync(ckpt, join(dir, 'part1.ckpt'));
  const resumed = await run(2, 'resumed', { zero: 1, ckpt, resume: true });
  assert.equal(resumed[0].step, 6);
  assert.deepEqual(resumed[0].state, full[0].state, 'resumed = uninterrupted, bit for bit');
  assert.deepEqual(resumed[1].state, full[1].state);
  // The same checkpoint on one process without sharding: steps 4–6 then follow one process's gradients.
  const [single] = await run(1, 'single', { zero: 0, ckpt: join(dir, 'part1.ckpt'), resume: true });
  assert.equal(single.step, 6);
  const d = maxDiff(single.state, oneFull.state);
  assert.ok(d < 1e-5, `resumed on 1 process vs 1 process throughout: max |Δ| ${d}`);
});

test('ZeRO-1 with LoRA on 2 processes: only the adapters are sharded and trained, the same bits as unsharded', async () => {
  const runLora = async (zero: number) => {
    const ranks = await launch(2, { mode: 'lora', rows: 4, zero, out: join(dir, `lora${zero}`) });
    const exits = await Promise.all(ranks.map((r) => r.exited));
    exits.forEach((e, i) => assert.equal(e.code, 0, `rank ${i}: ${ranks[i].stderr}`));
    return [0, 1].map((r) => JSON.parse(readFileSync(join(dir, `lora${zero}.${r}.json`), 'utf8')) as { state: Record<string, number[]>; frozenGrads: number });
  };
  const [plain, zero] = [await runLora(0), await runLora(1)];
  assert.deepEqual(zero[0].state, plain[0].state);
  assert.deepEqual(zero[1].state, plain[0].state);
  assert.deepEqual(zero.map((r) => r.frozenGrads), [0, 0]);
});

test('Trainer: zero other than 0 or 1 is one ConfigError; zero: 1 without a process group changes nothing', () => {
  const make = (zero: number) => {
    torch.manualSeed(1);
    const w = torch.randn([3]).requiresGrad_(true);
    const model = { parameters: () => [w], stateDict: () => ({ w }), loadStateDict: () => {}, train: () => {} };
    const opt = new optim.Adam([w], { lr: 0.1 });
    return { w, t: new Trainer<number>({ model: model as never, optimizer: opt, epochs: 1, zero: zero as 0 | 1, data: { batchesPerEpoch: 2, *batches() { yield 1; yield 2; } }, computeLoss: (b) => ({ loss: w.mul(b).mul(w).sum(), weight: 1 }) }) };
  };
  assert.throws(() => make(2), (e: Error) => e instanceof torch.ConfigError && /zero must be 0 or 1/.test(e.message));
  const a = make(0), b = make(1);
  a.t.fit();
  const rb = b.t.fit();
  assert.deepEqual(b.w.toArray(), a.w.toArray());
  assert.equal(rb.optimizerStateBytes, 2 * 3 * 4, 'unsharded Adam state: m and v of 3 floats');
});

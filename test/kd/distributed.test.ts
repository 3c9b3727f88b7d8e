// Data-parallel training with real processes over loopback: the sampler's shards, 2 ranks × B
// matching 1 process × 2B, a killed rank stopping the others, and resuming the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as data from '../../src/data/index.js';
import * as kd from '../../src/kd/index.js';
import { launch } from '../helpers/dist.js';

const work = mkdtempSync(join(tmpdir(), 'distill-dist-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('DistributedSampler: disjoint strided shards of one epoch permutation, padded or cut to equal length', () => {
  const n = 10;
  const shards = [0, 1, 2].map((rank) => new data.DistributedSampler(n, { rank, worldSize: 3, seed: 7 }));
  assert.ok(shards.every((s) => s.numSamples === 4));
  const all = shards.flatMap((s) => Array.from(s.indices(0)));
  assert.equal(all.length, 12);
  assert.deepEqual([...new Set(all)].sort((a, b) => a - b), [...Array(n).keys()], 'covers every row; 2 pads');
  // Strided: position rank + i·W of the padded permutation, as PyTorch's indices[rank::W].
  const perm = data.permutation(n, 7, 0, 0x10ad);
  assert.deepEqual(Array.from(shards[1].indices(0)), [1, 4, 7, 10].map((p) => perm[p % n]));
  assert.notDeepEqual(Array.from(shards[0].indices(1)), Array.from(shards[0].indices(0)), 'a new order each epoch');
  const cut = [0, 1, 2].map((rank) => new data.DistributedSampler(n, { rank, worldSize: 3, seed: 7, dropLast: true }));
  assert.ok(cut.every((s) => s.numSamples === 3));
  assert.equal(new Set(cut.flatMap((s) => Array.from(s.indices(0)))).size, 9);
  // One rank visits exactly the DataLoader's own shuffled order.
  assert.deepEqual(Array.from(new data.DistributedSampler(n, { rank: 0, worldSize: 1, seed: 7 }).indices(2)), Array.from(data.permutation(n, 7, 2, 0x10ad)));
  assert.deepEqual(kd.shardRange(10, 2, 3), { start: 8, end: 10 });
});

const weightsOf = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, number[]>;
const maxDiff = (a: Record<string, number[]>, b: Record<string, number[]>) =>
  Math.max(...Object.keys(a).map((k) => Math.max(...a[k].map((v, i) => Math.abs(v - b[k][i])))));

async function trainRun(world: number, job: Record<string, unknown>) {
  const ranks = await launch(world, { mode: 'train', n: 400, ...job });
  const exits = await Promise.all(ranks.map((r) => r.exited));
  return { ranks, exits };
}
const ok = (r: Awaited<ReturnType<typeof trainRun>>) =>
  r.exits.forEach((e, i) => assert.equal(e.code, 0, `rank ${i}: ${r.ranks[i].stderr} ${JSON.stringify(r.ranks[i].lines)}`));

test('2 ranks × batch 8 reach the weights of 1 process × batch 16 after 50 SGD steps', async () => {
  // 400 rows: 25 steps per epoch either way, 2 epochs. Each rank's mean loss is scaled by its
  // sample count and the summed gradients divided by the summed count: the global mean.
  const one = await trainRun(1, { batchSize: 16, epochs: 2, runDir: join(work, 'one'), out: join(work, 'one') });
  ok(one);
  const two = await trainRun(2, { batchSize: 8, epochs: 2, runDir: join(work, 'two'), out: join(work, 'two') });
  ok(two);
  const w1 = weightsOf(join(work, 'one.0.json')), w20 = weightsOf(join(work, 'two.0.json')), w21 = weightsOf(join(work, 'two.1.json'));
  assert.deepEqual(w20, w21, 'replicas stay bit-identical');
  const d = maxDiff(w1, w20);
  assert.ok(d < 1e-5, `max |Δw| = ${d}`);
  // Rank 0 alone logs: one line per epoch, and the epoch loss is the global mean.
  const epochs = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((o) => o.type === 'epoch');
  const e1 = epochs(join(work, 'one')), e2 = epochs(join(work, 'two'));
  assert.equal(e2.length, 2);
  for (const [i, e] of e2.entries()) assert.ok(Math.abs(e.loss - e1[i].loss) < 1e-5, `epoch ${i} loss ${e.loss} vs ${e1[i].loss}`);
});

test('a killed rank stops the other with a clear error, and the run resumes from the last checkpoint to the same weights', async () => {
  const job = { batchSize: 8, epochs: 3 };
  const straight = await trainRun(2, { ...job, runDir: join(work, 'straight'), out: join(work, 'straight') });
  ok(straight);
  const dir = join(work, 'killed');
  const killed = await trainRun(2, { ...job, runDir: dir, out: join(work, 'killed'), dieAt: { epoch: 1, step: 5 } });
  assert.equal(killed.exits[1].signal, 'SIGKILL');
  assert.equal(killed.exits[0].code, 3, killed.ranks[0].stderr);
  const err = killed.ranks[0].lines.at(-1)!;
  assert.equal(err.error, 'ERR_DIST_PEER', String(err.message));
  assert.match(String(err.message), /rank 0\/2 allreduce: a peer rank went away/);
  const resumed = await trainRun(2, { ...job, runDir: dir, out: join(work, 'killed'), resume: true });
  ok(resumed);
  const ws = weightsOf(join(work, 'straight.0.json'));
  for (const r of [0, 1]) assert.deepEqual(weightsOf(join(work, `killed.${r}.json`)), ws, `rank ${r} after resume`);
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.filter((o) => o.type === 'epoch').map((o) => o.epoch), [0, 1, 2], 'epoch 1 redone once, logged once');
});

test('a teacher cache computed in shards by 2 ranks equals one computed alone, and is reused by the next run', async () => {
  for (const topK of [undefined, 2]) {
    const tag = `cache${topK ?? ''}`;
    const one = await launch(1, { mode: 'cache', dir: join(work, `${tag}-one`), out: join(work, `${tag}-one`), topK });
    assert.equal((await one[0].exited).code, 0, one[0].stderr);
    const dir = join(work, `${tag}-two`);
    const run = async () => {
      const ranks = await launch(2, { mode: 'cache', dir, out: join(work, `${tag}-two`), topK });
      const exits = await Promise.all(ranks.map((r) => r.exited));
      exits.forEach((e, i) => assert.equal(e.code, 0, ranks[i].stderr + JSON.stringify(ranks[i].lines)));
      return ranks.map((r) => r.lines.at(-1)!);
    };
    const first = await run();
    assert.deepEqual(first.map((l) => l.computed), [true, true]);
    assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.')), [String(first[0].path).split('/').pop()], 'one cache file, shards removed');
    const a = weightsOf(join(work, `${tag}-one.0.json`));
    for (const r of [0, 1]) {
      const b = weightsOf(join(work, `${tag}-two.${r}.json`));
      assert.ok(maxDiff(a, b) < 1e-5, `rank ${r}, topK ${topK}: max diff ${maxDiff(a, b)}`);
    }
    const second = await run();
    assert.deepEqual(second.map((l) => l.computed), [false, false], 'reused');
  }
});

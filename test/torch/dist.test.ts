// Process groups on libtorch's c10d (TCPStore + Gloo): collectives between real processes
// over loopback, and a dead or hung peer turning into a clear DistError within the
// timeout instead of a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { launch, freePort, until } from '../helpers/dist.js';

test('collectives between two processes: bucketed allreduce over mixed dtypes, broadcast, barrier', async () => {
  const ranks = await launch(2, { mode: 'collectives' });
  const exits = await Promise.all(ranks.map((r) => r.exited));
  for (const [i, e] of exits.entries()) assert.equal(e.code, 0, ranks[i].stderr + JSON.stringify(ranks[i].lines));
  for (const r of ranks) {
    const o = r.lines.at(-1)!;
    assert.deepEqual(o.f, [3, 30]); // 1+2, 10+20
    assert.deepEqual(o.m, [[1, 1], [1, 1]]); // 0+1
    assert.deepEqual(o.d, [0.5]);
    assert.deepEqual(o.i, [1]);
    assert.deepEqual(o.b, [1, 1, 1], 'broadcast from the last rank');
    assert.deepEqual(o.bigErr, [0, 0, 0], 'past one bucket: every element summed (a transposed view included)');
    assert.deepEqual(o.halfSum, [0.75, 0.75, 0.75, 0.75, 0.75], 'bfloat16 in a synchronous allreduce');
    assert.deepEqual(o.whole, [1, 10, 100, -1, 2, 20, 200, -2], 'allgather: rank 0\'s part, then rank 1\'s');
    const k = o.rank as number;
    assert.deepEqual(o.mine, [0, 3, 6, 9, 12, 15].slice(3 * k, 3 * k + 3), 'reduceScatter: this rank\'s slice of the sum (1 + 2)·[0..5]');
    assert.deepEqual(o.wide, [0, 1, 2, 3, 4, 5].map((v) => v * (k + 1)), 'reduceScatter leaves its input alone');
    assert.equal(o.badShape, 'ConfigError', 'an output of the wrong size is refused before any traffic');
  }
});

test('allgather and reduceScatter through the async API, two ranks in one process', async () => {
  const port = await freePort();
  const [a, b] = await Promise.all([0, 1].map((rank) => torch.ProcessGroup.createAsync({ rank, worldSize: 2, masterPort: port, timeoutMs: 5000 })));
  try {
    const wa = torch.zeros([6], 'int64'), wb = torch.zeros([6], 'int64');
    await Promise.all([a.allgatherAsync(wa, torch.tensor([1, 2, 3], { dtype: 'int64' })), b.allgatherAsync(wb, torch.tensor([4, 5, 6], { dtype: 'int64' }))]);
    assert.deepEqual(wa.toArray(), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(wb.toArray(), [1, 2, 3, 4, 5, 6]);
    const ra = torch.zeros([2]), rb = torch.zeros([2]);
    await Promise.all([a.reduceScatterAsync(ra, torch.tensor([1, 2, 3, 4])), b.reduceScatterAsync(rb, torch.tensor([10, 20, 30, 40]))]);
    assert.deepEqual(ra.toArray(), [11, 22]);
    assert.deepEqual(rb.toArray(), [33, 44]);
    assert.throws(() => a.allgather(torch.zeros([6]), torch.zeros([3], 'float64')), torch.ConfigError, 'dtypes differ');
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('two ranks in one process through the async API; a destroyed group refuses work', async () => {
  const port = await freePort();
  const [a, b] = await Promise.all([0, 1].map((rank) => torch.ProcessGroup.createAsync({ rank, worldSize: 2, masterPort: port, timeoutMs: 5000 })));
  try {
    const x = [torch.tensor([1, 2]), torch.tensor([[3]])], y = [torch.tensor([10, 20]), torch.tensor([[30]])];
    await Promise.all([a.allreduceAsync(x), b.allreduceAsync(y)]);
    assert.deepEqual(x.map((t) => t.toArray()), [[11, 22], [[33]]]);
    assert.deepEqual(y.map((t) => t.toArray()), [[11, 22], [[33]]]);
    // A leaf that requires grad is written in place without autograd complaining (as DDP's broadcast).
    const p = torch.zeros([3]).requiresGrad_(true), q = torch.ones([3]).requiresGrad_(true);
    await Promise.all([a.broadcastAsync([p], 1), b.broadcastAsync([q], 1)]);
    assert.deepEqual(p.toArray(), [1, 1, 1]);
    // bfloat16 (which Gloo lacks) travels as float32: a broadcast keeps every bit, a SUM is the
    // float32 sum rounded once to bfloat16 (1/3 + 1/7 here, not representable exactly).
    const bits = (t: torch.Tensor) => t.toDtype('float32').toArray();
    const wa = torch.tensor([1 / 3, -1e-30, 3e38, 0.1]).toDtype('bfloat16'), wb = torch.zeros([4], 'bfloat16');
    const mixed = torch.tensor([5]); // a float32 in the same call shares the bucket
    await Promise.all([a.broadcastAsync([wa, mixed], 0), b.broadcastAsync([wb, torch.zeros([1])], 0)]);
    assert.deepEqual(bits(wb), bits(wa));
    assert.equal(wb.dtype, 'bfloat16');
    const sa = torch.tensor([1 / 3, 2]).toDtype('bfloat16'), sb = torch.tensor([1 / 7, 3]).toDtype('bfloat16');
    const want = sa.toDtype('float32').add(sb.toDtype('float32')).toDtype('bfloat16');
    await Promise.all([a.allreduceAsync([sa]), b.allreduceAsync([sb])]);
    assert.deepEqual(bits(sa), bits(want));
    assert.deepEqual(bits(sb), bits(want));
    await Promise.all([a.barrierAsync(), b.barrierAsync()]);
  } finally {
    a.dispose();
    b.dispose();
  }
  assert.ok(a.disposed);
  assert.throws(() => a.allreduce([torch.ones([1])]), (e: torch.DistError) => e instanceof torch.DistError && e.code === 'ERR_DIST_CLOSED');
  a.dispose(); // idempotent
});

test('bad options are a ConfigError before any network call', () => {
  assert.throws(() => torch.ProcessGroup.create({ rank: 2, worldSize: 2 }), torch.ConfigError);
  assert.throws(() => torch.ProcessGroup.create({ rank: 0, worldSize: 0 }), torch.ConfigError);
  assert.throws(() => torch.ProcessGroup.create({ rank: 0, worldSize: 2, masterPort: 70000 }), torch.ConfigError);
  assert.equal(torch.distOptionsFromEnv({}), null, 'no WORLD_SIZE: a single-process run');
  assert.deepEqual(torch.distOptionsFromEnv({ RANK: '1', WORLD_SIZE: '4', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234' }),
    { rank: 1, worldSize: 4, masterAddr: '10.0.0.1', masterPort: 1234, timeoutMs: undefined });
});

test('a rank that never arrives: the rendezvous fails with ERR_DIST_TIMEOUT, not a hang', async () => {
  const t0 = Date.now();
  await assert.rejects(torch.ProcessGroup.createAsync({ rank: 0, worldSize: 2, masterPort: await freePort(), timeoutMs: 1500 }),
    (e: torch.DistError) => e instanceof torch.DistError && e.code === 'ERR_DIST_TIMEOUT' && /rank 0\/2/.test(e.message));
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
});

test('a killed rank: the survivor stops at once with ERR_DIST_PEER', async () => {
  const ranks = await launch(2, { mode: 'loop', timeoutMs: 20_000 });
  await until(() => ranks.every((r) => r.lines.some((l) => l.ready)), 30_000, 'both ranks ready');
  await new Promise((r) => setTimeout(r, 200)); // mid-loop
  const killedAt = Date.now();
  ranks[1].child.kill('SIGKILL');
  const e = await ranks[0].exited;
  assert.equal(e.code, 3, ranks[0].stderr);
  const err = ranks[0].lines.at(-1)!;
  assert.equal(err.name, 'DistError');
  assert.equal(err.error, 'ERR_DIST_PEER', String(err.message));
  assert.match(String(err.message), /rank 0\/2 allreduce: a peer rank went away/);
  assert.ok(e.at - killedAt < 5000, `took ${e.at - killedAt} ms (the timeout is 20 s)`);
});

test('a hung rank: the survivor stops within the timeout with ERR_DIST_TIMEOUT', async () => {
  const ranks = await launch(2, { mode: 'loop', timeoutMs: 2000 });
  await until(() => ranks.every((r) => r.lines.some((l) => l.ready)), 30_000, 'both ranks ready');
  const stoppedAt = Date.now();
  ranks[1].child.kill('SIGSTOP');
  try {
    const e = await ranks[0].exited;
    assert.equal(e.code, 3, ranks[0].stderr);
    const err = ranks[0].lines.at(-1)!;
    assert.equal(err.error, 'ERR_DIST_TIMEOUT', String(err.message));
    assert.match(String(err.message), /no answer from a peer within the timeout/);
    const took = e.at - stoppedAt;
    assert.ok(took >= 1500 && took < 8000, `took ${took} ms for a 2 s timeout`);
  } finally {
    ranks[1].child.kill('SIGKILL');
    await ranks[1].exited;
  }
});

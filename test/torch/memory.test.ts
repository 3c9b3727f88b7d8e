// Memory: scopes free everything a step creates. A 20,000-step training loop must end
// at its baseline tensor count with RSS flat (within 5%) after warm-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';

test('tidy frees intermediates, keeps returned tensors, moves them to the parent scope', () => {
  const base = torch.memory().liveTensors;
  const x = torch.ones([4]);
  const out = torch.tidy(() => {
    const kept = torch.tidy(() => x.add(1).mul(2)); // intermediates freed here
    assert.equal(torch.memory().liveTensors, base + 2, 'x and kept only');
    return { result: kept.exp(), list: [kept.clone()] };
  });
  assert.equal(torch.memory().liveTensors, base + 3, 'x, result, list[0]');
  assert.equal(out.result.isDisposed, false);
  assert.equal(torch.scopeDepth(), 0);
  x.dispose();
  out.result.dispose();
  out.list[0].dispose();
  assert.equal(torch.memory().liveTensors, base);
});

test('keep() survives the scope; a throwing scope still frees; async fns are refused', () => {
  const base = torch.memory().liveTensors;
  let kept!: torch.Tensor;
  torch.tidy(() => {
    kept = torch.keep(torch.zeros([3]));
    torch.ones([3]);
  });
  assert.equal(kept.isDisposed, false);
  kept.dispose();
  assert.throws(() => torch.tidy(() => { torch.ones([3]); throw new Error('inside'); }), /inside/);
  assert.throws(() => torch.tidy((async () => torch.ones([1])) as () => unknown), /synchronous; use tidyAsync/);
  assert.equal(torch.memory().liveTensors, base);
  assert.equal(torch.scopeDepth(), 0);
});

// ── async scopes (issue #21 §7) ──
const tick = () => new Promise<void>((r) => setImmediate(r));

test('tidyAsync frees what an async function created across its awaits, keeps what it returns', async () => {
  const base = torch.memory().liveTensors;
  const made: torch.Tensor[] = [];
  const out = await torch.tidyAsync(async () => {
    made.push(torch.ones([3])); // before the first await
    await tick();
    made.push(torch.ones([3]).mul(2)); // after it: the ones and the product
    await tick();
    const inner = await torch.tidyAsync(async () => {
      await tick();
      const t = torch.full([3], 5);
      made.push(t);
      return { t, freed: torch.zeros([1]) };
    });
    assert.equal(inner.t.isDisposed, false, 'returned from the inner scope');
    assert.equal(inner.freed.isDisposed, false, 'the whole returned object is kept');
    return inner.t.add(made[1]);
  });
  assert.deepEqual(out.toArray(), [7, 7, 7]);
  assert.equal(torch.memory().liveTensors, base + 1, 'only the result is alive');
  for (const t of made) assert.equal(t.isDisposed, true);
  out.dispose();
  assert.equal(torch.memory().liveTensors, base);
  assert.equal(torch.scopeDepth(), 0);
});

test('two interleaved async scopes each free only their own tensors', async () => {
  const base = torch.memory().liveTensors;
  const order: string[] = [];
  let releaseA!: () => void;
  const aMayFinish = new Promise<void>((r) => (releaseA = r));
  const mine = { a: [] as torch.Tensor[], b: [] as torch.Tensor[] };
  const a = torch.tidyAsync(async () => {
    for (let i = 0; i < 3; i++) {
      mine.a.push(torch.ones([2]).mul(i)); // 2 tensors per step
      order.push(`a${i}`);
      await tick();
    }
    await aMayFinish;
    return mine.a[2].sum();
  });
  const b = torch.tidyAsync(async () => {
    for (let i = 0; i < 3; i++) {
      mine.b.push(torch.zeros([4]));
      order.push(`b${i}`);
      await tick();
    }
    return 'b done';
  });
  assert.equal(await b, 'b done');
  assert.deepEqual(order.slice(0, 4), ['a0', 'b0', 'a1', 'b1'], 'the scopes ran interleaved');
  // b closed while a is still open: b's tensors are freed, none of a's.
  for (const t of mine.b) assert.equal(t.isDisposed, true);
  for (const t of mine.a) assert.equal(t.isDisposed, false);
  assert.equal(torch.memory().liveTensors, base + 6, "a's 3 × (ones, product)");
  releaseA();
  const sum = await a;
  assert.equal(sum.item(), 4);
  for (const t of mine.a) assert.equal(t.isDisposed, true);
  assert.equal(torch.memory().liveTensors, base + 1, 'the returned sum');
  sum.dispose();
  assert.equal(torch.memory().liveTensors, base);
});

test('sync tidy inside an async scope, an async scope started inside tidy, a rejected scope, keep()', async () => {
  const base = torch.memory().liveTensors;
  let kept!: torch.Tensor;
  let started!: Promise<torch.Tensor>;
  const r = await torch.tidyAsync(async () => {
    await tick();
    const s = torch.tidy(() => torch.ones([2]).mul(3)); // the ones freed at once, the product moves here
    assert.equal(torch.memory().liveTensors, base + 1);
    kept = torch.keep(torch.ones([1]));
    // Started inside a synchronous tidy: its tensors belong to it, not to that tidy,
    // which ends before the async scope does.
    torch.tidy(() => {
      started = torch.tidyAsync(async () => {
        const early = torch.ones([2]); // created before the first await, inside the tidy's extent
        await tick();
        return early.add(1);
      });
    });
    const fromStarted = await started;
    assert.deepEqual(fromStarted.toArray(), [2, 2], 'its tensor was not freed by the tidy');
    return s.add(fromStarted);
  });
  assert.deepEqual(r.toArray(), [5, 5]);
  assert.equal(torch.memory().liveTensors, base + 2, 'r and the kept tensor');
  await assert.rejects(torch.tidyAsync(async () => {
    torch.ones([5]);
    await tick();
    throw new Error('inside');
  }), /inside/);
  assert.equal(torch.memory().liveTensors, base + 2, 'the rejected scope freed its tensor');
  r.dispose();
  kept.dispose();
  assert.equal(torch.memory().liveTensors, base);
  assert.equal(torch.scopeDepth(), 0);
});

test('Symbol.dispose frees at the end of a block', () => {
  const base = torch.memory().liveTensors;
  {
    using t = torch.ones([8]);
    assert.equal(torch.memory().liveTensors, base + 1);
    assert.equal(t.sum().item(), 8);
  }
  assert.equal(torch.memory().liveTensors, base + 1, 'only the sum, created outside any scope, is left');
});

test('peak counter and native bytes follow allocations', () => {
  torch.resetPeakTensors();
  const start = torch.memory();
  torch.tidy(() => {
    for (let i = 0; i < 10; i++) torch.zeros([1000]);
  });
  const end = torch.memory();
  assert.equal(end.liveTensors, start.liveTensors);
  assert.equal(end.peakTensors, start.liveTensors + 10);
  assert.equal(end.nativeBytes, start.nativeBytes);
  assert.equal(end.peakNativeBytes, start.nativeBytes + 10 * 4000, 'ten 1000-float tensors alive at the end of the scope');
});

test('a 20,000-step training loop returns to its baseline tensor count with flat RSS', () => {
  torch.manualSeed(0);
  // Two-layer MLP 16-32-4 with manual SGD: every op kind a real loop uses (forward,
  // loss, backward, .grad, in-place update under noGrad, grad reset).
  const w1 = torch.randn([32, 16]).mul_(0.1).requiresGrad_();
  const b1 = torch.zeros([32]).requiresGrad_();
  const w2 = torch.randn([4, 32]).mul_(0.1).requiresGrad_();
  const b2 = torch.zeros([4]).requiresGrad_();
  const params = [w1, b1, w2, b2];
  const x = torch.randn([8, 16]);
  const y = torch.randint(0, 4, [8]);
  const base = torch.memory().liveTensors;
  const step = () =>
    torch.tidy(() => {
      const h = torch.linear(x, w1, b1).relu();
      const loss = torch.crossEntropy(torch.linear(h, w2, b2), y);
      loss.backward();
      torch.noGrad(() => {
        for (const p of params) {
          p.sub_(p.grad!, 0.05);
          p.grad = null;
        }
      });
      return loss.item();
    });
  const first = step();
  for (let i = 1; i < 2000; i++) step(); // warm-up: allocator and V8 heap settle
  const warmRss = process.memoryUsage().rss;
  let last = first;
  for (let i = 2000; i < 20000; i++) last = step();
  const endRss = process.memoryUsage().rss;
  assert.equal(torch.memory().liveTensors, base, 'tensor count back at baseline');
  assert.ok(last < first, `loss went down (${first} → ${last})`);
  assert.ok(endRss <= warmRss * 1.05, `RSS grew from ${(warmRss / 2 ** 20).toFixed(1)} MiB to ${(endRss / 2 ** 20).toFixed(1)} MiB`);
});

// native/threads.cc tune_malloc and native/cpu_alloc.cc: small blocks from glibc's heap,
// never trimmed; large ones (≥ 32 MiB) kept by our CPU allocator for the next request of
// the same size. So a repeated step reuses last step's memory instead of faulting in fresh
// pages. Measured in a child process each way (glibc reads its knobs at start): ours, and
// with DISTILL_MALLOC_DEFAULTS=1 (glibc's and libtorch's defaults), which must fault on
// every step, so that the check can fail.
test('a repeated step with large temporaries takes no page faults after warm-up', async () => {
  const { execFileSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const torchIndex = fileURLToPath(new URL('../../src/torch/index.js', import.meta.url));
  // 3 temporaries of 64 MiB and 3 of 4 MiB per step: above and below glibc's mmap thresholds.
  const script = `
    const torch = await import(${JSON.stringify(torchIndex)});
    const a = torch.keep(torch.randn([4096, 4096])), s = torch.keep(torch.randn([1024, 1024]));
    const step = () => torch.tidy(() => { a.mul(2).add(1).exp().sum().item(); s.mul(2).add(1).exp().sum().item(); });
    for (let i = 0; i < 3; i++) step();
    const rss0 = process.memoryUsage().rss, f0 = process.resourceUsage().minorPageFault;
    for (let i = 0; i < 5; i++) step();
    console.log(JSON.stringify({ faults: (process.resourceUsage().minorPageFault - f0) / 5, grew: process.memoryUsage().rss - rss0 }));`;
  const run = (env: NodeJS.ProcessEnv) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env })) as { faults: number; grew: number };
  const env = { ...process.env };
  for (const k of ['DISTILL_MALLOC_DEFAULTS', 'DISTILL_CPU_CACHE_MB', 'MALLOC_MMAP_MAX_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES']) delete env[k];
  const tuned = run(env);
  const plain = run({ ...env, DISTILL_MALLOC_DEFAULTS: '1' });
  // 64 MiB = 16,384 pages: with the defaults each large temporary is faulted in anew.
  assert.ok(plain.faults > 16384, `defaults: ${plain.faults} faults per step (expected > 16384)`);
  // Tuned: ~0 on a quiet machine; a few hundred seen under heavy load (the JS heap's own pages),
  // still < 1% of the 49,152 pages of the step's large temporaries.
  assert.ok(tuned.faults < 1000, `tuned: ${tuned.faults} faults per step (expected ~0)`);
  // A cache that failed to reuse its blocks would grow by 3 × 64 MiB per step.
  assert.ok(tuned.grew < 64 << 20, `tuned: RSS grew by ${tuned.grew} bytes over 5 steps`);
});

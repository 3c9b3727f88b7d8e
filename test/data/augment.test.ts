// Augmentations keep shape and are deterministic from (seed, epoch, batch); each does what
// it says (shift with zero fill, mirror, noise of the right size); mixup draws λ ~ Beta(α, α)
// (checked against numpy's Beta sampler with a two-sample Kolmogorov–Smirnov test) and mixes
// exactly λ·x + (1 − λ)·x[perm].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { ConfigError } from '../../src/torch/index.js';
import {
  randomShift, randomFlip, gaussianJitter, composeAugments, mixup, mixupDraw, hashSeed, type Augment,
} from '../../src/data/index.js';
import { Rng } from '../../src/data/rng.js';
import { PYTHON } from '../helpers/oracle.js';
import { floats, ints, noLeak, throwsClean } from './helpers.js';

const B = 16, H = 6, W = 7;
/** A batch of distinct positive values, so a moved pixel is recognisable. */
const makeBatch = () => torch.tensor(Float32Array.from({ length: B * H * W }, (_, i) => 1 + i), { shape: [B, 1, H, W] });
const ctx = { epoch: 2, batch: 5, seed: 9 };

function applied(aug: Augment, c = ctx): Float32Array {
  return torch.tidy(() => {
    const x = makeBatch();
    const y = aug(x, c);
    assert.deepEqual([...y.shape], [B, 1, H, W], 'shape kept');
    assert.equal(x.isDisposed, false, 'input untouched');
    return floats(y);
  });
}

test('augments keep shape, are deterministic from ctx, and change with seed/epoch/batch', () => {
  noLeak('augments', () => {
    for (const aug of [randomShift(2), randomFlip(0.5), gaussianJitter(0.1), composeAugments(randomShift(1), randomFlip(), gaussianJitter(0.05))]) {
      const a = applied(aug);
      assert.deepEqual(applied(aug), a, `${aug.name}: same ctx, same result`);
      for (const other of [{ ...ctx, seed: 10 }, { ...ctx, epoch: 3 }, { ...ctx, batch: 6 }])
        assert.notDeepEqual(applied(aug, other), a, `${aug.name}: ctx ${JSON.stringify(other)} differs`);
    }
  });
});

test('randomShift moves each sample by at most maxPixels with zero fill, and by varied amounts', () => {
  const src = applied((x) => x.clone());
  const out = applied(randomShift(2));
  const shifts = new Set<string>();
  for (let b = 0; b < B; b++) {
    let found: string | undefined;
    for (let dy = -2; dy <= 2 && !found; dy++)
      for (let dx = -2; dx <= 2 && !found; dx++) {
        let ok = true;
        for (let i = 0; i < H && ok; i++)
          for (let j = 0; j < W && ok; j++) {
            const si = i - dy, sj = j - dx;
            const want = si >= 0 && si < H && sj >= 0 && sj < W ? src[b * H * W + si * W + sj] : 0;
            ok = out[b * H * W + i * W + j] === want;
          }
        if (ok) found = `${dy},${dx}`;
      }
    assert.ok(found, `sample ${b} is not a shift of its source by ≤ 2 pixels`);
    shifts.add(found);
  }
  assert.ok(shifts.size >= 5, `shifts vary across samples (${[...shifts].join(' ')})`);
  assert.deepEqual(applied(randomShift(0)), src, 'randomShift(0) is the identity');
  throwsClean(() => torch.tidy(() => randomShift(1)(torch.zeros([4, 10]), ctx)), ConfigError, /needs image batches/);
  throwsClean(() => randomShift(-1), ConfigError, /maxPixels/);
});

test('randomFlip: p=1 mirrors every sample like torch.flip, p=0 is the identity, p=0.5 flips about half', () => {
  const mirrored = torch.tidy(() => floats(torch.flip(makeBatch(), [3])));
  assert.deepEqual(applied(randomFlip(1)), mirrored);
  assert.deepEqual(applied(randomFlip(0)), applied((x) => x.clone()));
  let flipped = 0, total = 0;
  for (let batch = 0; batch < 20; batch++) {
    const out = applied(randomFlip(0.5), { ...ctx, batch });
    for (let b = 0; b < B; b++, total++) if (out[b * H * W] === mirrored[b * H * W]) flipped++;
  }
  assert.ok(Math.abs(flipped / total - 0.5) < 0.08, `flipped fraction ${flipped / total}`);
});

test('gaussianJitter adds zero-mean noise with the requested std', () => {
  const base = applied((x) => x.clone());
  const noisy = applied(gaussianJitter(0.3));
  let s = 0, s2 = 0;
  for (let i = 0; i < base.length; i++) {
    const d = noisy[i] - base[i];
    s += d;
    s2 += d * d;
  }
  const mean = s / base.length, std = Math.sqrt(s2 / base.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.3) < 0.03, `std ${std}`);
  // The standalone sampler too (normal() shares the stream logic).
  const r = new Rng(1);
  const xs = Array.from({ length: 20000 }, () => r.normal());
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(m) < 0.03 && Math.abs(Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length) - 1) < 0.03);
});

test('composeAugments: the one-copy array path equals applying the steps as tensors', () => {
  noLeak('compose', () => {
    const steps = [randomShift(2), randomFlip(0.5), gaussianJitter(0.1)];
    // Wrapping hides `arrayOp`, forcing the step-by-step tensor path.
    const asTensors = composeAugments(...steps.map((s): Augment => (x, c) => s(x, c)));
    assert.deepEqual(applied(composeAugments(...steps)), applied(asTensors));
    // Lean: the array path makes one tensor for the whole chain (the tensor path one per step).
    const x = makeBatch();
    for (const [aug, extra] of [[composeAugments(...steps), 1], [asTensors, 2]] as const) {
      torch.resetPeakTensors();
      const base = torch.memory().liveTensors;
      aug(x, ctx).dispose();
      assert.equal(torch.memory().peakTensors - base, extra, 'tensors alive at once while augmenting');
    }
    x.dispose();
    assert.notDeepEqual(applied(composeAugments(randomShift(2), randomShift(2))), applied(randomShift(2)), 'each step draws its own numbers');
  });
});

/** Two-sample Kolmogorov–Smirnov statistic. */
function ks(a: number[], b: number[]): number {
  a = [...a].sort((p, q) => p - q);
  b = [...b].sort((p, q) => p - q);
  let i = 0, j = 0, d = 0;
  while (i < a.length && j < b.length) {
    const v = Math.min(a[i], b[j]);
    while (i < a.length && a[i] <= v) i++;
    while (j < b.length && b[j] <= v) j++;
    d = Math.max(d, Math.abs(i / a.length - j / b.length));
  }
  return d;
}

test('mixup: λ ~ Beta(α, α) — moments and a KS test against numpy', () => {
  const n = 4000;
  const alphas = [0.2, 0.4, 1.0, 2.0];
  const code = 'import sys, json, numpy as np\nr = np.random.default_rng(0)\nn = int(sys.argv[1])\nprint(json.dumps([r.beta(a, a, n).tolist() for a in json.loads(sys.argv[2])]))';
  const ref = JSON.parse(execFileSync(PYTHON, ['-c', code, String(n), JSON.stringify(alphas)], { encoding: 'utf8', maxBuffer: 1 << 26 })) as number[][];
  for (const [k, alpha] of alphas.entries()) {
    const ours = Array.from({ length: n }, (_, i) => mixupDraw(4, alpha, hashSeed(123, i)).lambda);
    const mean = ours.reduce((a, b) => a + b, 0) / n;
    const v = ours.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `alpha ${alpha}: mean ${mean}`);
    const want = 1 / (4 * (2 * alpha + 1)); // Var Beta(α, α)
    assert.ok(Math.abs(v - want) < 0.1 * want, `alpha ${alpha}: variance ${v}, Beta says ${want}`);
    const d = ks(ours, ref[k]);
    // Critical value at p = 0.001 for two samples of n: 1.95·sqrt(2/n) ≈ 0.044.
    assert.ok(d < 1.95 * Math.sqrt(2 / n), `alpha ${alpha}: KS distance to numpy's Beta ${d}`);
  }
});

test('mixup mixes exactly λ·x + (1 − λ)·x[perm], returns y[perm], is deterministic, does not leak', () => {
  const x = torch.randn([8, 3]);
  const y = torch.tensor(BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]));
  noLeak('mixup', () => torch.tidy(() => {
    const m = mixup(x, y, { alpha: 0.4, seed: 11 });
    const perm = ints(m.perm);
    assert.deepEqual([...perm].sort(), [0, 1, 2, 3, 4, 5, 6, 7], 'perm is a permutation');
    assert.notDeepEqual(perm, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(m.lambda > 0 && m.lambda < 1);
    const xs = floats(x), mixed = floats(m.x);
    for (let i = 0; i < 8; i++)
      for (let j = 0; j < 3; j++) {
        const want = m.lambda * xs[i * 3 + j] + (1 - m.lambda) * xs[perm[i] * 3 + j];
        assert.ok(Math.abs(mixed[i * 3 + j] - want) < 1e-5, `x̃[${i}][${j}]`);
      }
    assert.deepEqual(ints(m.yPerm!), perm, 'y[perm]');
    const again = mixup(x, { alpha: 0.4, seed: 11 });
    assert.equal(again.lambda, m.lambda);
    assert.deepEqual(floats(again.x), mixed);
    assert.equal(again.yPerm, undefined);
    assert.notEqual(mixup(x, null, { alpha: 0.4, seed: 12 }).lambda, m.lambda);
  }));
  throwsClean(() => mixup(x, y, { alpha: 0, seed: 0 }), ConfigError, /alpha must be/);
  const short = y.narrow(0, 0, 3);
  throwsClean(() => mixup(x, short, { alpha: 1, seed: 0 }), ConfigError, /y has 3 rows/);
  for (const t of [x, y, short]) t.dispose();
});

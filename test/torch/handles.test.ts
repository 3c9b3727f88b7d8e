// Tensor handles are type-tagged in the addon (napi_type_tag_object). onnxruntime-node and
// node-llama-cpp wrap their own native objects with napi_wrap in the same process; an op
// handed one of them must refuse it with ERR_ARG instead of reading it as a tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as torch from '../../src/torch/index.js';
import { native } from '../../src/torch/native.js';

const require = createRequire(import.meta.url);

/** Passes `handle` where ops expect a tensor handle, through generated and hand-written functions. */
function assertRefused(handle: object, what: string) {
  const fake = Object.create(torch.Tensor.prototype) as torch.Tensor;
  Object.defineProperty(fake, 'handle', { value: handle });
  const real = torch.ones([2]);
  const calls: [string, () => unknown][] = [
    ['add', () => real.add(fake)],
    ['add (self)', () => torch.add(fake, 1)],
    ['cat', () => torch.cat([real, fake])],
    ['shape', () => native.shape(handle)],
    ['toBytes', () => native.toBytes(handle)],
    ['backward', () => native.backward(handle, null, false)],
    ['grad', () => (real.grad = fake)],
  ];
  for (const [name, call] of calls) {
    assert.throws(call, (e: unknown) => {
      assert.ok(e instanceof torch.ArgumentError, `${what} via ${name}: expected ArgumentError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      assert.equal(e.code, 'ERR_ARG', `${what} via ${name}`);
      assert.match(e.message, /must be a Tensor/);
      return true;
    });
  }
  // Disposing or asking about a foreign object does nothing to it.
  native.dispose(handle);
  assert.equal(native.isDisposed(handle), true);
  assert.deepEqual(real.toArray(), [1, 1]);
  real.dispose();
}

test('a plain object and an onnxruntime Tensor are refused with ERR_ARG', () => {
  assertRefused({}, '{}');
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  assertRefused(new ort.Tensor('float32', new Float32Array([1, 2]), [2]) as unknown as object, 'ort.Tensor');
});

test("onnxruntime-node's native session (a napi_wrap'ed object) is refused with ERR_ARG", () => {
  // The object behind InferenceSession: created by the addon with napi_wrap, like ours.
  const { binding } = require('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => object } };
  const session = new binding.InferenceSession();
  assertRefused(session, 'ort native InferenceSession');
});

test("a node-llama-cpp native object (a napi_wrap'ed object) is refused with ERR_ARG", async () => {
  const nlc = await import('node-llama-cpp');
  const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
  try {
    // AddonGgufMetadata: the cheapest of its ObjectWrap classes (no model needed).
    const bindings = (llama as unknown as { _bindings: { AddonGgufMetadata: new () => object } })._bindings;
    assertRefused(new bindings.AddonGgufMetadata(), 'node-llama-cpp AddonGgufMetadata');
  } finally {
    await llama.dispose();
  }
});

test('our own handles still work, and a disposed one raises ERR_DISPOSED', () => {
  const t = torch.tensor([1, 2, 3]);
  assert.deepEqual(t.add(t).toArray(), [2, 4, 6]);
  const h = t.handle;
  t.dispose();
  assert.equal(native.isDisposed(h), true);
  assert.throws(() => native.shape(h), (e: unknown) => e instanceof torch.ArgumentError && /must be a Tensor/.test(e.message));
  assert.throws(() => t.add(1), (e: unknown) => e instanceof torch.DisposedTensorError);
});

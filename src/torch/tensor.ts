// The Tensor class: a thin handle over a libtorch tensor. Math methods are installed
// from the op table by ops_generated.ts; this file holds metadata, data in and out,
// autograd entry points and disposal.
import { native } from './native.js';
import { dtypeName, viewBytes, ITEM_SIZE, type DType, type TypedArray } from './dtype.js';
import { TRACKED, track, type Tracked } from './scope.js';
import { asOp } from './errors.js';

export type NestedArray = number | boolean | NestedArray[];

export class Tensor implements Tracked {
  readonly [TRACKED] = true as const;
  /** The native handle (a JS object wrapping the at::Tensor); a shared empty one once disposed. */
  handle: object;
  #shape: readonly number[] | undefined;
  #dtype: DType | undefined;

  constructor(handle: object) {
    this.handle = handle;
    track(this);
  }

  // ── metadata ──
  get shape(): readonly number[] {
    return (this.#shape ??= Object.freeze(native.shape(this.handle) as number[]));
  }
  get dtype(): DType {
    return (this.#dtype ??= dtypeName(native.dtype(this.handle)));
  }
  get device(): string {
    return native.device(this.handle);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  /** Size of one dimension (negative counts from the end), or the whole shape. */
  size(dim?: number): number {
    if (dim === undefined) return this.numel;
    const s = this.shape;
    return s[dim < 0 ? s.length + dim : dim];
  }

  // ── data out ──
  /** The value of a one-element tensor. */
  item(): number {
    return native.item(this.handle) as number;
  }
  /** One copy of the data as a typed array (float16/bfloat16 come back as Float32Array). */
  dataSync(): TypedArray {
    return asOp('dataSync', () => this.#data());
  }
  #data(): TypedArray {
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') {
      const f = wrap(native.toDtype(this.handle, 6));
      try {
        return new Float32Array(native.toBytes(f.handle) as ArrayBuffer);
      } finally {
        f.dispose();
      }
    }
    return viewBytes(native.toBytes(this.handle) as ArrayBuffer, this.dtype);
  }
  /** The raw bytes, row-major, in this tensor's dtype (one copy). */
  bytes(): Uint8Array {
    return asOp('bytes', () => new Uint8Array(native.toBytes(this.handle) as ArrayBuffer));
  }
  /** Nested JS arrays (int64 as numbers, bool as booleans); a number for a 0-d tensor. */
  toArray(): NestedArray {
    const data = this.dataSync();
    const flat: (number | boolean)[] =
      this.dtype === 'bool' ? Array.from(data as Uint8Array, (v) => v !== 0)
      : data instanceof BigInt64Array ? Array.from(data, Number)
      : Array.from(data as Float32Array);
    const shape = this.shape;
    if (shape.length === 0) return flat[0];
    let i = 0;
    const build = (d: number): NestedArray[] => {
      const out: NestedArray[] = [];
      for (let k = 0; k < shape[d]; k++) out.push(d === shape.length - 1 ? flat[i++] : build(d + 1));
      return out;
    };
    return build(0);
  }

  // ── autograd ──
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  /** Marks this tensor as a leaf whose gradient is tracked; returns `this`. */
  requiresGrad_(requiresGrad = true): this {
    native.setRequiresGrad(this.handle, requiresGrad);
    return this;
  }
  /** The accumulated gradient (a new handle sharing its storage), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.handle, g?.handle ?? null);
  }
  backward(gradient?: Tensor | null, opts: { retainGraph?: boolean } = {}): void {
    native.backward(this.handle, gradient?.handle ?? null, opts.retainGraph ?? false);
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  /** Name of the autograd node that made this tensor (e.g. "AddBackward0"), or null. */
  get gradFn(): string | null {
    return native.gradFn(this.handle);
  }

  // ── conversion ──
  /** `to('float64')` casts; `to('cpu')` / `to('cuda')` moves. */
  to(target: DType | string): Tensor {
    if (target in ITEM_SIZE) return (this as Tensor).toDtype(target as DType);
    return new Tensor(native.toDevice(this.handle, target));
  }

  /**
   * PyTorch's `t.data = src` (libtorch set_data): this same Tensor object now holds src's
   * storage, dtype and shape; its requiresGrad stays, its autograd history does not. `src`
   * keeps its own handle to the shared storage: dispose it when done. Returns `this`.
   * (Another JS Tensor wrapping the same libtorch tensor keeps its cached shape and dtype.)
   */
  setData(src: Tensor): this {
    native.setData(this.handle, src.handle);
    this.#shape = undefined;
    this.#dtype = undefined;
    return this;
  }

  // ── lifetime ──
  dispose(): void {
    native.dispose(this.handle);
    this.handle = native.DISPOSED as unknown as object;
  }
  get isDisposed(): boolean {
    return native.isDisposed(this.handle);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    if (this.isDisposed) return 'Tensor(<disposed>)';
    const body = this.numel <= 64 ? JSON.stringify(this.toArray()) : `[… ${this.numel} values]`;
    return `Tensor(${body}, shape=[${this.shape.join(', ')}], dtype=${this.dtype})`;
  }
}

export function wrap(handle: unknown): Tensor {
  return new Tensor(handle as object);
}

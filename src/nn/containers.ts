// Containers, as torch.nn.Sequential and torch.nn.ModuleList. Children are named by
// their position ('0', '1', …), so stateDict keys read `0.weight`, as in PyTorch.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module, type AnyModule } from './module.js';

type TensorModule = Module<[Tensor], Tensor>;

function index(kind: string, i: number, n: number): number {
  const j = i < 0 ? n + i : i;
  if (!Number.isInteger(j) || j < 0 || j >= n) throw new torch.ConfigError(`${kind}: index ${i} is out of range for ${n} modules`);
  return j;
}

/** Runs its modules in order, each one's output the next one's input. */
export class Sequential extends Module implements Iterable<TensorModule> {
  readonly #items: TensorModule[] = [];

  constructor(...modules: TensorModule[]) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: TensorModule): this {
    this.registerModule(String(this.#items.length), m);
    this.#items.push(m);
    return this;
  }

  get length(): number {
    return this.#items.length;
  }
  /** The i-th module (negative counts from the end). */
  at(i: number): TensorModule {
    return this.#items[index('Sequential', i, this.#items.length)];
  }
  [Symbol.iterator](): Iterator<TensorModule> {
    return this.#items[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    // The intermediate activations are freed as soon as the chain is done; autograd keeps
    // what backward needs on its own.
    return torch.tidy(() => {
      let h = x;
      for (const m of this.#items) h = m.call(h);
      return h;
    });
  }
}

/**
 * Holds modules so that their parameters are registered; it has no forward of its own
 * (iterate it). Typed by its element, so `layers.at(0)` is a Block, not a bare Module.
 */
export class ModuleList<M extends AnyModule = AnyModule> extends Module<[], never> implements Iterable<M> {
  readonly #items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    this.extend(modules);
  }

  append(m: M): this {
    this.registerModule(String(this.#items.length), m);
    this.#items.push(m);
    return this;
  }
  extend(modules: Iterable<M>): this {
    for (const m of modules) this.append(m);
    return this;
  }

  get length(): number {
    return this.#items.length;
  }
  at(i: number): M {
    return this.#items[index('ModuleList', i, this.#items.length)];
  }
  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }

  forward(): never {
    throw new torch.ConfigError('ModuleList has no forward; iterate over it and call each module');
  }
}

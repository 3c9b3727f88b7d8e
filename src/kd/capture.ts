// Reading intermediate features by module name, without editing the model: forward
// hooks on the named submodules keep each output, the way feature distillation in
// PyTorch uses register_forward_hook.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { AnyModule } from '../nn/index.js';

export interface FeatureCapture {
  /** The captured module names, in the order given. */
  readonly names: readonly string[];
  /** The output of module `name` from the latest forward (still attached to autograd). */
  get(name: string): Tensor;
  /** Whether `name` has an output captured since the last clear(). */
  has(name: string): boolean;
  /** Every captured output by name (the record the losses' `features` takes). */
  features(): Record<string, Tensor>;
  /** Disposes the captured outputs; the hooks stay, so the next forward captures again. */
  clear(): void;
  /** clear(), then removes the hooks; the capture cannot be used afterwards. */
  remove(): void;
}

const LIST_MAX = 40;

function validNames(model: AnyModule): string {
  const names = model.namedModules().map(([n]) => n).filter((n) => n !== '');
  const shown = names.slice(0, LIST_MAX).map((n) => `'${n}'`).join(', ');
  return names.length ? `${shown}${names.length > LIST_MAX ? `, … (${names.length - LIST_MAX} more)` : ''}` : '(none: the model has no submodules)';
}

/**
 * Hooks the submodules of `model` named by `names` (the dotted names of
 * `model.namedModules()`, e.g. 'layer2.0.conv1' or '3') and keeps their outputs.
 *
 * Each output is kept as an ALIAS (a view with its own handle on the same storage and in
 * the same autograd graph): it survives the containers' scopes, a loss on it backpropagates
 * into the model, and clear() frees only the alias — never a tensor the model returned to
 * its caller. A second forward before clear() replaces (and frees) the previous output.
 */
export function captureFeatures(model: AnyModule, names: readonly string[]): FeatureCapture {
  if (!model || typeof model.namedModules !== 'function') throw new torch.ConfigError('captureFeatures: model must be an nn.Module');
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string'))
    throw new torch.ConfigError('captureFeatures: names must be a non-empty array of module names');
  const byName = new Map(model.namedModules());
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length)
    throw new torch.ConfigError(`captureFeatures: no submodule named ${unknown.map((n) => `'${n}'`).join(', ')}; valid names: ${validNames(model)}`);

  const unique = [...new Set(names)];
  const outputs = new Map<string, Tensor>();
  let removed = false;
  const removers = unique.map((name) =>
    byName.get(name)!.registerForwardHook((_m: unknown, _in: unknown, out: unknown) => {
      if (!(out instanceof torch.Tensor)) throw new torch.ConfigError(`captureFeatures: module '${name}' returned ${out === null ? 'null' : typeof out}, not a Tensor`);
      const alias = torch.keep(out.view([...out.shape]));
      outputs.get(name)?.dispose();
      outputs.set(name, alias);
    }),
  );

  const live = (op: string) => {
    if (removed) throw new torch.ConfigError(`captureFeatures.${op}: this capture was removed`);
  };
  const capture: FeatureCapture = {
    names: unique,
    get(name) {
      live('get');
      const t = outputs.get(name);
      if (t) return t;
      if (!unique.includes(name))
        throw new torch.ConfigError(`captureFeatures.get: '${name}' is not captured; captured names: ${unique.map((n) => `'${n}'`).join(', ')}`);
      throw new torch.ConfigError(`captureFeatures.get: nothing captured for '${name}' yet: run the model forward first (or after clear())`);
    },
    has(name) {
      return outputs.has(name);
    },
    features() {
      live('features');
      return Object.fromEntries(outputs);
    },
    clear() {
      for (const t of outputs.values()) t.dispose();
      outputs.clear();
    },
    remove() {
      if (removed) return;
      capture.clear();
      for (const r of removers) r();
      removed = true;
    },
  };
  return capture;
}

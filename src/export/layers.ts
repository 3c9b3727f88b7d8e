// The layer list both exporters start from: a Sequential model (nested Sequentials are
// flattened) as [dotted name, module, kind]. Only layers whose class is exactly one of the
// nn classes below are accepted: a subclass may override forward, so exporting it as its
// parent would silently compute something else. Anything else is a ConfigError naming the
// layer's dotted name and class, before any file is written.
import * as nn from '../nn/index.js';
import { ConfigError, noGrad, tidy, zeros } from '../torch/index.js';

/** The kinds of layer the exporters know, by their torch.nn class name. */
export const LAYER_KINDS = [
  'Linear', 'Conv2d', 'ReLU', 'GELU', 'SiLU', 'Tanh', 'Sigmoid', 'LeakyReLU',
  'MaxPool2d', 'AvgPool2d', 'AdaptiveAvgPool2d', 'Flatten', 'Dropout',
  'BatchNorm1d', 'BatchNorm2d', 'LayerNorm', 'Identity',
] as const;
export type LayerKind = (typeof LAYER_KINDS)[number];

const CLASSES: Record<LayerKind, abstract new (...args: never[]) => nn.AnyModule> = {
  Linear: nn.Linear, Conv2d: nn.Conv2d, ReLU: nn.ReLU, GELU: nn.GELU, SiLU: nn.SiLU, Tanh: nn.Tanh,
  Sigmoid: nn.Sigmoid, LeakyReLU: nn.LeakyReLU, MaxPool2d: nn.MaxPool2d, AvgPool2d: nn.AvgPool2d,
  AdaptiveAvgPool2d: nn.AdaptiveAvgPool2d, Flatten: nn.Flatten, Dropout: nn.Dropout,
  BatchNorm1d: nn.BatchNorm1d, BatchNorm2d: nn.BatchNorm2d, LayerNorm: nn.LayerNorm, Identity: nn.Identity,
};

export interface LayerRef {
  /** Dotted name, as in the state dict ('3', 'features.0'); '' for a bare root layer. */
  name: string;
  kind: LayerKind;
  module: nn.AnyModule;
}

function kindOf(m: nn.AnyModule): LayerKind | undefined {
  return LAYER_KINDS.find((k) => m.constructor === CLASSES[k]);
}

/** The model's layers in execution order, or a ConfigError naming the first unsupported one. */
export function sequentialLayers(model: nn.AnyModule, what = 'export'): LayerRef[] {
  const out: LayerRef[] = [];
  const visit = (m: nn.AnyModule, name: string) => {
    if ((m.constructor as unknown) === nn.Sequential) {
      for (const [n, c] of m.namedChildren()) visit(c, name ? `${name}.${n}` : n);
      return;
    }
    const kind = kindOf(m);
    if (!kind || m.namedChildren().length)
      throw new ConfigError(`${what}: layer '${name || '(root)'}' (${m.constructor.name}) is not supported; ` +
        `a model must be a Sequential of ${LAYER_KINDS.join(', ')}`);
    out.push({ name, kind, module: m });
  };
  visit(model, '');
  return out;
}

/**
 * Runs `fn` with the model in eval mode and gradients off, then puts every module's own
 * training flag back (a caller's model may mix modes, e.g. a frozen BatchNorm).
 */
export function inEval<T>(model: nn.AnyModule, fn: () => T): T {
  const modes = model.modules().map((m) => [m, m.training] as const);
  model.eval();
  try {
    return noGrad(fn);
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

/** The per-sample output shape of the model for a per-sample input shape (one eval forward of batch 2). */
export function outputShapeOf(model: nn.AnyModule, inputShape: readonly number[]): number[] {
  return inEval(model, () => tidy(() => (model.call(zeros([2, ...inputShape])) as ReturnType<typeof zeros>).shape.slice(1)));
}

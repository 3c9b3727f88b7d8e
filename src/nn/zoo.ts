// Ready-made architectures for the classifier experiments, named by a short spec
// string so experiment files stay data-only:
//   'cnn'                 conv32-pool-conv64-pool-fc256 (+dropout) → classes: the CNN teacher
//   'mlp:1200,1200'       an MLP with those hidden sizes (ReLU, optional dropout)
import { ConfigError } from '../torch/index.js';
import { Sequential } from './containers.js';
import { Conv2d } from './conv.js';
import { Linear } from './linear.js';
import { ReLU } from './activation.js';
import { MaxPool2d } from './pooling.js';
import { Flatten } from './flatten.js';
import { Dropout } from './dropout.js';
import type { Module } from './module.js';

export interface ArchOptions {
  /** Per-sample input shape, e.g. [1, 28, 28]. */
  inputShape: readonly number[];
  numClasses: number;
  /** Dropout before each hidden layer's output (0 = none). */
  dropout?: number;
}

/** conv(1→32,3×3,pad 1)-ReLU-pool2 · conv(32→64)-ReLU-pool2 · fc256-ReLU-dropout · fc. */
export function cnn(o: ArchOptions): Sequential {
  const [c, h, w] = o.inputShape.length === 3 ? o.inputShape : [1, 28, 28];
  if (o.inputShape.length !== 3) throw new ConfigError(`arch 'cnn' needs image inputs (C, H, W), got shape [${o.inputShape.join(', ')}]`);
  const flat = 64 * Math.floor(Math.floor(h / 2) / 2) * Math.floor(Math.floor(w / 2) / 2);
  return new Sequential(
    new Conv2d(c, 32, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Conv2d(32, 64, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Flatten(), // (B, 64·H/4·W/4)
    new Linear(flat, 256), new ReLU(), new Dropout(o.dropout ?? 0),
    new Linear(256, o.numClasses),
  );
}

/** Flatten · [Linear-ReLU-(Dropout)] per hidden size · Linear to classes. */
export function mlp(hidden: readonly number[], o: ArchOptions): Sequential {
  const layers: Module[] = [new Flatten()];
  let width = o.inputShape.reduce((a, b) => a * b, 1);
  for (const h of hidden) {
    layers.push(new Linear(width, h), new ReLU());
    if (o.dropout) layers.push(new Dropout(o.dropout));
    width = h;
  }
  layers.push(new Linear(width, o.numClasses));
  return new Sequential(...layers);
}

/** Builds a model from a spec string ('cnn', 'mlp:128,128'). */
export function buildArch(spec: string, o: ArchOptions): Sequential {
  if (spec === 'cnn') return cnn(o);
  const m = /^mlp:(\d+(?:,\d+)*)$/.exec(spec.replace(/\s+/g, ''));
  if (m) return mlp(m[1].split(',').map(Number), o);
  throw new ConfigError(`unknown architecture '${spec}': expected 'cnn' or 'mlp:<hidden sizes>' such as 'mlp:128,128'`);
}

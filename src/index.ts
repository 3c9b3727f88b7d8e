// The package's entry point: `import { torch, nn, kd, lm, reason } from 'distill'`.
// One namespace per layer; each is also its own subpath (`distill/kd`, see package.json
// "exports"). The export and eval layers are named `exporters` and `evaluation` here because
// `export` and `eval` cannot be imported as bindings; their subpaths keep the layer's name.
export * as torch from './torch/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * as io from './io/index.js';
export * as lm from './lm/index.js';
export * as train from './train/index.js';
export * as kd from './kd/index.js';
export * as reason from './reason/index.js';
export * as exporters from './export/index.js';
export * as evaluation from './eval/index.js';

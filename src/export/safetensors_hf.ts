// A Hugging Face style folder for a Sequential classifier:
//   model.safetensors   the state dict under our names, which are PyTorch's nn.Sequential
//                       names ('0.weight', '3.running_mean', …), float32 (BatchNorm's
//                       num_batches_tracked stays int64, as in PyTorch)
//   config.json         the architecture as data: each layer's torch.nn class and its
//                       constructor keyword arguments, in PyTorch's spelling, plus the
//                       input shape and the classes (id2label / label2id, as HF configs)
//   README.md           how to rebuild it in PyTorch (no distill code needed)
// so a PyTorch user writes
//   nn.Sequential(*[getattr(nn, l["type"])(**l["kwargs"]) for l in cfg["layers"]]).load_state_dict(sd)
// Nested Sequentials are flattened into one list; `name` keeps each layer's dotted state-dict
// prefix, and a nested model's config marks it with "nested": true (rebuild with the names).
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as nn from '../nn/index.js';
import { ConfigError } from '../torch/index.js';
import { saveSafetensors, writeFileAtomic } from '../io/index.js';
import { sequentialLayers, outputShapeOf, type LayerRef } from './layers.js';

export const HF_FORMAT = 'distill-sequential';
export const HF_FORMAT_VERSION = 1;

export interface ExportHfOptions {
  /** The zoo spec the model was built from ('cnn', 'mlp:128,128'), kept for our own loaders. */
  arch: string;
  inputShape: readonly number[];
  numClasses: number;
  classNames?: readonly string[];
  /** Extra safetensors __metadata__ (string → string). */
  metadata?: Record<string, string>;
}

export interface HfLayer {
  name: string;
  type: string;
  kwargs: Record<string, unknown>;
}

export interface HfConfig {
  format: string;
  format_version: number;
  library: 'distill';
  architectures: ['Sequential'];
  arch: string;
  nested: boolean;
  torch_dtype: 'float32';
  input_shape: number[];
  input: { name: 'input'; dtype: 'float32'; note: string };
  num_classes: number;
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  layers: HfLayer[];
}

/** The constructor keyword arguments of a layer, as torch.nn spells them. */
function kwargsOf(l: LayerRef): Record<string, unknown> {
  const m = l.module;
  switch (l.kind) {
    case 'Linear': { const x = m as nn.Linear; return { in_features: x.inFeatures, out_features: x.outFeatures, bias: x.bias !== null }; }
    case 'Conv2d': {
      const x = m as nn.Conv2d;
      return { in_channels: x.inChannels, out_channels: x.outChannels, kernel_size: x.kernelSize, stride: x.stride,
        padding: x.padding, dilation: x.dilation, groups: x.groups, bias: x.bias !== null };
    }
    case 'LeakyReLU': return { negative_slope: (m as nn.LeakyReLU).negativeSlope };
    case 'GELU': return { approximate: (m as nn.GELU).approximate };
    case 'MaxPool2d': {
      const x = m as nn.MaxPool2d;
      return { kernel_size: x.kernelSize, stride: x.stride, padding: x.padding, dilation: x.dilation, ceil_mode: x.ceilMode };
    }
    case 'AvgPool2d': {
      const x = m as nn.AvgPool2d;
      return { kernel_size: x.kernelSize, stride: x.stride, padding: x.padding, ceil_mode: x.ceilMode, count_include_pad: x.countIncludePad };
    }
    case 'AdaptiveAvgPool2d': return { output_size: (m as nn.AdaptiveAvgPool2d).outputSize };
    case 'Flatten': { const x = m as nn.Flatten; return { start_dim: x.startDim, end_dim: x.endDim }; }
    case 'Dropout': return { p: (m as nn.Dropout).p };
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      const x = m as nn.BatchNorm1d;
      return { num_features: x.numFeatures, eps: x.eps, momentum: x.momentum, affine: x.affine, track_running_stats: x.trackRunningStats };
    }
    case 'LayerNorm': {
      const x = m as nn.LayerNorm;
      // `bias=` only exists from torch 2.1; written only when it differs from the default.
      const kw: Record<string, unknown> = { normalized_shape: x.normalizedShape, eps: x.eps, elementwise_affine: x.weight !== null };
      if (x.weight !== null && x.bias === null) kw.bias = false;
      return kw;
    }
    default: return {}; // ReLU, SiLU, Tanh, Sigmoid, Identity
  }
}

/** The config.json object for a model (nothing written). */
export function hfConfig(model: nn.AnyModule, o: ExportHfOptions): HfConfig {
  const layers = sequentialLayers(model, 'safetensors export');
  const out = outputShapeOf(model, o.inputShape);
  if (out.length !== 1 || out[0] !== o.numClasses)
    throw new ConfigError(`safetensors export: the model gives outputs of shape [B, ${out.join(', ')}], not [B, ${o.numClasses}] for ${o.numClasses} classes`);
  if (o.classNames && o.classNames.length !== o.numClasses)
    throw new ConfigError(`safetensors export: ${o.classNames.length} class names for ${o.numClasses} classes`);
  const names = o.classNames ?? Array.from({ length: o.numClasses }, (_, i) => String(i));
  return {
    format: HF_FORMAT,
    format_version: HF_FORMAT_VERSION,
    library: 'distill',
    architectures: ['Sequential'],
    arch: o.arch,
    nested: layers.some((l, i) => l.name !== String(i)),
    torch_dtype: 'float32',
    input_shape: [...o.inputShape],
    input: { name: 'input', dtype: 'float32', note: 'batch-first; images are (B, C, H, W) scaled to [0, 1], no normalisation' },
    num_classes: o.numClasses,
    id2label: Object.fromEntries(names.map((n, i) => [String(i), n])),
    label2id: Object.fromEntries(names.map((n, i) => [n, i])),
    layers: layers.map((l) => ({ name: l.name, type: l.kind, kwargs: kwargsOf(l) })),
  };
}

const README = (cfg: HfConfig) => `# ${cfg.arch} classifier (exported by distill)

Input: float32 \`(batch, ${cfg.input_shape.join(', ')})\`, ${cfg.input.note}.
Output: logits \`(batch, ${cfg.num_classes})\`; classes in \`config.json\` → \`id2label\`.

Rebuild in PyTorch (\`safetensors\` package, or any reader of the format):

\`\`\`python
import json, torch
from torch import nn
from safetensors.torch import load_file

cfg = json.load(open("config.json"))
model = nn.Sequential(*[getattr(nn, l["type"])(**l["kwargs"]) for l in cfg["layers"]])
model.load_state_dict(load_file("model.safetensors"))
model.eval()
logits = model(torch.rand(1, ${cfg.input_shape.join(', ')}))
\`\`\`
${cfg.nested ? '\nThis model had nested Sequentials: build them so that each layer sits at its `name`.\n' : ''}`;

export interface HfExportInfo {
  dir: string;
  files: { path: string; bytes: number }[];
  config: HfConfig;
}

/** Writes model.safetensors, config.json and README.md into `dir` (each atomically). */
export function exportHf(model: nn.AnyModule, dir: string, o: ExportHfOptions): HfExportInfo {
  const config = hfConfig(model, o);
  mkdirSync(dir, { recursive: true });
  const weights = join(dir, 'model.safetensors');
  saveSafetensors(weights, model.stateDict(), { format: 'pt', ...o.metadata });
  const cfgText = JSON.stringify(config, null, 2) + '\n';
  writeFileAtomic(join(dir, 'config.json'), cfgText);
  const readme = README(config);
  writeFileAtomic(join(dir, 'README.md'), readme);
  return {
    dir,
    config,
    files: [
      { path: weights, bytes: statSync(weights).size },
      { path: join(dir, 'config.json'), bytes: Buffer.byteLength(cfgText) },
      { path: join(dir, 'README.md'), bytes: Buffer.byteLength(readme) },
    ],
  };
}

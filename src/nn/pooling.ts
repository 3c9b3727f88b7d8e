// 2-D pooling, as torch.nn.MaxPool2d, AvgPool2d and AdaptiveAvgPool2d, over (B, C, H, W)
// or unbatched (C, H, W).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { checkInt, pair, py } from './util.js';

type IntOrPair = number | readonly [number, number];

export interface MaxPool2dOptions {
  /** Defaults to kernelSize (non-overlapping windows). */
  stride?: IntOrPair;
  /** Implicit −∞ padding on each side; at most half the kernel. */
  padding?: IntOrPair;
  dilation?: IntOrPair;
  /** Round the output size up instead of down. */
  ceilMode?: boolean;
}

/** The maximum over each kernel window. */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;

  constructor(kernelSize: IntOrPair, opts: MaxPool2dOptions = {}) {
    super();
    this.kernelSize = pair('MaxPool2d', 'kernelSize', kernelSize);
    this.stride = pair('MaxPool2d', 'stride', opts.stride ?? this.kernelSize);
    this.padding = pair('MaxPool2d', 'padding', opts.padding ?? 0, 0);
    this.dilation = pair('MaxPool2d', 'dilation', opts.dilation ?? 1);
    this.ceilMode = opts.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return torch.maxPool2d(x, this.kernelSize, this.stride, this.padding, this.dilation, this.ceilMode);
  }

  override extraRepr(): string {
    return `kernel_size=(${this.kernelSize.join(', ')}), stride=(${this.stride.join(', ')}), padding=(${this.padding.join(', ')}), dilation=(${this.dilation.join(', ')}), ceil_mode=${py(this.ceilMode)}`;
  }
}

export interface AvgPool2dOptions {
  /** Defaults to kernelSize. */
  stride?: IntOrPair;
  /** Implicit zero padding on each side; at most half the kernel. */
  padding?: IntOrPair;
  ceilMode?: boolean;
  /** Count the padding zeros in each window's divisor. */
  countIncludePad?: boolean;
}

/** The mean over each kernel window. */
export class AvgPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;

  constructor(kernelSize: IntOrPair, opts: AvgPool2dOptions = {}) {
    super();
    this.kernelSize = pair('AvgPool2d', 'kernelSize', kernelSize);
    this.stride = pair('AvgPool2d', 'stride', opts.stride ?? this.kernelSize);
    this.padding = pair('AvgPool2d', 'padding', opts.padding ?? 0, 0);
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
  }

  forward(x: Tensor): Tensor {
    return torch.avgPool2d(x, this.kernelSize, this.stride, this.padding, this.ceilMode, this.countIncludePad);
  }

  override extraRepr(): string {
    return `kernel_size=(${this.kernelSize.join(', ')}), stride=(${this.stride.join(', ')}), padding=(${this.padding.join(', ')})`;
  }
}

/**
 * Averages into a fixed output size whatever the input size: output cell i covers input
 * rows ⌊i·H/oH⌋ … ⌈(i+1)·H/oH⌉ − 1 (columns likewise). null keeps that input dimension.
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number | null, number | null];

  constructor(outputSize: number | readonly [number | null, number | null]) {
    super();
    const p = typeof outputSize === 'number' ? [outputSize, outputSize] : [...outputSize];
    if (p.length !== 2) throw new torch.ConfigError(`AdaptiveAvgPool2d: outputSize must be a number or a pair`);
    this.outputSize = p.map((s) => (s === null ? null : checkInt('AdaptiveAvgPool2d', 'outputSize', s))) as [number | null, number | null];
  }

  forward(x: Tensor): Tensor {
    const [h, w] = this.outputSize;
    return torch.adaptiveAvgPool2d(x, [h ?? x.size(-2), w ?? x.size(-1)]);
  }

  override extraRepr(): string {
    return `output_size=(${this.outputSize.map((s) => (s === null ? 'None' : s)).join(', ')})`;
  }
}

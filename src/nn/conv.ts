// Conv2d, as torch.nn.Conv2d (zero padding).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import * as init from './init.js';
import { checkInt, pair } from './util.js';

type IntOrPair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: IntOrPair;
  /** Zeros added on each side; 'valid' is 0, 'same' keeps H and W (stride 1, symmetric padding only). */
  padding?: IntOrPair | 'valid' | 'same';
  dilation?: IntOrPair;
  /** Channels are split into `groups` independent convolutions (groups = inChannels is depthwise). */
  groups?: number;
  bias?: boolean;
}

/**
 * 2-D cross-correlation: (B, Cin, H, W) → (B, Cout, H', W') with
 * H' = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1 (W' likewise).
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  /** (Cout, Cin / groups, kH, kW) */
  readonly weight: Tensor;
  /** (Cout) or null */
  readonly bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrPair, opts: Conv2dOptions = {}) {
    super();
    this.inChannels = checkInt('Conv2d', 'inChannels', inChannels);
    this.outChannels = checkInt('Conv2d', 'outChannels', outChannels);
    this.kernelSize = pair('Conv2d', 'kernelSize', kernelSize);
    this.stride = pair('Conv2d', 'stride', opts.stride ?? 1);
    this.dilation = pair('Conv2d', 'dilation', opts.dilation ?? 1);
    this.groups = checkInt('Conv2d', 'groups', opts.groups ?? 1);
    if (inChannels % this.groups) throw new torch.ConfigError(`Conv2d: inChannels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups) throw new torch.ConfigError(`Conv2d: outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    this.padding = this.#resolvePadding(opts.padding ?? 0);

    this.weight = this.registerParameter('weight', torch.empty([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.bias = opts.bias ?? true ? this.registerParameter('bias', torch.empty([outChannels])) : null;
    this.resetParameters();
  }

  #resolvePadding(p: IntOrPair | 'valid' | 'same'): [number, number] {
    if (p === 'valid') return [0, 0];
    if (p !== 'same') return pair('Conv2d', 'padding', p, 0);
    if (this.stride[0] !== 1 || this.stride[1] !== 1) throw new torch.ConfigError("Conv2d: padding='same' is not supported for strided convolutions");
    // 'same' needs dilation·(k − 1) zeros in total per dimension; split evenly only when even.
    const total = this.kernelSize.map((k, i) => this.dilation[i] * (k - 1));
    if (total.some((t) => t % 2)) throw new torch.ConfigError(`Conv2d: padding='same' with kernel ${this.kernelSize.join('×')} and dilation ${this.dilation.join('×')} needs asymmetric padding, which is not supported; pad explicitly`);
    return [total[0] / 2, total[1] / 2];
  }

  /**
   * PyTorch's default: kaiming_uniform_(a=√5) = U(−1/√k, 1/√k) with k = Cin/groups · kH · kW,
   * and the bias from the same range.
   */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      if (fanIn !== 0) {
        const bound = 1 / Math.sqrt(fanIn);
        init.uniform_(this.bias, -bound, bound);
      }
    }
  }

  forward(x: Tensor): Tensor {
    return torch.conv2d(x, this.weight, this.bias, this.stride, this.padding, this.dilation, this.groups);
  }

  override extraRepr(): string {
    const k = (p: number[]) => `(${p.join(', ')})`;
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${k(this.kernelSize)}, stride=${k(this.stride)}`;
    if (this.padding.some((p) => p)) s += `, padding=${k(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${k(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}

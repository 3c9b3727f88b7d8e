// Weight initialisers, computed exactly as torch/nn/init.py (1.13) computes them: the
// same double-precision arithmetic for bounds and standard deviations, then the same
// in-place sampler (`uniform_`/`normal_`) on libtorch's default CPU generator. After the
// same manual seed, the same calls in the same order give bit-identical tensors.
//
// All of them run under noGrad (parameters are leaves that require grad, and an
// in-place write to such a leaf is an autograd error otherwise) and return the tensor.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export type Nonlinearity =
  | 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose1d' | 'conv_transpose2d' | 'conv_transpose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

const LINEAR_FNS = new Set(['linear', 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d']);

/**
 * The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh,
 * √2 for relu, √(2 / (1 + slope²)) for leaky_relu (slope defaults to 0.01), 3/4 for selu.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  if (LINEAR_FNS.has(nonlinearity) || nonlinearity === 'sigmoid') return 1;
  if (nonlinearity === 'tanh') return 5.0 / 3;
  if (nonlinearity === 'relu') return Math.sqrt(2.0);
  if (nonlinearity === 'leaky_relu') {
    const slope = param ?? 0.01;
    if (typeof slope !== 'number' || !Number.isFinite(slope)) throw new torch.ConfigError(`calculateGain: negative_slope ${String(slope)} is not a valid number`);
    return Math.sqrt(2.0 / (1 + slope ** 2));
  }
  if (nonlinearity === 'selu') return 3.0 / 4;
  throw new torch.ConfigError(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'`);
}

/**
 * [fanIn, fanOut] of a weight (out, in, *kernel): fanIn = in·∏kernel, fanOut = out·∏kernel.
 * Needs at least 2 dimensions.
 */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new torch.ShapeError('ERR_SHAPE', 'calculateFanInAndFanOut', 'fan in and fan out can not be computed for a tensor with fewer than 2 dimensions', `[${s.join(', ')}]`);
  let receptive = 1;
  for (const k of s.slice(2)) receptive *= k;
  return [s[1] * receptive, s[0] * receptive];
}

export type FanMode = 'fan_in' | 'fan_out';

function correctFan(t: Tensor, mode: FanMode): number {
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new torch.ConfigError(`init: mode '${String(mode)}' not supported; use 'fan_in' or 'fan_out'`);
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return mode === 'fan_in' ? fanIn : fanOut;
}

let skipping = 0;

/**
 * Runs `fn` with the random initialisers (uniform_, normal_ and those built on them) doing
 * nothing, as transformers' `no_init_weights` and torch.nn.utils.skip_init: a model about
 * to receive a checkpoint's weights need not draw hundreds of millions of random numbers
 * first (seconds at 0.5B parameters). Parameters then hold uninitialised memory until loaded.
 */
export function skipInit<R>(fn: () => R): R {
  skipping++;
  try {
    return fn();
  } finally {
    skipping--;
  }
}

/** Fills `t` from U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  if (skipping) return t;
  return torch.noGrad(() => t.uniform_(a, b));
}

/** Fills `t` from N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  if (skipping) return t;
  return torch.noGrad(() => t.normal_(mean, std));
}

export function constant_(t: Tensor, value: number): Tensor {
  return torch.noGrad(() => t.fill_(value));
}
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}
export function zeros_(t: Tensor): Tensor {
  return torch.noGrad(() => t.zero_());
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu only). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/**
 * He et al. 2015, "Delving deep into rectifiers": U(−bound, bound) with
 * std = gain / √fan and bound = √3 · std. A zero-element tensor is left as it is.
 */
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  if (t.shape.includes(0)) return t;
  const fan = correctFan(t, o.mode ?? 'fan_in');
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  const std = gain / Math.sqrt(fan);
  const bound = Math.sqrt(3.0) * std;
  return uniform_(t, -bound, bound);
}

/** He et al. 2015: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  if (t.shape.includes(0)) return t;
  const fan = correctFan(t, o.mode ?? 'fan_in');
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  const std = gain / Math.sqrt(fan);
  return normal_(t, 0, std);
}

/**
 * Glorot & Bengio 2010: U(−a, a) with std = gain · √(2 / (fanIn + fanOut)) and a = √3 · std.
 */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  const a = Math.sqrt(3.0) * std;
  return uniform_(t, -a, a);
}

/** Glorot & Bengio 2010: N(0, std²) with std = gain · √(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  return normal_(t, 0, std);
}

// ONNX export of Sequential classifiers: a ModelProto with IR version 8 and the default
// ("ai.onnx") opset 17, one input 'input' (batch, ...inputShape) and one output 'logits'
// (batch, classes), the batch axis dynamic (dim_param 'batch'). Weights are initializers
// named by their state-dict key ('0.weight'), float32 raw_data, little-endian.
//
// Why IR 8 / opset 17: opset 17 is the first with LayerNormalization, and IR 8 is the IR
// version that goes with it (onnx/docs/Versioning.md); it is what the onnx 1.12 checker,
// onnxruntime ≥ 1.13 and onnxruntime-web all accept. Opsets 18–20 can be asked for (IR 8
// for 18, IR 9 for 19–20); at 20 GELU becomes the native Gelu op.
//
// Layer → ONNX mapping (eval-mode semantics; x is (B, …)):
//   Linear            (B, in) → Gemm(x, W, b; transB=1)            y = x·Wᵀ + b
//                     (B, …, in) → MatMul(x, Wᵀ) + Add(b)          (Gemm is 2-D only)
//   Linear, int8      DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_qᵀ, x_zp) → Cast(float)
//                     → Mul(x_scale · w_scale[o]) → Add(b)        (W per-output-channel
//                     symmetric int8, zero point 0; the activations uint8 per batch)
//   Conv2d            Conv(x, W, b; kernel_shape, strides, pads=[pH, pW, pH, pW], dilations, group)
//   ReLU / Tanh / Sigmoid   Relu / Tanh / Sigmoid
//   LeakyReLU         LeakyRelu(alpha = negative_slope)
//   GELU (opset < 20) 'none': Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)
//                     'tanh': 0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³)))
//   GELU (opset ≥ 20) Gelu(approximate)
//   SiLU              Mul(x, Sigmoid(x))
//   MaxPool2d         MaxPool(kernel_shape, strides, pads, dilations, ceil_mode)
//   AvgPool2d         AveragePool(kernel_shape, strides, pads, count_include_pad, ceil_mode)
//   AdaptiveAvgPool2d output 1×1: GlobalAveragePool; H, W divisible by the output size:
//                     AveragePool with kernel = stride = input / output; else unsupported
//   Flatten           start 1, end −1: Flatten(axis=1); otherwise Reshape to the static
//                     per-sample shape with 0 (= copy) for the batch axis
//   Dropout, Identity no node (inference)
//   BatchNorm1d/2d    BatchNormalization(x, weight|1, bias|0, running_mean, running_var; epsilon)
//   LayerNorm         LayerNormalization(x, weight|1, bias|0; axis = −len(normalized_shape), epsilon)
// PyTorch's ceil_mode drops a last window that would start in the right padding; ONNX's
// formula does not, so a pooling layer where the two disagree is refused, not exported wrong.
import * as nn from '../nn/index.js';
import { ConfigError, tidy, type Tensor } from '../torch/index.js';
import { writeFileAtomic } from '../io/index.js';
import { sequentialLayers, outputShapeOf, type LayerRef } from './layers.js';
import { GraphBuilder, encodeModel, int, int8Linear, ints, float, str, onnx, type OnnxFileInfo } from './onnx_graph.js';

export interface ExportOnnxOptions {
  /** Per-sample input shape, e.g. [1, 28, 28]; the batch axis is added (dynamic). */
  inputShape: readonly number[];
  /** Default 17; 17–20 accepted. */
  opset?: number;
  /** The graph's name (default 'distill-model'). */
  modelName?: string;
  /** Extra metadata_props (string → string); 'input_shape' is always added. */
  metadata?: Record<string, string>;
  /** 'int8': dynamic quantisation of the Linear layers (MatMulInteger); other layers stay float. */
  quantize?: 'int8';
}

export interface OnnxExportInfo extends OnnxFileInfo {
  outputShape: number[];
  quantized: boolean;
}

/** The float32 values of a tensor, row-major (one copy). */
function f32(t: Tensor): Float32Array {
  return tidy(() => (t.dtype === 'float32' ? t : t.to('float32')).dataSync() as Float32Array);
}
const fill = (n: number, v: number) => new Float32Array(n).fill(v);

/** (out, in) → (in, out), for MatMul. */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/** PyTorch's pooling_output_shape, and whether ONNX's formula gives the same size. */
function poolOut(inp: number, k: number, s: number, p: number, d: number, ceil: boolean): { out: number; onnxAgrees: boolean } {
  const span = inp + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  const onnxOut = out;
  if (ceil && (out - 1) * s >= inp + p) out--;
  return { out, onnxAgrees: out === onnxOut };
}

interface Ctx {
  g: GraphBuilder;
  opset: number;
  quantize: boolean;
  /** Current value name and per-sample shape. */
  x: string;
  shape: number[];
}

const where = (l: LayerRef) => `ONNX export: layer '${l.name || '(root)'}' (${l.kind})`;
const pre = (l: LayerRef) => l.name || l.kind;

function emit(l: LayerRef, c: Ctx): void {
  const { g } = c;
  const n = pre(l);
  const out = (suffix = '') => `${n}${suffix}.out`;
  const unary = (op: string, attrs = {}) => {
    c.x = g.node(op, `${n}/${op}`, [c.x], [out()], attrs);
  };
  const m = l.module;
  switch (l.kind) {
    case 'Identity':
    case 'Dropout':
      return; // the identity at inference
    case 'ReLU': return unary('Relu');
    case 'Tanh': return unary('Tanh');
    case 'Sigmoid': return unary('Sigmoid');
    case 'LeakyReLU': return unary('LeakyRelu', { alpha: float((m as nn.LeakyReLU).negativeSlope) });
    case 'SiLU': {
      const s = g.node('Sigmoid', `${n}/Sigmoid`, [c.x], [out('.sigmoid')]);
      c.x = g.node('Mul', `${n}/Mul`, [c.x, s], [out()]);
      return;
    }
    case 'GELU': {
      const approx = (m as nn.GELU).approximate;
      if (c.opset >= 20) return unary('Gelu', { approximate: str(approx) });
      const x = c.x;
      let inner: string;
      if (approx === 'none') {
        inner = g.node('Erf', `${n}/Erf`, [g.node('Div', `${n}/Div`, [x, g.scalar(`${n}.sqrt2`, Math.SQRT2)], [out('.scaled')])], [out('.erf')]);
      } else {
        const x3 = g.node('Mul', `${n}/Cube`, [x, g.node('Mul', `${n}/Square`, [x, x], [out('.x2')])], [out('.x3')]);
        const sum = g.node('Add', `${n}/Add`, [x, g.node('Mul', `${n}/MulC`, [x3, g.scalar(`${n}.c`, 0.044715)], [out('.cx3')])], [out('.sum')]);
        inner = g.node('Tanh', `${n}/Tanh`, [g.node('Mul', `${n}/MulK`, [sum, g.scalar(`${n}.k`, Math.sqrt(2 / Math.PI))], [out('.ksum')])], [out('.tanh')]);
      }
      const onePlus = g.node('Add', `${n}/AddOne`, [inner, g.scalar(`${n}.one`, 1)], [out('.oneplus')]);
      const xs = g.node('Mul', `${n}/MulX`, [x, onePlus], [out('.xs')]);
      c.x = g.node('Mul', `${n}/Half`, [xs, g.scalar(`${n}.half`, 0.5)], [out()]);
      return;
    }
    case 'Linear': {
      const lin = m as nn.Linear;
      if (c.shape[c.shape.length - 1] !== lin.inFeatures)
        throw new ConfigError(`${where(l)}: expects ${lin.inFeatures} input features, the input here has shape [B, ${c.shape.join(', ')}]`);
      const w = f32(lin.weight);
      const b = lin.bias ? g.init(`${n}.bias`, [lin.outFeatures], f32(lin.bias)) : '';
      if (c.quantize && c.shape.length === 1) {
        emitInt8Linear(c, n, w, lin.inFeatures, lin.outFeatures, b);
      } else if (c.shape.length === 1) {
        const W = g.init(`${n}.weight`, [lin.outFeatures, lin.inFeatures], w);
        c.x = g.node('Gemm', `${n}/Gemm`, b ? [c.x, W, b] : [c.x, W], [out()], { transB: int(1) });
      } else {
        const Wt = g.init(`${n}.weight_t`, [lin.inFeatures, lin.outFeatures], transpose(w, lin.outFeatures, lin.inFeatures));
        c.x = g.node('MatMul', `${n}/MatMul`, [c.x, Wt], [b ? out('.mm') : out()]);
        if (b) c.x = g.node('Add', `${n}/Add`, [c.x, b], [out()]);
      }
      c.shape = [...c.shape.slice(0, -1), lin.outFeatures];
      return;
    }
    case 'Conv2d': {
      const cv = m as nn.Conv2d;
      if (c.shape.length !== 3 || c.shape[0] !== cv.inChannels)
        throw new ConfigError(`${where(l)}: expects (B, ${cv.inChannels}, H, W) inputs, the input here has shape [B, ${c.shape.join(', ')}]`);
      const W = g.init(`${n}.weight`, cv.weight.shape, f32(cv.weight));
      const b = cv.bias ? g.init(`${n}.bias`, [cv.outChannels], f32(cv.bias)) : '';
      const [pH, pW] = cv.padding;
      c.x = g.node('Conv', `${n}/Conv`, b ? [c.x, W, b] : [c.x, W], [out()], {
        kernel_shape: ints(cv.kernelSize), strides: ints(cv.stride), pads: ints([pH, pW, pH, pW]),
        dilations: ints(cv.dilation), group: int(cv.groups),
      });
      const hw = [1, 2].map((i) => Math.floor((c.shape[i] + 2 * cv.padding[i - 1] - cv.dilation[i - 1] * (cv.kernelSize[i - 1] - 1) - 1) / cv.stride[i - 1]) + 1);
      c.shape = [cv.outChannels, ...hw];
      return;
    }
    case 'MaxPool2d':
    case 'AvgPool2d': {
      const p = m as nn.MaxPool2d | nn.AvgPool2d;
      if (c.shape.length !== 3) throw new ConfigError(`${where(l)}: expects (B, C, H, W) inputs, the input here has shape [B, ${c.shape.join(', ')}]`);
      const dil = p instanceof nn.MaxPool2d ? p.dilation : [1, 1];
      const sizes = [1, 2].map((i) => poolOut(c.shape[i], p.kernelSize[i - 1], p.stride[i - 1], p.padding[i - 1], dil[i - 1], p.ceilMode));
      const floorSizes = [1, 2].map((i) => poolOut(c.shape[i], p.kernelSize[i - 1], p.stride[i - 1], p.padding[i - 1], dil[i - 1], false).out);
      if (sizes.some((s) => !s.onnxAgrees) || (p instanceof nn.AvgPool2d && sizes.some((s, i) => s.out !== floorSizes[i])))
        throw new ConfigError(`${where(l)}: ceil_mode=True with this input size rounds differently in ONNX than in PyTorch; use ceil_mode=False or pad the input`);
      const attrs = {
        kernel_shape: ints(p.kernelSize), strides: ints(p.stride), pads: ints([...p.padding, ...p.padding]),
        ceil_mode: int(p.ceilMode ? 1 : 0),
        ...(p instanceof nn.MaxPool2d ? { dilations: ints(p.dilation) } : { count_include_pad: int(p.countIncludePad ? 1 : 0) }),
      };
      unary(p instanceof nn.MaxPool2d ? 'MaxPool' : 'AveragePool', attrs);
      c.shape = [c.shape[0], sizes[0].out, sizes[1].out];
      return;
    }
    case 'AdaptiveAvgPool2d': {
      const a = m as nn.AdaptiveAvgPool2d;
      if (c.shape.length !== 3) throw new ConfigError(`${where(l)}: expects (B, C, H, W) inputs, the input here has shape [B, ${c.shape.join(', ')}]`);
      const [C, H, W] = c.shape;
      const oh = a.outputSize[0] ?? H, ow = a.outputSize[1] ?? W;
      if (oh === 1 && ow === 1) unary('GlobalAveragePool');
      else if (H % oh === 0 && W % ow === 0) {
        const k = [H / oh, W / ow];
        unary('AveragePool', { kernel_shape: ints(k), strides: ints(k) });
      } else throw new ConfigError(`${where(l)}: output ${oh}×${ow} from input ${H}×${W} has uneven windows, which ONNX pooling cannot express; use an output size that divides the input`);
      c.shape = [C, oh, ow];
      return;
    }
    case 'Flatten': {
      const f = m as nn.Flatten;
      const rank = c.shape.length + 1;
      const s = f.startDim < 0 ? f.startDim + rank : f.startDim, e = f.endDim < 0 ? f.endDim + rank : f.endDim;
      if (s === 0) throw new ConfigError(`${where(l)}: start_dim=0 merges the batch axis, which a model with a dynamic batch cannot export`);
      if (s >= e) return; // nothing merged
      const merged = c.shape.slice(s - 1, e).reduce((a, b) => a * b, 1);
      const next = [...c.shape.slice(0, s - 1), merged, ...c.shape.slice(e)];
      if (s === 1 && e === rank - 1) unary('Flatten', { axis: int(1) });
      else {
        const target = g.init(`${n}.shape`, [next.length + 1], BigInt64Array.from([0, ...next].map(BigInt)));
        c.x = g.node('Reshape', `${n}/Reshape`, [c.x, target], [out()]);
      }
      c.shape = next;
      return;
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      const bn = m as nn.BatchNorm1d;
      const okRank = l.kind === 'BatchNorm2d' ? c.shape.length === 3 : c.shape.length === 1 || c.shape.length === 2;
      if (!okRank || c.shape[0] !== bn.numFeatures)
        throw new ConfigError(`${where(l)}: expects ${bn.numFeatures} channels at dim 1, the input here has shape [B, ${c.shape.join(', ')}]`);
      if (!bn.runningMean || !bn.runningVar)
        throw new ConfigError(`${where(l)}: track_running_stats=False normalises with each batch's own statistics even in eval, which a per-sample deployment cannot reproduce`);
      const C = bn.numFeatures;
      const inputs = [
        c.x,
        g.init(`${n}.weight`, [C], bn.weight ? f32(bn.weight) : fill(C, 1)),
        g.init(`${n}.bias`, [C], bn.bias ? f32(bn.bias) : fill(C, 0)),
        g.init(`${n}.running_mean`, [C], f32(bn.runningMean)),
        g.init(`${n}.running_var`, [C], f32(bn.runningVar)),
      ];
      c.x = g.node('BatchNormalization', `${n}/BatchNormalization`, inputs, [out()], { epsilon: float(bn.eps) });
      return;
    }
    case 'LayerNorm': {
      const ln = m as nn.LayerNorm;
      const k = ln.normalizedShape.length;
      const tail = c.shape.slice(c.shape.length - k);
      if (c.shape.length < k || tail.some((v, i) => v !== ln.normalizedShape[i]))
        throw new ConfigError(`${where(l)}: normalizes over [${ln.normalizedShape.join(', ')}], the input here has shape [B, ${c.shape.join(', ')}]`);
      const count = ln.normalizedShape.reduce((a, b) => a * b, 1);
      const scale = g.init(`${n}.weight`, ln.normalizedShape, ln.weight ? f32(ln.weight) : fill(count, 1));
      const bias = g.init(`${n}.bias`, ln.normalizedShape, ln.bias ? f32(ln.bias) : fill(count, 0));
      unary('LayerNormalization', { axis: int(-k), epsilon: float(ln.eps) });
      g.nodes[g.nodes.length - 1].input.push(scale, bias);
      return;
    }
  }
}

/** Linear as dynamic int8 (int8Linear), then the bias. */
function emitInt8Linear(c: Ctx, n: string, w: Float32Array, inF: number, outF: number, b: string): void {
  c.x = int8Linear(c.g, n, c.x, w, inF, outF, b ? `${n}.mm.out` : `${n}.out`);
  if (b) c.x = c.g.node('Add', `${n}/Add`, [c.x, b], [`${n}.out`]);
}

/** Builds the ONNX bytes of a Sequential model (nothing written). */
export function buildOnnx(model: nn.AnyModule, opts: ExportOnnxOptions): { bytes: Uint8Array; info: OnnxExportInfo } {
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 17 || opset > 20)
    throw new ConfigError(`ONNX export: opset ${opset} is not supported; use 17 (the default) to 20`);
  const inputShape = [...opts.inputShape];
  if (!inputShape.length || inputShape.some((d) => !Number.isInteger(d) || d < 1))
    throw new ConfigError(`ONNX export: inputShape must be the per-sample shape of positive integers, e.g. [1, 28, 28]; got [${inputShape.join(', ')}]`);
  const layers = sequentialLayers(model, 'ONNX export');
  const expected = outputShapeOf(model, inputShape); // also proves inputShape fits the model

  const g = new GraphBuilder();
  const c: Ctx = { g, opset, quantize: opts.quantize === 'int8', x: 'input', shape: inputShape };
  for (const l of layers) emit(l, c);
  if (c.shape.length !== expected.length || c.shape.some((d, i) => d !== expected[i]))
    throw new Error(`ONNX export: internal shape tracking gave [${c.shape.join(', ')}], the model gives [${expected.join(', ')}]`);
  if (c.x === 'input') g.node('Identity', 'Identity', ['input'], ['logits']);
  else g.rename(c.x, 'logits');

  const irVersion = opset <= 18 ? 8 : 9;
  const bytes = encodeModel(g, {
    irVersion, opset,
    graphName: opts.modelName ?? 'distill-model',
    docString: `Exported by distill from ${layers.length} layers: ${layers.map((l) => l.kind).join(', ')}.` +
      ` Input 'input' (batch, ${inputShape.join(', ')}) float32; output 'logits' (batch, ${expected.join(', ')}).`,
    inputs: [['input', { dims: ['batch', ...inputShape] }]],
    outputs: [['logits', { dims: ['batch', ...expected] }]],
    metadata: { ...opts.metadata, input_shape: JSON.stringify(inputShape), ...(c.quantize ? { quantization: 'dynamic int8 (Linear: MatMulInteger)' } : {}) },
  });
  const ops: Record<string, number> = {};
  for (const nd of g.nodes) ops[nd.opType] = (ops[nd.opType] ?? 0) + 1;
  return { bytes, info: { bytes: bytes.byteLength, irVersion, opset, params: g.params, nodes: g.nodes.length, ops, outputShape: expected, quantized: c.quantize } };
}

/** Writes the model as ONNX to `path` (atomically); returns what was written. */
export function exportOnnx(model: nn.AnyModule, path: string, opts: ExportOnnxOptions): OnnxExportInfo {
  const { bytes, info } = buildOnnx(model, opts);
  writeFileAtomic(path, bytes);
  return { ...info, path };
}

// A small builder over the official ONNX schema (onnx/onnx.proto, compiled to JS by
// protobufjs in the `onnx-proto` package): nodes, attributes, initializers, and the final
// ModelProto encoding. The layer mapping lives in onnx.ts; this file only knows the format.
//
// Format facts used here (onnx/onnx.proto and docs/IR.md):
//   - ModelProto { ir_version, opset_import[{domain '', version}], producer_*, graph, metadata_props }
//   - GraphProto { node[], initializer[], input[], output[] }; nodes must be topologically sorted.
//   - TensorProto { dims, data_type, name, raw_data }: raw_data is the row-major values,
//     little-endian, whatever the type (IR.md "raw_data"). The engine refuses big-endian hosts.
//   - A dimension is { dim_value } or { dim_param } (a symbolic name, e.g. 'batch').
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import onnxPkg from 'onnx-proto';
import { ConfigError } from '../torch/index.js';

export const { onnx } = onnxPkg;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export type Attr =
  | { kind: 'int'; v: number }
  | { kind: 'ints'; v: readonly number[] }
  | { kind: 'float'; v: number }
  | { kind: 'string'; v: string };
export const int = (v: number): Attr => ({ kind: 'int', v });
export const ints = (v: readonly number[]): Attr => ({ kind: 'ints', v });
export const float = (v: number): Attr => ({ kind: 'float', v });
export const str = (v: string): Attr => ({ kind: 'string', v });

function attribute(name: string, a: Attr): InstanceType<typeof onnx.AttributeProto> {
  switch (a.kind) {
    case 'int': return onnx.AttributeProto.create({ name, type: AT.INT, i: a.v });
    case 'ints': return onnx.AttributeProto.create({ name, type: AT.INTS, ints: [...a.v] });
    case 'float': return onnx.AttributeProto.create({ name, type: AT.FLOAT, f: a.v });
    case 'string': return onnx.AttributeProto.create({ name, type: AT.STRING, s: Buffer.from(a.v, 'utf8') });
  }
}

type InitData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;
const DATA_TYPE = (d: InitData): number =>
  d instanceof Float32Array ? DT.FLOAT : d instanceof Int8Array ? DT.INT8 : d instanceof Uint8Array ? DT.UINT8
  : d instanceof Int32Array ? DT.INT32 : DT.INT64;

export interface ValueShape {
  /** 'batch' for the dynamic axis, a number for a fixed one. */
  dims: (number | string)[];
  elemType?: number;
}

/** Collects one graph's nodes and initializers; names are checked unique. */
export class GraphBuilder {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  readonly #names = new Set<string>();
  /** Element count of float initializers, i.e. exported parameters and constants. */
  params = 0;

  constructor() {
    if (endianness() !== 'LE') throw new ConfigError('ONNX export: big-endian hosts are not supported (raw_data is little-endian)');
  }

  #claim(name: string): string {
    if (this.#names.has(name)) throw new Error(`ONNX export: duplicate value name '${name}'`);
    this.#names.add(name);
    return name;
  }

  /** A constant tensor in the graph's initializer list; returns its name. */
  init(name: string, dims: readonly number[], data: InitData): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`ONNX export: initializer '${name}' has ${data.length} values for dims [${dims.join(', ')}]`);
    if (data instanceof Float32Array) this.params += n;
    this.initializers.push(onnx.TensorProto.create({
      name: this.#claim(name), dims: [...dims], dataType: DATA_TYPE(data),
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    }));
    return name;
  }

  /** A float32 scalar constant (shape []), broadcast by the elementwise ops. */
  scalar(name: string, v: number): string {
    return this.init(name, [], Float32Array.of(v));
  }

  /** Adds a node (inputs '' = an omitted optional input); returns its first output's name. */
  node(op: string, name: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, Attr> = {}): string {
    for (const o of outputs) this.#claim(o);
    this.nodes.push(onnx.NodeProto.create({
      opType: op, name, input: [...inputs], output: [...outputs],
      attribute: Object.entries(attrs).map(([k, a]) => attribute(k, a)),
    }));
    return outputs[0];
  }

  /** Renames a value everywhere (used to call the last value 'logits'). */
  rename(from: string, to: string): void {
    for (const n of this.nodes) {
      n.input = n.input.map((v) => (v === from ? to : v));
      n.output = n.output.map((v) => (v === from ? to : v));
    }
    this.#names.delete(from);
    this.#claim(to);
  }
}

function valueInfo(name: string, s: ValueShape): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: s.elemType ?? DT.FLOAT,
        shape: { dim: s.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

/** What every ONNX export reports about the file it wrote. */
/**
 * y = x @ Wᵀ as dynamic int8 (what onnxruntime's quantize_dynamic writes for MatMul), for a
 * (out, in) row-major weight:
 *   x_q, x_scale, x_zp = DynamicQuantizeLinear(x)           (uint8, per tensor, asymmetric)
 *   y = float(MatMulInteger(x_q, W_qᵀ, x_zp)) · (x_scale · w_scale)
 * with W_q = round(W / w_scale[o]) ∈ [−127, 127], w_scale[o] = max|W[o, :]| / 127 (zero point 0,
 * so the per-column scale can be applied after the integer product). Any leading axes of x
 * broadcast as in MatMul. Returns `out`, the name of y.
 */
export function int8Linear(g: GraphBuilder, n: string, x: string, w: Float32Array, inF: number, outF: number, out: string): string {
  const scale = new Float32Array(outF);
  const q = new Int8Array(inF * outF); // (in, out): MatMulInteger's B is (K, N)
  for (let o = 0; o < outF; o++) {
    let max = 0;
    for (let i = 0; i < inF; i++) max = Math.max(max, Math.abs(w[o * inF + i]));
    const s = max > 0 ? max / 127 : 1;
    scale[o] = s;
    for (let i = 0; i < inF; i++) q[i * outF + o] = Math.max(-127, Math.min(127, Math.round(w[o * inF + i] / s)));
  }
  const Wq = g.init(`${n}.weight_q`, [inF, outF], q);
  const Ws = g.init(`${n}.weight_scale`, [outF], scale);
  const [xq, xs, xz] = [`${n}.x_q`, `${n}.x_scale`, `${n}.x_zero_point`];
  g.node('DynamicQuantizeLinear', `${n}/DynamicQuantizeLinear`, [x], [xq, xs, xz]);
  const acc = g.node('MatMulInteger', `${n}/MatMulInteger`, [xq, Wq, xz], [`${n}.acc`]);
  const fl = g.node('Cast', `${n}/Cast`, [acc], [`${n}.acc_f`], { to: int(onnx.TensorProto.DataType.FLOAT) });
  const sc = g.node('Mul', `${n}/Scale`, [xs, Ws], [`${n}.scale`]);
  return g.node('Mul', `${n}/Mul`, [fl, sc], [out]);
}

export interface OnnxFileInfo {
  path?: string;
  bytes: number;
  irVersion: number;
  opset: number;
  /** Float values stored (weights and constants). */
  params: number;
  nodes: number;
  /** Op type → count. */
  ops: Record<string, number>;
}

/** This package's version, written as the model's producer_version. */
const PRODUCER_VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0';
  }
})();

export interface ModelSpec {
  irVersion: number;
  opset: number;
  graphName: string;
  docString: string;
  inputs: [string, ValueShape][];
  outputs: [string, ValueShape][];
  metadata: Record<string, string>;
}

/** Encodes the graph as a ModelProto (binary protobuf, what `onnx.load` reads). */
export function encodeModel(g: GraphBuilder, spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: spec.irVersion,
    opsetImport: [{ domain: '', version: spec.opset }],
    producerName: 'distill',
    producerVersion: PRODUCER_VERSION,
    docString: spec.docString,
    graph: {
      name: spec.graphName,
      node: g.nodes,
      initializer: g.initializers,
      input: spec.inputs.map(([n, s]) => valueInfo(n, s)),
      output: spec.outputs.map(([n, s]) => valueInfo(n, s)),
    },
    metadataProps: Object.entries(spec.metadata).map(([key, value]) => ({ key, value })),
  });
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`ONNX export: the model does not fit the schema: ${err}`);
  return onnx.ModelProto.encode(model).finish();
}

/** Decodes a ModelProto (for tests and for reading back what was written). */
export function decodeModel(bytes: Uint8Array): InstanceType<typeof onnx.ModelProto> {
  return onnx.ModelProto.decode(bytes);
}

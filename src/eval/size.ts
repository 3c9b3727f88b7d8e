// How big a model is: parameter counts, the bytes its weights hold in memory, and the
// bytes of its safetensors file on disk.
import fs from 'node:fs';
import { ITEM_SIZE, type Tensor } from '../torch/index.js';
import type { AnyModule } from '../nn/index.js';
import { encodeSafetensorsChunks } from '../io/index.js';

export interface ParameterCount {
  /** Elements of the parameters with requiresGrad: what the optimizer trains. */
  trainable: number;
  /** Elements of all parameters, trainable or frozen: PyTorch's sum(p.numel() for p in model.parameters()). */
  parameters: number;
  /** Elements of all buffers (persistent or not), e.g. BatchNorm's running statistics. */
  buffers: number;
  /** parameters + buffers: every element the model holds. */
  total: number;
}

const numelOf = (ts: Tensor[]) => ts.reduce((n, t) => n + t.numel, 0);

/**
 * Parameter and buffer element counts. A tied weight is counted once, as PyTorch's
 * `parameters()` lists it once. The proof table shows `parameters`, not `trainable`,
 * so a frozen teacher still shows its real size.
 */
export function countParameters(model: AnyModule): ParameterCount {
  const ps = model.parameters();
  const parameters = numelOf(ps);
  const buffers = numelOf(model.buffers());
  return { trainable: numelOf(ps.filter((p) => p.requiresGrad)), parameters, buffers, total: parameters + buffers };
}

/** Bytes the parameters and buffers occupy in memory: Σ numel × item size over each tensor's own dtype. */
export function weightsBytes(model: AnyModule): number {
  let n = 0;
  for (const t of [...model.parameters(), ...model.buffers()]) n += t.numel * ITEM_SIZE[t.dtype];
  return n;
}

/**
 * The size in bytes of the model's weight file: for a path, the file's size on disk; for
 * a model, the exact length of the safetensors encoding of its stateDict (persistent
 * buffers included), i.e. what `saveSafetensors(path, model.stateDict(), metadata)`
 * writes. It is the real encoding, not an estimate: the JSON header and its padding
 * depend on the tensor names, which for a small student are a visible share of the file.
 * Pass the same `metadata` the exporter writes to match its file to the byte.
 */
export function modelFileBytes(model: AnyModule | string, metadata?: Record<string, string>): number {
  if (typeof model === 'string') return fs.statSync(model).size;
  // The chunks are the header and one copy of each tensor's bytes; nothing is joined or kept.
  return encodeSafetensorsChunks(model.stateDict(), metadata).reduce((n, c) => n + c.byteLength, 0);
}

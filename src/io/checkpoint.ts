// Training checkpoints: everything a killed run needs to resume exactly (docs/architecture.md,
// "Reliability rules"), in ONE safetensors file so it is atomic as a unit and readable by
// any safetensors tool:
//
//   tensors   "model.<key>"  the model's state dict
//             "optim.<key>"  the optimizer's tensor state (moments, step counts, …)
//             "rng"          libtorch's default CPU generator state (uint8), as torch.get_rng_state()
//   metadata  format     "distill-checkpoint"
//             version    "1"
//             step       decimal integer
//             optimizer  JSON of the optimizer's non-tensor state   (only when one was saved)
//             scheduler  JSON of the scheduler's state               (only when one was saved)
//             extra      JSON of the caller's extra record
//
// Loading validates the whole file (format, JSON, tensor names, RNG size, model keys and shapes)
// before it touches anything, so a corrupt, truncated or mismatched checkpoint leaves the model,
// optimizer, scheduler and RNG exactly as they were.
import * as torch from '../torch/index.js';
import { ConfigError, FormatError, type Tensor } from '../torch/index.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from './safetensors.js';

// ── the contracts of what a checkpoint saves (implemented in nn/ and optim/) ──

/** A model: `stateDict` returns references to its live tensors (never disposed here). */
export interface StatefulModel {
  stateDict(): Record<string, Tensor>;
  /** Copies the given tensors into the model; the caller keeps (and frees) them. */
  loadStateDict(sd: Record<string, Tensor>): unknown;
}
/** An optimizer's state: tensors (references to live state) plus JSON-serialisable meta. */
export interface OptimizerState {
  tensors: Record<string, Tensor>;
  meta: unknown;
}
export interface StatefulOptimizer {
  stateDict(): OptimizerState;
  loadStateDict(s: OptimizerState): void;
}
/** A learning-rate scheduler: its state must be JSON-serialisable. */
export interface StatefulScheduler {
  stateDict(): unknown;
  loadStateDict(s: unknown): void;
}

export const CHECKPOINT_FORMAT = 'distill-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface SaveCheckpointOptions {
  model: StatefulModel;
  optimizer?: StatefulOptimizer;
  scheduler?: StatefulScheduler;
  /** Training step (or epoch) reached: a non-negative integer. */
  step: number;
  /** Anything else to resume with (epoch, best score, data-loader position, …); JSON-serialisable. */
  extra?: Record<string, unknown>;
}
export interface LoadCheckpointOptions {
  model: StatefulModel;
  optimizer?: StatefulOptimizer;
  scheduler?: StatefulScheduler;
  /** Restore the RNG state too (default true: needed for an exact resume; an eval may not want it). */
  restoreRng?: boolean;
}
export interface CheckpointInfo {
  step: number;
  extra: Record<string, unknown>;
}

const MODEL = 'model.';
const OPTIM = 'optim.';
const RNG = 'rng';

// JSON with non-finite numbers kept: plain JSON turns Infinity and NaN into null, and
// scheduler state routinely holds Infinity (e.g. ReduceLROnPlateau's initial "best").
const FLOAT_TAG = '__float__';
function toJson(what: string, value: unknown): string {
  try {
    return JSON.stringify(value ?? null, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? { [FLOAT_TAG]: String(v) } : v);
  } catch (e) {
    throw new ConfigError(`saveCheckpoint: ${what} is not JSON-serialisable: ${(e as Error).message}`);
  }
}
function fromJson(path: string, what: string, text: string): unknown {
  try {
    return JSON.parse(text, (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        if (keys.length === 1 && keys[0] === FLOAT_TAG) return Number((v as Record<string, string>)[FLOAT_TAG]);
      }
      return v;
    });
  } catch (e) {
    throw new FormatError(`${path}: corrupt checkpoint: metadata "${what}" is not valid JSON (${(e as Error).message})`);
  }
}

function put<V>(obj: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A checkpoint's step and extra from its header alone (no tensor is read), e.g. to see whether it can be resumed. */
export function readCheckpointInfo(path: string): CheckpointInfo {
  const { metadata } = readSafetensorsHeader(path);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new FormatError(`${path}: not a ${CHECKPOINT_FORMAT} file (metadata format is ${JSON.stringify(metadata.format ?? null)})`);
  const extra = fromJson(path, 'extra', metadata.extra ?? '{}');
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) throw new FormatError(`${path}: corrupt checkpoint: metadata "extra" is not a JSON object`);
  return { step: Number(metadata.step), extra: extra as Record<string, unknown> };
}

/** Writes model, optimizer, scheduler, RNG, step and extra to `path` atomically. Live tensors are only read. */
export function saveCheckpoint(path: string, opts: SaveCheckpointOptions): void {
  const { model, optimizer, scheduler, step, extra = {} } = opts;
  if (!Number.isSafeInteger(step) || step < 0) throw new ConfigError(`saveCheckpoint: step must be a non-negative integer, got ${step}`);
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) throw new ConfigError('saveCheckpoint: extra must be an object');

  const tensors: Record<string, Tensor> = {};
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    step: String(step),
    extra: toJson('extra', extra),
  };
  const sd = model.stateDict();
  for (const k of Object.keys(sd)) put(tensors, MODEL + k, sd[k]);
  if (optimizer) {
    const s = optimizer.stateDict();
    for (const k of Object.keys(s.tensors)) put(tensors, OPTIM + k, s.tensors[k]);
    metadata.optimizer = toJson('optimizer meta', s.meta);
  }
  if (scheduler) metadata.scheduler = toJson('scheduler state', scheduler.stateDict());

  const rng = torch.getRngState(); // a fresh copy: ours to free
  try {
    tensors[RNG] = rng;
    saveSafetensors(path, tensors, metadata);
  } finally {
    rng.dispose();
  }
}

const list = (names: string[]) => names.slice(0, 5).map((n) => JSON.stringify(n)).join(', ') + (names.length > 5 ? `, … (${names.length} in all)` : '');

/**
 * Restores a checkpoint written by `saveCheckpoint` into `model` (and `optimizer`, `scheduler`,
 * the RNG). Throws FormatError for a corrupt or foreign file and ConfigError when the file does
 * not fit the objects given (missing keys, other shapes, no optimizer state); in both cases
 * nothing has been modified. Every tensor read from the file is freed before returning.
 */
export function loadCheckpoint(path: string, opts: LoadCheckpointOptions): CheckpointInfo {
  const { model, optimizer, scheduler, restoreRng = true } = opts;
  const { tensors, metadata } = loadSafetensors(path);
  try {
    function bad(problem: string): never {
      throw new FormatError(`${path}: corrupt checkpoint: ${problem}`);
    }
    // ── validate everything first ──
    if (metadata.format !== CHECKPOINT_FORMAT)
      throw new FormatError(`${path}: not a ${CHECKPOINT_FORMAT} file (metadata format is ${JSON.stringify(metadata.format ?? null)})`);
    const version = Number(metadata.version);
    if (!Number.isInteger(version) || version < 1) bad(`metadata "version" is ${JSON.stringify(metadata.version ?? null)}`);
    if (version > CHECKPOINT_VERSION) throw new FormatError(`${path}: checkpoint version ${version} is newer than this program reads (${CHECKPOINT_VERSION})`);
    if (!/^\d+$/.test(metadata.step ?? '') || !Number.isSafeInteger(Number(metadata.step))) bad(`metadata "step" is ${JSON.stringify(metadata.step ?? null)}`);
    const step = Number(metadata.step);
    const extra = fromJson(path, 'extra', metadata.extra ?? '{}');
    if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) bad('metadata "extra" is not a JSON object');

    const modelSd: Record<string, Tensor> = {};
    const optimSd: Record<string, Tensor> = {};
    let rng: Tensor | undefined;
    for (const name of Object.keys(tensors)) {
      if (name.startsWith(MODEL)) put(modelSd, name.slice(MODEL.length), tensors[name]);
      else if (name.startsWith(OPTIM)) put(optimSd, name.slice(OPTIM.length), tensors[name]);
      else if (name === RNG) rng = tensors[name];
      else bad(`unexpected tensor ${JSON.stringify(name)}`);
    }
    if (!rng) bad('no "rng" tensor');
    if (restoreRng) {
      const now = torch.getRngState();
      const want = now.numel;
      now.dispose();
      if (rng.dtype !== 'uint8' || rng.ndim !== 1 || rng.numel !== want)
        bad(`"rng" is ${rng.dtype} [${rng.shape.join(', ')}]; this libtorch's generator state is uint8 [${want}]`);
    }

    // The model must match key for key and shape for shape (PyTorch's strict loading).
    const live = model.stateDict();
    const missing = Object.keys(live).filter((k) => !Object.hasOwn(modelSd, k));
    const unexpected = Object.keys(modelSd).filter((k) => !Object.hasOwn(live, k));
    if (missing.length || unexpected.length)
      throw new ConfigError(`${path}: checkpoint does not fit the model: ${missing.length ? `missing ${list(missing)}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected ${list(unexpected)}` : ''}`);
    const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((s, i) => s === b[i]);
    const wrong = Object.keys(live).filter((k) => !sameShape(live[k].shape, modelSd[k].shape));
    if (wrong.length)
      throw new ConfigError(`${path}: checkpoint does not fit the model: shape of ${wrong.slice(0, 5).map((k) => `${JSON.stringify(k)} is [${modelSd[k].shape.join(', ')}] in the file, [${live[k].shape.join(', ')}] in the model`).join('; ')}`);

    let optimMeta: unknown;
    if (metadata.optimizer !== undefined) optimMeta = fromJson(path, 'optimizer', metadata.optimizer);
    else if (Object.keys(optimSd).length) bad('optimizer tensors without "optimizer" metadata');
    if (optimizer && metadata.optimizer === undefined) throw new ConfigError(`${path}: checkpoint holds no optimizer state`);
    let schedState: unknown;
    if (metadata.scheduler !== undefined) schedState = fromJson(path, 'scheduler', metadata.scheduler);
    if (scheduler && metadata.scheduler === undefined) throw new ConfigError(`${path}: checkpoint holds no scheduler state`);

    // ── then apply, all or nothing: the optimizer and scheduler validate their own state, so
    // the model's current weights are kept aside and put back if either refuses. ──
    const previous = Object.fromEntries(Object.entries(live).map(([k, t]) => [k, t.clone()]));
    try {
      model.loadStateDict(modelSd);
      optimizer?.loadStateDict({ tensors: optimSd, meta: optimMeta });
      scheduler?.loadStateDict(schedState);
    } catch (e) {
      model.loadStateDict(previous);
      throw e;
    } finally {
      for (const t of Object.values(previous)) t.dispose();
    }
    if (restoreRng) torch.setRngState(rng);
    return { step, extra: extra as Record<string, unknown> };
  } finally {
    // loadStateDict copied what it needed; the tensors read from the file are ours to free.
    for (const t of Object.values(tensors)) t.dispose();
  }
}

// Typed errors with stable codes. The native addon builds every error through
// `makeNativeError`, so a libtorch failure arrives as one of these classes with the op
// name and the input shapes in the message.

export class DistillError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An error raised by a tensor op; `op` and `inputs` say which call failed and on what. */
export class TorchError extends DistillError {
  readonly op: string;
  /** The message without the op and inputs. */
  readonly detail: string;
  readonly inputs: string;
  constructor(code: string, op: string, detail: string, inputs: string) {
    super(code, `${op}: ${detail}${inputs ? ` (inputs: ${inputs})` : ''}`);
    this.op = op;
    this.detail = detail;
    this.inputs = inputs;
  }
}
export class ShapeError extends TorchError {}
export class DTypeError extends TorchError {}
export class DeviceError extends TorchError {}
export class IndexError extends TorchError {}
export class DisposedTensorError extends TorchError {}
export class AutogradError extends TorchError {}
/** A bad argument value: our own checks, and libtorch's c10::ValueError (Python's ValueError). */
export class ArgumentError extends TorchError {}
/** An allocation failed (ERR_OOM): c10::OutOfMemoryError, the CPU allocator, std::bad_alloc. */
export class OutOfMemoryError extends TorchError {}
/** c10::NotImplementedError: an op, derivative or backend that libtorch does not provide. */
export class NotImplementedError extends TorchError {}
/**
 * A collective or rendezvous failed (torch/dist.ts). Codes: ERR_DIST_TIMEOUT (a peer did
 * not answer within the group's timeout), ERR_DIST_PEER (a peer's connection dropped: it
 * crashed or was killed), ERR_DIST_CLOSED (the group was destroyed), ERR_DIST (anything else).
 */
export class DistError extends TorchError {}

/** A bad configuration or user input outside tensor ops; `key` names what was wrong. */
export class ConfigError extends DistillError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** A file that cannot be read as what it claims to be (truncated, corrupt, wrong format). */
export class FormatError extends DistillError {
  constructor(message: string) {
    super('ERR_FORMAT', message);
  }
}

const byCode: Record<string, typeof TorchError> = {
  ERR_SHAPE: ShapeError,
  ERR_DTYPE: DTypeError,
  ERR_DEVICE: DeviceError,
  ERR_INDEX: IndexError,
  ERR_DISPOSED: DisposedTensorError,
  ERR_AUTOGRAD: AutogradError,
  ERR_ARG: ArgumentError,
  ERR_OOM: OutOfMemoryError,
  ERR_NOT_IMPLEMENTED: NotImplementedError,
  ERR_DIST: DistError,
  ERR_DIST_TIMEOUT: DistError,
  ERR_DIST_PEER: DistError,
  ERR_DIST_CLOSED: DistError,
};

/**
 * Builds the typed error for a native failure; the addon calls it (native/errors.cc) with
 * a code from its classification: c10's error classes first (IndexError → ERR_INDEX,
 * TypeError → ERR_DTYPE, ValueError → ERR_ARG, NotImplementedError → ERR_NOT_IMPLEMENTED,
 * OutOfMemoryError → ERR_OOM), then where libtorch raised a plain c10::Error (autograd →
 * ERR_AUTOGRAD, the allocator → ERR_OOM, …), and only then words in the message.
 */
export function makeNativeError(code: string, op: string, detail: string, inputs: string): TorchError {
  const Cls = byCode[code] ?? TorchError;
  return new Cls(code, op, detail, inputs);
}

/**
 * Runs `fn`, reporting a TorchError it raises as raised by the public op `op`: for public
 * functions built on a shared native one (tensor() and fromBytes() both copy bytes in).
 */
export function asOp<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TorchError && e.op !== op) throw makeNativeError(e.code, op, e.detail, e.inputs);
    throw e;
  }
}

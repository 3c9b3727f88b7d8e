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
  readonly inputs: string;
  constructor(code: string, op: string, detail: string, inputs: string) {
    super(code, `${op}: ${detail}${inputs ? ` (inputs: ${inputs})` : ''}`);
    this.op = op;
    this.inputs = inputs;
  }
}
export class ShapeError extends TorchError {}
export class DTypeError extends TorchError {}
export class DeviceError extends TorchError {}
export class IndexError extends TorchError {}
export class DisposedTensorError extends TorchError {}
export class AutogradError extends TorchError {}
export class ArgumentError extends TorchError {}
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
  ERR_DIST: DistError,
  ERR_DIST_TIMEOUT: DistError,
  ERR_DIST_PEER: DistError,
  ERR_DIST_CLOSED: DistError,
};

export function makeNativeError(code: string, op: string, detail: string, inputs: string): TorchError {
  const Cls = byCode[code] ?? TorchError;
  return new Cls(code, op, detail, inputs);
}

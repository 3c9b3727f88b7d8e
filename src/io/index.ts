// The public surface of the io layer: safetensors files, training checkpoints, and the
// atomic write every output file of the project goes through.
export { writeFileAtomic, removeStaleTempFiles, type AtomicData } from './atomic.js';
export {
  saveSafetensors, loadSafetensors, encodeSafetensors, encodeSafetensorsChunks, decodeSafetensors,
  readSafetensorsHeader, MAX_HEADER_BYTES,
  type SafetensorsContent, type SafetensorsHeader, type SafetensorsEntry,
} from './safetensors.js';
export {
  saveCheckpoint, loadCheckpoint, readCheckpointInfo, CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
  type StatefulModel, type StatefulOptimizer, type StatefulScheduler, type OptimizerState,
  type SaveCheckpointOptions, type LoadCheckpointOptions, type CheckpointInfo,
} from './checkpoint.js';

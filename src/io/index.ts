// The public surface of the io layer: safetensors files, training checkpoints, GGUF reading
// (and the block formats a GGUF writer needs), and the atomic write every output file of
// the project goes through, and the top-k store of teacher distributions.
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
export {
  GGML_TYPE, GGML_TYPES, LLAMA_FTYPE, describeGgmlType, ggmlTypeId, ggmlBytes,
  type GgmlTypeInfo, type GgmlTypeName,
} from './gguf_types.js';
export { dequantize, canDequantize, quantizeTensor, DEQUANTIZABLE, QUANTIZABLE } from './gguf_quants.js';
export { floatBitsToHalf, floatBitsToBf16 } from './gguf_half.js';
export {
  GgufFile, readGgufHeader, GGUF_VALUE_TYPE,
  type GgufHeader, type GgufTensorInfo, type GgufValue,
} from './gguf_read.js';
export {
  readGgufModel, GgufModelReader, permuteRope, unpermuteRope, hfTensorName, ggufTensorName,
  type GgufModel, type GgufModelTensor,
} from './gguf_model.js';
export { llamaQuantType, compareLlamaTensorNames, type QuantMixModel } from './gguf_quant_mix.js';
export { writeGguf, encodeGguf, type GgufWriteInput, type GgufWriteTensor } from './gguf_write.js';
export {
  TopkStoreWriter, TopkStoreReader, DEFAULT_QUANT,
  type TopkStoreHeader, type TopkExpectation, type TopkWriterOptions, type TopkEntry, type TopkQuant,
} from './topk_store.js';

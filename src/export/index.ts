// The public surface of the export layer: deployment formats for classifier students.
//   - ONNX (IR 8, opset 17, dynamic batch), float or with int8 dynamically quantised Linears,
//     checked against onnxruntime-node;
//   - a Hugging Face style folder (model.safetensors + config.json) a PyTorch user rebuilds
//     as nn.Sequential;
//   - a static browser page running teacher and student with onnxruntime-web.
// and for the Llama-style LM student (src/lm/model.ts):
//   - ONNX (opset 17, dynamic batch and sequence, no KV cache), checked against onnxruntime-node;
//   - GGUF v3 in llama.cpp's llama architecture, f32/f16, the byte tokenizer as a gpt2-type
//     vocabulary, checked by generating in llama.cpp through node-llama-cpp;
//   - a Hugging Face LlamaForCausalLM folder (config.json, model.safetensors, tokenizer files).
export { exportOnnx, buildOnnx, type ExportOnnxOptions, type OnnxExportInfo } from './onnx.js';
export { decodeModel } from './onnx_graph.js';
export {
  exportHf, hfConfig, HF_FORMAT, HF_FORMAT_VERSION,
  type ExportHfOptions, type HfConfig, type HfLayer, type HfExportInfo,
} from './safetensors_hf.js';
export { sequentialLayers, LAYER_KINDS, type LayerKind, type LayerRef } from './layers.js';
export {
  ortSession, ortLogits, ourLogits, compareWithOrt, latencyBatch1, ortAccuracy, seededUniform, maxAbsDiff, argmaxRows,
  type InputBatch, type CompareResult,
} from './check.js';
export { writeWebPage, ORT_WEB_FILES, ortWebDist, type WebModel, type WebPageOptions } from './web_page.js';
export { serveStatic, type StaticServer } from './serve_static.js';
export { exportOnnxLm, buildOnnxLm, type ExportOnnxLmOptions, type OnnxLmExportInfo } from './onnx_lm.js';
export { exportGguf, buildGguf, permuteRope, GGUF_VERSION, GGUF_ALIGNMENT, GGUF_DTYPES, type GgufDtype, type ExportGgufOptions, type GgufExportInfo } from './gguf.js';
export {
  exportHfLm, hfLmConfig, hfTokenizerFiles, HF_LM_FORMAT_VERSION,
  type ExportHfLmOptions, type HfLmExportInfo, type LlamaHfConfig,
} from './safetensors_hf_lm.js';
export { checkLm, lmWeights, type LmWeights, type LmTensor } from './lm_weights.js';
export { bytesToUnicode, byteVocabTokens, byteTokenizerJson, BYTE_CHAT_TEMPLATE } from '../lm/index.js';
export {
  randomIdBatches, ortLmLogits, ourLmLogits, compareLmWithOrt, lmLatencyBatch1, ortLatencyMs,
  loadLlamaCpp, LlamaCppRunner, compareGreedyWithLlamaCpp, tokensPerSecond,
  type IdBatch, type LmCompareResult, type LmLatency, type LlamaCppOptions, type GreedyAgreement, type GreedyDivergence,
} from './lm_check.js';

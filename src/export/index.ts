// The public surface of the export layer: deployment formats for classifier students.
//   - ONNX (IR 8, opset 17, dynamic batch), float or with int8 dynamically quantised Linears,
//     checked against onnxruntime-node;
//   - a Hugging Face style folder (model.safetensors + config.json) a PyTorch user rebuilds
//     as nn.Sequential;
//   - a static browser page running teacher and student with onnxruntime-web.
export { exportOnnx, buildOnnx, type ExportOnnxOptions, type OnnxExportInfo } from './onnx.js';
export { decodeModel } from './onnx_graph.js';
export {
  exportHf, hfConfig, HF_FORMAT, HF_FORMAT_VERSION,
  type ExportHfOptions, type HfConfig, type HfLayer, type HfExportInfo,
} from './safetensors_hf.js';
export { sequentialLayers, LAYER_KINDS, type LayerKind, type LayerRef } from './layers.js';
export {
  ortSession, ortLogits, ourLogits, compareWithOrt, latencyBatch1, ortAccuracy, seededUniform, maxAbsDiff, argmaxRows,
  type Batch, type CompareResult,
} from './check.js';
export { writeWebPage, ORT_WEB_FILES, ortWebDist, type WebModel, type WebPageOptions } from './web_page.js';
export { serveStatic, type StaticServer } from './serve_static.js';

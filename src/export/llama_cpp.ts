// The llama.cpp runner moved to src/lm/llama_cpp.ts (a GGUF teacher in reason/ uses it too, and
// reason/ must not reach into export/); re-exported here for export/lm_check.ts.
export { LlamaCppRunner, loadLlamaCpp, type LlamaCppOptions, type LlamaModel } from '../lm/llama_cpp.js';

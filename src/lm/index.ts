// The public surface of the lm layer: the Llama-family causal LM (one file: config, norm,
// attention, MLP, block, model), generation from it, its tokenizers, batching and folders on disk.
export {
  CausalLM, KVCache, LlamaRMSNorm, lmConfig, countLmParameters, ropeTables, ropeInvFreq, LM_DEFAULTS,
  type LmConfig, type ResolvedLmConfig, type LmArch, type Llama3RopeScaling, type ForwardOptions, type BlockInputs,
} from './model.js';
export { forwardBackward, type ForwardBackwardOptions } from './checkpointing.js';
export { packExamples, packRows, PAD_SEGMENT } from './pack.js';
export { BatchDecoder, generate, generateBatch, type GenerateOptions, type GeneratedToken, type Generation, type BatchRow } from './generate.js';
export { ByteTokenizer, HfTokenizer, tokenizerFromJSON, assertFitsEmbedding, type Tokenizer, type ChatTurn } from './tokenizer.js';
export { type AddedToken } from './hf_tokenizer.js';
export { encodeWithOffsets } from './tokenizer.js';
export { offsetsFromTokenBytes, type TokenSpans, type EncodingWithOffsets } from './token_offsets.js';
export { ChatTemplate, readChatTemplateSource, selectTemplate, type ChatMessage, type RenderOptions, type ChatTemplateSource } from './chat_template.js';
export { ggufTokenizerMetadata, ggufPreTokenizer, TOKEN_TYPE, type GgufKv, type GgufTypedValue } from './gguf_vocab.js';
export { makeBatch, disposeLmBatch, IGNORE, type LmExample, type LmBatch, type TokenDistribution } from './batch.js';
export { saveLm, loadLm, LM_FORMAT, LM_VERSION, type LmFolder } from './checkpoint.js';
export { measureImportance, pruneLm, prunedConfig, type PruneTarget, type PruneOptions, type Importance } from './prune.js';
export { lmConfigFromHf, hfConfigFromLm, SUPPORTED_MODEL_TYPES, type HfDtype, type HfConfigInfo } from './hf_config.js';
export {
  loadHfFolder, saveHfFolder, isHfFolder, readGenerationConfig, generationConfigOf, checkTokenizerFits, tokenizerJsonSize,
  HF_WEIGHTS, HF_INDEX, type HfFolder, type GenerationConfig, type SaveHfOptions, type LoadHfOptions,
} from './hf_folder.js';
export { LM_DTYPES, checkLmDtype, resolveLmDtype, type LmDtype } from './dtype.js';
export { bytesToUnicode, byteVocabTokens, byteTokenizerJson, BYTE_CHAT_TEMPLATE } from './byte_vocab.js';
export { lmConfigFromGguf, loadGgufLm } from './gguf_lm.js';
export { loadAnyLm, type LoadedLm, type LoadAnyLmOptions } from './load.js';
export { bucketKL, type BucketKlOptions } from './bucket_kl.js';
export { chunkedLmLoss, DEFAULT_CHUNK_SIZE, type ChunkedLossOptions, type TopkTeacher, type TopkTeacherRows, type LiveTeacher } from './chunked_loss.js';
export {
  applyLora, loraParameters, loraConfigOf, mergeLora, parseLoraFlag, loraModules, loraTargets, loraScaling,
  resolveLoraConfig, sameLoraConfig, formatLoraConfig, LoraLinear, DEFAULT_LORA_TARGETS, type LoraConfig, type ResolvedLoraConfig,
} from './lora.js';
export { saveLoraAdapter, loadLoraAdapter, readLoraAdapterConfig, peftKey, peftAdapterConfig, ADAPTER_WEIGHTS, ADAPTER_CONFIG } from './peft.js';

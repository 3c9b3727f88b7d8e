// `distill export <lm>`: an LM folder (one holding lm.json, written by saveLm), a Hugging Face
// folder or a .gguf file (dequantized to float32 on load, with its own tokenizer) in the three
// deployment formats, under <folder>/export/ (FILE-export/ beside a FILE.gguf), each checked by
// its own runtime (ONNX covers the Llama layout; a Qwen or Llama 3 model skips it):
//   model.onnx          ONNX (opset 17, dynamic batch and sequence, no KV cache): max
//                       |ours − onnxruntime-node| over 100 random token sequences ≤ 1e-4
//   model.int8.onnx     with --quantize: the same with every Linear dynamic int8; measured, not
//                       gated: size, max |ours − ort|, next-token (argmax) agreement with our
//                       float model on the same sequences, onnxruntime batch-1 latency against float
//   model.<dtype>.gguf  GGUF v3 in the model's architecture (llama, qwen2, qwen3), f32, f16, bf16, q8_0 or q4_k_m (--gguf-dtype): llama.cpp
//                       (node-llama-cpp) generates greedily from a few chat prompts and must
//                       agree with our generate(), any divergence being a near-tie in our own
//                       logits (GGUF_TIE_TOLERANCE); a quantized file is compared with our
//                       forward on the weights dequantized from it (lm/gguf_lm.ts)
//   hf/                 Hugging Face folder of the model's architecture (config.json, model.safetensors,
//                       tokenizer files): read back here, same logits and same token ids
// With --lora DIR, a PEFT LoRA adapter (adapter_model.safetensors + adapter_config.json) is loaded
// onto the model first and merged into it (W + s·B·A): every format above holds the fine-tuned model.
// The model is checked against the architecture first, so an unsupported layer is an
// error naming it before any file is written.
import { readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import { loadSafetensors, writeFileAtomic } from '../io/index.js';
import { loadAnyLm } from '../lm/load.js';
import { mergeLora, loraConfigOf, type ResolvedLoraConfig } from '../lm/lora.js';
import { loadLoraAdapter } from '../lm/peft.js';
import { loadGgufLm } from '../lm/gguf_lm.js';
import { CausalLM, type LmConfig } from '../lm/model.js';
import { ByteTokenizer, HfTokenizer, type Tokenizer } from '../lm/tokenizer.js';
import {
  checkLm, exportOnnxLm, exportGguf, exportHfLm, ortSession, maxAbsDiff,
  compareLmWithOrt, randomIdBatches, ourLmLogits, ortLatencyMs, LlamaCppRunner, compareGreedyWithLlamaCpp,
  GGUF_DTYPES, type GgufDtype, type LmCompareResult, type GreedyAgreement,
} from '../export/index.js';
import { checkOutputDir, stageDir, type StagedDir } from './staged_dir.js';

export interface ExportLmOptions {
  format?: string;
  out?: string;
  ggufDtype?: string;
  quantize?: boolean;
  json?: boolean;
  /** A PEFT LoRA adapter folder, merged into the model before anything is written. */
  lora?: string;
}

/** Context of the timed batch-1 forward of the float and int8 ONNX files. */
const LATENCY_CONTEXT = 64;

export const LM_ONNX_TOLERANCE = 1e-4;
/**
 * The largest gap in our own logits at which llama.cpp may pick the other token. A quantized
 * file is compared with our forward on the weights dequantized from that same file, so what is
 * left is llama.cpp rounding its activations (bf16 → bf16, Q8_0/Q4_K → 8-bit blocks): on random
 * models (test/export/gguf_quant_export.test.ts) max |Δ log p| was 0.07 (bf16), 0.22 (Q8_0) and
 * 0.28 (Q4_K_M), mean KL 7e-5, 8e-4 and 1.6e-3.
 */
export const GGUF_TIE_TOLERANCE: Record<GgufDtype, number> = { f32: 1e-3, f16: 0.05, bf16: 0.1, q8_0: 0.25, q4_k_m: 0.3 };

const CHECK_QUESTIONS = ['What is 12 + 7?', 'Name a colour.', 'Write one sentence about the sea.', '用中文说你好。', 'Count to five.'];
const CHECK_TOKENS = 32;

interface LmReport {
  dir: string;
  outDir: string;
  params: number;
  config: LmConfig;
  tokenizer: string;
  /** The adapter merged in (--lora). */
  lora?: { dir: string } & ResolvedLoraConfig;
  ok: boolean;
  onnx?: { path: string; bytes: number; opset: number; check: LmCompareResult; ok: boolean; latencyMs?: number };
  /** Why the ONNX writer was skipped (a model using switches it does not support). */
  onnxSkipped?: string;
  int8?: { path: string; bytes: number; check: LmCompareResult; argmaxAgreement: number; latencyMs: number };
  gguf?: { path: string; bytes: number; dtype: GgufDtype; greedy: GreedyAgreement; tieTolerance: number; ok: boolean } | { skipped: string };
  safetensors?: { dir: string; files: { path: string; bytes: number }[]; reloadMaxAbsDiff: number; tokenizerRoundTrip: boolean; ok: boolean };
}

const kb = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MB` : `${(b / 1024).toFixed(1)} kB`);

function checkPrompts(tok: Tokenizer, maxSeqLen: number): number[][] {
  return CHECK_QUESTIONS.map((q) => tok.chatPrompt([{ role: 'user', content: q }])).filter((p) => p.length < maxSeqLen);
}

/** The HF folder read back as its user would: weights by LlamaForCausalLM's names, the config's hyperparameters, the tokenizer files. */
function rereadHf(model: CausalLM, tok: Tokenizer, dir: string): { diff: number; tokenizerRoundTrip: boolean } {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { distill: { lm_config: LmConfig } };
  const again = new CausalLM(cfg.distill.lm_config);
  const { tensors } = loadSafetensors(join(dir, 'model.safetensors'));
  try {
    again.loadStateDict(Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k.replace(/^model\./, ''), t])));
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  const T = Math.min(16, model.cfg.maxSeqLen);
  const b = { ids: BigInt64Array.from({ length: 2 * T }, (_, i) => BigInt((i * 31 + 7) % model.cfg.vocabSize)), shape: [2, T] as [number, number] };
  const diff = maxAbsDiff(ourLmLogits(model, b), ourLmLogits(again, b));
  again.dispose();
  const hf = HfTokenizer.fromFiles(join(dir, 'tokenizer.json'), join(dir, 'tokenizer_config.json'));
  const sample = 'Hello, world! 12 + 7 = 19. 你好，世界。';
  return { diff, tokenizerRoundTrip: JSON.stringify(hf.encode(sample)) === JSON.stringify(tok.encode(sample)) };
}

export async function runExportLm(dir: string, o: ExportLmOptions = {}): Promise<number> {
  const format = o.format ?? 'all';
  if (!['onnx', 'gguf', 'safetensors', 'all'].includes(format)) throw new torch.ConfigError(`--format must be onnx, gguf, safetensors or all, got '${format}'`);
  const dtype = (o.ggufDtype ?? 'f32') as GgufDtype;
  if (!GGUF_DTYPES.includes(dtype)) throw new torch.ConfigError(`--gguf-dtype must be one of ${GGUF_DTYPES.join(', ')}, got '${String(o.ggufDtype)}'`);
  const root = resolve(dir);
  // A .gguf is a file: its export goes beside it (FILE-export/), not inside it.
  const defaultOut = root.endsWith('.gguf') ? `${root.slice(0, -'.gguf'.length)}-export` : join(root, 'export');
  const outDir = resolve(o.out ?? defaultOut);
  const target = { target: outDir, flag: '--out', isDefault: outDir === defaultOut };
  checkOutputDir(target); // a bad --out fails before the model loads
  const { model, tokenizer } = loadAnyLm(root);
  try {
    let lora: LmReport['lora'];
    if (o.lora !== undefined) {
      // The adapter must have been trained on this base (by name and shapes); merged, the model is a plain one.
      loadLoraAdapter(model, resolve(o.lora), { baseModel: root });
      lora = { dir: resolve(o.lora), ...loraConfigOf(model)! };
      mergeLora(model);
    }
    // An unsupported layer fails here, before any file is written. ONNX covers the Llama layout
    // only; with --format all a model using Qwen's or Llama 3's switches skips it (below).
    checkLm(model, 'export', format === 'onnx' ? [] : ['qkvBias', 'oBias', 'qkNorm', 'headDim', 'ropeScaling']);
    const r: LmReport = {
      dir: root, outDir, params: model.parameters().reduce((a, p) => a + p.numel, 0), config: model.cfg, tokenizer: tokenizer.kind, lora, ok: true,
    };
    const stage = stageDir(target);
    try {
      await writeLm(stage, model, tokenizer, r, format, dtype, o);
      stage.commit();
    } catch (e) {
      stage.abort();
      throw e;
    }
    if (o.json) console.log(JSON.stringify(r));
    else printLmReport(r, model.cfg, tokenizer.kind);
    return r.ok ? 0 : 1;
  } finally {
    model.dispose();
  }
}

/** Every format into `stage.dir`, each checked by its runtime; `r` gets the files' final paths. */
async function writeLm(stage: StagedDir, model: CausalLM, tokenizer: Tokenizer, r: LmReport, format: string, dtype: GgufDtype, o: ExportLmOptions): Promise<void> {
  const outDir = stage.dir;
  const name = basename(r.dir).replace(/\.gguf$/, '');
  const say = (s: string) => o.json || console.error(s);

  let onnxUnsupported: string | null = null;
  try {
    checkLm(model, 'ONNX export');
  } catch (e) {
    onnxUnsupported = (e as Error).message;
  }
  if (format === 'all' && onnxUnsupported) r.onnxSkipped = onnxUnsupported;
  if (format === 'onnx' || (format === 'all' && !onnxUnsupported)) {
    say('export: LM → ONNX');
    const path = join(outDir, 'model.onnx');
    const info = exportOnnxLm(model, path, { modelName: name, metadata: { tokenizer: tokenizer.kind } });
    const s = await ortSession(path);
    const batches = randomIdBatches(model.cfg.vocabSize, Math.min(model.cfg.maxSeqLen, 64), 100, 1234);
    const check = await compareLmWithOrt(model, s, batches);
    const ok = check.maxAbsDiff <= LM_ONNX_TOLERANCE;
    r.onnx = { path: stage.final(path), bytes: info.bytes, opset: info.opset, check, ok };
    r.ok &&= ok;
    if (o.quantize) {
      say('export: LM → ONNX, int8');
      const qpath = join(outDir, 'model.int8.onnx');
      const qinfo = exportOnnxLm(model, qpath, { modelName: `${name}-int8`, metadata: { tokenizer: tokenizer.kind }, quantize: 'int8' });
      const qs = await ortSession(qpath);
      const qcheck = await compareLmWithOrt(model, qs, batches);
      const T = Math.min(model.cfg.maxSeqLen, LATENCY_CONTEXT);
      r.onnx.latencyMs = await ortLatencyMs(s, model.cfg.vocabSize, T);
      r.int8 = { path: stage.final(qpath), bytes: qinfo.bytes, check: qcheck, argmaxAgreement: 1 - qcheck.argmaxMismatches / qcheck.tokens, latencyMs: await ortLatencyMs(qs, model.cfg.vocabSize, T) };
      await qs.release();
    }
    await s.release();
  }
  if (format === 'gguf' || format === 'all') {
    if (!(tokenizer instanceof ByteTokenizer) && !tokenizer.ggufMetadata && format === 'all') {
      r.gguf = { skipped: `tokenizer '${tokenizer.kind}' has no llama.cpp vocabulary` };
    } else {
      say(`export: LM → GGUF (${dtype})`);
      const path = join(outDir, `model.${dtype}.gguf`);
      const info = exportGguf(model, tokenizer, path, { dtype, name });
      writeFileAtomic(join(outDir, 'Modelfile'), ollamaModelfile(basename(path), tokenizer));
      const runner = await LlamaCppRunner.open(path);
      // A quantized file is checked against our forward on its own dequantized weights.
      const ref = dtype === 'f32' || dtype === 'f16' ? model : loadGgufLm(path);
      try {
        const greedy = await compareGreedyWithLlamaCpp(ref, runner, checkPrompts(tokenizer, model.cfg.maxSeqLen), CHECK_TOKENS);
        const ok = greedy.worstGap <= GGUF_TIE_TOLERANCE[dtype];
        r.gguf = { path: stage.final(path), bytes: info.bytes, dtype, greedy, tieTolerance: GGUF_TIE_TOLERANCE[dtype], ok };
        r.ok &&= ok;
      } finally {
        await runner.dispose();
        if (ref !== model) ref.dispose();
      }
    }
  }
  if (format === 'safetensors' || format === 'all') {
    say('export: LM → Hugging Face folder');
    const hfDir = join(outDir, 'hf');
    const info = exportHfLm(model, tokenizer, hfDir);
    const back = rereadHf(model, tokenizer, hfDir);
    const ok = back.diff === 0 && back.tokenizerRoundTrip;
    r.safetensors = { dir: stage.final(hfDir), files: info.files.map((f) => ({ ...f, path: stage.final(f.path) })), reloadMaxAbsDiff: back.diff, tokenizerRoundTrip: back.tokenizerRoundTrip, ok };
    r.ok &&= ok;
  }
}

/**
 * An Ollama Modelfile beside the GGUF (`ollama create NAME -f Modelfile`): the file, and the
 * end-of-sequence token as a stop. Ollama takes the chat template from the GGUF's metadata.
 */
function ollamaModelfile(gguf: string, tokenizer: Tokenizer): string {
  return `# ollama create <name> -f Modelfile\nFROM ./${gguf}\nPARAMETER stop ${JSON.stringify(tokenizer.tokenText(tokenizer.eosId))}\n`;
}

function printLmReport(r: LmReport, c: LmConfig, tokenizer: string): void {
  const rel = (p: string) => relative(process.cwd(), p) || p;
  const lines = [`LM ${rel(r.dir)} (${r.params.toLocaleString('en-US')} parameters: ${c.nLayers} layers, d=${c.dim}, ${c.nHeads}/${c.nKvHeads} heads, vocab ${c.vocabSize}; tokenizer ${tokenizer})`];
  if (r.lora) lines.push(`  LoRA adapter ${rel(r.lora.dir)} merged in (r=${r.lora.r}, alpha=${r.lora.alpha}${r.lora.rslora ? ', rsLoRA' : ''}, targets ${r.lora.targets.join(', ')})`);
  if (r.onnx) {
    const x = r.onnx;
    lines.push(`  ${rel(x.path)}  ${kb(x.bytes)}  opset ${x.opset}, input_ids (batch, sequence) → logits`);
    lines.push(`    onnxruntime-node check: max |ours − ort| ${x.check.maxAbsDiff.toExponential(2)} on ${x.check.samples} random sequences ` +
      `(${x.check.tokens} positions; ≤ ${LM_ONNX_TOLERANCE}): ${x.ok ? 'OK' : 'FAILED'}`);
  }
  if (r.int8 && r.onnx) {
    const q = r.int8;
    lines.push(`  ${rel(q.path)}  ${kb(q.bytes)} (${(r.onnx.bytes / q.bytes).toFixed(1)}× smaller)  Linear layers dynamic int8`);
    lines.push(`    against our float model: max |Δ logit| ${q.check.maxAbsDiff.toExponential(2)}, next token agrees at ${(q.argmaxAgreement * 100).toFixed(2)}% of ${q.check.tokens} positions; ` +
      `onnxruntime batch 1, ${Math.min(c.maxSeqLen, LATENCY_CONTEXT)} tokens: ${q.latencyMs.toFixed(2)} ms int8, ${r.onnx.latencyMs!.toFixed(2)} ms float`);
  }
  if (r.onnxSkipped) lines.push(`  ONNX skipped: ${r.onnxSkipped}`);
  if (r.gguf && 'skipped' in r.gguf) lines.push(`  GGUF skipped: ${r.gguf.skipped}`);
  else if (r.gguf) {
    const x = r.gguf, g = x.greedy;
    lines.push(`  ${rel(x.path)}  ${kb(x.bytes)}  GGUF v3, ${c.arch}, ${x.dtype}`);
    lines.push(`    llama.cpp greedy check: ${g.identicalPrompts}/${g.prompts} prompts identical for ${g.tokensPerPrompt} tokens (${g.matchedTokens}/${g.totalTokens} tokens)` +
      (g.divergences.length ? `; divergences at our logit gaps ≤ ${g.worstGap.toExponential(2)} (near-ties allowed up to ${x.tieTolerance})` : '') + `: ${x.ok ? 'OK' : 'FAILED'}`);
  }
  if (r.safetensors) {
    const h = r.safetensors;
    lines.push(`  ${rel(h.dir)}/  ${h.files.map((f) => `${basename(f.path)} ${kb(f.bytes)}`).join(', ')}`);
    lines.push(`    read back: ${h.reloadMaxAbsDiff === 0 ? 'identical logits' : `max diff ${h.reloadMaxAbsDiff}`}, tokenizer.json ${h.tokenizerRoundTrip ? 'gives our ids' : 'DIFFERS'}: ${h.ok ? 'OK' : 'FAILED'}`);
  }
  console.log(lines.join('\n'));
  if (!r.ok) console.error('distill: export: a check FAILED (see above); the files were written but do not match the model');
}

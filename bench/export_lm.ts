// LM export figures: for an LM folder (one holding lm.json), the size of each export and
// the speed of each runtime against our engine, same machine, same run, one thread each.
// Usage: node dist/bench/export_lm.js <lm folder> [--out DIR] [--reps N] [--context T] [--tokens N] [--json]
// The last line of output is one JSON object:
//   {"model": {...}, "sizes": {"safetensors_f32", "onnx", "gguf_f32", "gguf_f16", "hf_folder"},
//    "latency_batch1": {"context", "ort_full_ms", "ours_full_ms", "ours_cached_step_ms", "ratio_full"},
//    "decode": {"tokens", "llamacpp_f32_tok_s", "llamacpp_f16_tok_s", "ours_tok_s", "ratio_f32"}, ...}
// "full" is one forward over `context` tokens at batch 1, which is what a next token costs in
// the ONNX file (it has no KV cache); "cached step" is what it costs in our generate().
// Decoding speed is greedy generation of `tokens` tokens after a chat prompt, prefill
// included, in llama.cpp (node-llama-cpp, CPU, 1 thread, F16 KV cache, its defaults) and in
// our generate() (libtorch, 1 intra-op thread); medians of `reps`.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLm } from '../src/lm/checkpoint.js';
import { exportOnnxLm } from '../src/export/onnx_lm.js';
import { exportGguf } from '../src/export/gguf.js';
import { exportHfLm } from '../src/export/safetensors_hf_lm.js';
import { ortSession } from '../src/export/check.js';
import { lmLatencyBatch1, LlamaCppRunner, tokensPerSecond } from '../src/export/lm_check.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    reps: { type: 'string', default: '20' },
    context: { type: 'string', default: '64' },
    tokens: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help || positionals.length !== 1) {
  console.log('node dist/bench/export_lm.js <lm folder> [--out DIR] [--reps N=20] [--context T=64] [--tokens N=64] [--json]');
  process.exit(args.help ? 0 : 1);
}
const dir = resolve(positionals[0]);
const reps = Number(args.reps), context = Number(args.context), tokens = Number(args.tokens);
const log = (msg: string) => { if (!args.json) console.log(msg); };
const tmp = args.out ? undefined : mkdtempSync(join(tmpdir(), 'distill-bench-lm-'));
const out = resolve(args.out ?? tmp!);

const { model, tokenizer } = loadLm(dir);
const c = model.cfg;
const size = (p: string) => statSync(p).size;
const folderSize = (d: string) => readdirSync(d).reduce((a, f) => a + size(join(d, f)), 0);

log(`exporting ${dir} → ${out}`);
const onnxPath = join(out, 'model.onnx');
exportOnnxLm(model, onnxPath);
const ggufs: Record<string, string> = {};
let ggufError: string | undefined;
try {
  for (const dtype of ['f32', 'f16'] as const) ggufs[dtype] = exportGguf(model, tokenizer, join(out, `model.${dtype}.gguf`), { dtype }).path!;
} catch (e) {
  ggufError = (e as Error).message; // e.g. a tokenizer without a llama.cpp equivalent
}
const hf = exportHfLm(model, tokenizer, join(out, 'hf'));

log('timing batch-1 next-token latency (onnxruntime-node vs ours)');
const s = await ortSession(onnxPath);
const lat = await lmLatencyBatch1(model, s, context, reps);
await s.release();

const decode: Record<string, number | number[]> = {};
const oursRuns: number[] = [];
if (!ggufError) {
  const prompt = tokenizer.chatPrompt([{ role: 'user', content: 'Tell me about the sea.' }]);
  for (const dtype of ['f32', 'f16'] as const) {
    log(`timing greedy decoding, GGUF ${dtype} in llama.cpp vs our generate()`);
    const r = await LlamaCppRunner.open(ggufs[dtype], { kvCache: 'F16' });
    try {
      const t = await tokensPerSecond(model, r, prompt, tokens, Math.max(3, Math.round(reps / 4)));
      decode.tokens = t.tokens;
      decode[`llamacpp_${dtype}_tok_s`] = t.llamaCpp;
      oursRuns.push(t.ours);
    } finally {
      await r.dispose();
    }
  }
  // Ours is timed beside each llama.cpp run; both figures are kept, their mean is the headline.
  decode.ours_tok_s_runs = oursRuns;
  decode.ours_tok_s = (oursRuns[0] + oursRuns[1]) / 2;
  decode.ratio_f32 = (decode.llamacpp_f32_tok_s as number) / decode.ours_tok_s;
}

const result = {
  model: { dir, params: model.parameters().reduce((a, p) => a + p.numel, 0), config: c, tokenizer: tokenizer.kind },
  sizes: {
    safetensors_f32: size(join(dir, 'model.safetensors')),
    onnx: size(onnxPath),
    ...(ggufError ? {} : { gguf_f32: size(ggufs.f32), gguf_f16: size(ggufs.f16) }),
    hf_folder: folderSize(hf.dir),
  },
  latency_batch1: {
    context: lat.context, ort_full_ms: lat.ortFullMs, ours_full_ms: lat.oursFullMs, ours_cached_step_ms: lat.oursCachedStepMs,
    ratio_full: lat.oursFullMs / lat.ortFullMs,
  },
  decode: ggufError ? { skipped: ggufError } : decode,
  reps, threads: 1,
  command: `node dist/bench/export_lm.js ${positionals[0]} --reps ${reps} --context ${context} --tokens ${tokens}`,
};
model.dispose();
if (tmp) rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify(result));

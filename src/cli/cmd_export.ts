// `distill export [run]`: writes a run folder's models in deployment formats under
// <run>/export/ and checks each file with the runtime people use it with:
//   <role>.onnx          ONNX (IR 8, opset 17, dynamic batch), checked with onnxruntime-node:
//                        max |ours − ort| over 100 random inputs (batches of 1, 7 and 92: the
//                        dynamic axis) and the whole test set must be ≤ 1e-4
//   <role>.int8.onnx     with --quantize: Linear layers as dynamic int8 (MatMulInteger);
//                        measured for size, speed and accuracy against the float file
//   <role>/              Hugging Face style: model.safetensors + config.json + README.md,
//                        rebuilt here from the folder and compared with the model
//   index.html + ort.*   the browser demo (teacher and students on onnxruntime-web)
// An LM (an LM folder holding lm.json, a Hugging Face folder or a .gguf file) goes to
// cmd_export_lm.ts instead: ONNX, GGUF and a Hugging Face folder of its architecture.
// Both write into a staging folder beside the output folder and rename it into place at the
// end (staged_dir.ts): a failure midway leaves no partial folder and keeps an earlier export.
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { basename, join, relative, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import * as data from '../data/index.js';
import * as ex from '../export/index.js';
import { loadWeights } from './pipeline.js';
import { isHfFolder } from '../lm/hf_folder.js';
import { openRunFolder, type RunFolder } from './run_folder.js';
import { checkOutputDir, stageDir, type StagedDir } from './staged_dir.js';

export interface ExportOptions {
  /** 'gguf' only for an LM folder. */
  format?: 'onnx' | 'gguf' | 'safetensors' | 'all';
  which?: 'student' | 'baseline' | 'teacher' | 'all';
  /** Output folder (default <run>/export). */
  out?: string;
  /** Also write <role>.int8.onnx and measure it. */
  quantize?: boolean;
  json?: boolean;
  /** LM folders: the GGUF weight type, f32 (default) or f16. */
  ggufDtype?: string;
  /** LM folders: a PEFT LoRA adapter folder merged into the model first. */
  lora?: string;
}

/** The largest |ours − onnxruntime| a float export may show on any logit. */
export const ONNX_TOLERANCE = 1e-4;
const ROLES = ['teacher', 'student', 'baseline'] as const;
type Role = (typeof ROLES)[number];

interface OnnxReport {
  path: string;
  bytes: number;
  opset: number;
  ops: Record<string, number>;
  random: ex.CompareResult;
  test: ex.CompareResult;
  ok: boolean;
  accuracy: number;
  latencyBatch1: { oursMs: number; ortMs: number };
  /** Whole test set, batches of 256, onnxruntime only (median of 5 passes). */
  testPassMs: number;
}
interface Int8Report {
  path: string;
  bytes: number;
  accuracy: number;
  agreementWithFloat: number;
  maxAbsDiffVsFloat: number;
  latencyBatch1Ms: number;
  testPassMs: number;
}
interface HfReport {
  dir: string;
  files: { path: string; bytes: number }[];
  reloadMaxAbsDiff: number;
  ok: boolean;
}
interface ModelReport {
  role: Role;
  arch: string;
  params: number;
  onnx?: OnnxReport;
  int8?: Int8Report;
  safetensors?: HfReport;
}

function batchesOf(x: Float32Array, n: number, inputShape: number[], size: number): ex.InputBatch[] {
  const per = inputShape.reduce((a, b) => a * b, 1);
  const out: ex.InputBatch[] = [];
  for (let i = 0; i < n; i += size) {
    const b = Math.min(size, n - i);
    out.push({ x: x.subarray(i * per, (i + b) * per), shape: [b, ...inputShape] });
  }
  return out;
}

async function timeTestPass(s: Awaited<ReturnType<typeof ex.ortSession>>, batches: ex.InputBatch[]): Promise<number> {
  await ex.ortLogits(s, batches[0].x, batches[0].shape); // warm
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t = performance.now();
    for (const b of batches) await ex.ortLogits(s, b.x, b.shape);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[2]; // the median of 5
}

/** Two test images per class (the first ones), up to 20, for the browser page. */
function pickSamples(labels: Int32Array, classes: number, max = 20): number[] {
  const per = Math.max(1, Math.floor(max / classes));
  const seen = new Array<number>(classes).fill(0);
  const out: number[] = [];
  for (let i = 0; i < labels.length && out.length < max; i++)
    if (seen[labels[i]] < per) {
      seen[labels[i]]++;
      out.push(i);
    }
  return out;
}

const kb = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MB` : `${(b / 1024).toFixed(1)} kB`);

export async function runExport(dir: string | undefined, o: ExportOptions = {}): Promise<number> {
  // An LM folder (lm.json), a Hugging Face LM folder (config.json + safetensors) or a .gguf file exports as an LM.
  if (dir && (dir.endsWith('.gguf') || existsSync(join(dir, 'lm.json')) || isHfFolder(dir))) return (await import('./cmd_export_lm.js')).runExportLm(dir, o);
  if (o.lora !== undefined) throw new torch.ConfigError(`--lora is for LM folders (lm.json or a Hugging Face config.json); ${resolve(dir ?? join('runs', 'demo'))} has neither`);
  const format = o.format ?? 'all';
  if (format === 'gguf') throw new torch.ConfigError(`--format gguf is for LM folders (lm.json or a Hugging Face config.json); ${resolve(dir ?? join('runs', 'demo'))} has neither`);
  const which = o.which ?? 'all';
  if (!['onnx', 'safetensors', 'all'].includes(format)) throw new torch.ConfigError(`--format must be onnx, safetensors or all, got '${format}'`);
  if (!['student', 'baseline', 'teacher', 'all'].includes(which)) throw new torch.ConfigError(`--which must be student, baseline, teacher or all, got '${which}'`);
  // A bad --out fails before the data and models load.
  const defaultOut = resolve(dir ?? join('runs', 'demo'), 'export');
  const outDir = resolve(o.out ?? defaultOut);
  const target = { target: outDir, flag: '--out', isDefault: outDir === defaultOut };
  checkOutputDir(target);
  const folder = openRunFolder(dir, o);
  const { run, rep } = folder;
  const roles = ROLES.filter((r) => (which === 'all' || which === r) && folder.models[r]);
  if (!roles.length)
    throw new torch.ConfigError(`${run}: no ${which === 'all' ? '' : which + ' '}model to export (looked for teacher.json, baseline/ and student/ model.safetensors)`);
  const stage = stageDir(target);
  let written: Written;
  try {
    written = await writeModels(stage, folder, roles, format, !!o.quantize);
    stage.commit();
  } catch (e) {
    stage.abort();
    throw e;
  }
  const { reports, failed, page } = written;
  rep.stop();

  const result = { runDir: run, outDir, tolerance: ONNX_TOLERANCE, ok: !failed, models: reports, page: page?.page, runtime: page?.runtime };
  if (o.json) console.log(JSON.stringify(result));
  else printReport(reports, page, outDir, failed);
  return failed ? 1 : 0;
}

interface Written {
  reports: ModelReport[];
  failed: boolean;
  page?: { page: string; runtime: { file: string; bytes: number }[] };
}

/** Every file of the export into `stage.dir`, each checked; the reports name the files' final paths. */
async function writeModels(stage: StagedDir, folder: RunFolder, roles: Role[], format: string, quantize: boolean): Promise<Written> {
  const { run, rep, d } = folder;
  const outDir = stage.dir;
  const archOf = (r: Role) => folder.models[r]!.arch;
  const dropoutOf = (r: Role) => folder.models[r]!.dropout;
  const inputShape = d.inputShape;
  const C = d.numClasses;
  const classNames = d.classNames ?? Array.from({ length: C }, (_, i) => String(i));
  const testX = d.test.x.dataSync() as Float32Array;
  const testY = data.labelsOf(d.test);
  const testBatches = batchesOf(testX, testY.length, inputShape, 256);
  const per = inputShape.reduce((a, b) => a * b, 1);
  // 100 random inputs in [0, 1), as batches of 1, 7 and 92: the batch axis must be dynamic.
  const rnd = ex.seededUniform(100 * per, 1234);
  const randomBatches = [[0, 1], [1, 7], [8, 92]].map(([s, b]) => ({ x: rnd.subarray(s * per, (s + b) * per), shape: [b, ...inputShape] }));

  const reports: ModelReport[] = [];
  let failed = false;
  for (const role of roles) {
    const model = folder.models[role]!.model;
    const arch = archOf(role);
    const r: ModelReport = { role, arch, params: model.parameters().reduce((a, p) => a + p.numel, 0) };
    const meta = { role, arch, dataset: d.name, class_names: JSON.stringify(classNames), run: run };
    if (format !== 'safetensors') {
      rep.note(`export: ${role} (${arch}) → ONNX`);
      const path = join(outDir, `${role}.onnx`);
      const info = ex.exportOnnx(model, path, { inputShape, modelName: `${role}-${arch}`, metadata: meta });
      const s = await ex.ortSession(path);
      const random = await ex.compareWithOrt(model, s, randomBatches, C);
      const test = await ex.compareWithOrt(model, s, testBatches, C);
      const ok = random.maxAbsDiff <= ONNX_TOLERANCE && test.maxAbsDiff <= ONNX_TOLERANCE;
      failed ||= !ok;
      const acc = await ex.ortAccuracy(s, testBatches, testY, C);
      const latency = await ex.latencyBatch1(model, s, testX.subarray(0, per), inputShape);
      r.onnx = { path: stage.final(path), bytes: info.bytes, opset: info.opset, ops: info.ops, random, test, ok, accuracy: acc.accuracy, latencyBatch1: latency, testPassMs: await timeTestPass(s, testBatches) };
      if (quantize) {
        const qpath = join(outDir, `${role}.int8.onnx`);
        const qinfo = ex.exportOnnx(model, qpath, { inputShape, modelName: `${role}-${arch}-int8`, metadata: meta, quantize: 'int8' });
        const qs = await ex.ortSession(qpath);
        const qacc = await ex.ortAccuracy(qs, testBatches, testY, C);
        let agree = 0;
        for (let i = 0; i < testY.length; i++) if (qacc.predictions[i] === acc.predictions[i]) agree++;
        const qdiff = await ex.compareWithOrt(model, qs, testBatches, C);
        r.int8 = {
          path: stage.final(qpath), bytes: qinfo.bytes, accuracy: qacc.accuracy, agreementWithFloat: agree / testY.length,
          maxAbsDiffVsFloat: qdiff.maxAbsDiff, latencyBatch1Ms: (await ex.latencyBatch1(model, qs, testX.subarray(0, per), inputShape)).ortMs,
          testPassMs: await timeTestPass(qs, testBatches),
        };
        await qs.release();
      }
      await s.release();
    }
    if (format !== 'onnx') {
      rep.note(`export: ${role} (${arch}) → safetensors + config.json`);
      const hf = ex.exportHf(model, join(outDir, role), { arch, inputShape, numClasses: C, classNames, metadata: { role, arch } });
      // Read back as a user of the folder would (our loader): same arch from config.json, strict load, same logits.
      const cfg = JSON.parse(readFileSync(join(outDir, role, 'config.json'), 'utf8')) as ex.HfConfig;
      const again = nn.buildArch(cfg.arch, { inputShape: cfg.input_shape, numClasses: cfg.num_classes, dropout: dropoutOf(role) });
      loadWeights(again, join(outDir, role, 'model.safetensors'));
      const b0 = testBatches[0];
      const diff = ex.maxAbsDiff(ex.ourLogits(model, b0.x, b0.shape), ex.ourLogits(again, b0.x, b0.shape));
      again.dispose();
      r.safetensors = { dir: stage.final(hf.dir), files: hf.files.map((f) => ({ ...f, path: stage.final(f.path) })), reloadMaxAbsDiff: diff, ok: diff === 0 };
      failed ||= diff !== 0;
    }
    reports.push(r);
  }

  let page: { page: string; runtime: { file: string; bytes: number }[] } | undefined;
  const onnxRoles = reports.filter((r) => r.onnx);
  if (onnxRoles.length) {
    const idx = pickSamples(testY, C);
    const x = new Float32Array(idx.length * per);
    idx.forEach((row, i) => x.set(testX.subarray(row * per, (row + 1) * per), i * per));
    const label = (r: Role) => (r === 'student' ? 'distilled student' : r === 'baseline' ? 'baseline student' : 'teacher');
    page = ex.writeWebPage(outDir, {
      title: 'Teacher and student in the browser',
      subtitle: `${d.name} · run ${basename(run)}`,
      models: onnxRoles.map((r) => ({ role: r.role, label: label(r.role), arch: r.arch, file: `${r.role}.onnx` })),
      inputShape, classNames,
      samples: { x, labels: idx.map((i) => testY[i]), index: idx },
    });
    page = { page: stage.final(page.page), runtime: page.runtime };
  }
  return { reports, failed, page };
}

function printReport(reports: ModelReport[], page: Written['page'], outDir: string, failed: boolean): void {
  const lines: string[] = [];
  const rel = (p: string) => relative(process.cwd(), p) || p;
  for (const r of reports) {
    lines.push(`${r.role} (${r.arch}, ${r.params.toLocaleString('en-US')} parameters)`);
    if (r.onnx) {
      const x = r.onnx;
      lines.push(`  ${rel(x.path)}  ${kb(x.bytes)}  opset ${x.opset}`);
      lines.push(`    onnxruntime-node check: max |ours − ort| ${x.random.maxAbsDiff.toExponential(2)} on ${x.random.samples} random inputs, ` +
        `${x.test.maxAbsDiff.toExponential(2)} on ${x.test.samples} test images (≤ ${ONNX_TOLERANCE}): ${x.ok ? 'OK' : 'FAILED'}`);
      lines.push(`    accuracy ${(100 * x.accuracy).toFixed(2)}%; batch-1 latency ours ${x.latencyBatch1.oursMs.toFixed(3)} ms, onnxruntime ${x.latencyBatch1.ortMs.toFixed(3)} ms`);
    }
    if (r.int8) {
      const q = r.int8;
      lines.push(`  ${rel(q.path)}  ${kb(q.bytes)} (${(q.bytes / r.onnx!.bytes * 100).toFixed(0)}% of float)`);
      lines.push(`    accuracy ${(100 * q.accuracy).toFixed(2)}% (float ${(100 * r.onnx!.accuracy).toFixed(2)}%), agrees with float on ${(100 * q.agreementWithFloat).toFixed(2)}%; ` +
        `batch-1 ${q.latencyBatch1Ms.toFixed(3)} ms vs ${r.onnx!.latencyBatch1.ortMs.toFixed(3)} ms; test pass ${q.testPassMs.toFixed(0)} ms vs ${r.onnx!.testPassMs.toFixed(0)} ms`);
    }
    if (r.safetensors) {
      const h = r.safetensors;
      lines.push(`  ${rel(h.dir)}/  ${h.files.map((f) => `${f.path.split('/').pop()} ${kb(f.bytes)}`).join(', ')}; reloaded: ${h.ok ? 'identical logits' : `max diff ${h.reloadMaxAbsDiff}`}`);
    }
  }
  if (page) {
    lines.push(`browser demo: ${rel(page.page)} (+ ${page.runtime.map((f) => f.file).join(', ')}: ${kb(page.runtime.reduce((a, f) => a + f.bytes, 0))})`);
    lines.push(`  wasm needs http: serve the folder, e.g. \`python3 -m http.server -b 127.0.0.1 -d ${rel(outDir)}\`, then open http://127.0.0.1:8000/`);
  }
  console.log(lines.join('\n'));
  if (failed) console.error('distill: export: a check FAILED (see above); the files were written but do not match the model');
}

// The "collect" half of the report: real forwards of the run's models on its test data,
// plus what the run folder holds, into a RunReportData (plain numbers, no tensors).
import { basename, join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import type { Module } from '../nn/index.js';
import * as kd from '../kd/index.js';
import * as evaluate from '../eval/index.js';
import * as data from '../data/index.js';
import { REPORT_TEMPERATURES, type RunReportData, type TemperatureExample } from './data.js';
import { readComparison, readConfig, readTraces, readTrainingCurve, settingsOf } from './files.js';

/** What the report cannot read from the run folder. Every model is optional; its sections go without it. */
export interface ReportContext {
  teacher?: Module;
  /** The distilled student. */
  student?: Module;
  /** The student trained on hard labels only. */
  baseline?: Module;
  /** The test set: the temperature example and the confusion matrix come from it. */
  test: data.Dataset;
  /** The validation set, for the teacher's reference line on the validation-accuracy chart. */
  val?: data.Dataset;
  /** A test row for the temperature chart instead of the most ambiguous one. */
  exampleIndex?: number;
  temperatures?: number[];
  /** Page title (default: the run folder's name). */
  title?: string;
  /** Fixed timestamp (tests); default now. */
  now?: Date;
}

/** Reads the run folder and runs the models; nothing is written. */
export function collectRunReport(runDir: string, ctx: ReportContext): RunReportData {
  const dir = resolve(runDir);
  const cfg = readConfig(dir);
  const { test } = ctx;
  const out: RunReportData = {
    title: ctx.title ?? `distill run '${basename(dir)}'`,
    runDir: dir,
    generatedAt: (ctx.now ?? new Date()).toISOString(),
    dataset: test.name,
    numClasses: test.numClasses,
    classNames: test.classNames,
    settings: cfg ? settingsOf(cfg) : undefined,
    comparison: readComparison(dir),
  };
  const labels = data.labelsOf(test);
  if (ctx.teacher) out.temperature = ambiguousExample(ctx.teacher, test, labels, ctx);

  const student = readTrainingCurve(join(dir, 'student', 'metrics.jsonl'));
  const baseline = readTrainingCurve(join(dir, 'baseline', 'metrics.jsonl'));
  const teacherAcc = teacherReference(ctx, out);
  if (student || baseline || teacherAcc) out.curves = { student, baseline, teacher: teacherAcc };

  if (ctx.student) {
    const pred = evaluate.predictLabels(ctx.student, test.x);
    out.errors = {
      confusion: evaluate.confusionMatrix(pred, labels, test.numClasses),
      perClass: {
        student: evaluate.perClassAccuracy(pred, labels, test.numClasses),
        baseline: ctx.baseline ? evaluate.perClassAccuracy(evaluate.predictLabels(ctx.baseline, test.x), labels, test.numClasses) : undefined,
      },
    };
  }
  out.traces = readTraces(dir);
  return out;
}

/**
 * The example the temperature chart shows: among the test samples the teacher gets right,
 * the one whose runner-up class is most probable at T = 1 — the teacher sees two classes
 * in it (Hinton et al. 2015: a 2 that looks like a 3), which is the "dark knowledge" soft
 * targets carry. Not the smallest top-2 margin or the highest entropy: those favour
 * near-uniform outputs, where T has little left to flatten and the chart shows nothing.
 * Being correct keeps it an example of teaching rather than of error.
 */
function ambiguousExample(teacher: Module, test: data.Dataset, labels: Int32Array, ctx: ReportContext): TemperatureExample {
  const n = labels.length;
  return torch.tidy(() => {
    const logits = kd.computeLogits(teacher, test.x, 512); // (N, C)
    const C = logits.shape[1];
    const probs = kd.softTargets(logits, 1).dataSync() as Float32Array; // (N·C)
    let best = -1, bestSecond = -1, secondClass = -1, correct = 0, pred = -1;
    const argmaxOf = (i: number) => {
      let a = 0;
      for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + a]) a = c;
      return a;
    };
    if (ctx.exampleIndex !== undefined) {
      if (!Number.isInteger(ctx.exampleIndex) || ctx.exampleIndex < 0 || ctx.exampleIndex >= n)
        throw new torch.ConfigError(`report: exampleIndex ${ctx.exampleIndex} is outside the test set [0, ${n})`);
      best = ctx.exampleIndex;
      pred = argmaxOf(best);
    } else {
      for (let i = 0; i < n; i++) {
        const a = argmaxOf(i);
        if (a !== labels[i]) continue;
        correct++;
        let second = -1;
        for (let c = 0; c < C; c++) if (c !== a && (second < 0 || probs[i * C + c] > probs[i * C + second])) second = c;
        if (probs[i * C + second] > bestSecond) [best, bestSecond, secondClass, pred] = [i, probs[i * C + second], second, a];
      }
      // A teacher that gets nothing right still gets a chart: its first example.
      if (best < 0) [best, pred] = [0, argmaxOf(0)];
    }
    const why = ctx.exampleIndex !== undefined ? 'chosen by the caller'
      : correct ? `among the ${correct} test samples the teacher classifies correctly, the one whose runner-up class (${test.classNames?.[secondClass] ?? secondClass}) is most probable at T = 1 (p = ${bestSecond.toFixed(3)})`
      : 'the teacher classifies no test sample correctly; first test sample';
    const row = Array.from(logits.narrow(0, best, 1).dataSync() as Float32Array); // (C)
    const ex: TemperatureExample = { index: best, label: labels[best], predicted: pred, why, logits: row, temperatures: ctx.temperatures ?? REPORT_TEMPERATURES };
    // Images are (N, 1, H, W) or (N, H, W); anything else (tabular rows) has no picture.
    const shape = test.x.shape.slice(1);
    const hw = shape.length === 3 && shape[0] === 1 ? shape.slice(1) : shape.length === 2 ? shape : null;
    if (hw) {
      const px = test.x.narrow(0, best, 1).dataSync() as Float32Array;
      ex.image = { width: hw[1], height: hw[0], pixels: Array.from(px, (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000) };
    }
    return ex;
  });
}

/**
 * The teacher's line on the validation-accuracy chart: its accuracy on the same validation
 * split the students are scored on when that split is given; else the test accuracy from
 * comparison.json, labelled as such.
 */
function teacherReference(ctx: ReportContext, out: RunReportData): { accuracy: number; split: 'val' | 'test' } | undefined {
  if (ctx.teacher && ctx.val) return { accuracy: evaluate.accuracy(ctx.teacher, ctx.val.x, ctx.val.y), split: 'val' };
  const row = out.comparison?.find((r) => r.role === 'teacher');
  return row ? { accuracy: row.accuracy, split: 'test' } : undefined;
}


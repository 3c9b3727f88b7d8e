// What a run report shows, as plain data (numbers, strings, arrays): `collect` fills it
// from models and files, `render` turns it into HTML without touching a model, so the
// page can be tested on hand-made data and the same data feeds the static SVG charts.
import type { ComparisonRow } from '../eval/index.js';

/** The temperatures of the temperature chart (Hinton et al. 2015 used T up to 20). */
export const REPORT_TEMPERATURES = [1, 2, 4, 10, 20];

export interface TemperatureExample {
  /** Row of the test set the example is. */
  index: number;
  /** True class and the teacher's class (equal: the example is picked among correct ones). */
  label: number;
  predicted: number;
  /** Why this example, in words ("smallest top-2 margin among 1,742 correctly classified"). */
  why: string;
  /** The teacher's logits z for this example, (C). */
  logits: number[];
  temperatures: number[];
  /** The input when it is an image: row-major values in [0, 1]. */
  image?: { width: number; height: number; pixels: number[] };
}

export interface StepPoint {
  /** Optimizer step since the start of training (the trainer's global `step`). */
  step: number;
  epoch: number;
  loss: number;
  /** Each loss component's unweighted value by key, e.g. 'hinton.hard', 'hinton.soft'. */
  parts: Record<string, number>;
}

export interface EpochPoint {
  /** 0-based, as in metrics.jsonl. */
  epoch: number;
  loss: number;
  valAccuracy: number | null;
  teacherAgreement: number | null;
}

export interface TrainingCurve {
  steps: StepPoint[];
  epochs: EpochPoint[];
}

export interface TraceItem {
  question: string;
  trace: string;
  /** The answer the teacher's trace reached, and the reference it was checked against. */
  answer?: string;
  expected?: string;
  studentAnswer?: string;
  verified: boolean;
}

export interface RunReportData {
  title: string;
  runDir: string;
  generatedAt: string;
  dataset?: string;
  numClasses?: number;
  classNames?: string[];
  /** A few settings worth a glance (teacher, student, loss, T, α), already as text. */
  settings?: Record<string, string>;
  /** comparison.json, exactly as read. */
  comparison?: ComparisonRow[];
  temperature?: TemperatureExample;
  curves?: {
    student?: TrainingCurve;
    baseline?: TrainingCurve;
    /** The teacher's accuracy as a reference line; `split` says on which data. */
    teacher?: { accuracy: number; split: 'val' | 'test' };
  };
  errors?: {
    /** The distilled student's confusion matrix on the test set: m[true][predicted]. */
    confusion: number[][];
    perClass: { student: (number | null)[]; baseline?: (number | null)[] };
  };
  traces?: { verified: TraceItem[]; rejected: TraceItem[]; counts: { verified: number; rejected: number } };
}

/**
 * softmax(z / T) and its entropy in nats, in float64: the formula of kd.softTargets and
 * kd.entropyAtT (p_i = exp(z_i/T) / Σ_j exp(z_j/T), H = −Σ p_i log p_i), done here in
 * plain JS so that rendering needs no tensors. Stable: the max logit is subtracted first.
 */
export function softenAt(logits: readonly number[], T: number): { probs: number[]; entropy: number } {
  if (!(T > 0)) throw new RangeError(`temperature must be > 0, got ${T}`);
  const m = Math.max(...logits);
  const e = logits.map((z) => Math.exp((z - m) / T));
  const s = e.reduce((a, b) => a + b, 0);
  const logS = Math.log(s);
  const probs = e.map((v) => v / s);
  // log p_i = (z_i − m)/T − log s, exact even where p_i underflows to 0.
  const entropy = -logits.reduce((acc, z, i) => acc + probs[i] * ((z - m) / T - logS), 0);
  return { probs, entropy };
}

/** One series per temperature: the probabilities the temperature chart draws. */
export function temperatureSeries(t: Pick<TemperatureExample, 'logits' | 'temperatures'>): { T: number; probs: number[]; entropy: number }[] {
  return t.temperatures.map((T) => ({ T, ...softenAt(t.logits, T) }));
}

/** Per class: student minus baseline accuracy, largest gains first; classes without samples left out. */
export function perClassDelta(student: (number | null)[], baseline: (number | null)[]): { cls: number; student: number; baseline: number; delta: number }[] {
  const out: { cls: number; student: number; baseline: number; delta: number }[] = [];
  student.forEach((s, c) => {
    const b = baseline[c];
    if (s !== null && b !== null && b !== undefined) out.push({ cls: c, student: s, baseline: b, delta: s - b });
  });
  return out.sort((a, b) => b.delta - a.delta || a.cls - b.cls);
}

/** The display name of a class: its name when the dataset has names, else its index. */
export const className = (d: Pick<RunReportData, 'classNames'>, c: number): string => d.classNames?.[c] ?? String(c);

/** A readable name for a loss part key, keeping the key itself visible. */
export function partLabel(key: string): string {
  if (key.endsWith('.hard')) return `hard CE (${key})`;
  if (key.endsWith('.soft')) return `T²·KL (${key})`;
  return key;
}

/**
 * The parts worth their own curve: a part that equals the total at every step (a lone
 * loss such as 'hinton') would draw on top of it.
 */
export function distinctParts(steps: readonly StepPoint[]): string[] {
  const keys = [...new Set(steps.flatMap((s) => Object.keys(s.parts)))];
  return keys.filter((k) => !steps.every((s) => s.parts[k] === undefined || Math.abs(s.parts[k] - s.loss) <= 1e-9 * Math.max(1, Math.abs(s.loss))));
}

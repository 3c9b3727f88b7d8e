// Reading what a run folder holds: metrics.jsonl, comparison.json, config.json and the
// optional traces.jsonl of a reasoning run. A report is read-only over the run; a damaged
// comparison.json or config.json stops it with a message naming the file.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComparisonRow } from '../eval/index.js';
import type { EpochPoint, StepPoint, TraceItem, TrainingCurve } from './data.js';

/** Lines of a JSONL file as objects; a line that does not parse (a write cut off by a kill) is skipped. */
function readJsonl(path: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      /* a partial last line */
    }
  }
  return out;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The step and epoch records of a trainer's metrics.jsonl, or undefined when the file is absent. */
export function readTrainingCurve(path: string): TrainingCurve | undefined {
  if (!existsSync(path)) return undefined;
  const steps: StepPoint[] = [];
  const byEpoch = new Map<number, EpochPoint>();
  for (const r of readJsonl(path)) {
    const epoch = num(r.epoch), loss = num(r.loss);
    if (epoch === null || loss === null) continue;
    if (r.type === 'step' && num(r.step) !== null) {
      const parts: Record<string, number> = {};
      for (const [k, v] of Object.entries((r.parts ?? {}) as Record<string, unknown>)) if (num(v) !== null) parts[k] = v as number;
      steps.push({ step: r.step as number, epoch, loss, parts });
    } else if (r.type === 'epoch') {
      // A resumed run may log an epoch again; the last record wins.
      byEpoch.set(epoch, { epoch, loss, valAccuracy: num(r.valAccuracy), teacherAgreement: num(r.teacherAgreement) });
    }
  }
  // Same for steps: keep the last record of each step number, in step order.
  const lastStep = new Map(steps.map((s) => [s.step, s]));
  return { steps: [...lastStep.values()].sort((a, b) => a.step - b.step), epochs: [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch) };
}

/**
 * comparison.json as written by eval.writeComparison, or undefined when absent. The run's
 * own table comes first; runs made by the stage commands (`distill`, `train-student`) keep
 * theirs in the stage folder.
 */
export function readComparison(runDir: string): ComparisonRow[] | undefined {
  const p = [join(runDir, 'comparison.json'), join(runDir, 'student', 'comparison.json'), join(runDir, 'baseline', 'comparison.json')].find(existsSync);
  if (!p) return undefined;
  const rows = JSON.parse(readFileSync(p, 'utf8')) as unknown;
  if (!Array.isArray(rows)) throw new Error(`${p}: expected an array of rows`);
  return rows as ComparisonRow[];
}

/** The resolved experiment (config.json) as a loose object, or undefined. */
export function readConfig(runDir: string): Record<string, unknown> | undefined {
  const p = join(runDir, 'config.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>) : undefined;
}

/** The settings a reader wants next to the numbers, as text. */
export function settingsOf(cfg: Record<string, unknown>): Record<string, string> {
  const get = (path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), cfg);
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const out: Record<string, string> = {};
  for (const [label, path] of [
    ['dataset', 'data.dataset'], ['teacher', 'teacher.arch'], ['student', 'student.arch'], ['loss', 'kd.loss'],
    ['T', 'kd.T'], ['α', 'kd.alpha'], ['teacher source', 'kd.teacher'], ['student epochs', 'student.train.epochs'], ['seed', 'seed'],
  ] as const) {
    const v = get(path);
    if (v !== undefined) out[label] = text(v);
  }
  return out;
}

const str = (r: Record<string, unknown>, ...keys: string[]): string | undefined => {
  for (const k of keys) {
    const v = r[k];
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  }
  return undefined;
};

/**
 * A reasoning run's traces.jsonl (the hook for reasoning distillation): one object per
 * teacher trace, read loosely because the reasoning layer owns the format. Recognised keys:
 * question|prompt, trace|reasoning|completion|response, answer, expected|reference|gold,
 * verified|accepted|correct (boolean), studentAnswer|student_answer.
 */
export function readTraces(runDir: string, perKind = 3): { verified: TraceItem[]; rejected: TraceItem[]; counts: { verified: number; rejected: number } } | undefined {
  const p = join(runDir, 'traces.jsonl');
  if (!existsSync(p)) return undefined;
  const verified: TraceItem[] = [], rejected: TraceItem[] = [];
  const counts = { verified: 0, rejected: 0 };
  for (const r of readJsonl(p)) {
    const ok = [r.verified, r.accepted, r.correct].find((v) => typeof v === 'boolean') as boolean | undefined;
    if (ok === undefined) continue;
    const item: TraceItem = {
      question: str(r, 'question', 'prompt') ?? '',
      trace: str(r, 'trace', 'reasoning', 'completion', 'response') ?? '',
      answer: str(r, 'answer'),
      expected: str(r, 'expected', 'reference', 'gold'),
      studentAnswer: str(r, 'studentAnswer', 'student_answer'),
      verified: ok,
    };
    counts[ok ? 'verified' : 'rejected']++;
    const list = ok ? verified : rejected;
    if (list.length < perKind) list.push(item);
  }
  return { verified, rejected, counts };
}

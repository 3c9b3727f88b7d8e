// Schedules for α and T over training progress ∈ [0, 1] (e.g. step / totalSteps):
// annealing the temperature or shifting weight from the teacher to the labels as the
// student matures (cf. "annealing KD", Jafari et al. 2021).
import * as torch from '../torch/index.js';
import type { ScheduleSpec } from './config.js';

export type Schedule = (progress: number) => number;

const KINDS = ['constant', 'linear', 'cosine'] as const;

function finite(name: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new torch.ConfigError(`${name}: '${key}' must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * A schedule from its spec:
 *   a number or { kind: 'constant', value }:  f(p) = value
 *   { kind: 'linear', from, to }:             f(p) = from + (to − from)·p
 *   { kind: 'cosine', from, to }:             f(p) = from + (to − from)·(1 − cos πp)/2
 * (cosine: flat at both ends, half-way at p = 0.5). Progress outside [0, 1] is clamped.
 * `name` (e.g. 'alpha', 'T') prefixes error messages.
 */
export function makeSchedule(spec: ScheduleSpec, name = 'schedule'): Schedule {
  if (typeof spec === 'number') {
    const v = finite(name, 'value', spec);
    return () => v;
  }
  if (spec === null || typeof spec !== 'object') throw new torch.ConfigError(`${name}: expected a number or { kind, from, to }, got ${JSON.stringify(spec)}`);
  const s = spec as Record<string, unknown>;
  const kind = s.kind;
  if (!KINDS.includes(kind as (typeof KINDS)[number]))
    throw new torch.ConfigError(`${name}: unknown schedule kind ${JSON.stringify(kind)}; valid kinds: ${KINDS.join(', ')}`);
  const allowed = kind === 'constant' ? ['kind', 'value'] : ['kind', 'from', 'to'];
  const extra = Object.keys(s).filter((k) => !allowed.includes(k));
  if (extra.length) throw new torch.ConfigError(`${name}: unknown key(s) ${extra.map((k) => `'${k}'`).join(', ')} for a '${String(kind)}' schedule; valid keys: ${allowed.join(', ')}`);
  if (kind === 'constant') {
    const v = finite(name, 'value', s.value);
    return () => v;
  }
  const from = finite(name, 'from', s.from);
  const to = finite(name, 'to', s.to);
  const shape = kind === 'linear' ? (p: number) => p : (p: number) => (1 - Math.cos(Math.PI * p)) / 2;
  return (progress: number) => {
    if (typeof progress !== 'number' || Number.isNaN(progress)) throw new torch.ConfigError(`${name}: progress must be a number in [0, 1], got ${String(progress)}`);
    const p = Math.min(1, Math.max(0, progress));
    return from + (to - from) * shape(p);
  };
}

export interface KDScheduleSpec {
  T: ScheduleSpec;
  alpha: ScheduleSpec;
}

/** Both schedules at once: progress → { T, alpha }, the context a loss from createLoss takes. */
export function makeKDSchedule(spec: KDScheduleSpec): (progress: number) => { T: number; alpha: number } {
  const T = makeSchedule(spec.T, 'T');
  const alpha = makeSchedule(spec.alpha, 'alpha');
  return (progress) => ({ T: T(progress), alpha: alpha(progress) });
}

// A "slot" is a stage the page shows: A, and B to overlay. Each has its own stream, and what
// it has received so far; the figures and chart tables below derive from that alone.
import type { MetricLine, StageInfo } from '../dashboard_api.js';

export type SlotName = 'a' | 'b';

export interface Slot {
  name: SlotName;
  /** 'run/stage', or '' when empty. */
  id: string;
  /** Chosen by the page, not the user, so it may move on to the next stage that starts. */
  auto: boolean;
  es: EventSource | null;
  steps: MetricLine[];
  epochs: MetricLine[];
  status: string | null;
  /** The stream has replayed the whole file (rendering per line before that is wasted). */
  synced: boolean;
  error: string;
  /** Date.now() at the stream's `done`. */
  doneAt: number;
}

export const newSlot = (name: SlotName): Slot =>
  ({ name, id: '', auto: false, es: null, steps: [], epochs: [], status: null, synced: false, error: '', doneAt: 0 });

export function split(id: string): { run: string; stage: string } {
  const i = id.indexOf('/');
  return { run: id.slice(0, i), stage: id.slice(i + 1) };
}

export interface SlotStats {
  status: string;
  step: number | null;
  total: number | null;
  epochs: number | null | undefined;
  epoch: number;
  sps: number | null;
  progress: number | null;
  /** Seconds left: steps left × samples per step / samples per second. */
  eta: number | null;
  val: number | null | undefined;
  loss: number | null | undefined;
}

/** Progress and ETA from the stream (fresher than the polled list, `st`). */
export function stats(s: Slot, st: Partial<StageInfo>): SlotStats {
  const last = s.steps[s.steps.length - 1], lastE = s.epochs[s.epochs.length - 1];
  const status = s.status || st.status || 'connecting';
  const spe = last ? last.stepsPerEpoch : st.stepsPerEpoch, total = spe && st.epochs ? spe * st.epochs : null;
  const step = last && last.step != null ? last.step : null;
  const rs = s.steps.slice(-5).map((l) => l.samplesPerSec ?? 0).filter((v) => v > 0).sort((x, y) => x - y);
  const sps = rs.length ? rs[Math.floor(rs.length / 2)] : null; // median: one slow interval must not swing the ETA
  return {
    status, step, total, epochs: st.epochs, epoch: lastE ? (lastE.epoch ?? 0) + 1 : 0, sps,
    progress: status === 'finished' ? 1 : total && step != null ? Math.min(1, step / total) : null,
    eta: status === 'running' && total && step != null && sps && st.samplesPerStep ? (total - step) * st.samplesPerStep / sps : null,
    val: lastE ? lastE.valAccuracy : null, loss: last ? last.loss : lastE ? lastE.loss : null,
  };
}

/** Per-step losses are noisy; 'smooth' shows a debiased exponential moving average (as TensorBoard does). */
export function ema(ys: (number | null)[], beta: number): (number | null)[] {
  let m = 0, n = 0;
  return ys.map((y) => {
    if (y == null) return null;
    m = beta * m + (1 - beta) * y;
    n++;
    return m / (1 - Math.pow(beta, n));
  });
}

/** Series names and a uPlot table: [x, y1, y2, …]. */
export interface Table {
  keys: string[];
  table: (number | null)[][];
}

/** The loss and its parts per step; x is the epoch as a fraction. */
export function lossTable(s: Slot, smooth: boolean): Table {
  let keys = ['loss'];
  s.steps.forEach((l) => { Object.keys(l.parts || {}).forEach((k) => { if (keys.indexOf(k) < 0) keys.push(k); }); });
  // A single loss reports itself as a part too (parts.hinton === loss): one line is enough.
  keys = keys.filter((k) => k === 'loss' || !s.steps.every((l) => (l.parts || {})[k] === l.loss));
  const t: (number | null)[][] = [s.steps.map((l) => (l.epoch ?? 0) + (l.stepInEpoch ?? 0) / (l.stepsPerEpoch ?? 1))];
  for (const k of keys) {
    const ys = s.steps.map((l) => { const v = k === 'loss' ? l.loss : (l.parts || {})[k]; return v == null ? null : v; });
    t.push(smooth ? ema(ys, 0.9) : ys);
  }
  return { keys: keys.map((k) => (k === 'loss' ? 'total' : k)), table: t };
}

/** Validation accuracy (and agreement with the teacher, when logged) per epoch, in %. */
export function accTable(s: Slot): Table {
  const keys = ['val accuracy'];
  const t: (number | null)[][] = [s.epochs.map((l) => (l.epoch ?? 0) + 1), s.epochs.map((l) => (l.valAccuracy == null ? null : l.valAccuracy * 100))];
  if (s.epochs.some((l) => l.teacherAgreement != null)) {
    keys.push('agreement with teacher');
    t.push(s.epochs.map((l) => (l.teacherAgreement == null ? null : l.teacherAgreement * 100)));
  }
  return { keys, table: t };
}

// Progress for long jobs: a live bar on a TTY (step, epoch, loss parts, items/s, ETA),
// one line per epoch otherwise, nothing at all with --json. Respects NO_COLOR.
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../kd/index.js';

export interface Reporter {
  /** A one-line status message (stderr, so --json stdout stays clean). */
  note(msg: string): void;
  /** A train-event handler labelled with the stage name. */
  trainer(stage: string): (e: TrainEvent) => void;
  /** A progress callback for counted work (e.g. caching teacher logits). */
  counter(label: string): (done: number, total: number) => void;
  stop(): void;
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`);

export function makeReporter(opts: { json?: boolean; quiet?: boolean } = {}): Reporter {
  const silent = !!opts.json || !!opts.quiet;
  const tty = !silent && process.stderr.isTTY;
  let bar: cliProgress.SingleBar | null = null;
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  const newBar = (format: string, total: number) => {
    stopBar();
    bar = new cliProgress.SingleBar(
      { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 5, barsize: 24 },
      process.env.NO_COLOR ? cliProgress.Presets.legacy : cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
  };
  return {
    note(msg) {
      if (silent) return;
      stopBar();
      process.stderr.write(msg + '\n');
    },
    trainer(stage) {
      let total = 0;
      let epochs = 0;
      const format = `${stage} {bar} {percentage}% | epoch {epoch} | step {value}/{total} | loss {loss} {parts}| {rate}/s | ETA {eta_formatted}`;
      return (e) => {
        if (silent) return;
        if (e.type === 'start') {
          total = e.epochs * e.stepsPerEpoch;
          epochs = e.epochs;
          if (e.resumedFrom !== null) process.stderr.write(`${stage}: resuming after epoch ${e.resumedFrom + 1}\n`);
          if (tty) newBar(format, total);
        } else if (e.type === 'step' && bar) {
          const parts = Object.entries(e.parts).map(([k, v]) => `${k.replace(/^hinton\./, '')} ${v.toFixed(3)} `).join('');
          bar.update(e.step, { epoch: e.epoch + 1, loss: e.loss.toFixed(4), parts, rate: Math.round(e.samplesPerSec) });
        } else if (e.type === 'epoch') {
          const r = e.record;
          const line = `${stage}: epoch ${r.epoch + 1} loss ${r.loss.toFixed(4)} val ${pct(r.valAccuracy)}${r.teacherAgreement !== null ? ` agree ${pct(r.teacherAgreement)}` : ''} (${r.seconds.toFixed(1)} s)`;
          if (bar) {
            (bar as cliProgress.SingleBar).stop();
            process.stderr.write(line + '\n');
            bar = null;
            if (r.epoch + 1 < epochs) newBar(format, total);
          } else process.stderr.write(line + '\n');
        } else if (e.type === 'early-stop') {
          stopBar();
          process.stderr.write(`${stage}: early stop at epoch ${e.epoch + 1}, best val ${pct(e.best)}\n`);
        }
      };
    },
    counter(label) {
      return (done, total) => {
        if (!tty) return;
        if (!bar) newBar(`${label} {bar} {value}/{total}`, total);
        bar!.update(done);
        if (done >= total) stopBar();
      };
    },
    stop: stopBar,
  };
}

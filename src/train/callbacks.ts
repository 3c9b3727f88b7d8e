// Callbacks the trainer's users share: a metrics file that a resumed run trims back to the
// checkpoint, and early stopping that keeps the best weights.
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { AnyModule } from '../nn/index.js';
import { loadSafetensors, removeStaleTempFiles, saveSafetensors, writeFileAtomic } from '../io/index.js';
import { broadcastState } from './distributed.js';
import type { EpochSummary, TrainerCallback } from './trainer.js';

/**
 * metrics.jsonl: one JSON object per line, each with an `epoch` (and `step` lines a `step`).
 * A fresh run empties it; a resumed one keeps the lines its checkpoint covers and drops what
 * the killed run logged after it (a line cut short by the kill does not parse and goes too).
 */
export class MetricsFile implements TrainerCallback {
  constructor(readonly path: string, readonly lead = true) {}

  onStart(info: { resumed: boolean; startEpoch: number; step: number }): void {
    if (!this.lead) return;
    removeStaleTempFiles(this.path);
    if (!info.resumed || !existsSync(this.path)) {
      writeFileAtomic(this.path, '');
      return;
    }
    const kept = readFileSync(this.path, 'utf8').split('\n').filter((l) => {
      try {
        const o = JSON.parse(l) as { epoch: number; step?: number; type?: string };
        return o.epoch < info.startEpoch || (o.type === 'step' && o.epoch === info.startEpoch && (o.step ?? Infinity) <= info.step);
      } catch {
        return false;
      }
    });
    writeFileAtomic(this.path, kept.map((l) => l + '\n').join(''));
  }

  append(o: object): void {
    if (this.lead) appendFileSync(this.path, JSON.stringify(o) + '\n');
  }
}

export interface EarlyStoppingOptions {
  /** The metric of EpochSummary.metrics to watch; higher is better. */
  metric: string;
  /** Stop after this many epochs without a better value; 0 = never stop, only track the best. */
  patience: number;
  model: AnyModule;
  /** Where the best weights are kept (patience > 0). */
  bestPath: string;
  /** Whether this process writes files (rank 0). */
  lead?: boolean;
  dist?: torch.ProcessGroup;
  onStop?: (epoch: number, best: number) => void;
}

/** Early stopping: the best weights are kept on disk and the run ends at them, not at its last epoch. */
export class EarlyStopping implements TrainerCallback {
  readonly name = 'earlyStopping';
  best: number | null = null;
  #bad = 0;
  readonly #o: EarlyStoppingOptions;
  constructor(o: EarlyStoppingOptions) {
    this.#o = o;
  }

  onStart(info: { resumed: boolean }): void {
    if (this.#o.lead === false) return;
    removeStaleTempFiles(this.#o.bestPath);
    if (!info.resumed) rmSync(this.#o.bestPath, { force: true });
  }

  onEpochEnd(e: EpochSummary): boolean {
    const v = e.metrics[this.#o.metric];
    if (v === null || v === undefined) return false;
    const better = this.best === null || v > this.best;
    if (this.#o.patience === 0) {
      if (better) this.best = v;
      return false;
    }
    if (better) {
      this.best = v;
      this.#bad = 0;
      if (this.#o.lead !== false) saveSafetensors(this.#o.bestPath, this.#o.model.stateDict(), { epoch: String(e.epoch), [this.#o.metric]: String(v) });
      return false;
    }
    if (++this.#bad < this.#o.patience) return false;
    this.#o.onStop?.(e.epoch, this.best!);
    return true;
  }

  onEnd(): void {
    if (this.#o.patience === 0) return;
    if (this.#o.lead !== false && existsSync(this.#o.bestPath)) {
      const { tensors } = loadSafetensors(this.#o.bestPath);
      this.#o.model.loadStateDict(tensors);
      for (const t of Object.values(tensors)) t.dispose();
    }
    if (this.#o.dist) broadcastState(this.#o.dist, Object.values(this.#o.model.stateDict())); // rank 0 read the file
  }

  state(): unknown {
    return { best: this.best, badEpochs: this.#bad };
  }
  loadState(s: unknown): void {
    const st = s as { best: number | null; badEpochs: number };
    this.best = st.best;
    this.#bad = st.badEpochs;
  }
}

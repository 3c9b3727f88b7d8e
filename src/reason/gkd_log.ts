// The on-policy run's record of what it paid for: per step, the completions it trained on
// (the student's samples, or the teacher's for sequence-level KD) and, for a teacher that grades
// by top-k (a server), those grades. It lives next to the checkpoint; a resumed run replays the
// steps after the checkpoint from it instead of sampling and grading again.
//
// Append-only JSONL, one line per step written with one write(2) and fdatasync'ed, like
// traces.jsonl (reason/traces/trace_log.ts): a kill leaves at worst a torn last line, which
// `open` cuts away. The first line is a header holding the run's recipe; a log of another
// recipe, or with a damaged line, is discarded, never replayed (its steps are sampled again,
// to the same result: the log only saves the work).
import fs from 'node:fs';
import * as torch from '../torch/index.js';

export interface GkdLogRecord {
  step: number;
  /** Where the completions came from: the student (on-policy), the teacher (sequence-level KD) or the dataset. */
  source: 'student' | 'teacher' | 'dataset';
  /** The completion of each batch row (null: the dataset's own, not stored). */
  completions: number[][] | null;
  /** Student samples dropped as empty (only an end-of-sequence token). */
  skipped: number;
  /** Top-k grades of the completion tokens, in the batch's row order (a top-k teacher only). */
  grades?: { ids: number[][]; logprobs: number[][] };
}

export class GkdLog {
  readonly path: string;
  readonly records = new Map<number, GkdLogRecord>();
  #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Opens the log of a run with `recipe`: replays a matching one (minus a torn last line), starts anew otherwise. */
  static open(path: string, recipe: unknown, o: { fresh: boolean }): GkdLog {
    const header = JSON.stringify({ gkdLog: 1, recipe });
    let keep = o.fresh ? '' : fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : '';
    const lines = keep.split('\n');
    const complete = lines.slice(0, -1); // what follows the last '\n' is empty, or a line torn by a kill
    let records: GkdLogRecord[] = [];
    try {
      if (complete[0] === header) records = complete.slice(1).map((l) => JSON.parse(l) as GkdLogRecord);
      else keep = '';
    } catch {
      keep = ''; // a damaged line: the log is only a saving (the steps replay the same), so start it anew
      records = [];
    }
    keep = keep ? complete.map((l) => l + '\n').join('') : header + '\n';
    fs.writeFileSync(path, keep); // cut a torn line / replace another run's log before appending
    const log = new GkdLog(path, fs.openSync(path, 'a'));
    for (const r of records) log.records.set(r.step, r);
    return log;
  }

  append(r: GkdLogRecord): void {
    const line = Buffer.from(JSON.stringify(r) + '\n', 'utf8');
    let off = 0;
    while (off < line.length) off += fs.writeSync(this.#fd, line, off, line.length - off);
    fs.fdatasyncSync(this.#fd);
    this.records.set(r.step, r);
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** Top-k grades (N, k) as JSON arrays; float32 values survive the round trip exactly. */
export function gradesToJson(g: { ids: torch.Tensor; logprobs: torch.Tensor }): { ids: number[][]; logprobs: number[][] } {
  const [N, k] = g.ids.shape;
  const ids = Array.from(g.ids.dataSync() as BigInt64Array, Number);
  const lps = Array.from(g.logprobs.toDtype('float32').dataSync() as Float32Array);
  return { ids: Array.from({ length: N }, (_, i) => ids.slice(i * k, (i + 1) * k)), logprobs: Array.from({ length: N }, (_, i) => lps.slice(i * k, (i + 1) * k)) };
}

export function gradesFromJson(g: { ids: number[][]; logprobs: number[][] }): { ids: torch.Tensor; logprobs: torch.Tensor } {
  const N = g.ids.length, k = g.ids[0]?.length ?? 0;
  return {
    ids: torch.tensor(BigInt64Array.from(g.ids.flat(), BigInt), { shape: [N, k] }),
    logprobs: torch.tensor(Float32Array.from(g.logprobs.flat()), { shape: [N, k] }),
  };
}

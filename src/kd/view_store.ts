// The teacher's logits on replayed views (TrainConfig.viewEpochs), kept on disk.
//
// With kd.viewEpochs = K the live teacher labels K epochs of views (order, augmentation,
// mixup) and the trainer replays them. Those views are a pure function of (teacher, data,
// seed, batch size, augmentation, mixup), not of the student's recipe, so their logits are
// worth keeping, as FKD (Shen & Xing 2022) keeps its region-level soft labels:
//   - a resumed run reads them back instead of running the teacher again;
//   - another student recipe (lr, α, T, weight decay, more epochs) on the same views pays
//     nothing for the teacher.
// One file per view epoch, `<dir>/view-logits-<key>-e<epoch>.safetensors`:
//   logits  (N, C) float32, the epoch's batches concatenated in order
//   sizes   (B,) int64, each batch's row count, to split them back
// The key is the caller's (cli/pipeline.ts: teacher weights, data, seed, batch size, views);
// a file whose metadata carries another key, or that does not parse, counts as absent and is
// rewritten atomically.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadSafetensors, saveSafetensors } from '../io/index.js';

const FORMAT = 'distill-view-logits/1';

export class ViewLogitsStore {
  constructor(readonly dir: string, readonly key: string) {}

  path(viewEpoch: number): string {
    return join(this.dir, `view-logits-${this.key}-e${viewEpoch}.safetensors`);
  }

  /** View epoch `viewEpoch`'s logits, one kept tensor per batch; null when not stored (or unreadable, or another key's). */
  load(viewEpoch: number): Tensor[] | null {
    const path = this.path(viewEpoch);
    if (!existsSync(path)) return null;
    let content: ReturnType<typeof loadSafetensors>;
    try {
      content = loadSafetensors(path);
    } catch {
      return null; // truncated or corrupt: the teacher labels the epoch again and the file is rewritten
    }
    const { tensors, metadata } = content;
    const ok = metadata.format === FORMAT && metadata.key === this.key && tensors.logits?.shape.length === 2 && tensors.sizes?.shape.length === 1;
    const sizes = ok ? (tensors.sizes.toArray() as number[]) : [];
    const batches = ok && sizes.reduce((a, b) => a + b, 0) === tensors.logits.shape[0]
      ? torch.tidy(() => tensors.logits.splitWithSizes(sizes, 0).map((t) => torch.keep(t.contiguous())))
      : null;
    for (const t of Object.values(tensors)) t.dispose();
    return batches;
  }

  /** Writes one view epoch's logits (one tensor per batch, in order) atomically; the tensors are not freed. */
  save(viewEpoch: number, batches: Tensor[]): void {
    mkdirSync(this.dir, { recursive: true });
    torch.tidy(() => {
      const logits = torch.cat(batches, 0);
      const sizes = torch.tensor(batches.map((b) => b.shape[0]), { dtype: 'int64' });
      saveSafetensors(this.path(viewEpoch), { logits, sizes }, { format: FORMAT, key: this.key, viewEpoch: String(viewEpoch) });
    });
  }
}

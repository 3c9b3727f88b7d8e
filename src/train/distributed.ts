// Data parallelism for the trainer (train/trainer.ts), on a torch ProcessGroup (Gloo over TCP).
//
// The recipe is PyTorch DDP's, written as a few explicit calls:
//  - start: every rank takes rank 0's weights (broadcastState), so replicas begin equal;
//  - step:  each rank backprops its own shard's batch, then ONE allreduce sums a flat
//           buffer holding every gradient plus the rank's sample count (allreduceGradients).
//           Dividing the summed gradients by the summed count gives the mean over the
//           global batch — exact even when the ranks' last batches differ in size, where
//           DDP's fixed 1/worldSize averaging is not. Gloo leaves every rank with the same
//           bits, so identical optimizer steps keep the replicas identical without ever
//           sending weights again;
//  - files: rank 0 alone writes checkpoints, metrics and best weights; decisions that
//           depend on files (resume or not) are taken by rank 0 and broadcast (agree).
import * as torch from '../torch/index.js';
import type { Tensor, ProcessGroup } from '../torch/index.js';

/** Overwrites `tensors` (parameters, buffers) on every rank with rank 0's values. */
export function broadcastState(group: ProcessGroup, tensors: Tensor[]): void {
  group.broadcast(tensors, 0);
}

/**
 * Sums every parameter's gradient and the sample counts over all ranks in one collective;
 * returns the global sample count. A parameter without a gradient on this rank gets zeros,
 * so every rank sends a buffer of the same layout.
 */
export function allreduceGradients(group: ProcessGroup, params: Tensor[], localSamples: number): number {
  return torch.tidy(() => {
    const grads: Tensor[] = [];
    for (const p of params) {
      let g = p.grad;
      if (!g) {
        p.grad = torch.zerosLike(p);
        g = p.grad!;
      }
      grads.push(g);
    }
    // Bucketed by dtype (at most 25 MiB each, native/dist.cc): the count rides with the float32 grads.
    const count = torch.tensor([localSamples], { dtype: grads[0]?.dtype === 'float64' ? 'float64' : 'float32' });
    group.allreduce([...grads, count]);
    return Math.round(count.item());
  });
}

/** Sums named numbers over all ranks (float64, so counts and loss sums stay exact enough). */
export function allreduceSums(group: ProcessGroup, values: Record<string, number>): Record<string, number> {
  const keys = Object.keys(values).sort(); // the same layout on every rank
  if (!keys.length) return {};
  return torch.tidy(() => {
    const t = torch.tensor(keys.map((k) => values[k]), { dtype: 'float64' });
    group.allreduce([t]);
    const out = t.dataSync() as Float64Array;
    return Object.fromEntries(keys.map((k, i) => [k, out[i]]));
  });
}

/** Rank 0's value of `value` on every rank (decisions rank 0 takes from its files). */
export function agree(group: ProcessGroup, value: number): number {
  return torch.tidy(() => {
    const t = torch.tensor([value], { dtype: 'float64' });
    group.broadcast([t], 0);
    return t.item();
  });
}

/** Rows [start, end) of n that rank `rank` of `worldSize` owns in a contiguous split (teacher cache shards). */
export function shardRange(n: number, rank: number, worldSize: number): { start: number; end: number } {
  const per = Math.ceil(n / worldSize);
  const start = Math.min(n, rank * per);
  return { start, end: Math.min(n, start + per) };
}

// The LM head and its loss over chunks of tokens, so that no [tokens × vocab] tensor
// exists at once (Liger-Kernel's fused linear cross-entropy / fused linear JSD, done
// with libtorch ops). At vocab 151,936 the full float32 logits of 1,024 tokens are
// 622 MB, and autograd keeps four tensors of that size at its peak.
//
//   L = α · CE(target, s) + (1 − α) · T² · KL(p_teacher^T ‖ p_student^T),   s = h·Wᵀ
//
// as tokenKdLoss (src/kd/token_kd.ts) on the full logits: CE is the mean over the
// tokens whose target is not −100; KL is the mean over the teacher's rows (top-k teacher)
// or over the same tokens as CE (live teacher). Each chunk's share is already divided by
// these GLOBAL counts, so the chunks' shares sum to the means.
//
// Reverse pass, per chunk (no custom autograd node): g = dL/ds_c (n, V) is written by hand
// for CE, g = (softmax(s_c) − onehot(t))/N_valid, and for forward KL against a live teacher,
// T·(softmax(s_c/T) − p_teacher^T)/N_kd, freeing each (n, V) step as it goes; for a top-k
// teacher or a divergence hook the chunk's logits are made a leaf and autograd runs only
// the loss part, leaving g in s_c.grad. The head's two matmuls are differentiated by hand:
//   dL/dh_c = g·W            (n, d)
//   dL/dW  += gᵀ·h_c         (V, d), accumulated in place into weight.grad by one
//                            gemm (addmm_), so no second (V, d) tensor appears.
// The hidden rows' gradients are gathered into one (N, d) tensor and handed to
// `hidden.backward(...)` once at the end: for a leaf that accumulates into hidden.grad,
// for a view of a leaf (`h.view([-1, d])` of forwardBackward's (B, T, d) leaf) the
// gradient flows through the view into h.grad, and for any other graph (a model's
// output) it runs that graph's backward once.
//
// Mixed precision: under autocast (or with a bfloat16 head weight) the head's matmuls run in
// that low precision, as PyTorch's autocast linear does, and everything else in float32:
// each chunk's logits are upcast before the loss (HF's `logits.float()`), g is cast down for
// the two gradient products, dL/dW is accumulated in the weight's dtype (float32 master
// weights), and dL/dh returns in the hidden states' dtype. Backward passes run outside autocast.
//
// Only the rows that carry a loss (target ≠ −100, or a teacher row) go through the
// head at all: prompt tokens cost nothing, and their hidden gradient is 0.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { LossResult } from '../nn/index.js';
import { bucketKL } from './bucket_kl.js';

/**
 * Loss rows per chunk by default, chosen by measurement (bench/chunked_loss.ts, vocab
 * 151,936, d 896, 1,024 tokens, CE, one thread; CPU time per step against the unchunked
 * loss's 7.7 s): chunks of 128 cost 1.11×, 256 1.06×, 512 1.04×, 1,024 1.03×. Memory grows
 * with the chunk (about two (chunk, V) float tensors at the peak: 350 MB of peak RSS at
 * 256 against 2.49 GB unchunked, with a frozen head); below 256 each chunk's pass over the
 * (V, d) weight gradient and the smaller matrix products cost more than the memory saves.
 */
export const DEFAULT_CHUNK_SIZE = 256;

/** A teacher known by its top-k: token ids (N, k) int64 and their log-probabilities (N, k) at T = 1 (what an LLM server returns). */
export interface TopkTeacher {
  ids: Tensor;
  logprobs: Tensor;
}
/** A top-k teacher for some positions only: `rows` (N_t) int64 indexes the positions its rows grade. */
export interface TopkTeacherRows extends TopkTeacher {
  rows: Tensor;
}
export interface LiveTeacher {
  hidden: Tensor;
  weight: Tensor;
}

export interface ChunkedLossOptions {
  /** Weight of CE; the KD weight is 1 − alpha (default 1 = CE only). */
  alpha?: number;
  /** KD temperature (default 1); the KD term is scaled by T² like tokenKdLoss. */
  T?: number;
  /** Loss rows per chunk (default DEFAULT_CHUNK_SIZE). */
  chunkSize?: number;
  /** Multiply the loss by this before backward (the Trainer's weight); default 1. */
  scale?: number;
  /** Default true: accumulate gradients into hidden (its .grad or its graph) and weight.grad. Teachers get none. */
  backward?: boolean;
  /**
   * top-k teacher: rows (N_t) int64 index into the N positions, ids (N_t, k) int64 and
   * logprobs (N_t, k) — as tokenKdLoss' teacher. Or a live teacher: its final hidden
   * states (N, d_t) for the same positions and its head weight (V, d_t); its logits are
   * computed chunk by chunk without autograd.
   */
  teacher?: TopkTeacherRows | LiveTeacher;
  /**
   * Live teacher only: the divergence per chunk instead of forward KL. Gets the chunk's
   * student and teacher logits already divided by T, (n, V) each, and returns the MEAN
   * over the n rows (as kd's tokenDivergence does); it is scaled by T² like the default.
   */
  divergence?: (student: Tensor, teacher: Tensor) => Tensor;
}

const isTopk = (t: TopkTeacherRows | LiveTeacher): t is TopkTeacherRows => 'rows' in t;
const fmt = (t: Tensor) => `[${t.shape.join(', ')}]`;

/**
 * The LM loss of hidden (N, d) through the head weight (V, d) against target (N) int64
 * (−100 = no loss), in chunks; with o.backward (default) also its gradients, as
 * `tokenKdLoss(hidden·Wᵀ, target, teacher, {alpha, T}).loss.mul(scale).backward()`.
 *
 * `hidden` may be a leaf requiring grad, a view of one (forwardBackward's (B, T, d)
 * leaf: pass `h.view([-1, d])` or `h.reshape([-1, d])` and the gradient lands in h.grad),
 * or any tensor with a graph behind it (its backward runs once, at the end).
 *
 * In a Trainer, the loss and its reverse pass run together in LossOutput.backward:
 *   const loss = torch.zeros([]);
 *   return { loss, weight, backward: (scale) =>
 *     void loss.fill_(forwardBackward(model, ids, (h) => chunkedLmLoss(h.view([-1, d]), model.headWeight, target, { scale })).loss) };
 */
export function chunkedLmLoss(hidden: Tensor, weight: Tensor, target: Tensor, o: ChunkedLossOptions = {}): LossResult<number> {
  const op = 'chunkedLmLoss';
  const alpha = o.alpha ?? 1;
  const T = o.T ?? 1;
  const chunk = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const scale = o.scale ?? 1;
  if (!(alpha >= 0 && alpha <= 1)) throw new torch.ConfigError(`${op}: alpha must be in [0, 1], got ${String(alpha)}`);
  if (!(Number.isFinite(T) && T > 0)) throw new torch.ConfigError(`${op}: temperature T must be a finite number > 0, got ${String(T)}`);
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new torch.ConfigError(`${op}: chunkSize must be an integer ≥ 1, got ${String(chunk)}`);
  if (!Number.isFinite(scale)) throw new torch.ConfigError(`${op}: scale must be a finite number, got ${String(scale)}`);
  const shapes = `hidden=${fmt(hidden)}, weight=${fmt(weight)}, target=${fmt(target)}`;
  if (hidden.ndim !== 2 || weight.ndim !== 2 || hidden.shape[1] !== weight.shape[1])
    throw new torch.ShapeError('ERR_SHAPE', op, 'expected hidden (N, d) and weight (V, d); reshape (B, T, d) hidden with .view([-1, d])', shapes);
  const [N] = hidden.shape;
  const V = weight.shape[0];
  if (target.numel !== N) throw new torch.ShapeError('ERR_SHAPE', op, `target must hold one id per hidden row (${N})`, shapes);
  if (target.dtype !== 'int64') throw new torch.DTypeError('ERR_DTYPE', op, `target must be int64, got ${target.dtype}`, shapes);

  const teacher = o.teacher && alpha < 1 ? o.teacher : null; // tokenKdLoss ignores the teacher at α = 1
  if (teacher) checkTeacher(op, teacher, N, V);
  if (o.divergence && teacher && isTopk(teacher)) throw new torch.ConfigError(`${op}: a divergence hook needs a live teacher (full logits); a top-k teacher uses the bucketed forward KL`);

  // Which rows carry a loss, in position order; everything is indexed on the CPU once.
  const tgt = Array.from(target.dataSync() as BigInt64Array, Number); // (N), in row-major order whatever target's shape
  const topRows = teacher && isTopk(teacher) ? Array.from(teacher.rows.dataSync() as BigInt64Array, Number) : [];
  for (const r of topRows) if (!(r >= 0 && r < N)) throw new torch.ConfigError(`${op}: teacher row ${r} is outside the ${N} positions`);
  const isTeacherRow = new Uint8Array(N);
  for (const r of topRows) isTeacherRow[r] = 1;
  const needed: number[] = []; // positions through the head, ascending
  const slot = new Int32Array(N).fill(-1); // position → index in `needed`
  let nValid = 0;
  for (let i = 0; i < N; i++) {
    const valid = tgt[i] !== -100;
    if (valid) nValid++;
    if (valid || isTeacherRow[i]) {
      slot[i] = needed.length;
      needed.push(i);
    }
  }
  const nKd = !teacher ? 0 : isTopk(teacher) ? topRows.length : nValid;
  // The teacher entries of each chunk: entry j (its row's slot s) belongs to chunk ⌊s/chunk⌋.
  const entriesOf = new Map<number, number[]>();
  topRows.forEach((r, j) => {
    const c = Math.floor(slot[r] / chunk);
    const list = entriesOf.get(c);
    if (list) list.push(j);
    else entriesOf.set(c, [j]);
  });

  const wantGrad = o.backward !== false && (hidden.requiresGrad || weight.requiresGrad);
  const dev = hidden.device;
  const index = (v: number[], device = dev) => onDevice(torch.tensor(BigInt64Array.from(v, BigInt)), device);
  // Rows of a CPU-side tensor (targets, a batch's top-k teacher) brought to the hidden states' device.
  const pick = (t: Tensor, rows: number[]) => onDevice(t.indexSelect(0, index(rows, t.device)), dev);
  let ceSum = 0;
  let kdSum = 0; // Σ over KD rows of the divergence × T² (not yet divided by nKd)
  const gradRows: Tensor[] = []; // dL/dh for the `needed` rows, chunk by chunk
  // The head's compute dtype: autocast's when it is on, else the weight's own (float32 normally).
  const amp = torch.autocastState();
  const cd = amp.enabled && torch.isFloating(weight.dtype) ? amp.dtype : weight.dtype;
  const run = () => {
    const W = as(weight.detach(), cd); // (V, d), cast once for all chunks
    const Wt = W.transpose(0, 1); // (d, V)
    // A leaf weight accumulates in place into its .grad; another graph gets its gradient at the end.
    // Made by the first chunk's product when there is none yet (no zero-filled pass).
    const existing = wantGrad && weight.requiresGrad && weight.isLeaf ? weight.grad : null;
    let gradW: Tensor | null = existing ? torch.keep(existing) : null; // disposed by hand below, like the one made here
    for (let start = 0, c = 0; start < needed.length; start += chunk, c++) {
      const rowsC = needed.slice(start, start + chunk);
      const parts = torch.tidy(() => {
        const h = as(pick(hidden.detach(), rowsC), cd); // (n, d)
        const logits = torch.noGrad(() => float32(h.mm(Wt))); // (n, V), float32 for the loss
        const { g: g32, ce, kd } = !teacher ? crossEntropyByHand(logits, rowsC)
          : !isTopk(teacher) && !o.divergence ? forwardKlByHand(logits, teacher, rowsC)
          : viaAutograd(logits, c, rowsC);
        if (!g32) return { ce, kd, dh: null };
        const g = as(g32, cd); // (n, V) in the matmuls' dtype
        if (g !== g32) g32.dispose();
        if (weight.requiresGrad) {
          if (gradW && gradW.dtype === cd) gradW.addmm_(g.transpose(0, 1), h); // (V, d) += gᵀ·h_c, in place
          else if (gradW) gradW.add_(g.transpose(0, 1).mm(h)); // a low-precision product into the float32 master's gradient
          else {
            gradW = torch.keep(as(g.transpose(0, 1).mm(h), weight.dtype)); // (V, d)
            if (weight.isLeaf) weight.grad = gradW;
          }
        }
        return { ce, kd, dh: hidden.requiresGrad ? as(g.mm(W), hidden.dtype) : null }; // (n, d)
      });
      ceSum += parts.ce;
      kdSum += parts.kd;
      if (parts.dh) gradRows.push(parts.dh);
      else if (wantGrad && hidden.requiresGrad) gradRows.push(onDevice(torch.zeros([rowsC.length, hidden.shape[1]], hidden.dtype), dev));
    }
    if (gradW && !weight.isLeaf) torch.noAutocast(() => weight.backward(gradW!));
    gradW?.dispose(); // the handle only: a leaf's .grad keeps the storage
    if (wantGrad && hidden.requiresGrad && needed.length > 0) {
      torch.tidy(() => {
        const dh = gradRows.length === 1 ? gradRows[0] : torch.cat(gradRows, 0); // (n_needed, d)
        const full = needed.length === N
          ? dh
          : torch.zerosLike(hidden.detach()).scatter(0, index(needed).unsqueeze(1).expand([needed.length, hidden.shape[1]]), dh); // (N, d)
        torch.noAutocast(() => hidden.backward(full));
      });
    }
  };

  /**
   * CE alone (no teacher: every row of the chunk has a target), with its gradient written
   * by hand: g = (softmax(s) − onehot(t))·scale/N_valid. Autograd would hold four (n, V)
   * tensors at its peak (logits, log-softmax, the NLL gradient, the result); this holds two.
   */
  const crossEntropyByHand = (logits: Tensor, rowsC: number[]): { g: Tensor | null; ce: number; kd: number } => torch.noGrad(() => {
    const t = pick(target.reshape([-1]), rowsC).unsqueeze(1); // (n, 1)
    // Each step frees its input (tidy would only at the chunk's end): never more than two (n, V) floats.
    const logp = logits.logSoftmax(1); // (n, V); logsumexp would make two temporaries of this size
    logits.dispose();
    const ce = -logp.gather(1, t).sum().item(); // Σ −log softmax(s)_t
    if (!wantGrad) return { g: null, ce, kd: 0 };
    const g = logp.exp(); // (n, V): softmax(s)
    logp.dispose();
    subOnehot(g, t).mul_(scale / nValid);
    return { g, ce, kd: 0 };
  });

  /**
   * CE and forward KL against a live teacher (every row is a valid token), gradient by hand:
   *   g = scale·[α/N_valid·(softmax(s) − onehot(t)) + (1 − α)·T/N_kd·(softmax(s/T) − softmax(z/T))]
   * since d/ds T²·KL(p ‖ softmax(s/T)) = T·(softmax(s/T) − p). About five (n, V) tensors
   * at the peak; autograd's path holds twice that.
   */
  const forwardKlByHand = (logits: Tensor, t: LiveTeacher, rowsC: number[]): { g: Tensor | null; ce: number; kd: number } => torch.noGrad(() => {
    const tgtC = pick(target.reshape([-1]), rowsC).unsqueeze(1); // (n, 1)
    const logp = logits.logSoftmax(1); // (n, V) log softmax(s)
    const ce = -logp.gather(1, tgtC).sum().item();
    const lq = T === 1 ? logp : logSoftAt(logits, T); // (n, V) log softmax(s/T)
    logits.dispose();
    const teacherLogits = float32(pick(t.hidden.detach(), rowsC).mm(t.weight.detach().transpose(0, 1))); // (n, V)
    const lp = logSoftAt(teacherLogits, T); // (n, V) log p_teacher^T
    teacherLogits.dispose();
    const pt = lp.exp();
    const diff = lp.sub(lq);
    lp.dispose();
    const kd = diff.mul_(pt).sum().item() * T * T; // Σ rows T²·KL(p_T ‖ q)
    diff.dispose();
    if (!wantGrad) return { g: null, ce, kd };
    const q = lq.exp(); // softmax(s/T)
    if (lq !== logp) lq.dispose();
    q.sub_(pt).mul_(((1 - alpha) * T * scale) / nKd);
    pt.dispose();
    const g = logp.exp(); // softmax(s)
    logp.dispose();
    subOnehot(g, tgtC).mul_((alpha * scale) / nValid).add_(q);
    q.dispose();
    return { g, ce, kd };
  });

  /** g[i, t_i] −= 1 in place (a bool mask: a quarter of a float (n, V)); returns g. */
  const subOnehot = (g: Tensor, t: Tensor): Tensor => {
    const none = onDevice(torch.zeros(g.shape as number[], 'bool'), dev);
    const onehot = none.scatterValue(1, t, true); // (n, V) bool
    none.dispose();
    g.add_(onehot, -1);
    onehot.dispose();
    return g;
  };

  /** The chunk's loss through autograd on its logits (a leaf): g = dL/ds_c·scale. */
  const viaAutograd = (logits: Tensor, c: number, rowsC: number[]): { g: Tensor | null; ce: number; kd: number } => {
    if (wantGrad) logits.requiresGrad_();
    const { loss, ce, kd } = torch.enableGrad(() => chunkLoss(logits, c, rowsC));
    if (!wantGrad || !loss) return { g: null, ce, kd };
    torch.noAutocast(() => loss.backward(onDevice(torch.full([], scale, logits.dtype), dev)));
    return { g: logits.grad!, ce, kd }; // (n, V)
  };

  /** One chunk's loss share (a scalar tensor, null when nothing in it is differentiated) and its parts as numbers. */
  const chunkLoss = (logits: Tensor, c: number, rowsC: number[]): { loss: Tensor | null; ce: number; kd: number } => {
    const terms: Tensor[] = []; // the differentiated shares, each already weighted
    // CE: Σ over the chunk's valid tokens, divided by the global count.
    const ceC = torch.crossEntropy(logits, pick(target.reshape([-1]), rowsC), { reduction: 'sum', ignoreIndex: -100 });
    const ce = ceC.item();
    if (nValid > 0 && alpha > 0) terms.push(ceC.mul(alpha / nValid));
    let kd = 0;
    if (teacher && nKd > 0) {
      const kdC = isTopk(teacher) ? topkShare(logits, teacher, entriesOf.get(c), rowsC) : liveShare(logits, teacher, rowsC);
      if (kdC) {
        kd = kdC.item();
        terms.push(kdC.mul((1 - alpha) / nKd));
      }
    }
    const loss = terms.length === 0 ? null : terms.length === 1 ? terms[0] : terms[0].add(terms[1]);
    return { loss, ce, kd };
  };

  /** Σ over the chunk's teacher entries of T²·KL_buckets (bucket_kl.ts; log-probabilities, so logZ = 0). */
  const topkShare = (logits: Tensor, t: TopkTeacherRows, entries: number[] | undefined, rowsC: number[]): Tensor | null => {
    if (!entries) return null;
    const local = index(entries.map((j) => slot[topRows[j]] - slot[rowsC[0]])); // row of each entry inside the chunk
    return bucketKL(logits.indexSelect(0, local), pick(t.ids, entries), pick(t.logprobs, entries), T, { reduction: 'sum' });
  };

  /**
   * Σ over the chunk's rows of T²·KL(p_T^T ‖ p_S^T) (or T²·n·divergence) against the live
   * teacher's logits. With a live teacher the head's rows are exactly the valid tokens.
   */
  const liveShare = (logits: Tensor, t: LiveTeacher, rowsC: number[]): Tensor => {
    const teacherLogits = torch.noGrad(() => float32(pick(t.hidden.detach(), rowsC).mm(t.weight.detach().transpose(0, 1) /* a view, no copy */))); // (n, V)
    const sT = T === 1 ? logits : logits.div(T);
    const tT = T === 1 ? teacherLogits : teacherLogits.div(T);
    if (o.divergence) return o.divergence(sT, tT).mul(T * T * logits.shape[0]);
    const lp = torch.noGrad(() => tT.logSoftmax(-1));
    return torch.klDiv(sT.logSoftmax(-1), lp, { reduction: 'sum', logTarget: true }).mul(T * T);
  };

  torch.tidy(run);
  // As tokenKdLoss's parts (NaN where a mean is over no rows, as PyTorch's): hard = mean CE over
  // the tokens whose target is not −100, soft = mean T²·KL (or divergence), absent without KD.
  const hard = nValid > 0 ? ceSum / nValid : NaN;
  if (!teacher) return { loss: hard, parts: { hard } };
  const soft = nKd > 0 ? kdSum / nKd : NaN;
  return { loss: alpha * hard + (1 - alpha) * soft, parts: { hard, soft } };
}

function checkTeacher(op: string, t: TopkTeacherRows | LiveTeacher, N: number, V: number): void {
  if (isTopk(t)) {
    const shapes = `rows=${fmt(t.rows)}, ids=${fmt(t.ids)}, logprobs=${fmt(t.logprobs)}`;
    const Nt = t.rows.shape[0];
    if (t.rows.ndim !== 1 || t.ids.ndim !== 2 || t.ids.shape[0] !== Nt || t.logprobs.ndim !== 2 || t.logprobs.shape[0] !== Nt || t.logprobs.shape[1] !== t.ids.shape[1])
      throw new torch.ShapeError('ERR_SHAPE', op, 'expected teacher rows (N_t), ids and logprobs (N_t, k)', shapes);
    if (t.rows.dtype !== 'int64' || t.ids.dtype !== 'int64') throw new torch.DTypeError('ERR_DTYPE', op, 'teacher rows and ids must be int64', shapes);
    if (t.ids.shape[1] > V) throw new torch.ConfigError(`${op}: the teacher gives ${t.ids.shape[1]} alternatives per token but the student's vocabulary has ${V}`);
  } else {
    const shapes = `teacher hidden=${fmt(t.hidden)}, teacher weight=${fmt(t.weight)}`;
    if (t.hidden.ndim !== 2 || t.weight.ndim !== 2 || t.hidden.shape[0] !== N || t.hidden.shape[1] !== t.weight.shape[1])
      throw new torch.ShapeError('ERR_SHAPE', op, `expected teacher hidden (${N}, d_t) and weight (V, d_t)`, shapes);
    if (t.weight.shape[0] !== V) throw new torch.ShapeError('ERR_SHAPE', op, `the teacher's vocabulary (${t.weight.shape[0]}) differs from the student's (${V})`, shapes);
  }
}

/** log softmax(z/T) over the last dimension, freeing the z/T it makes. */
function logSoftAt(z: Tensor, T: number): Tensor {
  if (T === 1) return z.logSoftmax(-1);
  const zT = z.div(T);
  const out = zT.logSoftmax(-1);
  zT.dispose();
  return out;
}

/** `t` in dtype `d`: itself when it already is, else a cast copy. */
function as(t: Tensor, d: torch.DType): Tensor {
  return t.dtype === d ? t : t.toDtype(d);
}

/** float32 logits for the loss math, freeing a low-precision product once upcast. */
function float32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  const f = t.toDtype('float32');
  t.dispose();
  return f;
}

/** A tensor made on the CPU, moved to `device` when that is elsewhere. */
function onDevice(t: Tensor, device: string): Tensor {
  return device === 'cpu' ? t : t.to(device);
}

// One training forward + backward of a CausalLM with the head's loss supplied by the
// caller, optionally with activation checkpointing per block (Chen et al. 2016, PyTorch's
// torch.utils.checkpoint): the forward runs the blocks without a graph, keeping only each
// block's input (B, T, d); the reverse pass recomputes one block at a time with a graph and
// backpropagates through it. Memory for activations drops from L blocks' worth of
// saved tensors to L inputs plus one block's; the price is a second forward of the blocks.
// Forward hooks on the blocks then run twice, the first time on outputs without a graph:
// a feature-KD loss that reads block outputs through hooks needs checkpointing off.
//
// Under autocast (mixed precision) the forward and every recomputation run in the autocast
// state of the call, and every backward pass outside it, as torch.utils.checkpoint does
// (its recomputation re-enters the forward's autocast state; backward is not autocast).
//
// The head gets the final hidden states as a leaf, so it may compute its loss however it
// likes (full logits, a chunked loss) and call backward itself; its gradient on that leaf
// is then sent back through the norm, the blocks and the embedding.
//
// In a Trainer's computeLoss the whole step runs here, scaled by the weight it returns,
// and its LossOutput.backward has nothing left to do:
//   const loss = forwardBackward(model, b.input, (h) => {
//     const l = lossOf(model.head(h), b.target);  // or chunkedLmLoss(h.view([-1, d]), model.headWeight, …)
//     l.mul(weight).backward();
//     return l.detach();  // detached: a returned graph would keep the logits alive
//   }, { checkpointing, positions: b.positions, segments: b.segments });
//   return { loss, weight, backward: () => {} };
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { CausalLM, ForwardOptions } from './model.js';

export interface ForwardBackwardOptions extends ForwardOptions {
  /** Recompute each block during the reverse pass instead of keeping its activations. Default false. */
  checkpointing?: boolean;
}

/**
 * Runs `model` on ids (B, T), hands `head` the final hidden states (B, T, d) as a leaf that
 * requires grad, and after `head` returns, backpropagates `hidden.grad` (which `head` must
 * have produced by calling backward, already scaled as the caller wants) into every
 * parameter's `.grad`. The gradients equal `loss.backward()` on the plain forward.
 * Returns what `head` returned. Tensors `head` returns move to the caller's scope.
 */
export function forwardBackward<R>(model: CausalLM, ids: Tensor, head: (hidden: Tensor) => R, o: ForwardBackwardOptions = {}): R {
  const { checkpointing = false, ...fo } = o;
  return torch.tidy(() => (checkpointing ? checkpointed(model, ids, head, fo) : plain(model, ids, head, fo)));
}

/** The head's gradient on its leaf, or a clear error when the head did not call backward. */
function leafGrad(leaf: Tensor): Tensor {
  const g = leaf.grad;
  if (!g) throw new torch.ConfigError('forwardBackward: the head must call backward on its loss so that hidden.grad exists');
  return g;
}

/** Without checkpointing: the whole graph is kept; one backward from the leaf's gradient. */
function plain<R>(model: CausalLM, ids: Tensor, head: (hidden: Tensor) => R, o: ForwardOptions): R {
  const h = model.hidden(ids, undefined, o); // (B, T, d), with its graph
  const leaf = h.detach().requiresGrad_();
  const r = head(leaf);
  const g = leafGrad(leaf);
  if (h.requiresGrad) torch.noAutocast(() => h.backward(g)); // false only when every parameter below the head is frozen
  return r;
}

function checkpointed<R>(model: CausalLM, ids: Tensor, head: (hidden: Tensor) => R, o: ForwardOptions): R {
  const { cos, sin, mask } = model.blockInputs(ids, undefined, o);
  const amp = torch.autocastState(); // the recomputation runs in the forward's autocast state
  const blocks = [...model.layers];
  // Forward without a graph. Each block's input is kept (it is the only thing the
  // recomputation needs), with the RNG state it started from: a block that draws random
  // numbers (dropout, e.g. in LoRA adapters) then draws the same ones when recomputed, as
  // torch.utils.checkpoint's preserve_rng_state. (Only libtorch's CPU generator is saved.)
  const inputs: Tensor[] = [];
  const rng: Tensor[] = [];
  let x = torch.noGrad(() => model.embed_tokens.call(ids)); // (B, T, d)
  blocks.forEach((block, i) => {
    inputs.push(x);
    rng.push(torch.getRngState());
    x = torch.noGrad(() => torch.tidy(() => block.call(x, cos, sin, mask, null, i)));
  });
  const after = torch.getRngState();
  // Autocast caches the bfloat16 casts of weights for its scope; those made under noGrad have
  // no graph, and a recomputation that reused them would leave the weights without gradients.
  if (amp.enabled) torch.clearAutocastCache();
  // Final norm with a graph from a leaf, so its gradient lands on the last block's output.
  const xLeaf = x.detach().requiresGrad_();
  const h = model.norm.call(xLeaf); // (B, T, d)
  const leaf = h.detach().requiresGrad_();
  const r = head(leaf);
  torch.noAutocast(() => h.backward(leafGrad(leaf)));
  let g = leafGrad(xLeaf); // dLoss/d(output of block L−1)
  // Reverse pass: recompute block i from a detached copy of its input, backprop the
  // upstream gradient through it, and carry dLoss/d(input i) to block i − 1. One block's
  // graph exists at a time; tidy frees its activations before the next.
  for (let i = blocks.length - 1; i >= 0; i--) {
    const up = g;
    g = torch.tidy(() => {
      torch.setRngState(rng[i]);
      const xi = inputs[i].detach().requiresGrad_();
      const y = torch.withAutocastState(amp, () => blocks[i].call(xi, cos, sin, mask, null, i));
      torch.noAutocast(() => y.backward(up));
      return leafGrad(xi);
    });
    up.dispose();
    inputs[i].dispose();
  }
  torch.setRngState(after); // the generator continues as if the blocks ran once
  // The embedding last (skipped when it is frozen, e.g. under LoRA: nothing to backpropagate into).
  if (model.embed_tokens.weight.requiresGrad) torch.noAutocast(() => model.embed_tokens.call(ids).backward(g));
  return r;
}

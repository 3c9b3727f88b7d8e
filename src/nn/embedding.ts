// Embedding, as torch.nn.Embedding: a lookup table of learnable vectors.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import * as init from './init.js';
import { checkInt } from './util.js';

export interface EmbeddingOptions {
  /** This row starts at zero and gets no gradient (e.g. a padding token); negative counts from the end. */
  paddingIdx?: number | null;
}

/** int64 indices (…) → vectors (…, embeddingDim). */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  /** Normalised to 0 ≤ paddingIdx < numEmbeddings, or null. */
  readonly paddingIdx: number | null;
  /** (numEmbeddings, embeddingDim) */
  readonly weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = checkInt('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = checkInt('Embedding', 'embeddingDim', embeddingDim);
    const p = opts.paddingIdx ?? null;
    if (p !== null && (!Number.isInteger(p) || p >= numEmbeddings || p < -numEmbeddings))
      throw new torch.ConfigError(`Embedding: paddingIdx must be an integer within numEmbeddings (${numEmbeddings}), got ${p}`);
    this.paddingIdx = p === null ? null : p < 0 ? numEmbeddings + p : p;
    this.weight = this.registerParameter('weight', torch.empty([numEmbeddings, embeddingDim]));
    this.resetParameters();
  }

  /** PyTorch's default: N(0, 1), then the padding row zeroed. */
  resetParameters(): void {
    init.normal_(this.weight);
    if (this.paddingIdx !== null) {
      const idx = this.paddingIdx;
      torch.noGrad(() => {
        const row = this.weight.select(0, idx); // (embeddingDim), a view into weight
        row.fill_(0);
        row.dispose();
      });
    }
  }

  forward(indices: Tensor): Tensor {
    // libtorch takes −1 for "no padding row"; ours is already normalised to ≥ 0.
    return torch.embedding(this.weight, indices, this.paddingIdx ?? -1);
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}

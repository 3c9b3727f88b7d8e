// Seeded test inputs.
import * as torch from '../../src/torch/index.js';

torch.manualSeed(42);
/** Standard normal float32. */
export const R = (...shape: number[]) => torch.randn(shape);
/** Uniform in [0.5, 1.5): safe for log, sqrt, division. */
export const P = (...shape: number[]) => torch.rand(shape).add(0.5);
/** int64 from nested numbers. */
export const I = (data: torch.NestedArray) => torch.tensor(data, { dtype: 'int64' });

// Models and helpers shared by the export tests: built directly with nn (no training),
// with BatchNorm running statistics moved away from 0/1 so eval mode really uses them.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { PYTHON } from '../helpers/oracle.js';

const SCRIPT = fileURLToPath(new URL('../../../test/helpers/export_ref.py', import.meta.url));
export const refPython = (...args: string[]): string => execFileSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });

/** onnx.checker.check_model(full_check=True) on each file; throws (with Python's message) if any fails. */
export const onnxCheck = (files: string[]) =>
  JSON.parse(refPython('check', ...files)) as Record<string, { ir: number; opset: number; batch: string; output_batch: string }>;

export interface Fixture {
  name: string;
  model: nn.Sequential;
  inputShape: number[];
  classes: number;
}

/** A few train-mode forwards on shifted random data: BatchNorm's running stats become non-trivial. */
function settle(model: nn.Module, inputShape: number[]): void {
  model.train();
  torch.noGrad(() => {
    for (let i = 0; i < 4; i++) torch.tidy(() => void model.call(torch.rand([16, ...inputShape]).mul(1.5 + i).add(0.3)));
  });
  model.eval();
}

export function fixtures(): Fixture[] {
  torch.manualSeed(7);
  const img = [1, 28, 28];
  const out: Fixture[] = [
    { name: 'mlp', model: nn.mlp([64, 32], { inputShape: img, numClasses: 10, dropout: 0.2 }), inputShape: img, classes: 10 },
    { name: 'cnn', model: nn.cnn({ inputShape: img, numClasses: 10, dropout: 0.3 }), inputShape: img, classes: 10 },
    {
      // BatchNorm2d, LayerNorm, GELU (both forms), AvgPool, SiLU, grouped strided conv, global pooling.
      name: 'normed',
      model: new nn.Sequential(
        new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.GELU(), new nn.AvgPool2d(2),
        new nn.Conv2d(8, 16, 3, { stride: 2, padding: 1, groups: 2 }), new nn.BatchNorm2d(16), new nn.SiLU(),
        new nn.AdaptiveAvgPool2d(1), new nn.Flatten(), new nn.LayerNorm(16),
        new nn.Linear(16, 32), new nn.GELU({ approximate: 'tanh' }), new nn.Dropout(0.1), new nn.Linear(32, 10),
      ),
      inputShape: img, classes: 10,
    },
    {
      // Everything else: dilated conv, LeakyReLU, dilated padded MaxPool, AvgPool without the
      // padding in the divisor, a non-global adaptive pool, Flatten(2) (Reshape), Linear on
      // 3-D input (MatMul), BatchNorm1d on (B, C, L) and on (B, C) without affine, a 2-D
      // LayerNorm, Tanh, Sigmoid, Identity.
      name: 'zoo',
      model: new nn.Sequential(
        new nn.Conv2d(3, 6, 3, { dilation: 2, padding: 2, bias: false }), new nn.LeakyReLU(0.1),
        new nn.MaxPool2d(3, { stride: 2, padding: 1, dilation: 2 }), new nn.Tanh(),
        new nn.AvgPool2d(2, { stride: 2, padding: 1, countIncludePad: false }),
        new nn.AdaptiveAvgPool2d([1, 3]), new nn.Flatten(2), // (B, 6, 3)
        new nn.Linear(3, 8), new nn.BatchNorm1d(6), new nn.LayerNorm([6, 8]), new nn.Sigmoid(),
        new nn.Flatten(), new nn.BatchNorm1d(48, { affine: false }), new nn.Identity(), new nn.Linear(48, 5),
      ),
      inputShape: [3, 12, 12], classes: 5,
    },
  ];
  for (const f of out) settle(f.model, f.inputShape);
  return out;
}

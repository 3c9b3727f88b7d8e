// Before consistent KD: how good is the teacher on the views it will be asked to teach?
//
// Consistent KD makes the student match the teacher on every augmented view. On a view the
// teacher never learned, it is often wrong, and a small student spends its capacity learning
// those mistakes. Measured on Fashion-MNIST: its shoes all face left, so our CNN teacher gets
// 71% of the mirrored test set right against 92% plain; random flips (p = 0.5) cost it 10.5
// points on validation, shifts of up to 2 px 9.5. Consistent KD for 40 epochs (seed 0) closed
// −2% of the teacher–student gap with shift, flip and mixup views; 30% with flip and mixup;
// 46% with mixup alone (docs/results.md).
//
// So each augmentation is scored alone on the validation set, and one that costs the teacher
// more than MAX_VIEW_DROP of accuracy is named before training starts.
import type * as nn from '../nn/index.js';
import type * as data from '../data/index.js';
import * as evaluate from '../eval/index.js';

/** The accuracy (as a fraction) a view may cost the teacher before we warn. */
export const MAX_VIEW_DROP = 0.02;

export interface View {
  name: string; // as the config spells it, e.g. 'kd.augment.flip'
  augment: data.Augment;
}

export interface ViewScores {
  plain: number;
  views: { name: string; accuracy: number }[];
}

/** The teacher's accuracy on `val` as is, and on `val` under each view alone (one fixed draw, seeded). */
export function teacherOnViews(teacher: nn.Module, val: data.Dataset, views: View[], seed: number): ViewScores {
  const model = teacher as evaluate.EvalModel;
  const plain = evaluate.accuracy(model, val.x, val.y);
  return {
    plain,
    views: views.map((v) => {
      const x = v.augment(val.x, { epoch: 0, batch: 0, seed });
      try {
        return { name: v.name, accuracy: evaluate.accuracy(model, x, val.y) };
      } finally {
        x.dispose();
      }
    }),
  };
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** One summary line, then one warning per view that costs the teacher more than MAX_VIEW_DROP. */
export function viewReport(s: ViewScores): string[] {
  const lines = [`kd: teacher accuracy on validation: ${pct(s.plain)} plain, ${s.views.map((v) => `${pct(v.accuracy)} with ${v.name}`).join(', ')}`];
  for (const v of s.views) {
    const drop = s.plain - v.accuracy;
    if (drop > MAX_VIEW_DROP)
      lines.push(`kd: warning: ${v.name} costs the teacher ${(drop * 100).toFixed(1)} points; the student will learn its mistakes on those views. ` +
        'Drop it unless the teacher was trained with it.');
  }
  return lines;
}

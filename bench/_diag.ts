import * as evaluate from '../src/eval/index.js';
import * as nn from '../src/nn/index.js';
import { loadExperiment } from '../src/cli/experiment.js';
import { makeReporter } from '../src/cli/progress.js';
import { prepareData, teacherStage, loadWeights } from '../src/cli/pipeline.js';
const rep = makeReporter({ quiet: true });
const seed = Number(process.argv[2]); const sub = process.argv[3];
const exp = loadExperiment(undefined, { name: `quality-fmnist-s${seed}`, seed, runsDir: 'runs', data: { dataset: 'fashion-mnist' } });
const d = prepareData(exp, rep);
const t = teacherStage(exp, d, rep).model;
const s = nn.buildArch(exp.student.arch, { inputShape: d.inputShape, numClasses: d.numClasses }) as nn.Module;
loadWeights(s, `runs/${exp.name}/${sub}/model.safetensors`);
for (const [n, ds] of [['train', d.train], ['val', d.val], ['test', d.test]] as const) {
  const pt = evaluate.predictLabels(t as evaluate.EvalModel, ds.x), ps = evaluate.predictLabels(s as evaluate.EvalModel, ds.x);
  console.log(n, 'agree', evaluate.agreement(pt, ps).toFixed(4), 'student acc', evaluate.accuracy(s as evaluate.EvalModel, ds.x, ds.y).toFixed(4), 'teacher acc', evaluate.accuracy(t as evaluate.EvalModel, ds.x, ds.y).toFixed(4));
}
import * as torch from '../src/torch/index.js';
const flipped = torch.flip(d.test.x, [-1]);
console.log('flipped test: teacher acc', evaluate.accuracy(t as evaluate.EvalModel, flipped, d.test.y).toFixed(4), 'student acc', evaluate.accuracy(s as evaluate.EvalModel, flipped, d.test.y).toFixed(4),
  'agree', evaluate.agreement(evaluate.predictLabels(t as evaluate.EvalModel, flipped), evaluate.predictLabels(s as evaluate.EvalModel, flipped)).toFixed(4));

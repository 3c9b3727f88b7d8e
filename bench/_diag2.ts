import * as evaluate from '../src/eval/index.js';
import * as data from '../src/data/index.js';
import { loadExperiment } from '../src/cli/experiment.js';
import { makeReporter } from '../src/cli/progress.js';
import { prepareData, teacherStage } from '../src/cli/pipeline.js';
const rep = makeReporter({ quiet: true });
for (const seed of [0, 1, 2]) {
const exp = loadExperiment(undefined, { name: `quality-fmnist-s${seed}`, seed, runsDir: 'runs', data: { dataset: 'fashion-mnist' } });
const d = prepareData(exp, rep);
const t = teacherStage(exp, d, rep).model as evaluate.EvalModel;
const a = (x: any) => evaluate.accuracy(t, x, d.val.y).toFixed(4);
console.log(seed, 'plain', a(d.val.x), 'flip.5', a(data.randomFlip()(d.val.x, { epoch: 0, batch: 0, seed })), 'shift1', a(data.randomShift(1)(d.val.x, { epoch: 0, batch: 0, seed })), 'shift2', a(data.randomShift(2)(d.val.x, { epoch: 0, batch: 0, seed })));
}

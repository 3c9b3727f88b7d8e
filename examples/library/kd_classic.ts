// Classic knowledge distillation (Hinton et al. 2015) on the `mnist` package's handwritten
// digits: a CNN teacher, then an MLP student trained on the teacher's outputs softened at
// T = 4, mixed with the hard labels at weight α = 0.1.
//   node dist/kd_classic.js            (N=2000 training digits, EPOCHS=4; CI: N=600 EPOCHS=2)
import { data, evaluation, kd, nn, torch } from 'distill';

const N = Number(process.env.N ?? 2000), EPOCHS = Number(process.env.EPOCHS ?? 4), OUT = process.env.OUT ?? 'runs/kd-classic';
torch.manualSeed(0);
const all = data.loadMnistDigits({ split: 'train' });
const train = data.subsetDataset(all, data.permutation(data.datasetSize(all), 0).subarray(0, N)); // the digits come sorted by class
const test = data.loadMnistDigits({ split: 'test' });
const shape = { inputShape: [1, 28, 28], numClasses: 10 };
const config = { epochs: EPOCHS, lr: 1e-3 }; // any keys of kd.TrainConfig; the rest take their defaults
const loader = () => new data.DataLoader(train, { batchSize: 64, seed: 0 });

const teacher = nn.cnn(shape);
kd.train({ model: teacher, train: loader(), config, runDir: `${OUT}/teacher` });

const student = nn.mlp([128], shape);
const result = kd.train({
  model: student, train: loader(), val: test, config, runDir: `${OUT}/student`, teacherModel: teacher,
  kd: { teacher: new kd.LiveTeacher(teacher, 10), loss: kd.createLoss({ name: 'hinton' }), T: () => 4, alpha: () => 0.1 },
});

for (const e of result.history) console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, val accuracy ${e.valAccuracy?.toFixed(3)}, agreement ${e.teacherAgreement?.toFixed(3)}`);
const summary = {
  teacherAccuracy: evaluation.accuracy(teacher, test.x, test.y),
  studentAccuracy: evaluation.accuracy(student, test.x, test.y),
  losses: result.history.map((e) => e.loss),
  params: { teacher: evaluation.countParameters(teacher).parameters, student: evaluation.countParameters(student).parameters },
};
console.log(JSON.stringify(summary));

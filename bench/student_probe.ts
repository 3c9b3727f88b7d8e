// One reasoning student trained on a demo run's traces with a chosen recipe, pass@1 on the
// held-out problems measured along the way: the probes behind docs/results.md ("Can a
// different recipe reach the goal …"). One line of JSON per evaluation.
//   node dist/bench/student_probe.js --traces runs/reasoning-demo/traces/traces.jsonl --lr 1e-2 --eval-at 400,600
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { CausalLM, lmConfig } from '../src/lm/model.js';
import { ByteTokenizer } from '../src/lm/tokenizer.js';
import { prunedStudent, studentExamples } from '../src/reason/students.js';
import { trainLm } from '../src/reason/sft.js';
import { evaluateLm } from '../src/reason/evaluate.js';
import { generateProblems } from '../src/reason/problems/index.js';
import { loadTraces } from '../src/cli/reason_student.js';
import { loadLm, saveLm } from '../src/lm/checkpoint.js';

const { values: a } = parseArgs({
  options: {
    traces: { type: 'string', default: 'runs/reasoning-demo/traces/traces.jsonl' },
    steps: { type: 'string', default: '800' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '3e-3' },
    dim: { type: 'string', default: '64' },
    layers: { type: 'string', default: '3' },
    hidden: { type: 'string', default: '192' },
    heads: { type: 'string', default: '2' },
    seed: { type: 'string', default: '0' },
    'eval-at': { type: 'string', default: '' },
    'prune-from': { type: 'string', default: '' },
    calib: { type: 'string', default: '64' },
    residual: { type: 'string', default: 'channels' },
    group: { type: 'boolean', default: false },
    wd: { type: 'string', default: '0.01' },
    save: { type: 'string', default: '' },
    alpha: { type: 'string', default: '1' },
    T: { type: 'string', default: '1' },
    'test-seed': { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  console.log('node dist/bench/student_probe.js [--traces F] [--steps 800] [--batch 32] [--lr 3e-3] [--dim 64] [--layers 3] [--hidden 192] [--heads 2] [--seed 0] [--eval-at 400,600]\n  [--prune-from TEACHER_DIR [--residual pca|channels] [--calib 64]] [--group] [--wd 0.01] [--save DIR]\n  [--alpha 1 [--T 1]]  (alpha < 1: SFT + token KD from the top-k logprobs of the traces)  [--test-seed 1]  (a demo run of seed s tests on seed s + 1)');
  process.exit(0);
}
const steps = Number(a.steps), seed = Number(a.seed);
const evalAt = new Set([...a['eval-at']!.split(',').filter(Boolean).map(Number), steps]);
torch.setNumThreads(1);
const tok = new ByteTokenizer();
const alpha = Number(a.alpha);
const traces = a.traces!.split(',').flatMap((f) => loadTraces(f));
const examples = studentExamples(traces, tok, alpha < 1 ? 'sft+kd' : 'sft');
// The demo's held-out set: a demo run of seed s tests on problems of seed s + 1.
const test = generateProblems({ families: ['chickens-rabbits'], n: 322, seed: Number(a['test-seed']), split: 'test', lang: 'both' });
torch.manualSeed(seed);
const cfg = lmConfig({ dim: Number(a.dim), nLayers: Number(a.layers), nHeads: Number(a.heads), nKvHeads: Number(a.heads), hiddenDim: Number(a.hidden), maxSeqLen: 384, vocabSize: tok.vocabSize });
let model = new CausalLM(cfg);
if (a['prune-from']) {
  // Minitron-style: the student starts as the teacher pruned to the student's sizes.
  const teacher = loadLm(a['prune-from']).model;
  model.dispose();
  const pruned = prunedStudent(teacher, traces, tok, cfg, { calibration: Number(a.calib), residual: a.residual as 'pca' | 'channels' });
  model = pruned.model;
  teacher.dispose();
  console.log(JSON.stringify({ pruned: true, layers: Array.from(pruned.importance.layers, (v) => +v.toFixed(3)), step: 0, passAt1: evalAt.has(0) ? +evaluateLm(model, tok, test).accuracy.toFixed(4) : null }));
}
let trainMs = 0;
let last = performance.now();
trainLm({
  model, examples, steps, batchSize: Number(a.batch), groupByLength: a.group, alpha, T: Number(a.T), weightDecay: Number(a.wd), lr: Number(a.lr), seed, padId: tok.eosId,
  onStep: (s) => {
    trainMs += performance.now() - last;
    if (evalAt.has(s.step)) {
      const ev = evaluateLm(model, tok, test);
      model.train();
      console.log(JSON.stringify({ step: s.step, passAt1: +ev.accuracy.toFixed(4), loss: +s.loss.toFixed(4), trainSeconds: +(trainMs / 1000).toFixed(1) }));
    }
    last = performance.now();
  },
});
if (a.save) saveLm(a.save, model, tok, { info: { probe: a } });

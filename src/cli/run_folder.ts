// Opening a finished run folder: its saved config, the same seeded data split it trained
// on, and its models rebuilt from config.json, teacher.json and baseline/ student/ weights.
// Shared by `compare`, `report` and `export`.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import { loadExperiment, type Experiment } from './experiment.js';
import { makeReporter, type Reporter } from './progress.js';
import { applyThreads, prepareData, loadWeights, type PreparedData } from './pipeline.js';

export type Role = 'teacher' | 'baseline' | 'student';

export interface RunModel {
  model: nn.Sequential;
  arch: string;
  dropout: number;
}

export interface RunFolder {
  run: string;
  exp: Experiment;
  rep: Reporter;
  d: PreparedData;
  models: Partial<Record<Role, RunModel>>;
}

export function openRunFolder(dir: string | undefined, o: { json?: boolean } = {}): RunFolder {
  const run = resolve(dir ?? join('runs', 'demo'));
  const cfgPath = join(run, 'config.json');
  if (!existsSync(cfgPath)) throw new torch.ConfigError(`${run}: not a run folder (no config.json); run \`npx distill demo\` first or pass a run folder`);
  const exp = loadExperiment(undefined, JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>);
  const rep = makeReporter({ json: o.json });
  applyThreads(exp);
  const d = prepareData(exp, rep); // the same seeded split as training
  return { run, exp, rep, d, models: loadRunModels(run, exp, d, rep) };
}

/**
 * The models a run folder holds. Any of them may be missing (a train-student run has no
 * teacher); what exists is loaded. Dropout layers hold no weights but shift the layer
 * indices in the state-dict keys, so each model is built with the dropout it trained with.
 */
function loadRunModels(run: string, exp: Experiment, d: PreparedData, rep: Reporter): Partial<Record<Role, RunModel>> {
  const load = (arch: string, dropout: number, weights: string): RunModel => {
    const model = nn.buildArch(arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout });
    loadWeights(model, weights);
    return { model, arch, dropout };
  };
  const out: Partial<Record<Role, RunModel>> = {};
  const teacherRef = join(run, 'teacher.json');
  if (existsSync(teacherRef)) {
    const t = JSON.parse(readFileSync(teacherRef, 'utf8')) as { weights: string; arch: string; dropout: number };
    if (existsSync(t.weights)) out.teacher = load(t.arch, t.dropout, t.weights);
    else rep.note(`teacher weights ${t.weights} are gone; going on without the teacher`);
  }
  for (const role of ['baseline', 'student'] as const) {
    const w = join(run, role, 'model.safetensors');
    if (existsSync(w)) out[role] = load(exp.student.arch, exp.student.dropout, w);
  }
  return out;
}

// `distill evaluate` (one weights file) and `distill compare` (the models of a run folder).
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import * as evaluate from '../eval/index.js';
import { readSafetensorsHeader } from '../io/index.js';
import { checkArch, loadExperiment } from './experiment.js';
import { makeReporter } from './progress.js';
import { applyThreads, prepareData, compareStage, loadWeights } from './pipeline.js';
import { parseOverrides, type RunOptions } from './cmd_run.js';
import { openRunFolder } from './run_folder.js';

/** The weights file, checked before any data loads: present, a file, and a valid safetensors header. */
function checkWeightsFile(weights: string): void {
  const st = statSync(weights, { throwIfNoEntry: false });
  if (!st) throw new torch.ConfigError(`${weights}: no such weights file`);
  if (!st.isFile()) throw new torch.ConfigError(`${weights}: not a file (give the model.safetensors inside it)`);
  readSafetensorsHeader(weights); // a truncated or foreign file fails here with a FormatError naming it
}

export async function runEvaluate(weights: string, o: RunOptions & { arch?: string; dropout?: number }): Promise<number> {
  checkWeightsFile(weights);
  const exp = loadExperiment(o.config, parseOverrides(o));
  const arch = o.arch === undefined ? exp.student.arch : checkArch(o.arch, '--arch');
  const rep = makeReporter({ json: o.json });
  applyThreads(exp);
  const d = prepareData(exp, rep);
  const model = nn.buildArch(arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout: o.dropout ?? 0 });
  loadWeights(model, weights);
  const rows = compareStage([{ name: `${arch} (${weights})`, role: 'model', model }], d, resolve(weights, '..'), rep);
  rep.stop();
  if (o.json) console.log(JSON.stringify({ rows }));
  else console.log('\n' + evaluate.formatTable(rows));
  return 0;
}

/** Re-measures the teacher, baseline and distilled student of a run folder side by side. */
export async function runCompare(dir: string | undefined, o: RunOptions): Promise<number> {
  const { run, rep, d, models } = openRunFolder(dir, o);
  const entries: { name: string; role: string; model: nn.Module }[] = [];
  for (const [role, label] of [['teacher', 'teacher'], ['baseline', 'baseline'], ['student', 'distilled']] as const) {
    const m = models[role];
    if (m) entries.push({ name: `${label} (${m.arch})`, role, model: m.model });
  }
  if (!entries.length) throw new torch.ConfigError(`${run}: no trained models found (teacher.json, baseline/ or student/)`);
  const rows = compareStage(entries, d, run, rep);
  rep.stop();
  if (o.json) console.log(JSON.stringify({ runDir: run, rows }));
  else console.log('\n' + evaluate.formatTable(rows) + `\n\nwrote ${join(run, 'comparison.md')} and comparison.json`);
  return 0;
}

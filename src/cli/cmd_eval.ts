// `distill evaluate` (one weights file) and `distill compare` (the models of a run folder).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import * as nn from '../nn/index.js';
import * as evaluate from '../eval/index.js';
import { loadExperiment, type Experiment } from './experiment.js';
import { makeReporter } from './progress.js';
import { applyThreads, prepareData, compareStage, loadWeights } from './pipeline.js';
import { parseOverrides, type RunOptions } from './cmd_run.js';

export async function runEvaluate(weights: string, o: RunOptions & { arch?: string; dropout?: string }): Promise<number> {
  if (!existsSync(weights)) throw new torch.ConfigError(`${weights}: no such weights file`);
  const exp = loadExperiment(o.config, parseOverrides(o));
  const rep = makeReporter({ json: o.json });
  applyThreads(exp);
  const d = prepareData(exp, rep);
  const arch = o.arch ?? exp.student.arch;
  const model = nn.buildArch(arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout: o.dropout ? Number(o.dropout) : 0 });
  loadWeights(model, weights);
  const rows = compareStage([{ name: `${arch} (${weights})`, role: 'model', model }], d, resolve(weights, '..'), rep);
  rep.stop();
  if (o.json) console.log(JSON.stringify({ rows }));
  else console.log('\n' + evaluate.formatTable(rows));
  return 0;
}

/** Re-measures the teacher, baseline and distilled student of a run folder side by side. */
export async function runCompare(dir: string | undefined, o: RunOptions): Promise<number> {
  const run = resolve(dir ?? join('runs', 'demo'));
  const cfgPath = join(run, 'config.json');
  if (!existsSync(cfgPath)) throw new torch.ConfigError(`${run}: not a run folder (no config.json); run \`npx distill demo\` first or pass a run folder`);
  const saved = JSON.parse(readFileSync(cfgPath, 'utf8')) as Experiment;
  const exp = loadExperiment(undefined, saved as unknown as Record<string, unknown>);
  const rep = makeReporter({ json: o.json });
  applyThreads(exp);
  const d = prepareData(exp, rep);
  // Dropout layers hold no weights but shift the layer indices in the state-dict keys.
  const build = (arch: string, dropout: number) => nn.buildArch(arch, { inputShape: d.inputShape, numClasses: d.numClasses, dropout });
  const entries: { name: string; role: string; model: nn.Module }[] = [];
  const teacherRef = join(run, 'teacher.json');
  if (existsSync(teacherRef)) {
    const t = JSON.parse(readFileSync(teacherRef, 'utf8')) as { weights: string; arch: string; dropout: number };
    if (existsSync(t.weights)) {
      const m = build(t.arch, t.dropout);
      loadWeights(m, t.weights);
      entries.push({ name: `teacher (${t.arch})`, role: 'teacher', model: m });
    } else rep.note(`teacher weights ${t.weights} are gone; comparing the students only`);
  }
  for (const [sub, role, label] of [['baseline', 'baseline', 'baseline'], ['student', 'student', 'distilled']] as const) {
    const w = join(run, sub, 'model.safetensors');
    if (!existsSync(w)) continue;
    const m = build(exp.student.arch, exp.student.dropout);
    loadWeights(m, w);
    entries.push({ name: `${label} (${exp.student.arch})`, role, model: m });
  }
  if (!entries.length) throw new torch.ConfigError(`${run}: no trained models found (teacher.json, baseline/ or student/)`);
  const rows = compareStage(entries, d, run, rep);
  rep.stop();
  if (o.json) console.log(JSON.stringify({ runDir: run, rows }));
  else console.log('\n' + evaluate.formatTable(rows) + `\n\nwrote ${join(run, 'comparison.md')} and comparison.json`);
  return 0;
}

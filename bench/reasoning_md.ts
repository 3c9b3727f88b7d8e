// Aggregates `distill demo reasoning` runs over seeds into docs/reasoning.json and a
// Markdown table (mean ± standard deviation). Each argument is a run folder (its
// results.json) or an earlier docs/reasoning.json (its recorded seeds, for run folders
// since deleted). Usage:
//   node dist/bench/reasoning_md.js docs/reasoning.json runs/reasoning-b3 … [--speed-seeds 0,1,2]
// --speed-seeds: the seeds whose tokens/s go into the speed columns (the runs made alone on
// the machine; default every seed).
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { meanStd, median as med } from './stats.js';

interface Row { model: string; params: number; sizeBytes: number; accuracy: number; tokensPerSecond: number; tokensPerSecondBatch1: number }
interface Run { dir: string; seed: number; rows: Row[] }

const args = process.argv.slice(2);
const flag = args.indexOf('--speed-seeds');
const speedSeeds = flag >= 0 ? new Set(args[flag + 1].split(',').map(Number)) : null;
const sources = flag >= 0 ? [...args.slice(0, flag), ...args.slice(flag + 2)] : args;
if (sources.length === 0) throw new Error('give the run folders of each seed (or a docs/reasoning.json)');

const bySeed = new Map<number, Run>();
for (const src of sources) {
  if (!existsSync(src)) throw new Error(`${src}: no such run folder or file`);
  const found: Run[] = statSync(src).isDirectory()
    ? [(({ options, rows }) => ({ dir: src, seed: options.seed, rows }))(JSON.parse(readFileSync(`${src}/results.json`, 'utf8')) as { options: { seed: number }; rows: Row[] })]
    : (JSON.parse(readFileSync(src, 'utf8')) as Run[]);
  for (const r of found) {
    if (bySeed.has(r.seed)) throw new Error(`seed ${r.seed} is given twice (${bySeed.get(r.seed)!.dir} and ${r.dir})`);
    bySeed.set(r.seed, r);
  }
}
const runs = [...bySeed.values()].sort((a, b) => a.seed - b.seed);
const fast = runs.filter((r) => !speedSeeds || speedSeeds.has(r.seed));
const models = runs[0].rows.map((r) => r.model);
const pct = (xs: number[]) => {
  const { mean, std } = meanStd(xs.map((x) => x * 100));
  return `${mean.toFixed(1)} ± ${std.toFixed(1)}%`;
};
const rowOf = (r: Run, m: string) => r.rows.find((x) => x.model === m)!;
const lines = [
  `| model | params | size | pass@1 (${runs.length} seeds) | per seed (${runs.map((r) => r.seed).join(', ')}) | of teacher | tokens/s batch 64 | tokens/s batch 1 |`,
  '|---|---:|---:|---:|---|---:|---:|---:|',
];
for (const m of models) {
  const acc = runs.map((r) => rowOf(r, m).accuracy);
  const ratio = runs.map((r, i) => acc[i] / rowOf(r, 'teacher').accuracy);
  const first = rowOf(runs[0], m);
  const speed = (k: 'tokensPerSecond' | 'tokensPerSecondBatch1') => med(fast.map((r) => rowOf(r, m)[k])).toFixed(0);
  lines.push(`| ${m} | ${first.params.toLocaleString('en-US')} | ${(first.sizeBytes / 1e6).toFixed(2)} MB | ${pct(acc)} | ${acc.map((a) => (a * 100).toFixed(1)).join(' / ')} | ${pct(ratio)} | ${speed('tokensPerSecond')} | ${speed('tokensPerSecondBatch1')} |`);
}
writeFileSync('docs/reasoning.json', JSON.stringify(runs, null, 1) + '\n');
console.log(lines.join('\n'));
if (speedSeeds) console.log(`\ntokens/s: medians over seeds ${fast.map((r) => r.seed).join(', ')}`);

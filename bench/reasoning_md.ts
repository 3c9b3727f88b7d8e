// Aggregates `distill demo reasoning` runs over seeds into docs/reasoning.json and a
// Markdown table (mean ± standard deviation). Usage:
//   node dist/bench/reasoning_md.js runs/reasoning-demo runs/reasoning-s1 runs/reasoning-s2
import { readFileSync, writeFileSync } from 'node:fs';
import { meanStd, median as med } from './stats.js';

interface Row { model: string; params: number; sizeBytes: number; accuracy: number; tokensPerSecond: number; tokensPerSecondBatch1: number }
const runs = process.argv.slice(2).map((dir) => ({ dir, ...(JSON.parse(readFileSync(`${dir}/results.json`, 'utf8')) as { options: { seed: number }; rows: Row[] }) }));
if (runs.length === 0) throw new Error('give the run folders of each seed');
const models = runs[0].rows.map((r) => r.model);
const pct = (xs: number[]) => {
  const { mean, std } = meanStd(xs.map((x) => x * 100));
  return `${mean.toFixed(1)} ± ${std.toFixed(1)}%`;
};
const teacherAcc = runs.map((r) => r.rows.find((x) => x.model === 'teacher')!.accuracy);
const lines = [
  `| model | params | size | pass@1 (${runs.length} seeds) | per seed | of teacher | tokens/s batch 64 | tokens/s batch 1 |`,
  '|---|---:|---:|---:|---|---:|---:|---:|',
];
for (const m of models) {
  const rows = runs.map((r) => r.rows.find((x) => x.model === m)!);
  const acc = rows.map((r) => r.accuracy);
  const ratio = acc.map((a, i) => a / teacherAcc[i]);
  lines.push(`| ${m} | ${rows[0].params.toLocaleString('en-US')} | ${(rows[0].sizeBytes / 1e6).toFixed(2)} MB | ${pct(acc)} | ${acc.map((a) => (a * 100).toFixed(1)).join(' / ')} | ${pct(ratio)} | ${med(rows.map((r) => r.tokensPerSecond)).toFixed(0)} | ${med(rows.map((r) => r.tokensPerSecondBatch1)).toFixed(0)} |`);
}
writeFileSync('docs/reasoning.json', JSON.stringify(runs.map((r) => ({ dir: r.dir, seed: r.options.seed, rows: r.rows })), null, 1) + '\n');
console.log(lines.join('\n'));

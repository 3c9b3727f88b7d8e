// The CLI face of `distill demo reasoning`: options (numbers and choices already checked by
// their commander parsers, src/cli/flags.ts), progress on stderr, the table on stdout (or one
// JSON line with --json).
import { runReasoningDemo, reasoningTable } from './reason_demo.js';
import { makeReporter } from './progress.js';

export async function runReasonDemo(opts: Record<string, unknown>): Promise<number> {
  const rep = makeReporter({ json: !!opts.json });
  const counter = new Map<string, (d: number, t: number) => void>();
  const t0 = Date.now();
  const { rows, dir } = await runReasoningDemo({
    teacher: opts.teacher as string | undefined,
    out: (opts.out as string | undefined) ?? (opts.name ? `runs/${String(opts.name)}` : undefined),
    problems: opts.problems as number | undefined,
    samples: opts.samples as number | undefined,
    evalProblems: opts.evalProblems as number | undefined,
    steps: opts.steps as number | undefined,
    batchSize: opts.batchSize as number | undefined,
    lr: opts.lr as number | undefined,
    alpha: opts.alpha as number | undefined,
    T: opts.temperature as number | undefined,
    seed: opts.seed as number | undefined,
    threads: opts.threads as number | undefined,
    init: opts.studentInit as 'pruned' | 'scratch' | undefined,
    onNote: (m) => rep.note(m),
    onProgress: (label, done, total) => {
      const key = label.replace(/ \(.*\)$/, '');
      if (!counter.has(key)) counter.set(key, rep.counter(key));
      counter.get(key)!(done, total);
    },
  });
  rep.stop();
  const seconds = (Date.now() - t0) / 1000;
  if (opts.json) console.log(JSON.stringify({ dir, seconds, rows }));
  else {
    console.log(reasoningTable(rows));
    console.log(`\nrun folder: ${dir} (traces, card, students, results.md) · ${seconds.toFixed(0)} s`);
  }
  return 0;
}


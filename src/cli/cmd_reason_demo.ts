// The CLI face of `distill demo reasoning`: options, progress on stderr, the table on
// stdout (or one JSON line with --json).
import { runReasoningDemo, reasoningTable } from './reason_demo.js';
import { makeReporter } from './progress.js';

const num = (v: unknown, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got '${String(v)}'`);
  return n;
};

function initOption(v: unknown): 'pruned' | 'scratch' | undefined {
  if (v === undefined || v === 'pruned' || v === 'scratch') return v;
  throw new Error(`--student-init expects 'pruned' or 'scratch', got '${String(v)}'`);
}

export async function runReasonDemo(opts: Record<string, unknown>): Promise<number> {
  const rep = makeReporter({ json: !!opts.json });
  const counter = new Map<string, (d: number, t: number) => void>();
  const t0 = Date.now();
  const { rows, dir } = await runReasoningDemo({
    teacher: opts.teacher as string | undefined,
    out: (opts.out as string | undefined) ?? (opts.name ? `runs/${String(opts.name)}` : undefined),
    problems: num(opts.problems, 'problems'),
    samples: num(opts.samples, 'samples'),
    evalProblems: num(opts.evalProblems, 'eval-problems'),
    steps: num(opts.steps, 'steps'),
    batchSize: num(opts.batchSize, 'batch-size'),
    lr: num(opts.lr, 'lr'),
    alpha: num(opts.alpha, 'alpha'),
    T: num(opts.temperature, 'temperature'),
    seed: num(opts.seed, 'seed'),
    threads: num(opts.threads, 'threads'),
    init: initOption(opts.studentInit),
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


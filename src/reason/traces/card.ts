// A dataset card for a traces file: what was asked, what was kept and why the rest was not,
// what it cost. The JSON object is for tools (report, dashboard), the Markdown for people.
import type { Trace } from '../types.js';

/** USD per 1M tokens: one price for both directions, or separate prompt/completion prices. */
export type TokenPrice = number | { prompt: number; completion: number };

export interface CardOptions {
  /** Dataset name, the card's title. */
  name?: string;
  pricePerMTokens?: TokenPrice;
}

export interface DatasetCard {
  name: string;
  /** Distinct problem ids. */
  problems: number;
  /** Problems with at least one accepted trace. */
  problemsSolved: number;
  samples: number;
  accepted: number;
  /** accepted / samples (0 for no samples). */
  acceptanceRate: number;
  /** Rejection reason → count, most frequent first. */
  rejections: Record<string, number>;
  promptTokens: number;
  completionTokens: number;
  /** Completion tokens of accepted traces only: the size of what the student trains on. */
  acceptedCompletionTokens: number;
  /** USD; null when no price was given. */
  cost: number | null;
  price: { prompt: number; completion: number } | null;
  models: { name: string; samples: number; accepted: number }[];
}

export type CardTrace = Pick<Trace, 'problemId' | 'model' | 'usage' | 'verdict'>;

export function buildCard(traces: readonly CardTrace[], opts: CardOptions = {}): DatasetCard {
  const problems = new Set<string>();
  const solved = new Set<string>();
  const rejections = new Map<string, number>();
  const models = new Map<string, { name: string; samples: number; accepted: number }>();
  let accepted = 0, promptTokens = 0, completionTokens = 0, acceptedCompletionTokens = 0;
  for (const t of traces) {
    problems.add(t.problemId);
    promptTokens += t.usage.promptTokens;
    completionTokens += t.usage.completionTokens;
    const m = models.get(t.model) ?? { name: t.model, samples: 0, accepted: 0 };
    models.set(t.model, m);
    m.samples++;
    if (t.verdict.ok) {
      accepted++;
      m.accepted++;
      solved.add(t.problemId);
      acceptedCompletionTokens += t.usage.completionTokens;
    } else {
      rejections.set(t.verdict.reason, (rejections.get(t.verdict.reason) ?? 0) + 1);
    }
  }
  const p = opts.pricePerMTokens;
  const price = p === undefined ? null : typeof p === 'number' ? { prompt: p, completion: p } : { ...p };
  const byCount = <T extends { 1: number }>(a: T, b: T) => b[1] - a[1];
  return {
    name: opts.name ?? 'reasoning traces',
    problems: problems.size,
    problemsSolved: solved.size,
    samples: traces.length,
    accepted,
    acceptanceRate: traces.length ? accepted / traces.length : 0,
    rejections: Object.fromEntries([...rejections].sort(byCount)),
    promptTokens,
    completionTokens,
    acceptedCompletionTokens,
    cost: price ? (promptTokens * price.prompt + completionTokens * price.completion) / 1e6 : null,
    price,
    models: [...models.values()].sort((a, b) => b.samples - a.samples || a.name.localeCompare(b.name)),
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const int = (n: number) => n.toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function cardMarkdown(c: DatasetCard): string {
  const rows: [string, string][] = [
    ['Problems', `${int(c.problems)} (${int(c.problemsSolved)} with an accepted trace)`],
    ['Samples', int(c.samples)],
    ['Accepted', `${int(c.accepted)} (${pct(c.acceptanceRate)})`],
    ['Prompt tokens', int(c.promptTokens)],
    ['Completion tokens', `${int(c.completionTokens)} (${int(c.acceptedCompletionTokens)} accepted)`],
    ['Cost', c.cost === null || !c.price ? 'n/a (no price given)' : `$${c.cost.toFixed(4)} at $${c.price.prompt} / $${c.price.completion} per 1M prompt / completion tokens`],
    ['Models', c.models.map((m) => `${m.name} (${int(m.accepted)}/${int(m.samples)} accepted)`).join(', ') || 'none'],
  ];
  const reasons = Object.entries(c.rejections);
  return [
    `# Dataset card: ${c.name}`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${cell(v)} |`),
    '',
    '## Rejections',
    '',
    ...(reasons.length === 0
      ? ['None.']
      : ['| Reason | Count | Share of samples |', '|---|---:|---:|', ...reasons.map(([r, n]) => `| ${cell(r)} | ${int(n)} | ${pct(n / c.samples)} |`)]),
    '',
  ].join('\n');
}

/** The card as a JSON object and as Markdown. */
export function datasetCard(traces: readonly CardTrace[], opts: CardOptions = {}): { json: DatasetCard; markdown: string } {
  const json = buildCard(traces, opts);
  return { json, markdown: cardMarkdown(json) };
}

// The worker side of blockingScorer (gkd_scorer.ts): builds the async scorer named by its spec
// and answers each request on the port, then wakes the blocked training thread.
import { workerData, type MessagePort } from 'node:worker_threads';
import type { ScorerSpec, TokenScoreLike } from './gkd_scorer.js';

interface Data {
  spec: ScorerSpec;
  port: MessagePort;
  flag: SharedArrayBuffer;
}

const { spec, port, flag } = workerData as Data;
const wake = new Int32Array(flag);
const made = import(spec.module).then((m: Record<string, unknown>) => {
  const make = m[spec.export] as ((...a: unknown[]) => unknown) & (new (...a: unknown[]) => unknown);
  if (typeof make !== 'function') throw new Error(`${spec.module} exports no function or class '${spec.export}'`);
  const scorer = (spec.construct === false ? make(...(spec.args ?? [])) : new make(...(spec.args ?? []))) as { scoreTokens(p: number[][], k: number): Promise<TokenScoreLike[]> };
  if (typeof scorer?.scoreTokens !== 'function') throw new Error(`${spec.module}: '${spec.export}' did not give a scorer (no scoreTokens)`);
  return scorer;
});

port.on('message', (m: { prompts: number[][]; k: number }) => {
  made
    .then((s) => s.scoreTokens(m.prompts, m.k))
    .then(
      (result) => port.postMessage({ result }),
      (e: unknown) => port.postMessage({ error: { message: (e as Error)?.message ?? String(e), code: (e as { code?: string })?.code } }),
    )
    .finally(() => {
      Atomics.store(wake, 0, 1);
      Atomics.notify(wake, 0);
    });
});

// One worker of a shared trace-generation run as its own process, for lease.test.ts:
//   node lease_child.js <baseURL> <outDir> <worker> <leaseTtlMs> <chunkSize> <problems>
// prints the result as JSON on success; lease take-overs go to stderr.
import { generateTraces } from '../../src/reason/traces/generate.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import { adderProblems } from './chat_fixtures.js';

const [baseURL, out, worker, ttl, chunk, n] = process.argv.slice(2);
// Workers start together: each says 'ready' once loaded and waits for a line on stdin (so a
// slow start under load cannot let one worker finish everything before the other begins).
process.stderr.write('ready\n');
await new Promise((ok) => process.stdin.once('data', ok));
process.stdin.pause();
const teacher = new HttpTeacher({ baseURL, model: 'adder', apiKeyEnv: 'DISTILL_NO_SUCH_KEY', concurrency: 2, backoff: { baseMs: 1 } });
const r = await generateTraces({
  teacher, problems: adderProblems(Number(n)), samples: 2, out, seed: 1000, concurrency: 2, maxTokens: 1000,
  worker, leaseTtlMs: Number(ttl), chunkSize: Number(chunk), pollMs: 50, log: (l) => process.stderr.write(l + '\n'),
});
teacher.close();
process.stdout.write(JSON.stringify(r));

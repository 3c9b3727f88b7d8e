// A trace-generation job as its own process, for the kill -9 test in generate.test.ts:
//   node gen_child.js <baseURL> <outDir>
// prints the result as JSON on success.
import { generateTraces } from '../../src/reason/traces/generate.js';
import { HttpTeacher } from '../../src/reason/teachers/http.js';
import { adderProblems } from './chat_fixtures.js';

const [baseURL, out] = process.argv.slice(2);
const teacher = new HttpTeacher({ baseURL, model: 'adder', apiKeyEnv: 'DISTILL_NO_SUCH_KEY', concurrency: 2, backoff: { baseMs: 1 } });
const r = await generateTraces({ teacher, problems: adderProblems(12), samples: 2, out, seed: 1000, concurrency: 2, maxTokens: 1000 });
teacher.close();
process.stdout.write(JSON.stringify(r));

// Reasoning traces from any OpenAI-compatible teacher (DeepSeek, vLLM, llama.cpp's server,
// or `npx distill serve <LM folder>`): ask it word problems with exact answers, keep the
// replies whose boxed answer is right, and write traces.jsonl (kept and rejected, with why).
//   node dist/traces_http.js <base URL> <model>      e.g. http://127.0.0.1:8000/v1 reasoning-teacher
//   PROBLEMS=12 (CI: 4); the API key, if the server needs one, comes from $OPENAI_API_KEY
import { reason } from 'distill';

const [baseURL, model] = process.argv.slice(2);
if (!baseURL || !model) throw new Error('usage: node dist/traces_http.js <base URL> <model>');
const PROBLEMS = Number(process.env.PROBLEMS ?? 12), OUT = process.env.OUT ?? 'runs/traces-http';

const teacher = new reason.HttpTeacher({ baseURL, model });
const problems = reason.generateProblems({ families: ['chickens-rabbits'], n: PROBLEMS, seed: 1, split: 'train', lang: 'en' });
const result = await reason.generateTraces({ teacher, problems, samples: 1, out: OUT, preset: 'bare', seed: 0, maxTokens: 256 });

const traces = reason.mergeTraces(OUT);
for (const t of traces.slice(0, 3)) console.log(`${t.verdict.ok ? 'kept' : `rejected (${t.verdict.reason})`}: ${t.question}\n  → ${t.content.trim()}`);
console.log(`${result.kept} kept, ${result.rejected} rejected of ${result.planned} in ${result.file}; reasons ${JSON.stringify(result.reasons)}`);
console.log(JSON.stringify({ planned: result.planned, kept: result.kept, rejected: result.rejected, failed: result.failed, file: result.file, traces: traces.length }));

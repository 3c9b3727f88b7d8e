#!/usr/bin/env node
// The `distill` command. Subcommands load lazily so `--help` answers instantly
// without loading libtorch.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('distill')
  .description('Knowledge distillation on libtorch, from TypeScript: a big teacher teaches a small, fast student.')
  .version(pkg.version)
  .showHelpAfterError('(run with --help for usage)');

type Action = (opts: Record<string, unknown>) => Promise<number>;
const run = (load: () => Promise<Action>) => async (opts: Record<string, unknown>) => {
  process.exitCode = await (await load())(opts);
};

/** Data-parallel runs (src/cli/launch.ts): --nproc starts the ranks here, --rank/--world-size joins a group. */
const runTraining = (load: () => Promise<Action>) => async (opts: Record<string, unknown>) => {
  const launch = await import('./launch.js');
  if (opts.nproc !== undefined) {
    process.exitCode = await launch.launchLocal(opts);
    return;
  }
  launch.applyJoinFlags(opts);
  process.exitCode = await (await load())(opts);
};
function distributed(cmd: Command) {
  return cmd
    .option('--nproc <n>', 'data parallel: train with n processes on this machine (one Gloo group; batchSize is per process)')
    .option('--rank <r>', 'data parallel across machines: this process is rank r (with --world-size; with --nproc, the first of n ranks)')
    .option('--world-size <n>', 'data parallel across machines: ranks in all')
    .option('--master-addr <host>', "rank 0's address, where the rendezvous store listens (default 127.0.0.1)")
    .option('--master-port <port>', 'rendezvous port (default: a free one with --nproc alone, else 29500)')
    .option('--dist-timeout <s>', 'seconds a rank waits for its peers before failing (default 300)');
}

/** The options every training command shares. */
function trainingCommand(name: string, description: string, example: string) {
  return program
    .command(name)
    .description(description)
    .option('-c, --config <file>', 'experiment YAML (every key has a default; see docs/experiments.md)')
    .option('--set <key=value...>', 'override a config key, e.g. --set kd.T=8 student.train.epochs=5')
    .option('--name <name>', 'run name: the folder under runs/')
    .option('--resume', 'continue an interrupted run from its last checkpoint')
    .option('--json', 'print only one JSON object on stdout (progress goes nowhere)')
    .option('--ui', 'serve the live dashboard while training (prints its URL; 127.0.0.1; DISTILL_API_KEY honoured)')
    .addHelpText('after', `\nExample:\n  ${example}`);
}

distributed(trainingCommand('demo', 'train (or reuse) a CNN teacher, a baseline MLP student and a distilled one; print the comparison table', 'npx distill demo'))
  .addOption(new Option('--fresh', 'retrain the teacher even if a cached one exists'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runDemo as Action));
distributed(trainingCommand('train-teacher', 'train a teacher on the experiment data', 'npx distill train-teacher --set teacher.train.epochs=2 --name quick'))
  .addOption(new Option('--fresh', 'start over instead of resuming'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runTrainTeacher as Action));
distributed(trainingCommand('train-student', 'train a baseline student on hard labels only', 'npx distill train-student --set student.arch=mlp:64\n  npx distill train-student --nproc 2          # data parallel, 2 processes'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runTrainStudent as Action));
distributed(trainingCommand('distill', 'distill the teacher into the student (teacher trained or reused first)', 'npx distill distill --set kd.T=8 kd.alpha=0.3'))
  .action(runTraining(async () => (await import('./cmd_run.js')).runDistill as Action));

trainingCommand('sweep', 'distill one teacher into MLP students of several sizes; table and accuracy-against-size chart', 'npx distill sweep --sizes 32,64,128 --set student.train.epochs=5')
  .option('--sizes <list>', 'hidden widths of the student family', '16,32,64,128,256')
  .option('--layers <n>', 'hidden layers per student', '2')
  .action(run(async () => (await import('./cmd_sweep.js')).runSweep as Action));

program
  .command('evaluate <weights>')
  .description('measure one weights file on the experiment test set (accuracy, size, latency, throughput, memory); writes comparison.md/.json beside it')
  .option('-c, --config <file>', 'experiment YAML (for the data)')
  .option('--set <key=value...>', 'override a config key')
  .option('--arch <spec>', "architecture of the weights, e.g. 'cnn' or 'mlp:128,128' (default: student.arch)")
  .option('--dropout <p>', 'the dropout the model was built with (it shifts layer indices)', '0')
  .option('--json', 'print one JSON object')
  .addHelpText('after', '\nExample:\n  npx distill evaluate runs/demo/student/model.safetensors --arch mlp:128,128')
  .action(async (weights: string, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_eval.js')).runEvaluate(weights, opts);
  });

program
  .command('compare [run]')
  .description('re-measure the teacher, baseline and distilled student of a run folder (default runs/demo); prints the table, writes comparison.md and .json')
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
  .option('--api-key <key>', 'require this key on every request (prefer the DISTILL_API_KEY env var); open the page as /?key=<key>')
  .addHelpText('after', '\nExample:\n  npx distill dashboard runs')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_dashboard.js')).runDashboard(dir, opts);
  });

program
  .command('report [run]')
  .description("write a run folder's report.html (comparison table, the teacher's soft targets at T = 1…20, loss and accuracy curves, confusion matrix; one file that opens offline) and charts/*.svg")
  .option('--example <index>', "test-set row for the temperature chart (default: the teacher's most ambiguous correctly classified example)")
  .option('--json', 'print one JSON object: { runDir, report, charts }')
  .addHelpText('after', '\nExample:\n  npx distill report runs/demo')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_report.js')).runReport(dir, opts);
  });

program
  .command('export [run]')
  .description("write a run folder's models for deployment under <run>/export/: ONNX (opset 17, dynamic batch) checked against onnxruntime-node, a Hugging Face style folder (model.safetensors + config.json) for PyTorch, and a browser demo page (onnxruntime-web); " +
    'for an LM folder (one holding lm.json): ONNX (dynamic batch and sequence), GGUF (llama architecture, checked in llama.cpp through node-llama-cpp) and a Hugging Face LlamaForCausalLM folder')
  .option('--format <f>', 'onnx, safetensors or all; gguf too for an LM folder', 'all')
  .option('--gguf-dtype <t>', 'LM folders: GGUF weights f32 or f16 (norms stay f32)', 'f32')
  .option('--which <m>', 'student, baseline, teacher or all (those the run has)', 'all')
  .option('--out <dir>', 'output folder (default <run>/export)')
  .option('--quantize', 'also write <role>.int8.onnx (dynamic int8 Linear layers) and measure size, speed and accuracy against float')
  .option('--json', 'print one JSON object: { runDir, outDir, ok, models: [...], page, runtime }')
  .addHelpText('after', '\nExample:\n  npx distill export runs/demo --quantize\n  python3 -m http.server -b 127.0.0.1 -d runs/demo/export   # then open http://127.0.0.1:8000/\n  npx distill export runs/lm/student --gguf-dtype f16          # an LM folder: model.onnx, model.f16.gguf, hf/')
  .action(async (dir: string | undefined, opts: Record<string, unknown>) => {
    process.exitCode = await (await import('./cmd_export.js')).runExport(dir, opts);
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

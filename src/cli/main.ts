#!/usr/bin/env node
// The `distill` command. Subcommands load lazily so `--help` answers instantly
// without loading libtorch.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('distill')
  .description('Knowledge distillation on libtorch, from TypeScript: a big teacher teaches a small, fast student.')
  .version(pkg.version)
  .showHelpAfterError('(run with --help for usage)');

program
  .command('doctor')
  .description('check that libtorch, BLAS, datasets and optional runtimes are present; exits 1 if a required part is missing')
  .option('--json', 'print the report as JSON')
  .addHelpText('after', '\nExample:\n  npx distill doctor')
  .action(async (opts: { json?: boolean }) => {
    const { runDoctor } = await import('./doctor.js');
    process.exitCode = await runDoctor(opts);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as Error & { code?: string };
  console.error(`distill: ${err.message}${err.code ? ` [${err.code}]` : ''}`);
  process.exitCode = 1;
});

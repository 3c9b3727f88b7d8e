// Tests that need something outside the repository's code (a Debian package, a browser, a
// trained model). In CI a missing prerequisite must fail, not skip: a skipped test reads as
// green. So a test skips only when the person running it says so (DISTILL_ALLOW_SKIP=1, e.g. on
// a laptop without chromium); otherwise it runs, and fails first thing with one message that
// names what is missing and how to get it.
//
//   const fashion = prerequisite('Fashion-MNIST', existsSync(dir), 'npm run setup (installs dataset-fashion-mnist)');
//   test('…', { skip: fashion.skip }, () => { fashion.check(); … });

export interface Prerequisite {
  /** For the test's options: the reason to skip, or false (present, or skipping not allowed). */
  readonly skip: string | false;
  /** Throws, naming the prerequisite and its fix, when it is missing (and the test was not skipped). */
  check(): void;
}

export const ALLOW_SKIP = process.env.DISTILL_ALLOW_SKIP === '1';

export function prerequisite(what: string, present: boolean, fix: string): Prerequisite {
  const missing = `${what} is missing; fix: ${fix}`;
  return {
    skip: !present && ALLOW_SKIP ? `${missing} (skipped: DISTILL_ALLOW_SKIP=1)` : false,
    check() {
      if (!present) throw new Error(`${missing}. Tests never skip silently; set DISTILL_ALLOW_SKIP=1 to skip the tests that need it.`);
    },
  };
}

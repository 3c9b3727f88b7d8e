// Checks against the PyTorch oracle that parityTests cannot express (a module's weights,
// several results at once): each pairs an optional oracle case with assertions on its
// result, and all cases of a file share one PyTorch process, started by the first test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runOracle, type OracleCase, type OracleResult } from './oracle.js';

export interface Check {
  name: string;
  oracle?: OracleCase;
  check: (r: OracleResult) => void;
}

export function oracleChecks(checks: Check[]): void {
  const withOracle = checks.filter((c) => c.oracle);
  let results: OracleResult[] | undefined;
  const oracle = () => (results ??= runOracle(withOracle.map((c) => c.oracle!)));
  for (const c of checks) {
    test(c.name, () => {
      let r: OracleResult = {};
      if (c.oracle) {
        r = oracle()[withOracle.indexOf(c)];
        if (r.error) assert.fail(`PyTorch raised: ${r.error}`);
      }
      c.check(r);
    });
  }
}

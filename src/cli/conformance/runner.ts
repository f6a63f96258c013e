/**
 * Runs a conformance suite folder: picks the suite kind (named, or detected), runs its tests one by one and prints
 * one line per test (`name PASS`, `name FAIL (detail)`, `name SKIP (detail)`), then `N passed, N failed` with
 * `, N skipped` appended when there are any.
 */
import type { Io } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { listDirectory } from '../files.js';
import { riscvTests } from './riscv-tests.js';
import type { SuiteKind } from './suite.js';

/** Known suite kinds, most specific first (detection takes the first that matches). */
export const SUITE_KINDS: readonly SuiteKind[] = [riscvTests];

/** Per-test wall-clock limit when none is given, in seconds. */
export const DEFAULT_TEST_TIMEOUT_SEC = 10;

export interface ConformanceOptions {
  /** Suite kind name; detected from the folder when absent. */
  suite?: string;
  /** Per-test limit in seconds. */
  timeoutSec?: number;
  /** Only tests whose name contains this substring. */
  filter?: string;
}

export interface ConformanceSummary {
  readonly suite: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

/**
 * Runs every test of the suite in `dir` and prints the result lines to `io.out`.
 * @throws InputError when the folder is unreadable or holds no test (after --filter); UsageError for an unknown suite
 */
export async function runConformance(dir: string, opts: ConformanceOptions, io: Io): Promise<ConformanceSummary> {
  const entries = await listDirectory(dir);
  let kind: SuiteKind | undefined;
  if (opts.suite !== undefined) {
    kind = SUITE_KINDS.find((k) => k.name === opts.suite);
    if (!kind) throw new UsageError(`--suite: unknown suite '${opts.suite}', expected one of: ${SUITE_KINDS.map((k) => k.name).join(', ')}`);
  } else {
    for (const k of SUITE_KINDS) if (await k.detect(dir, entries)) { kind = k; break; }
    if (!kind) throw new InputError(`${dir}: no conformance tests found (looked for ${SUITE_KINDS.map((k) => `${k.name} ${k.describeTests}`).join(', ')})`);
  }

  let tests = await kind.list(dir, entries);
  if (tests.length === 0) throw new InputError(`${dir}: no ${kind.name} ${kind.describeTests} found`);
  if (opts.filter !== undefined) {
    const filter = opts.filter;
    tests = tests.filter((t) => t.name.includes(filter));
    if (tests.length === 0) throw new InputError(`${dir}: no ${kind.name} test name contains '${filter}'`);
  }

  const timeoutSec = opts.timeoutSec ?? DEFAULT_TEST_TIMEOUT_SEC;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const test of tests) {
    const outcome = await kind.run(test, { timeoutSec });
    switch (outcome.status) {
      case 'pass': passed++; io.out(`${test.name} PASS\n`); break;
      case 'fail': failed++; io.out(`${test.name} FAIL (${outcome.detail})\n`); break;
      case 'skip': skipped++; io.out(`${test.name} SKIP (${outcome.detail})\n`); break;
    }
  }
  io.out(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  return { suite: kind.name, passed, failed, skipped };
}

/**
 * Runs a conformance suite folder: picks the suite kind (named, or detected), runs its tests one by one and prints
 * one line per test (`name PASS`, `name PASS (detail)`, `name FAIL (detail)` with any notes indented under it,
 * `name SKIP (detail)`), then `N passed, N failed` with `, N skipped` appended when there are any.
 */
import type { ExecutorName } from '../args.js';
import type { Io } from '../command.js';
import { byteWriter } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { listDirectory } from '../files.js';
import { Progress } from '../progress.js';
import { kvmUnitTests } from './kvm-unit-tests.js';
import { riscvTests } from './riscv-tests.js';
import type { SuiteKind, SuiteOption, TestCase } from './suite.js';

/** Known suite kinds, most specific first (detection takes the first that matches). */
export const SUITE_KINDS: readonly SuiteKind[] = [kvmUnitTests, riscvTests];

export interface ConformanceOptions {
  /** Suite kind name; detected from the folder when absent. */
  suite?: string;
  /** Per-test limit in seconds; the suite's (or test's) default when absent. */
  timeoutSec?: number;
  /** Only tests whose name contains one of these comma-separated substrings. */
  filter?: string;
  /** vCPUs for the tests that take as many as there are (kvm-unit-tests); default 1. */
  vcpus?: number;
  /** Executor of S-mode tests; default threads. */
  executor?: ExecutorName;
  /** Seed of the deterministic executor; default 1. */
  seed?: number;
  /** Echo each test's guest console to stdout (before its result line) and hartvisor's warnings to stderr. */
  verbose?: boolean;
}

export interface ConformanceSummary {
  readonly suite: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

const OPTION_FLAGS: Readonly<Record<SuiteOption, string>> = { vcpus: '--vcpus', executor: '--executor', seed: '--seed' };

/**
 * Runs every test of the suite in `dir` and prints the result lines to `io.out`.
 * @throws InputError when the folder is unreadable or holds no test (after --filter); UsageError for an unknown
 * suite or an option the suite does not take
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
  for (const [option, flag] of Object.entries(OPTION_FLAGS) as [SuiteOption, string][]) {
    if (opts[option] !== undefined && !kind.accepts.includes(option)) {
      throw new UsageError(`${flag} does not apply to ${kind.name} (its tests run bare metal on one hart)`);
    }
  }

  let tests: TestCase[] = await kind.list(dir, entries);
  if (tests.length === 0) throw new InputError(`${dir}: no ${kind.name} ${kind.describeTests} found`);
  if (opts.filter !== undefined) {
    const parts = opts.filter.split(',').filter((p) => p !== '');
    tests = tests.filter((t) => parts.some((p) => t.name.includes(p)));
    if (tests.length === 0) throw new InputError(`${dir}: no ${kind.name} test name contains '${parts.join("' or '")}'`);
  }

  const write = byteWriter(io);
  let echoEndsLine = true;
  const echo = opts.verbose ? (bytes: Uint8Array) => { write(bytes); if (bytes.length) echoEndsLine = bytes[bytes.length - 1] === 0x0a; } : undefined;
  const runOptions = {
    timeoutSec: opts.timeoutSec,
    vcpus: opts.vcpus ?? 1,
    executor: opts.executor ?? 'threads',
    seed: opts.seed ?? 1,
    echo,
    warn: opts.verbose ? (m: string) => io.err(`hartvisor: warning: ${m}\n`) : undefined,
  } as const;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  // On a terminal, the test running now (and for how long) on one line of stderr; elsewhere the result lines
  // are the progress. Not with --verbose, whose guest console shares the terminal.
  const progress = new Progress(io, io.errIsTty === true && !opts.verbose, false);
  const out = (text: string) => progress.out(text);
  try {
    for (const [i, test] of tests.entries()) {
      if (test.skip !== undefined) { skipped++; out(`${test.name} SKIP (${test.skip})\n`); continue; }
      if (echo) io.out(`== ${test.name}\n`);
      progress.step(`conformance: [${i + 1}/${tests.length}] ${test.name}, ${passed} passed, ${failed} failed so far`);
      const outcome = await kind.run(test, runOptions);
      if (!echoEndsLine) { io.out('\n'); echoEndsLine = true; }
      switch (outcome.status) {
        case 'pass': passed++; out(`${test.name} PASS${outcome.detail !== undefined ? ` (${outcome.detail})` : ''}\n`); break;
        case 'fail':
          failed++;
          out(`${test.name} FAIL (${outcome.detail})\n${(outcome.notes ?? []).map((note) => `  ${note}\n`).join('')}`);
          break;
        case 'skip': skipped++; out(`${test.name} SKIP (${outcome.detail})\n`); break;
      }
    }
  } finally {
    progress.end();
  }
  io.out(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  return { suite: kind.name, passed, failed, skipped };
}

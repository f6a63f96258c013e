/**
 * A conformance suite kind: how to find the tests of one external suite in a folder and how to run one of them.
 * `riscv-tests.ts` is the first kind; kvm-unit-tests (`*.flat` images booted in S-mode, reporting their own
 * PASS/FAIL/SKIP lines) is the next, as a file beside it registered in `SUITE_KINDS`.
 */

/** One test of a suite. */
export interface TestCase {
  /** Name printed at the start of its result line (no spaces). */
  readonly name: string;
  /** The image (or other file) that embodies it. */
  readonly path: string;
}

/** How one test ended. `detail` is one short line, printed in parentheses after FAIL or SKIP. */
export type TestOutcome =
  | { readonly status: 'pass' }
  | { readonly status: 'fail'; readonly detail: string }
  | { readonly status: 'skip'; readonly detail: string };

/** Settings shared by every test of a run. */
export interface SuiteRunOptions {
  /** Wall-clock limit per test, in seconds. */
  readonly timeoutSec: number;
}

/** One kind of external test suite. */
export interface SuiteKind {
  /** Name for `--suite` and messages, e.g. 'riscv-tests'. */
  readonly name: string;
  /** What its tests are, for messages ("ELF test images"). */
  readonly describeTests: string;
  /** True when the folder looks like a copy of this suite. `entries` are its entry names, sorted. */
  detect(dir: string, entries: readonly string[]): Promise<boolean>;
  /** The suite's tests in the folder, in the order to run them. */
  list(dir: string, entries: readonly string[]): Promise<TestCase[]>;
  /** Runs one test. Failures of the test (including a bad image) are outcomes, not exceptions. */
  run(test: TestCase, opts: SuiteRunOptions): Promise<TestOutcome>;
}

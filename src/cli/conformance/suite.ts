/**
 * A conformance suite kind: how to find the tests of one external suite in a folder and how to run one of them.
 * Kinds: `riscv-tests.ts` (bare-metal M-mode ELF images, HTIF exit code) and `kvm-unit-tests.ts` (`*.flat` images
 * booted in S-mode as `unittests.cfg` says, reporting their own PASS/FAIL/SKIP lines), registered in
 * `SUITE_KINDS` (runner.ts).
 */
import type { ExecutorName } from '../args.js';
import { InputError } from '../errors.js';
import { readInputFile } from '../files.js';

/** One test of a suite. Kinds may carry more per-test settings in a subtype. */
export interface TestCase {
  /** Name printed at the start of its result line (no spaces). */
  readonly name: string;
  /** The image (or other file) that embodies it. */
  readonly path: string;
  /** Why the test cannot run here (its image is missing, it is for another architecture); it is then SKIPped. */
  readonly skip?: string;
}

/**
 * How one test ended. `detail` is one short line, printed in parentheses after the status. `notes` are lines
 * printed under the result line, indented (e.g. the guest's own FAIL lines).
 */
export type TestOutcome =
  | { readonly status: 'pass'; readonly detail?: string }
  | { readonly status: 'fail'; readonly detail: string; readonly notes?: readonly string[] }
  | { readonly status: 'skip'; readonly detail: string };

/** Settings shared by every test of a run. */
export interface SuiteRunOptions {
  /** Wall-clock limit per test, in seconds; undefined to use the suite's (or the test's own) default. */
  readonly timeoutSec: number | undefined;
  /** vCPUs for tests that take "as many as you have" (kvm-unit-tests `smp = $MAX_SMP`). */
  readonly vcpus: number;
  readonly executor: ExecutorName;
  readonly seed: number;
  /** Receives the guest console of each test as it runs (`--verbose`); absent to keep it quiet. */
  readonly echo?: (bytes: Uint8Array) => void;
  /** Receives hartvisor's warnings about a guest (`--verbose`); absent to drop them. */
  readonly warn?: (message: string) => void;
}

/** The options of `SuiteRunOptions` that only some kinds take (they refuse the others on the command line). */
export type SuiteOption = 'vcpus' | 'executor' | 'seed';

/** One kind of external test suite. */
export interface SuiteKind<T extends TestCase = TestCase> {
  /** Name for `--suite` and messages, e.g. 'riscv-tests'. */
  readonly name: string;
  /** What its tests are, for messages ("ELF test images"). */
  readonly describeTests: string;
  /** Per-test wall-clock limit when neither the command line nor the test sets one, in seconds. */
  readonly defaultTimeoutSec: number;
  /** Which of the optional run settings mean something to this kind. */
  readonly accepts: readonly SuiteOption[];
  /** True when the folder looks like a copy of this suite. `entries` are its entry names, sorted. */
  detect(dir: string, entries: readonly string[]): Promise<boolean>;
  /** The suite's tests in the folder, in the order to run them. @throws InputError for an unreadable suite file */
  list(dir: string, entries: readonly string[]): Promise<T[]>;
  /** Runs one test (never one with `skip`). Failures of the test (including a bad image) are outcomes, not exceptions. */
  run(test: T, opts: SuiteRunOptions): Promise<TestOutcome>;
}

/** A test's image, or a failed outcome naming why it cannot be read (missing, unreadable, not a file). */
export async function readTestImage(path: string): Promise<Uint8Array | TestOutcome> {
  try {
    return await readInputFile(path, 'test image');
  } catch (err) {
    if (err instanceof InputError) return { status: 'fail', detail: err.message };
    throw err;
  }
}

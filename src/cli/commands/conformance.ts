/**
 * `hartvisor conformance DIR`: runs an external conformance suite from a folder (riscv-tests today) and prints
 * one line per test and a closing count. Exit status 0 only if no test failed.
 */
import { expectPositionals, parseCommandLine, parseTimeoutSec } from '../args.js';
import type { Command } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { DEFAULT_TEST_TIMEOUT_SEC, SUITE_KINDS, runConformance } from '../conformance/runner.js';

const OPTIONS = {
  timeout: { type: 'string' },
  filter: { type: 'string' },
  suite: { type: 'string' },
} as const;

const HELP = `Usage: hartvisor conformance DIR [--timeout SECONDS] [--filter SUBSTRING] [--suite KIND]

Runs every test of a conformance suite kept in DIR, one after the other, and
prints one line per test ("NAME PASS", "NAME FAIL (reason)", "NAME SKIP (reason)"),
then "N passed, N failed" (", N skipped" when some were skipped).
riscv-tests: every ELF file in DIR is a test (other files are passed over); it
runs bare-metal in M-mode and passes when it exits through HTIF with code 0.
The exit status is 0 when no test failed, 101 otherwise.

Options:
  --timeout SECONDS    wall-clock limit per test (default ${DEFAULT_TEST_TIMEOUT_SEC})
  --filter SUBSTRING   run only the tests whose name contains SUBSTRING
  --suite KIND         suite kind, one of: ${SUITE_KINDS.map((k) => k.name).join(', ')} (default: detected from DIR)
  -h, --help           show this help
`;

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: 'run a conformance suite folder (riscv-tests) and report PASS/FAIL per test',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandLine('conformance', args, OPTIONS);
    if (values.help) { io.out(HELP); return ExitCode.OK; }
    const [dir] = expectPositionals('conformance', positionals, ['DIR']);
    const timeoutSec = values.timeout === undefined ? undefined : parseTimeoutSec(values.timeout);
    const summary = await runConformance(dir, { timeoutSec, filter: values.filter, suite: values.suite }, io);
    return summary.failed === 0 ? ExitCode.OK : ExitCode.TESTS_FAILED;
  },
};

/**
 * `hartvisor conformance DIR`: runs an external conformance suite from a folder (riscv-tests, kvm-unit-tests) and
 * prints one line per test and a closing count. Exit status 0 only if no test failed.
 */
import { expectPositionals, parseCommandLine, parseExecutor, parseSeed, parseTimeoutSec, parseVcpuCount } from '../args.js';
import type { Command } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { SUITE_KINDS, runConformance } from '../conformance/runner.js';

const OPTIONS = {
  timeout: { type: 'string' },
  filter: { type: 'string' },
  suite: { type: 'string' },
  vcpus: { type: 'string' },
  executor: { type: 'string' },
  seed: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

const HELP = `Usage: hartvisor conformance DIR [--timeout SECONDS] [--filter TEXT[,TEXT...]] [--suite KIND]
                            [--vcpus N] [--executor threads|deterministic] [--seed N] [--verbose]

Runs every test of a conformance suite kept in DIR, one after the other, and
prints one line per test ("NAME PASS", "NAME FAIL (reason)", "NAME SKIP (reason)"),
then "N passed, N failed" (", N skipped" when some were skipped).
The exit status is 0 when no test failed, 101 otherwise.

riscv-tests: every ELF file in DIR is a test (other files are passed over); it
runs bare metal in M-mode and passes when it exits through HTIF with code 0.

kvm-unit-tests (DIR holds unittests.cfg and *.flat images): each [section] of
unittests.cfg is a test, booted in S-mode with its test_args as kernel command
line on smp vCPUs ("$MAX_SMP" = --vcpus); a section whose file is not in DIR is
skipped. *.flat images no section names run after them, on --vcpus vCPUs. A
test passes when its console has no FAIL line and ends with "EXIT: STATUS=1";
its line counts the guest's PASS/FAIL/SKIP lines, and its FAIL lines are listed
under a failed test:
  sbi PASS (47 pass, 0 fail, 13 skip)

Options:
  --timeout SECONDS    wall-clock limit per test (default: riscv-tests 10; kvm-unit-tests
                       the section's timeout, else 300)
  --filter TEXT[,...]  run only the tests whose name contains one of the TEXTs
  --suite KIND         suite kind, one of: ${SUITE_KINDS.map((k) => k.name).join(', ')} (default: detected from DIR)
  --vcpus N            kvm-unit-tests: vCPUs for "smp = $MAX_SMP" and unlisted images,
                       and the most any test gets (default 1)
  --executor KIND      kvm-unit-tests: threads (default) or deterministic
  --seed N             kvm-unit-tests: seed of the deterministic executor (default 1)
  -v, --verbose        show each test's guest console (and hartvisor's warnings on stderr)
  -h, --help           show this help
`;

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: 'run a conformance suite folder (riscv-tests, kvm-unit-tests) and report PASS/FAIL per test',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandLine('conformance', args, OPTIONS);
    if (values.help) { io.out(HELP); return ExitCode.OK; }
    const [dir] = expectPositionals('conformance', positionals, ['DIR']);
    const summary = await runConformance(dir, {
      timeoutSec: values.timeout === undefined ? undefined : parseTimeoutSec(values.timeout),
      filter: values.filter,
      suite: values.suite,
      vcpus: values.vcpus === undefined ? undefined : parseVcpuCount('--vcpus', values.vcpus),
      executor: values.executor === undefined ? undefined : parseExecutor(values.executor),
      seed: values.seed === undefined ? undefined : parseSeed(values.seed),
      verbose: values.verbose,
    }, io);
    return summary.failed === 0 ? ExitCode.OK : ExitCode.TESTS_FAILED;
  },
};

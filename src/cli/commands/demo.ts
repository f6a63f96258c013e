/**
 * `hartvisor demo`: a first look at what hartvisor does on this machine: the riscv-tests conformance suite (from
 * ../shared beside the checkout, or $HARTVISOR_RISCV_TESTS) and the bench loop guest (guests/images), each if
 * present. A placeholder until the guided demo of later issues replaces it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runBareMetal } from '../../host/bare.js';
import { parseCommandLine, expectPositionals } from '../args.js';
import type { Command } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { readInputFile } from '../files.js';
import { repoRoot, riscvTestsDir } from '../paths.js';
import { runConformance } from '../conformance/runner.js';

const HELP = `Usage: hartvisor demo

Shows hartvisor at work: runs the riscv-tests conformance suite (from
../shared/conformance/riscv-tests beside the checkout, or $HARTVISOR_RISCV_TESTS)
and then the bench loop guest (guests/images/bench-loop.elf), each if present,
and prints the results. Exit status 0 when everything that ran passed, 101 otherwise.

Options:
  -h, --help   show this help
`;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the riscv-tests suite and the bench loop guest, if present',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandLine('demo', args, {});
    if (values.help) { io.out(HELP); return ExitCode.OK; }
    expectPositionals('demo', positionals, []);
    let ok = true;

    const testsDir = riscvTestsDir();
    if (testsDir && existsSync(testsDir)) {
      io.out(`== riscv-tests conformance suite (${testsDir})\n`);
      const summary = await runConformance(testsDir, { suite: 'riscv-tests' }, io);
      ok &&= summary.failed === 0;
    } else {
      io.out(`== riscv-tests conformance suite: not found (${testsDir ?? '../shared/conformance/riscv-tests'}), skipped\n`);
    }

    const root = repoRoot();
    const loop = root ? join(root, 'guests/images/bench-loop.elf') : null;
    if (loop && existsSync(loop)) {
      io.out(`\n== bench loop guest (${loop})\n`);
      const r = await runBareMetal(await readInputFile(loop), { timeoutSec: 120, onOutput: (s) => io.out(s) });
      const mips = r.seconds > 0 ? (r.instret / r.seconds / 1e6).toFixed(1) : '-';
      const how = r.reason === 'exit' ? `exit code ${r.exitCode}` : `${r.reason}: ${r.message ?? ''}`;
      io.out(`bench-loop: ${how}, ${r.instret} instructions in ${r.seconds.toFixed(2)} s = ${mips} MIPS\n`);
      ok &&= r.reason === 'exit' && r.exitCode === 0;
    } else {
      io.out('\n== bench loop guest: guests/images/bench-loop.elf not found, skipped\n');
    }
    return ok ? ExitCode.OK : ExitCode.TESTS_FAILED;
  },
};

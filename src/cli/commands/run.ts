/**
 * `hartvisor run IMAGE`: boots one guest and runs it to the end. Today that is a bare-metal M-mode image on one
 * vCPU (riscv-tests style, HTIF console and exit). The command line is first turned into a `RunConfig`, and the
 * config picks the way to boot; S-mode kernels with SBI, several vCPUs and devices come in as new fields and a
 * new boot mode, without touching the parsing of the old ones.
 */
import { ImageError } from '../../boot/image-error.js';
import { DEFAULT_BARE_MEMORY_MIB, MAX_MEMORY_MIB, runBareMetal } from '../../host/bare.js';
import type { BareRunResult } from '../../host/bare.js';
import { expectPositionals, parseCommandLine, parseMemoryMiB, parseTimeoutSec } from '../args.js';
import type { Command, Io } from '../command.js';
import { ExitCode, guestExitStatus } from '../exit-codes.js';
import { readInputFile } from '../files.js';

/** A validated `run` command line. */
export interface RunConfig {
  /** How the guest is started: 'bare' = M-mode at the image entry, no firmware (the only mode so far). */
  readonly mode: 'bare';
  readonly imagePath: string;
  readonly memoryMiB: number;
  /** Wall-clock limit in seconds, or undefined for none. */
  readonly timeoutSec: number | undefined;
}

const OPTIONS = {
  memory: { type: 'string' },
  timeout: { type: 'string' },
} as const;

const HELP = `Usage: hartvisor run IMAGE [--memory MiB] [--timeout SECONDS]

Runs a bare-metal RV32 guest on one vCPU: IMAGE (an ELF32 RISC-V executable, or a
flat binary loaded at 0x80000000) starts in M-mode at its entry point, with RAM at
0x80000000 and HTIF (tohost/fromhost symbols) as console and exit.
The guest's console output goes to stdout. The exit status is the guest's HTIF
exit code (1-99 as is; 100 for larger codes), 124 on timeout, 102 if the guest
dies in a trap loop; see README.md for all exit codes.

Options:
  --memory MiB        guest RAM in MiB, 1-${MAX_MEMORY_MIB} (default ${DEFAULT_BARE_MEMORY_MIB})
  --timeout SECONDS   stop the guest after this much wall-clock time (default: none)
  -h, --help          show this help
`;

/** Turns the command line into a RunConfig. @throws UsageError */
export function parseRunArgs(args: string[]): RunConfig | 'help' {
  const { values, positionals } = parseCommandLine('run', args, OPTIONS);
  if (values.help) return 'help';
  const [imagePath] = expectPositionals('run', positionals, ['IMAGE']);
  return {
    mode: 'bare',
    imagePath,
    memoryMiB: values.memory === undefined ? DEFAULT_BARE_MEMORY_MIB : parseMemoryMiB(values.memory),
    timeoutSec: values.timeout === undefined ? undefined : parseTimeoutSec(values.timeout),
  };
}

async function runBare(config: RunConfig, io: Io): Promise<number> {
  const image = await readInputFile(config.imagePath);
  let atLineStart = true;
  let result: BareRunResult;
  try {
    result = await runBareMetal(image, {
      memoryMiB: config.memoryMiB,
      timeoutSec: config.timeoutSec,
      onOutput: (s) => { io.out(s); atLineStart = s.endsWith('\n'); },
    });
  } catch (err) {
    // Name the file: "guest.elf: image does not fit in guest RAM: ..."
    if (err instanceof ImageError) throw new ImageError(err.code, `${config.imagePath}: ${err.message}`);
    throw err;
  }
  // Keep our one-line report off the end of an unfinished console line.
  const report = (line: string) => io.err(`${atLineStart ? '' : '\n'}hartvisor: ${line}\n`);
  switch (result.reason) {
    case 'exit': {
      const code = result.exitCode ?? 0;
      const status = guestExitStatus(code);
      if (status === ExitCode.GUEST_CODE_TOO_BIG) report(`guest exited with code ${code} (exit status ${status} stands for codes above ${ExitCode.GUEST_MAX})`);
      else if (code !== 0) report(`guest exited with code ${code}`);
      return status;
    }
    case 'timeout':
      report(`${result.message ?? 'timeout'}; ${result.instret} instructions retired`);
      return ExitCode.TIMEOUT;
    case 'trap':
      report(`guest fault: ${result.message ?? 'trap loop'}`);
      return ExitCode.GUEST_FAULT;
    case 'error':
      report(`guest fault: ${result.message ?? 'unserviceable request'}`);
      return ExitCode.GUEST_FAULT;
  }
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run a bare-metal RV32 image (ELF or flat binary) in M-mode on one vCPU',
  help: HELP,
  async run(args, io) {
    const config = parseRunArgs(args);
    if (config === 'help') { io.out(HELP); return ExitCode.OK; }
    switch (config.mode) {
      case 'bare': return runBare(config, io);
    }
  },
};

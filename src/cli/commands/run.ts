/**
 * `hartvisor run IMAGE`: boots one guest and runs it to the end. The command line is first turned into a
 * `RunConfig`; then the image picks the way to boot:
 *  - bare metal (an ELF with a `tohost` symbol, riscv-tests style, or `--bare`): M-mode at the image entry on one
 *    vCPU, HTIF console and exit, no firmware (host/bare.ts);
 *  - S-mode (everything else: flat images, other ELFs): a VM with SBI, a device tree and several vCPUs (smode.ts).
 */
import { isElf, parseElf } from '../../boot/elf.js';
import { ImageError } from '../../boot/image-error.js';
import { DEFAULT_BARE_MEMORY_MIB, MAX_MEMORY_MIB, runBareMetal } from '../../host/bare.js';
import type { BareRunResult } from '../../host/bare.js';
import {
  MAX_VCPUS, expectPositionals, parseCommandLine, parseExecutor, parseHartStopPolicy,
  parseMemoryMiB, parseSeed, parseTimeoutSec, parseVcpuCount,
} from '../args.js';
import type { ExecutorName, HartStopPolicy } from '../args.js';
import { byteWriter } from '../command.js';
import type { Command, Io } from '../command.js';
import { UsageError } from '../errors.js';
import { ExitCode, guestExitStatus } from '../exit-codes.js';
import { readInputFile } from '../files.js';
import { DEFAULT_SMODE_MEMORY_MIB, runSmodeGuest } from '../smode.js';
import type { SmodeRunResult } from '../smode.js';

/** A validated `run` command line. */
export interface RunConfig {
  readonly imagePath: string;
  /** 'auto': bare metal for an ELF with a `tohost` symbol, S-mode otherwise. 'bare': `--bare`. */
  readonly boot: 'auto' | 'bare';
  /** Guest RAM in MiB; undefined for the default of the boot mode (bare 128, S-mode 256). */
  readonly memoryMiB: number | undefined;
  /** Wall-clock limit in seconds, or undefined for none. */
  readonly timeoutSec: number | undefined;
  /** S-mode: possible and present harts (`--vcpus`). */
  readonly vcpus: number;
  /** S-mode: most vCPUs the VM may have (`--max-vcpus`, >= vcpus); the VM's maxVcpus for now. */
  readonly maxVcpus: number;
  /** S-mode: kernel command line (`--append`). */
  readonly bootargs: string;
  readonly executor: ExecutorName;
  readonly seed: number;
  readonly onHartStop: HartStopPolicy;
  /** The S-mode-only options that were given (refused when the image boots bare metal). */
  readonly smodeOptions: readonly string[];
}

const OPTIONS = {
  memory: { type: 'string' },
  timeout: { type: 'string' },
  vcpus: { type: 'string' },
  'max-vcpus': { type: 'string' },
  append: { type: 'string' },
  executor: { type: 'string' },
  seed: { type: 'string' },
  'on-hart-stop': { type: 'string' },
  bare: { type: 'boolean' },
} as const;

/** Options that only mean something for an S-mode guest. */
const SMODE_ONLY = ['vcpus', 'max-vcpus', 'append', 'executor', 'seed', 'on-hart-stop'] as const;

const HELP = `Usage: hartvisor run IMAGE [--vcpus N] [--max-vcpus M] [--append ARGS] [--memory MiB]
                    [--executor threads|deterministic] [--seed N]
                    [--on-hart-stop destroy|keep] [--timeout SECONDS] [--bare]

Boots IMAGE (an ELF32 RISC-V executable or a flat binary) and runs it to the end.
The guest's console goes to stdout as raw bytes; a terminal or pipe on stdin is
the console input (on a terminal, in raw mode: Ctrl-A x ends the run).

S-mode (flat images, and ELF files without a tohost symbol): a VM with RAM at
0x80000000, the image at its ELF addresses or, flat, at 0x80400000, and a device
tree (16550 UART, harts, bootargs). Hart 0 enters the image in S-mode with
a0 = 0 and a1 = the device tree; the others are stopped until the guest starts
them with SBI HSM. The run ends with SBI system reset (SRST).
Bare metal (ELF files with a tohost symbol, riscv-tests style, or --bare): one
vCPU in M-mode at the image entry (a flat image at 0x80000000), no firmware,
HTIF (tohost/fromhost) as console and exit.

Exit status: the guest's own code (S-mode SRST: 0, or 1 for a system failure;
bare metal HTIF: 0-99, 100 for larger codes); 102 the guest died (trap loop);
106 every hart stopped (S-mode); 124 timeout; 130 Ctrl-C or Ctrl-A x;
103 bad command line; 104 bad or unfitting image. See README.md for all codes.

Options:
  --vcpus N             S-mode: harts of the machine, 1-${MAX_VCPUS} (default 1)
  --max-vcpus M         S-mode: most vCPUs the VM may have, N-${MAX_VCPUS} (default N)
  --append ARGS         S-mode: kernel command line (device tree /chosen/bootargs)
  --memory MiB          guest RAM in MiB, 1-${MAX_MEMORY_MIB} (default ${DEFAULT_SMODE_MEMORY_MIB} S-mode, ${DEFAULT_BARE_MEMORY_MIB} bare metal)
  --executor KIND       S-mode: threads (one thread per vCPU, the default) or deterministic
                        (all vCPUs on one thread, interleaved by a seeded scheduler in
                        virtual time: the same seed and input give the same run)
  --seed N              S-mode: scheduler seed of the deterministic executor (default 1)
  --on-hart-stop WHAT   S-mode: what SBI HSM hart_stop does to the vCPU: destroy (free it and
                        its thread, the default) or keep (park it, stopped)
  --timeout SECONDS     stop the guest after this much wall-clock time (default: none)
  --bare                run bare metal in M-mode whatever the image
  -h, --help            show this help
`;

/** Turns the command line into a RunConfig. @throws UsageError */
export function parseRunArgs(args: string[]): RunConfig | 'help' {
  const { values, positionals } = parseCommandLine('run', args, OPTIONS);
  if (values.help) return 'help';
  const [imagePath] = expectPositionals('run', positionals, ['IMAGE']);
  const vcpus = values.vcpus === undefined ? 1 : parseVcpuCount('--vcpus', values.vcpus);
  const maxVcpus = values['max-vcpus'] === undefined ? vcpus : parseVcpuCount('--max-vcpus', values['max-vcpus']);
  if (maxVcpus < vcpus) throw new UsageError(`--max-vcpus ${maxVcpus} is less than --vcpus ${vcpus}`);
  const smodeOptions = SMODE_ONLY.filter((name) => values[name] !== undefined).map((name) => `--${name}`);
  if (values.bare && smodeOptions.length > 0) {
    throw new UsageError(`${smodeOptions[0]} is for S-mode guests and cannot be used with --bare`);
  }
  return {
    imagePath,
    boot: values.bare ? 'bare' : 'auto',
    memoryMiB: values.memory === undefined ? undefined : parseMemoryMiB(values.memory),
    timeoutSec: values.timeout === undefined ? undefined : parseTimeoutSec(values.timeout),
    vcpus,
    maxVcpus,
    bootargs: values.append ?? '',
    executor: values.executor === undefined ? 'threads' : parseExecutor(values.executor),
    seed: values.seed === undefined ? 1 : parseSeed(values.seed),
    onHartStop: values['on-hart-stop'] === undefined ? 'destroy' : parseHartStopPolicy(values['on-hart-stop']),
    smodeOptions,
  };
}

/** True for a riscv-tests style image: an ELF with a `tohost` symbol (HTIF). @throws ImageError for a bad ELF */
export function isBareMetalImage(image: Uint8Array): boolean {
  return isElf(image) && parseElf(image).symbols.has('tohost');
}

/** The error to report: an ImageError gets the file name in front ("guest.elf: image does not fit ..."). */
function withFileName(path: string, err: unknown): unknown {
  return err instanceof ImageError ? new ImageError(err.code, `${path}: ${err.message}`) : err;
}

/** Writes hartvisor's own one-line reports to stderr, never glued to the end of an unfinished console line. */
class Reporter {
  private atLineStart = true;
  constructor(private readonly io: Io) {}
  /** Notes console output (to know whether it ended a line). */
  console(lastByte: number | undefined): void { if (lastByte !== undefined) this.atLineStart = lastByte === 0x0a; }
  line(text: string): void {
    this.io.err(`${this.atLineStart ? '' : '\n'}hartvisor: ${text}\n`);
    this.atLineStart = true;
  }
}

async function runBare(config: RunConfig, image: Uint8Array, io: Io): Promise<number> {
  const report = new Reporter(io);
  let result: BareRunResult;
  try {
    result = await runBareMetal(image, {
      memoryMiB: config.memoryMiB ?? DEFAULT_BARE_MEMORY_MIB,
      timeoutSec: config.timeoutSec,
      onOutput: (s) => { io.out(s); if (s) report.console(s.endsWith('\n') ? 0x0a : 0); },
    });
  } catch (err) {
    throw withFileName(config.imagePath, err);
  }
  switch (result.reason) {
    case 'exit': {
      const code = result.exitCode ?? 0;
      const status = guestExitStatus(code);
      if (status === ExitCode.GUEST_CODE_TOO_BIG) report.line(`guest exited with code ${code} (exit status ${status} stands for codes above ${ExitCode.GUEST_MAX})`);
      else if (code !== 0) report.line(`guest exited with code ${code}`);
      return status;
    }
    case 'timeout':
      report.line(`${result.message ?? 'timeout'}; ${result.instret} instructions retired`);
      return ExitCode.TIMEOUT;
    case 'trap':
      report.line(`guest fault: ${result.message ?? 'trap loop'}`);
      return ExitCode.GUEST_FAULT;
    case 'error':
      report.line(`guest fault: ${result.message ?? 'unserviceable request'}`);
      return ExitCode.GUEST_FAULT;
  }
}

/** Delay before a warning is printed: long enough to learn whether it describes a fatal error, reported once. */
const WARNING_DELAY_MS = 50;

async function runSmode(config: RunConfig, image: Uint8Array, io: Io): Promise<number> {
  const report = new Reporter(io);
  const write = byteWriter(io);
  // hv reports the cause of a fatal error as a warning just before the VM ends; holding warnings back a moment
  // lets that cause appear once, in the "guest fault" line, instead of twice.
  const warnings: string[] = [];
  let warningTimer: NodeJS.Timeout | undefined;
  const flushWarnings = () => {
    clearTimeout(warningTimer);
    warningTimer = undefined;
    for (const m of warnings.splice(0)) report.line(`warning: ${m}`);
  };
  let result: SmodeRunResult;
  try {
    result = await runSmodeGuest(image, {
      memoryMiB: config.memoryMiB ?? DEFAULT_SMODE_MEMORY_MIB,
      maxVcpus: config.maxVcpus,
      bootargs: config.bootargs,
      executor: config.executor,
      seed: config.seed,
      onHartStop: config.onHartStop,
      timeoutSec: config.timeoutSec,
      onOutput: (bytes) => { write(bytes); report.console(bytes.at(-1)); },
      onWarn: (message) => { warnings.push(message); warningTimer ??= setTimeout(flushWarnings, WARNING_DELAY_MS); },
      connect: io.connectConsole ? (link) => io.connectConsole!(link) : undefined,
    });
  } catch (err) {
    throw withFileName(config.imagePath, err);
  } finally {
    clearTimeout(warningTimer);
  }
  if (result.reason === 'fatal') {
    const i = warnings.lastIndexOf(result.message);
    if (i >= 0) warnings.splice(i, 1);
  }
  flushWarnings();
  switch (result.reason) {
    case 'shutdown':
      if (result.exitCode === 0) return ExitCode.OK;
      report.line('guest shut down reporting a system failure (SBI SRST)');
      return ExitCode.GUEST_SYSTEM_FAILURE;
    case 'fatal':
      report.line(`guest fault: ${result.message}`);
      return ExitCode.GUEST_FAULT;
    case 'stalled':
      report.line('every hart is stopped (SBI HSM) and none can start again: the guest is stalled');
      return ExitCode.GUEST_STALLED;
    case 'timeout':
      report.line(`timeout after ${config.timeoutSec} s`);
      return ExitCode.TIMEOUT;
    case 'stopped':
      report.line(result.message);
      return result.status;
  }
}

export const runCommand: Command = {
  name: 'run',
  summary: 'boot an RV32 image: S-mode on N vCPUs (SBI, device tree), or bare metal in M-mode (HTIF)',
  help: HELP,
  async run(args, io) {
    const config = parseRunArgs(args);
    if (config === 'help') { io.out(HELP); return ExitCode.OK; }
    const image = await readInputFile(config.imagePath);
    if (config.boot === 'bare') return runBare(config, image, io);
    let bare: boolean;
    try {
      bare = isBareMetalImage(image);
    } catch (err) {
      throw withFileName(config.imagePath, err);
    }
    if (!bare) return runSmode(config, image, io);
    if (config.smodeOptions.length > 0) {
      throw new UsageError(`${config.smodeOptions[0]} is for S-mode guests, but ${config.imagePath} runs bare metal in M-mode (an ELF with a tohost symbol)`);
    }
    return runBare(config, image, io);
  },
};

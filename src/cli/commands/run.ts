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
import { ScheduleError, parseHotplugJson, parseHotplugList } from '../../hv/hotplug-schedule.js';
import type { HotplugStep } from '../../hv/vm.js';
import { formatStatsTable } from '../../report/sampler.js';
import { buildChromeTrace, serializeChromeTrace } from '../../report/trace-json.js';
import {
  MAX_PLE_VALUE, MAX_VCPUS, expectPositionals, parseCommandLine, parseDirectedYield, parseExecutor, parseHartStopPolicy, parseUnsupportedPolicy, parseEngine,
  parseMemoryMiB, parsePcpus, parsePleValue, parseSeed, parseTimeoutSec, parseVcpuCount,
} from '../args.js';
import type { ExecutorName, HartStopPolicy, UnsupportedPolicy } from '../args.js';
import type { Engine } from '../../cpu/jit.js';
import { byteWriter } from '../command.js';
import type { Command, Io } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { ExitCode, guestExitStatus } from '../exit-codes.js';
import { checkOutputFile, readInputFile, writeOutputFile } from '../files.js';
import { DEFAULT_SMODE_MEMORY_MIB, runSmodeGuest } from '../smode.js';
import type { SmodeObservations, SmodeRunResult, SmodeSched } from '../smode.js';

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
  /** S-mode: what the guest kernel's unsupported instructions and SBI calls do (`--on-unsupported`). */
  readonly onUnsupported: UnsupportedPolicy;
  /** The execution engine (`--engine`); undefined: the default (the translator, or HARTVISOR_ENGINE). */
  readonly engine: Engine | undefined;
  /** S-mode: CPU slots, directed yield and pause-loop exiting; hv's defaults for what is absent. */
  readonly sched: SmodeSched;
  /** S-mode: the hotplug schedule, parsed (compact form) or still to be read from a JSON file (`@file`). */
  readonly hotplug: { readonly steps: readonly HotplugStep[] } | { readonly file: string } | undefined;
  /** S-mode: where to write the Chrome/Perfetto trace at the end (`--trace`). */
  readonly tracePath: string | undefined;
  /** S-mode: print the per-vCPU statistics table at the end (`--stats`). */
  readonly stats: boolean;
  /** The S-mode-only options that were given (refused when the image boots bare metal). */
  readonly smodeOptions: readonly string[];
}

const OPTIONS = {
  memory: { type: 'string' },
  timeout: { type: 'string' },
  engine: { type: 'string' },
  vcpus: { type: 'string' },
  'max-vcpus': { type: 'string' },
  append: { type: 'string' },
  executor: { type: 'string' },
  seed: { type: 'string' },
  'on-hart-stop': { type: 'string' },
  'on-unsupported': { type: 'string' },
  pcpus: { type: 'string' },
  'directed-yield': { type: 'string' },
  'ple-gap': { type: 'string' },
  'ple-window': { type: 'string' },
  'ple-grow': { type: 'string' },
  'ple-shrink': { type: 'string' },
  hotplug: { type: 'string' },
  trace: { type: 'string' },
  stats: { type: 'boolean' },
  bare: { type: 'boolean' },
} as const;

/** Options that only mean something for an S-mode guest. */
const SMODE_ONLY = [
  'vcpus', 'max-vcpus', 'append', 'executor', 'seed', 'on-hart-stop', 'on-unsupported', 'pcpus', 'directed-yield',
  'ple-gap', 'ple-window', 'ple-grow', 'ple-shrink', 'hotplug', 'trace', 'stats',
] as const;

const HELP = `Usage: hartvisor run IMAGE [--vcpus N] [--max-vcpus M] [--append ARGS] [--memory MiB] [--engine jit|interp]
                    [--executor threads|deterministic] [--seed N]
                    [--on-hart-stop destroy|keep] [--on-unsupported stop|report] [--timeout SECONDS] [--bare]
                    [--pcpus K] [--directed-yield off|on|pv] [--ple-gap N] [--ple-window N]
                    [--ple-grow N] [--ple-shrink N] [--hotplug SCHEDULE] [--trace FILE] [--stats]

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
103 bad command line; 104 bad or unfitting image, a --hotplug file that is
missing or wrong, a --trace file that cannot be written. See README.md for all codes.

Options:
  --vcpus N             S-mode: harts of the machine, 1-${MAX_VCPUS} (default 1)
  --max-vcpus M         S-mode: most vCPUs the VM may have, N-${MAX_VCPUS} (default N)
  --append ARGS         S-mode: kernel command line (device tree /chosen/bootargs)
  --engine E            jit (hot guest loops translated to WebAssembly, the default) or interp (the
                        reference interpreter); HARTVISOR_ENGINE sets the same
  --memory MiB          guest RAM in MiB, 1-${MAX_MEMORY_MIB} (default ${DEFAULT_SMODE_MEMORY_MIB} S-mode, ${DEFAULT_BARE_MEMORY_MIB} bare metal)
  --executor KIND       S-mode: threads (one thread per vCPU, the default) or deterministic
                        (all vCPUs on one thread, interleaved by a seeded scheduler in
                        virtual time: the same seed and input give the same run)
  --seed N              S-mode: scheduler seed of the deterministic executor (default 1)
  --on-hart-stop WHAT   S-mode: what SBI HSM hart_stop does to the vCPU: destroy (free it and
                        its thread, the default) or keep (park it, stopped)
  --on-unsupported P    S-mode: when the guest kernel executes an instruction or calls an SBI
                        function hartvisor lacks: stop (name it and exit ${ExitCode.GUEST_FAULT}, the
                        default) or report (name it once; the guest gets the illegal-instruction
                        trap or SBI_ERR_NOT_SUPPORTED hardware or firmware would give)
  --pcpus K             S-mode: CPU slots the vCPUs share, 1-M (default: threads, one per host
                        CPU, at most M; deterministic, M); fewer slots than vCPUs is overcommit
  --directed-yield P    S-mode: on a pause-loop exit, off (just carry on), on (give the CPU slot
                        to a preempted vCPU, KVM's kvm_vcpu_on_spin; the default) or pv (also
                        the guest's paravirtual YIELD_TO and KICK)
  --ple-gap N           S-mode: pause-loop exiting: PAUSEs at most N instructions apart are one
                        spin (default 128; 0 turns PLE off)
  --ple-window N        S-mode: a spin longer than N instructions exits (default 4096, 1-${MAX_PLE_VALUE})
  --ple-grow N          S-mode: the window grows on each exit: times N, or plus N when N is at
                        least the base window (default 2; 0 or 1: no growth)
  --ple-shrink N        S-mode: the window shrinks when the vCPU is scheduled in: divided by N,
                        or minus N when N is at least the base window (default 0: back to the base)
  --hotplug SCHEDULE    S-mode: add and remove vCPUs during the run, e.g. 200ms:+2,500ms:-1,1s:-3!
                        (+N adds vCPU N, -N removes it, a trailing ! forces the removal when
                        the guest does not stop the hart within 5 s), or @FILE.json with
                        [{"at":"200ms","add":2},{"at":"1s","remove":3,"force":true,"timeoutMs":500}].
                        Times count from boot: wall clock, or guest time with the deterministic
                        executor. One line per step on stderr: "hartvisor: hotplug 200ms: add vCPU 2: ok"
  --trace FILE          S-mode: write the run's scheduling trace as Chrome/Perfetto JSON to FILE
                        (open it at ui.perfetto.dev, or make a page with 'hartvisor report FILE')
  --stats               S-mode: print per-vCPU statistics (exits, PLE exits, yields...) on stderr
                        at the end
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
  const pcpus = values.pcpus === undefined ? undefined : parsePcpus(values.pcpus);
  if (pcpus !== undefined && pcpus > maxVcpus) {
    throw new UsageError(`--pcpus ${pcpus} is more than the ${maxVcpus} vCPU${maxVcpus === 1 ? '' : 's'} of the VM (--max-vcpus): a VM has at most one CPU slot per vCPU`);
  }
  const sched: SmodeSched = {
    ...(pcpus !== undefined ? { pcpus } : {}),
    ...(values['directed-yield'] !== undefined ? { directedYield: parseDirectedYield(values['directed-yield']) } : {}),
    ...(values['ple-gap'] !== undefined ? { pleGap: parsePleValue('--ple-gap', values['ple-gap'], 0) } : {}),
    ...(values['ple-window'] !== undefined ? { pleWindow: parsePleValue('--ple-window', values['ple-window'], 1) } : {}),
    ...(values['ple-grow'] !== undefined ? { pleGrow: parsePleValue('--ple-grow', values['ple-grow'], 0) } : {}),
    ...(values['ple-shrink'] !== undefined ? { pleShrink: parsePleValue('--ple-shrink', values['ple-shrink'], 0) } : {}),
  };
  let hotplug: RunConfig['hotplug'];
  if (values.hotplug !== undefined) {
    const spec = values.hotplug.trim();
    if (spec.startsWith('@')) {
      if (spec.length === 1) throw new UsageError("--hotplug: '@' must be followed by the path of a JSON schedule file");
      hotplug = { file: spec.slice(1) };
    } else {
      let steps: HotplugStep[];
      try {
        steps = parseHotplugList(spec);
      } catch (err) {
        if (err instanceof ScheduleError) throw new UsageError(`--hotplug: ${err.message}`);
        throw err;
      }
      const bad = impossibleStep(steps, maxVcpus);
      if (bad) throw new UsageError(`--hotplug: ${bad}`);
      hotplug = { steps };
    }
  }
  if (values.trace !== undefined && values.trace.trim() === '') throw new UsageError('--trace: expected a file name, got an empty string');
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
    onUnsupported: values['on-unsupported'] === undefined ? 'stop' : parseUnsupportedPolicy(values['on-unsupported']),
    engine: values.engine === undefined ? undefined : parseEngine(values.engine),
    sched,
    hotplug,
    tracePath: values.trace,
    stats: values.stats ?? false,
    smodeOptions,
  };
}

/** Why a step names a vCPU the VM cannot have, or null when every step is possible. */
function impossibleStep(steps: readonly HotplugStep[], maxVcpus: number): string | null {
  const step = steps.find((s) => s.id >= maxVcpus);
  if (!step) return null;
  return `step at ${step.atMs} ms names vCPU ${step.id}, but the VM's vCPU ids are 0-${maxVcpus - 1} (--max-vcpus ${maxVcpus})`;
}

/** The hotplug steps of a run: the parsed compact form, or the JSON file read and checked now. */
async function hotplugSteps(config: RunConfig): Promise<readonly HotplugStep[] | undefined> {
  const h = config.hotplug;
  if (h === undefined) return undefined;
  if ('steps' in h) return h.steps;
  const text = new TextDecoder().decode(await readInputFile(h.file, 'hotplug schedule'));
  let steps: HotplugStep[];
  try {
    steps = parseHotplugJson(text);
  } catch (err) {
    if (err instanceof ScheduleError) throw new InputError(`${h.file}: ${err.message}`);
    throw err;
  }
  const bad = impossibleStep(steps, config.maxVcpus);
  if (bad) throw new InputError(`${h.file}: ${bad}`);
  return steps;
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
  /** Several lines as they are (a table), each ending in a newline. */
  block(text: string): void {
    this.io.err(`${this.atLineStart ? '' : '\n'}${text}`);
    this.atLineStart = true;
  }
}

async function runBare(config: RunConfig, image: Uint8Array, io: Io): Promise<number> {
  const report = new Reporter(io);
  let result: BareRunResult;
  try {
    result = await runBareMetal(image, {
      memoryMiB: config.memoryMiB ?? DEFAULT_BARE_MEMORY_MIB,
      engine: config.engine,
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
  // Everything that can be checked before the guest runs is: a bad schedule file or trace path fails now.
  const steps = await hotplugSteps(config);
  if (config.tracePath !== undefined) await checkOutputFile(config.tracePath, '--trace');
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
      onUnsupported: config.onUnsupported,
      engine: config.engine,
      sched: config.sched,
      hotplug: steps ? { steps, report: (line) => report.line(line) } : undefined,
      trace: config.tracePath !== undefined,
      stats: config.stats,
      timeoutSec: config.timeoutSec,
      onOutput: (bytes) => { write(bytes); report.console(bytes.at(-1)); },
      onWarn: (message) => { warnings.push(message); warningTimer ??= setTimeout(flushWarnings, WARNING_DELAY_MS); },
      // A fatal end: its cause is the last warning, reported once below in the "guest fault" line.
      onEnded: (reason) => { if (reason === 'fatal') { clearTimeout(warningTimer); warningTimer = undefined; } },
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
  if (result.observations) await reportObservations(config, result, result.observations, report);
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

/** How a run ended, in a few words (for the trace). */
function describeOutcome(result: SmodeRunResult): string {
  switch (result.reason) {
    case 'shutdown': return `shutdown, exit code ${result.exitCode}`;
    case 'fatal': return `guest fault: ${result.message}`;
    case 'stalled': return 'stalled';
    case 'timeout': return 'timeout';
    case 'stopped': return result.message;
  }
}

/** `--stats` and `--trace` at the end of a run. */
async function reportObservations(config: RunConfig, result: SmodeRunResult, obs: SmodeObservations, report: Reporter): Promise<void> {
  if (config.stats) {
    report.line(`per-vCPU statistics (${obs.pcpus} CPU slot${obs.pcpus === 1 ? '' : 's'}, directed yield ${obs.directedYield}):`);
    report.block(formatStatsTable(obs.rows));
  }
  if (config.tracePath !== undefined) {
    const doc = buildChromeTrace(obs.events, {
      executor: config.executor,
      clock: config.executor === 'deterministic' ? 'guest' : 'wall',
      pcpus: obs.pcpus,
      maxVcpus: config.maxVcpus,
      directedYield: obs.directedYield,
      pleGap: obs.pleGap,
      pleWindow: obs.pleWindow,
      seed: config.executor === 'deterministic' ? config.seed : undefined,
      image: config.imagePath,
      bootargs: config.bootargs,
      endUs: obs.endUs,
      outcome: describeOutcome(result),
    }, { samples: obs.samples, finalStats: obs.rows });
    await writeOutputFile(config.tracePath, serializeChromeTrace(doc), '--trace');
    report.line(`trace written to ${config.tracePath} (${obs.events.length} events; open it at ui.perfetto.dev or with 'hartvisor report ${config.tracePath}')`);
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

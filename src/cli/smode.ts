/**
 * Runs one S-mode guest to its end through the library API (`createVm` in hv/vm.ts): the image is loaded (ELF at
 * its addresses, a flat image at RAM + 4 MiB), the boot hart enters it in S-mode with a0 = hartid and a1 = the
 * device tree, and the run ends with SRST, a fatal guest error, a stall (every hart stopped), the deadline, or
 * a stop request from the user. `run` and the kvm-unit-tests suite both boot guests through here.
 */
import { performance } from 'node:perf_hooks';
import { ImageError } from '../boot/image-error.js';
import type { TraceEvent } from '../host/trace.js';
import { HvError } from '../hv/errors.js';
import { createVm } from '../hv/vm.js';
import type { HotplugStep, Vm } from '../hv/vm.js';
import type { DirectedYield } from '../hv/scheduler.js';
import { StatsSampler, traceClock } from '../report/sampler.js';
import type { StatSample, VcpuStatsRow } from '../report/trace-json.js';
import type { ExecutorName, HartStopPolicy, UnsupportedPolicy } from './args.js';
import type { ConsoleLink } from './command.js';
import { runHotplugSchedule } from './hotplug-run.js';

/** Guest RAM of an S-mode run when the caller does not say (as QEMU's virt machine is run for kvm-unit-tests). */
export const DEFAULT_SMODE_MEMORY_MIB = 256;

/** The machine and how to run it. */
export interface SmodeRunOptions {
  readonly memoryMiB: number;
  /** Possible vCPUs (hart ids 0..maxVcpus-1, all in the device tree); vCPU 0 boots, the others wait for HSM. */
  readonly maxVcpus: number;
  /** Kernel command line (/chosen/bootargs). */
  readonly bootargs: string;
  readonly executor: ExecutorName;
  /** Scheduler seed of the deterministic executor. */
  readonly seed: number;
  readonly onHartStop: HartStopPolicy;
  /** What an unsupported instruction or SBI call of the guest kernel does (VmConfig.onUnsupported; default stop). */
  readonly onUnsupported?: UnsupportedPolicy;
  /** Execution engine of the vCPUs (VmConfig.engine; default the translator). */
  readonly engine?: 'jit' | 'interp';
  /** VmConfig.warmUp (default true: one guest for the VM's life); short test runs turn it off. */
  readonly warmUp?: boolean;
  /** Called as soon as the guest has ended (before the VM is closed), with how. */
  onEnded?(reason: 'shutdown' | 'fatal' | 'closed' | 'stalled'): void;
  /** Scheduling: CPU slots (default one per vCPU), directed yield, pause-loop exiting (hv's defaults when absent). */
  readonly sched?: SmodeSched;
  /** A hotplug schedule started right after boot; `report` gets one line per step (see hotplug-run.ts). */
  readonly hotplug?: { readonly steps: readonly HotplugStep[]; report(line: string): void };
  /** Record the scheduling trace (`observations.events`). */
  readonly trace?: boolean;
  /** Sample per-vCPU statistics during the run (`observations.rows`, and `samples` when tracing). */
  readonly stats?: boolean;
  /** Wall-clock limit in seconds; undefined for none. */
  readonly timeoutSec?: number;
  /** Guest console output, as raw bytes. */
  onOutput(bytes: Uint8Array): void;
  /** Warnings about unsupported guest actions (one line each). */
  onWarn?(message: string): void;
  /** Connects console input and user stop requests for the length of the run; returns the disconnect. */
  connect?(link: ConsoleLink): () => void;
}

/** The scheduling knobs of `hartvisor run` (VmConfig's names). */
export interface SmodeSched {
  readonly pcpus?: number;
  readonly directedYield?: DirectedYield;
  readonly pleGap?: number;
  readonly pleWindow?: number;
  readonly pleGrow?: number;
  readonly pleShrink?: number;
}

/** What was recorded during the run (with `trace` or `stats`). */
export interface SmodeObservations {
  /** Trace events in time order (empty unless `trace`). */
  readonly events: TraceEvent[];
  /** Statistics samples (empty unless `trace`). */
  readonly samples: StatSample[];
  /** Per-vCPU totals at the end, for every vCPU id that existed. */
  readonly rows: VcpuStatsRow[];
  /** End of the run on the trace clock, µs. */
  readonly endUs: number;
  /** The scheduling policy in force (defaults filled in). */
  readonly pcpus: number;
  readonly directedYield: DirectedYield;
  readonly pleGap: number;
  readonly pleWindow: number;
}

/** How an S-mode run ended. */
export type SmodeRunResult = { readonly seconds: number; readonly observations?: SmodeObservations } & (
  /** SRST system shutdown (or reboot, which hartvisor does not do): exitCode 0 = no reason, 1 = system failure. */
  | { readonly reason: 'shutdown'; readonly exitCode: number }
  /** An unrecoverable guest error (e.g. a trap loop); `message` is hv's description of it when there is one. */
  | { readonly reason: 'fatal'; readonly message: string }
  /** Every hart is stopped and none has a start pending: nothing can ever run again. */
  | { readonly reason: 'stalled' }
  /** `timeoutSec` passed first. */
  | { readonly reason: 'timeout' }
  /** The user stopped the run (signal, console escape): `status` is the exit status they asked for. */
  | { readonly reason: 'stopped'; readonly message: string; readonly status: number }
);

type Ending =
  | { readonly reason: 'shutdown'; readonly exitCode: number }
  | { readonly reason: 'fatal' | 'stalled' | 'timeout' | 'closed' }
  | { readonly reason: 'stopped'; readonly message: string; readonly status: number };

/**
 * Boots `image` in S-mode and waits for the run to end. The VM is always closed (its threads gone) before this
 * returns or throws.
 * @throws ImageError when the image cannot be loaded or does not fit in guest RAM with its device tree
 */
export async function runSmodeGuest(image: Uint8Array, opts: SmodeRunOptions): Promise<SmodeRunResult> {
  let lastWarning: string | undefined;
  // The threaded executor's trace clock starts when the VM's buffers are made, just after this.
  const originMs = performance.timeOrigin + performance.now();
  const vm = await createVm({
    memoryMiB: opts.memoryMiB,
    maxVcpus: opts.maxVcpus,
    bootargs: opts.bootargs,
    executor: opts.executor,
    seed: opts.seed,
    onHartStop: opts.onHartStop,
    onUnsupported: opts.onUnsupported ?? 'stop',
    ...(opts.engine ? { engine: opts.engine } : {}),
    // One guest for the VM's whole life: warm spare threads make the run faster (VmConfig.warmUp).
    warmUp: opts.warmUp ?? true,
    ...opts.sched,
    trace: opts.trace ?? false,
    onOutput: (bytes) => opts.onOutput(bytes),
    onWarn: (message) => { lastWarning = message; opts.onWarn?.(message); },
  });
  let timer: NodeJS.Timeout | undefined;
  let disconnect = () => {};
  let ending: Ending;
  let seconds: number;
  let observations: SmodeObservations | undefined;
  const clock = traceClock(vm, originMs);
  const sampler = opts.stats || opts.trace ? new StatsSampler(vm, clock, opts.trace ?? false) : null;
  try {
    try {
      await vm.boot(image);
    } catch (err) {
      // The one EINVAL of boot: no room for the device tree above the image.
      if (err instanceof HvError && err.code === 'EINVAL') throw new ImageError('does-not-fit', err.message);
      throw err;
    }
    sampler?.start();
    const hotplug = opts.hotplug ? runHotplugSchedule(vm, opts.hotplug.steps, opts.hotplug.report) : null;
    const started = performance.now();
    ending = await new Promise<Ending>((resolve) => {
      void vm.wait().then((e) => {
        opts.onEnded?.(e.reason);
        resolve(e.reason === 'shutdown' ? { reason: 'shutdown', exitCode: e.exitCode } : { reason: e.reason });
      });
      if (opts.timeoutSec !== undefined) timer = setTimeout(() => resolve({ reason: 'timeout' }), opts.timeoutSec * 1000);
      if (opts.connect) {
        disconnect = opts.connect({
          push: (bytes) => vm.pushInput(bytes),
          stop: (message, status) => resolve({ reason: 'stopped', message, status }),
        });
      }
    });
    seconds = (performance.now() - started) / 1000;
    hotplug?.finish();
    if (sampler) observations = observe(vm, sampler, clock(), opts.trace ?? false);
  } finally {
    clearTimeout(timer);
    disconnect();
    await vm.close();
  }
  // A vCPU posts the warning that describes a fatal error before the exit itself, so it is in by now.
  switch (ending.reason) {
    case 'shutdown': return { reason: 'shutdown', exitCode: ending.exitCode, seconds, observations };
    case 'fatal': return { reason: 'fatal', message: lastWarning ?? 'unrecoverable guest error', seconds, observations };
    case 'stalled': return { reason: 'stalled', seconds, observations };
    case 'timeout': return { reason: 'timeout', seconds, observations };
    case 'stopped': return { ...ending, seconds, observations };
    // Only close() ends a VM as 'closed', and it had not been called yet.
    case 'closed': throw new Error('the VM was closed while its guest ran');
  }
}

/** Collects the trace and the statistics of a VM whose guest has ended (before it is closed). */
function observe(vm: Vm, sampler: StatsSampler, endUs: number, trace: boolean): SmodeObservations {
  sampler.stop();
  const events = trace ? vm.drainTrace() : [];
  const lastT = events.length ? events[events.length - 1].t : 0;
  return {
    events,
    samples: sampler.samples,
    rows: sampler.rows(),
    endUs: Math.max(endUs, lastT),
    pcpus: vm.sched.pcpus,
    directedYield: vm.sched.directedYield,
    pleGap: vm.sched.pleGap,
    pleWindow: vm.sched.pleWindow,
  };
}

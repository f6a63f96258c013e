/**
 * Runs a hotplug schedule (`--hotplug`, and the demo's built-in one) on a booted VM and reports one line per step:
 * `hotplug 200ms: add vCPU 2: ok`, `... : failed: <why>`.
 *
 * `Vm.scheduleHotplug` reports each step through a callback. With the deterministic executor that callback comes
 * only when the step's timeout (guest time) has passed, even for a step the guest completed at once, and not at
 * all when the guest ends first; so for that executor the steps whose time has come are also watched here (an
 * add is done when its hart is STARTED, a removal when its vCPU is gone) and reported as soon as they are done.
 * Whatever is still open when the run ends is reported then.
 */
import type { DeterministicExecutor } from '../host/deterministic.js';
import type { HotplugStep, Vm } from '../hv/vm.js';

/** Guest timebase ticks per millisecond (the deterministic executor's `vtime` unit). */
const TICKS_PER_MS = 10_000;
/** How often the deterministic executor's steps are checked (wall clock). */
const WATCH_MS = 5;

/** "200ms", "1.5s". */
export function formatStepTime(ms: number): string {
  return ms >= 1000 && ms % 100 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** "add vCPU 2", "remove vCPU 3 (forced after 5000 ms)". */
export function describeStep(step: HotplugStep): string {
  const force = step.force ? ` (forced after ${step.timeoutMs ?? 5000} ms)` : '';
  return `${step.op} vCPU ${step.id}${force}`;
}

export interface HotplugRun {
  /** Stops watching and reports the steps without a result. Call when the guest has ended, before closing the VM. */
  finish(): void;
  /** Steps that succeeded and failed so far. */
  readonly ok: number;
  readonly failed: number;
}

/**
 * Schedules `steps` on `vm` from now on and reports each outcome with `report(line)` (one line, no prefix, no
 * newline).
 */
export function runHotplugSchedule(vm: Vm, steps: readonly HotplugStep[], report: (line: string) => void): HotplugRun {
  const settled = new Set<HotplugStep>();
  let ok = 0, failed = 0;
  const settle = (step: HotplugStep, error?: Error, note = '') => {
    if (settled.has(step)) return;
    settled.add(step);
    if (error) failed++; else ok++;
    report(`hotplug ${formatStepTime(step.atMs)}: ${describeStep(step)}: ${error ? `failed: ${error.message}` : 'ok'}${note}`);
  };
  const det = vm.executor.kind === 'deterministic' ? (vm.executor as DeterministicExecutor) : null;
  const startTicks = det?.vtime ?? 0;
  const startWall = performance.now();
  const due = (step: HotplugStep) => (det ? det.vtime - startTicks >= step.atMs * TICKS_PER_MS : performance.now() - startWall >= step.atMs);
  const done = (step: HotplugStep): boolean => {
    try {
      if (step.op === 'add') return vm.vcpuInfo(step.id).hsm === 'started';
      return !vm.vcpuIds().includes(step.id);
    } catch {
      return false;
    }
  };

  vm.scheduleHotplug(steps, (step, error) => settle(step, error));
  let watch: NodeJS.Timeout | undefined;
  if (det) {
    watch = setInterval(() => {
      for (const step of steps) if (!settled.has(step) && due(step) && done(step)) settle(step);
    }, WATCH_MS);
    watch.unref();
  }
  return {
    finish() {
      clearInterval(watch);
      for (const step of steps) {
        if (settled.has(step)) continue;
        if (!due(step)) { report(`hotplug ${formatStepTime(step.atMs)}: ${describeStep(step)}: not carried out (the guest ended first)`); continue; }
        if (det && done(step)) { settle(step); continue; }
        report(`hotplug ${formatStepTime(step.atMs)}: ${describeStep(step)}: no result (the guest ended while it was in progress)`);
      }
    },
    get ok() { return ok; },
    get failed() { return failed; },
  };
}

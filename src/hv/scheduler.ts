/**
 * Scheduling vCPUs on fewer CPU slots than vCPUs: the policy knobs (pause-loop exiting, directed yield) and
 * `onSpin`, our kvm_vcpu_on_spin. It runs on the spinning vCPU's own thread, reads the other vCPUs' state from
 * the shared registry without any VM-wide lock, and is robust to vCPUs that disappear during the scan: a
 * vCPU found absent is skipped, and a `last boosted` id that names a removed vCPU just moves the scan on.
 */
import { Ctl, HsmState, RunState, Slot, SlotFlag } from '../host/layout.js';
import { VcpuRegistry } from './registry.js';

export type DirectedYield = 'off' | 'on' | 'pv';

export interface SchedConfig {
  /** CPU slots the vCPUs share (default: one per possible vCPU, i.e. no overcommit). */
  pcpus: number;
  directedYield: DirectedYield;
  /** Pause-loop exiting, KVM's module parameters and defaults. `pleGap` 0 turns PLE off. */
  pleGap: number;
  pleWindow: number;
  pleGrow: number;
  pleShrink: number;
  pleWindowMax: number;
}

export const DEFAULT_SCHED: Omit<SchedConfig, 'pcpus'> = {
  directedYield: 'on', pleGap: 128, pleWindow: 4096, pleGrow: 2, pleShrink: 0, pleWindowMax: 0x40000000,
};

/** KVM's grow_ple_window: multiply (or add, for a modifier above the base), capped. */
export function growPleWindow(val: number, cfg: SchedConfig): number {
  const m = cfg.pleGrow;
  let n: number;
  if (m < 1) return cfg.pleWindow;
  if (m < cfg.pleWindow) n = val * m; else n = val + m;
  return Math.min(Math.max(n, cfg.pleWindow), cfg.pleWindowMax);
}

/** KVM's shrink_ple_window, on schedule-in: shrink 0 resets to the base window. */
export function shrinkPleWindow(val: number, cfg: SchedConfig): number {
  const m = cfg.pleShrink;
  let n: number;
  if (m < 1) return cfg.pleWindow;
  if (m < cfg.pleWindow) n = val / m; else n = val - m;
  return Math.max(Math.floor(n), cfg.pleWindow);
}

/**
 * What the executor offers `onSpin`: hand the spinner's CPU slot to `target`. Returns > 0 when the target got
 * the CPU, 0 when the target is already running (not a failure), < 0 when it could not run (a failed attempt).
 */
export type YieldTo = (target: number) => number;

export interface SpinResult { attempted: number; yieldedTo: number }

/**
 * kvm_vcpu_on_spin, as upstream KVM does it now. `inKernel`: the spinner spins in guest kernel (S) mode, so
 * preempted candidates that were in user mode are passed over (they cannot hold a kernel lock).
 */
export function onSpin(registry: VcpuRegistry, me: number, inKernel: boolean, yieldTo: YieldTo): SpinResult {
  const slots = registry.slots, ctl = registry.ctl;
  const mine = me * Slot.STRIDE;
  Atomics.or(slots, mine + Slot.FLAGS, SlotFlag.SPINNING);
  registry.readLock(me);
  let tries = 3, attempted = 0, yieldedTo = -1;
  // ORDER: a stale or removed last-boosted id is fine: the scan starts after it and skips absent slots.
  const last = Atomics.load(ctl, Ctl.LAST_BOOSTED);
  registry.scanFrom(last < 0 ? me : last, (id, gen) => {
    if (id === me) return false;
    const b = id * Slot.STRIDE;
    if (Atomics.load(slots, b + Slot.HSM) !== HsmState.STARTED) return false;
    const run = Atomics.load(slots, b + Slot.RUN);
    const pending = Atomics.load(slots, b + Slot.IRQ) !== 0;
    // "ready": runnable but off its CPU (preempted), or blocked with a wake-up pending.
    if (run === RunState.HALTED) { if (!pending) return false; }
    else if (run !== RunState.PREEMPTED) return false;
    const flags = Atomics.load(slots, b + Slot.FLAGS);
    if (run === RunState.PREEMPTED && inKernel && (flags & SlotFlag.IN_KERNEL) === 0) return false;
    // dy_eligible: a candidate that is itself spinning is eligible every other time it is considered.
    if (flags & SlotFlag.SPINNING) {
      const was = (flags & SlotFlag.DY_ELIGIBLE) !== 0;
      if (was) Atomics.and(slots, b + Slot.FLAGS, ~SlotFlag.DY_ELIGIBLE); else Atomics.or(slots, b + Slot.FLAGS, SlotFlag.DY_ELIGIBLE);
      if (!was) return false;
    }
    if (Atomics.load(slots, b + Slot.GEN) !== gen) return false; // removed (and maybe re-created) meanwhile
    attempted++;
    const r = yieldTo(id);
    if (r > 0) {
      // The fixed upstream behaviour: remember the boosted vCPU's index, not the loop counter.
      Atomics.store(ctl, Ctl.LAST_BOOSTED, id);
      yieldedTo = id;
      return true;
    }
    if (r < 0 && --tries === 0) return true;
    return false;
  });
  registry.readUnlock(me);
  Atomics.and(slots, mine + Slot.FLAGS, ~(SlotFlag.SPINNING | SlotFlag.DY_ELIGIBLE));
  return { attempted, yieldedTo };
}

/**
 * OS priorities of the executor's threads (Linux: a nice value per thread, set with setpriority on its thread id).
 *
 * Why: with every core busy running guests, the hypervisor's own work (creating or destroying a vCPU, a vCPU
 * that has a host request to act on) would wait its turn behind guest code for tens of milliseconds. So a vCPU
 * thread drops to a lower priority (`vcpuNice`) once it runs guest code, and the owner lifts it back for a short
 * while when the host needs it to act: destroy, or an interrupt that announces a hotplug request. That is the
 * "boost a vCPU with work for the host" idea of KVM's paravirtual scheduling proposals, done from user space.
 *
 * Lowering one's own priority is always allowed; lifting a thread back needs CAP_SYS_NICE (or RLIMIT_NICE).
 * Without it the boost is skipped and everything still works, with the old latencies.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { Boost, Ctl, Spare } from './layout.js';

/** The calling thread's kernel thread id, or 0 where the platform does not tell (not Linux). */
export function currentThreadId(): number {
  try {
    // "/proc/thread-self" links to "<pid>/task/<tid>" for the thread that resolves it.
    const tid = Number(readlinkSync('/proc/thread-self').split('/')[2]);
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}

/**
 * Sets thread `tid`'s nice value (clamped to -20..19); false if not permitted or not supported. A thread that has
 * just ended (ESRCH) is no failure: there is nothing left to set.
 */
export function setThreadNice(tid: number, nice: number): boolean {
  if (tid <= 0) return false;
  try {
    setPriority(tid, Math.max(-20, Math.min(19, Math.round(nice))));
    return true;
  } catch (e) {
    return (e as { info?: { code?: string } }).info?.code === 'ESRCH';
  }
}

/** Thread ids of this process (Linux), or none where the platform does not tell. */
export function processThreadIds(): number[] {
  try { return readdirSync('/proc/self/task').map(Number).filter((t) => Number.isInteger(t) && t > 0); } catch { return []; }
}

/** Node's own threads: those the process had when this module was loaded on the main thread, before any vCPU thread
 *  (V8's platform workers, which compile and collect garbage for every isolate, libuv's pool, ...). */
const nodeThreads = isMainThread ? processThreadIds().filter((t) => t !== process.pid) : [];

/**
 * Drops Node's own threads to the lowest priority. V8 optimizes every isolate's hot JavaScript on them, at the
 * process's priority, so they took a core from vCPU threads (then 10 nice steps lower) for milliseconds at a time, often
 * from one that held a guest spinlock while its peers spun on it: lock-holder preemption by the host's own compiler
 * (a 4-vCPU Linux boot executed twice as many PAUSEs, and took ~10% longer). At nice 19 they get the idle cores.
 */
export function lowerNodeThreads(): void {
  for (const t of nodeThreads) setThreadNice(t, 19);
}

/** The nice value of the calling process's main thread (the base the vCPU priorities are relative to). */
export function processNice(): number {
  try { return getPriority(); } catch { return 0; }
}

const CAP_SYS_NICE = 23;

/**
 * Whether this process may lift a thread back to nice `target` after lowering it: CAP_SYS_NICE, or a soft
 * RLIMIT_NICE that reaches `target` (the kernel allows nice values down to 20 - limit).
 */
export function canRaiseTo(target: number): boolean {
  try {
    const cap = /^CapEff:\s*([0-9a-f]+)$/im.exec(readFileSync('/proc/self/status', 'utf8'));
    if (cap && (BigInt(`0x${cap[1]}`) >> BigInt(CAP_SYS_NICE)) & 1n) return true;
    const lim = /^Max nice priority\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return lim !== null && 20 - Number(lim[1]) <= target;
  } catch {
    return false;
  }
}

/**
 * A vCPU thread's side of the protocol: it stays at the hypervisor's priority until its first slice of guest code
 * (creation latency), then runs `low`. The owner lifts it and says so in its Spare.BOOST word: SLICE lasts until
 * the vCPU idles or one time slice has passed, HELD until the owner lets go.
 */
export class VcpuThreadPriority {
  private lowered: boolean;
  private boostUntil = 0;

  constructor(private readonly spare: Int32Array, private readonly tid: number, private readonly low: number,
    private readonly sliceMs: number, enabled: boolean) {
    this.lowered = !enabled || tid === 0;
  }

  /** After each slice: `ranGuest` false while the vCPU waits to be started, `idle` when it went to sleep. */
  afterSlice(ranGuest: boolean, idle: boolean): void {
    if (!this.lowered) {
      if (ranGuest) { this.lowered = true; this.lower(); }
      return;
    }
    const boost = Atomics.load(this.spare, Spare.BOOST);
    if (boost === Boost.HELD) this.boostUntil = 0;
    else if (boost === Boost.SLICE) {
      const now = performance.now();
      if (this.boostUntil === 0) this.boostUntil = now + this.sliceMs;
      else if (now >= this.boostUntil || idle) this.lower();
    }
  }

  private lower(): void {
    // ORDER: BOOST is cleared before the priority drops; the owner lifts first and then sets BOOST.
    Atomics.store(this.spare, Spare.BOOST, Boost.NONE);
    this.boostUntil = 0;
    setThreadNice(this.tid, this.low);
  }
}

/**
 * Host work that needs a core now (Ctl.HOST_YIELD). With every core busy running guests, a thread the owner wakes
 * (a spare handed a vCPU, a vCPU told to leave) is not run at once even at a higher priority: the kernel lets the
 * running guest thread finish its slice and decides at its next tick (4 ms here), so creation and destroy took 4 or
 * 8 ms in a third of the lifecycle bench's cycles. The owner takes a count for the thread it waits on, tagged with
 * why (Spare.HOST_WAITS: a creation or an exit); busy vCPU threads see it after their slice and sleep briefly, which
 * hands their core to that thread. The count is taken back once, by whoever ends that wait (the thread after its
 * first slice, the owner when the thread is gone, or the owner's time-out); a later wait of the same thread
 * replaces an earlier one without a second count. LEAVE: a hot-remove waits for the thread's hart to stop.
 */
export const enum HostWait { NONE = 0, CREATE = 1, EXIT = 2, LEAVE = 3 }

export function requestHostYield(ctl: Int32Array, spare: Int32Array, why: HostWait): void {
  if (Atomics.exchange(spare, Spare.HOST_WAITS, why) === HostWait.NONE) Atomics.add(ctl, Ctl.HOST_YIELD, 1);
}

/** Takes back `spare`'s count in Ctl.HOST_YIELD if it still waits for `why`. */
export function releaseHostYield(ctl: Int32Array, spare: Int32Array, why: HostWait): void {
  if (Atomics.compareExchange(spare, Spare.HOST_WAITS, why, HostWait.NONE) === why) Atomics.sub(ctl, Ctl.HOST_YIELD, 1);
}

/** Whether a busy vCPU thread should give its core away for a moment: the owner waits on another thread. */
export function hostWantsCore(ctl: Int32Array, spare: Int32Array): boolean {
  return Atomics.load(ctl, Ctl.HOST_YIELD) > 0 && Atomics.load(spare, Spare.HOST_WAITS) === HostWait.NONE &&
    Atomics.load(spare, Spare.BOOST) === Boost.NONE;
}

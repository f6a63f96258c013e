/**
 * CPU slots for the threaded executor: K slots shared by more vCPU threads, in shared memory, no lock.
 * A vCPU thread runs guest code only while it owns a slot. Protocol:
 *  - owner[k] is the vCPU id holding slot k, or -1 when free; a free slot is taken with a CAS -1 -> id.
 *  - A vCPU that wants a slot and finds none becomes a waiter: RUN = PREEMPTED, WAIT_SINCE = a ticket, then
 *    GRANT = 0 ("accepting"), and sleeps on its WAKE word.
 *  - A holder hands its slot to a waiter (end of time slice, idle, directed yield) with a CAS on the waiter's
 *    GRANT 0 -> k+1, then owner[k] = waiter and a wake-up. Only one granter can win a waiter.
 *  - A waiter that wakes takes a grant with exchange(GRANT, -1): -1 means "not accepting", so a waiter that
 *    got a free slot by itself cannot also be granted one.
 *  - Urgent waiters (hasUrgentWork: an interrupt, a start or a kick posted to them, or a removal in flight) go
 *    first. Whoever makes a waiter urgent sets Ctl.URGENT (the waiter also wakes the holders); a holder that sees it
 *    after a slice hands its slot to the urgent waiter at once, so work the guest or the host waits on (an IPI, a
 *    hotplug event, a hart_start, a hart leaving) waits one slice, not a time slice per waiter ahead.
 */
import { Ctl, Req, RunState, Slot, SlotFlag } from './layout.js';

/**
 * Whether vCPU `id` has work another hart or the host waits on: an interrupt, a start or a kick posted to it, or
 * a removal in flight (the host waits for it to stop).
 */
export function hasUrgentWork(slots: Int32Array, id: number): boolean {
  const b = id * Slot.STRIDE;
  return Atomics.load(slots, b + Slot.IRQ) !== 0 || (Atomics.load(slots, b + Slot.REQ) & (Req.START | Req.KICK)) !== 0
    || hostWaitsOn(slots, id);
}

/** Whether the host waits for vCPU `id` to stop (a hot-remove in flight): it keeps a slot it holds. */
export function hostWaitsOn(slots: Int32Array, id: number): boolean {
  return (Atomics.load(slots, id * Slot.STRIDE + Slot.FLAGS) & SlotFlag.HOST_WAITS) !== 0;
}

/**
 * Wakes vCPU `target` after bits were posted to it; if it waits for a CPU slot, tells the holders it is urgent.
 * ORDER: the bits posted before this call are visible to the woken thread and to the holders.
 */
export function wakeVcpu(slots: Int32Array, ctl: Int32Array, target: number): void {
  const b = target * Slot.STRIDE;
  if (Atomics.load(slots, b + Slot.RUN) === RunState.PREEMPTED) Atomics.store(ctl, Ctl.URGENT, 1);
  Atomics.add(slots, b + Slot.WAKE, 1);
  Atomics.notify(slots, b + Slot.WAKE);
}

export function allocCpuSlots(k: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(Math.max(1, k) * 4);
  new Int32Array(sab).fill(-1);
  return sab;
}

export class CpuSlots {
  readonly owner: Int32Array;
  readonly k: number;
  constructor(cpus: SharedArrayBuffer, private readonly slots: Int32Array, private readonly ctl: Int32Array) {
    this.owner = new Int32Array(cpus);
    this.k = this.owner.length;
  }

  private wake(id: number): void {
    Atomics.add(this.slots, id * Slot.STRIDE + Slot.WAKE, 1);
    Atomics.notify(this.slots, id * Slot.STRIDE + Slot.WAKE);
  }

  /** Takes a free slot for `me`; -1 if none. */
  tryFree(me: number): number {
    for (let k = 0; k < this.k; k++) {
      if (Atomics.load(this.owner, k) === -1 && Atomics.compareExchange(this.owner, k, -1, me) === -1) return k;
    }
    return -1;
  }

  /** Publishes `me` as a waiter (runnable, off its CPU). */
  becomeWaiter(me: number): void {
    const b = me * Slot.STRIDE;
    Atomics.store(this.slots, b + Slot.RUN, RunState.PREEMPTED);
    Atomics.store(this.slots, b + Slot.WAIT_SINCE, Atomics.add(this.ctl, Ctl.WAIT_TICKET, 1));
    // ORDER: accepting grants last, after RUN and WAIT_SINCE are visible.
    Atomics.store(this.slots, b + Slot.GRANT, 0);
    if (hasUrgentWork(this.slots, me)) this.raiseUrgent();
  }

  /** Sets the urgent flag and wakes the holders, which may be sleeping with their slot (a host yield). */
  private raiseUrgent(): void {
    Atomics.store(this.ctl, Ctl.URGENT, 1);
    for (let k = 0; k < this.k; k++) {
      const o = Atomics.load(this.owner, k);
      if (o >= 0) this.wake(o);
    }
  }

  /** A waiter's attempt to get a slot: a grant, else a free slot. -1 if neither (sleep and retry). */
  tryTake(me: number): number {
    const b = me * Slot.STRIDE;
    const g = Atomics.exchange(this.slots, b + Slot.GRANT, -1);
    if (g > 0) return g - 1;
    const k = this.tryFree(me);
    if (k >= 0) return k;
    // Accept grants again; a grant may have been refused in between, so look for a free slot once more.
    Atomics.store(this.slots, b + Slot.GRANT, 0);
    // ORDER: after accepting again: a holder that took the urgent flag while we refused grants has passed us over.
    if (hasUrgentWork(this.slots, me)) this.raiseUrgent();
    const k2 = this.tryFree(me);
    if (k2 >= 0) {
      const g2 = Atomics.exchange(this.slots, b + Slot.GRANT, -1);
      if (g2 > 0) { this.release(me, k2); return g2 - 1; }
      return k2;
    }
    return -1;
  }

  /** Grants slot `k` (held by `me`) to waiter `target`; false if `target` is not waiting. */
  grant(me: number, k: number, target: number): boolean {
    const b = target * Slot.STRIDE;
    if (Atomics.load(this.slots, b + Slot.RUN) !== RunState.PREEMPTED) return false;
    if (Atomics.compareExchange(this.slots, b + Slot.GRANT, 0, k + 1) !== 0) return false;
    Atomics.compareExchange(this.owner, k, me, target);
    this.wake(target);
    return true;
  }

  /**
   * The next waiter to get a slot (other than `me`), or -1: the one that has waited longest, except that a waiter
   * with an interrupt pending goes first (KVM boosts such vCPUs the same way: they have work the guest waits on).
   */
  oldestWaiter(me: number, maxVcpus: number): number {
    let best = -1, since = Infinity, urgent = false;
    for (let id = 0; id < maxVcpus; id++) {
      if (id === me) continue;
      const b = id * Slot.STRIDE;
      if (Atomics.load(this.slots, b + Slot.RUN) !== RunState.PREEMPTED) continue;
      if (Atomics.load(this.slots, b + Slot.GRANT) !== 0) continue;
      const pending = hasUrgentWork(this.slots, id);
      if (urgent && !pending) continue;
      const s = Atomics.load(this.slots, b + Slot.WAIT_SINCE);
      if ((pending && !urgent) || s < since) { since = s; best = id; urgent = pending; }
    }
    return best;
  }

  /**
   * After a slice of the holder `me` of slot `k`: if a waiter became urgent, hands it the slot (true). The flag is
   * set again after a grant so that the other holders look for a second urgent waiter.
   */
  yieldToUrgent(me: number, k: number, maxVcpus: number): boolean {
    if (Atomics.load(this.ctl, Ctl.URGENT) === 0) return false; // the common case: one load per slice
    // A holder the host waits on (leaving) keeps its slot and leaves the flag to the other holders.
    if (hostWaitsOn(this.slots, me) || Atomics.exchange(this.ctl, Ctl.URGENT, 0) === 0) return false;
    const w = this.oldestWaiter(me, maxVcpus);
    if (w < 0 || !hasUrgentWork(this.slots, w) || !this.grant(me, k, w)) return false;
    Atomics.store(this.ctl, Ctl.URGENT, 1);
    return true;
  }

  /** Gives up slot `k`: to the longest waiter if any, else frees it (waking a waiter to take it). */
  release(me: number, k: number): void {
    const max = this.slots.length / Slot.STRIDE;
    for (let tries = 0; tries < 4; tries++) {
      const w = this.oldestWaiter(me, max);
      if (w < 0) break;
      if (this.grant(me, k, w)) return;
    }
    Atomics.compareExchange(this.owner, k, me, -1);
    // ORDER: the slot is free before the wake-up; a waiter that publishes after our scan finds it by itself.
    const w = this.oldestWaiter(me, max);
    if (w >= 0) this.wake(w);
  }
}

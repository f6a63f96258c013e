/**
 * VcpuRegistry: the vCPUs of a VM indexed by id, with an online count, readable without locks from every
 * vCPU thread (directed yield scans it from the spinning vCPU's own thread).
 *
 * Protocol (the role RCU plays for kvm->vcpus in the kernel):
 *  - Each slot has a generation word GEN: odd while a vCPU occupies it, even when empty. Only the owner
 *    thread (the VM's) writes GEN, one writer, so no writer lock is needed.
 *  - A reader enters a read-side section by publishing the global EPOCH in its READER_EPOCH word, reads
 *    GEN (skips even slots), reads the slot's fields, and may act on the vCPU only by (id, gen): every
 *    action re-checks GEN, so it never touches a later occupant of the slot by mistake. It leaves by storing 0.
 *  - Removal bumps GEN to even (the vCPU vanishes for new readers at once) and decrements ONLINE. Before the
 *    slot may be occupied again, the writer waits for a grace period: it bumps EPOCH to E and waits until
 *    every reader's READER_EPOCH is 0 or >= E, so no reader that could have seen the old vCPU is still
 *    inside its section. `whenReusable(id)` resolves when that holds.
 */
import { Ctl, Slot } from '../host/layout.js';
import { HvError } from './errors.js';

export class VcpuRegistry {
  readonly ctl: Int32Array;
  readonly slots: Int32Array;
  readonly maxVcpus: number;
  /** Grace periods pending before a slot can be reused (owner thread only). */
  private readonly graceEpoch = new Map<number, number>();

  constructor(ctl: SharedArrayBuffer, slots: SharedArrayBuffer) {
    this.ctl = new Int32Array(ctl);
    this.slots = new Int32Array(slots);
    this.maxVcpus = this.slots.length / Slot.STRIDE;
  }

  /** Number of vCPUs present. */
  get online(): number {
    return Atomics.load(this.ctl, Ctl.ONLINE);
  }

  /** Generation of slot `id` (odd = present). */
  gen(id: number): number {
    return Atomics.load(this.slots, id * Slot.STRIDE + Slot.GEN);
  }

  present(id: number): boolean {
    return (this.gen(id) & 1) === 1;
  }

  /** A slot field. */
  field(id: number, f: Slot): number {
    return Atomics.load(this.slots, id * Slot.STRIDE + f);
  }

  // ---- read side (any thread) ----

  /** Enters a read-side section on behalf of reader slot `self` (the calling vCPU's own id). */
  readLock(self: number): void {
    // ORDER: publishing the epoch before reading any GEN makes a concurrent writer's grace period wait for us.
    Atomics.store(this.slots, self * Slot.STRIDE + Slot.READER_EPOCH, Atomics.load(this.ctl, Ctl.EPOCH) | 1);
  }

  readUnlock(self: number): void {
    // ORDER: all reads of the section happen before this store releases the writer.
    Atomics.store(this.slots, self * Slot.STRIDE + Slot.READER_EPOCH, 0);
  }

  /**
   * Calls fn(id, gen) for each present vCPU in id order starting after `start` (round robin), without locks.
   * Stops early when fn returns true. Call inside readLock/readUnlock when acting on what is found.
   */
  scanFrom(start: number, fn: (id: number, gen: number) => boolean): void {
    const n = this.maxVcpus;
    for (let k = 1; k <= n; k++) {
      const id = (start + k) % n;
      const g = Atomics.load(this.slots, id * Slot.STRIDE + Slot.GEN);
      if ((g & 1) === 0) continue;
      if (fn(id, g)) return;
    }
  }

  /** Ids of the present vCPUs (a snapshot). */
  list(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.maxVcpus; id++) if (this.present(id)) out.push(id);
    return out;
  }

  // ---- write side (the VM owner's thread only) ----

  /** True if the slot is empty and no grace period is pending on it. */
  canOccupy(id: number): boolean {
    if (this.present(id)) return false;
    const e = this.graceEpoch.get(id);
    if (e === undefined) return true;
    if (this.graceDone(e)) { this.graceEpoch.delete(id); return true; }
    return false;
  }

  /** Marks slot `id` occupied by a new vCPU; returns its generation. The slot's fields must be initialised first. */
  occupy(id: number): number {
    if (!this.canOccupy(id)) throw new Error(`registry slot ${id} is not free`);
    // ORDER: fields written before this store are visible to any reader that sees the odd generation.
    const g = Atomics.add(this.slots, id * Slot.STRIDE + Slot.GEN, 1) + 1;
    Atomics.add(this.ctl, Ctl.ONLINE, 1);
    return g;
  }

  /** Removes the vCPU in slot `id`; the slot becomes reusable after a grace period. */
  vacate(id: number): void {
    const base = id * Slot.STRIDE;
    if ((Atomics.load(this.slots, base + Slot.GEN) & 1) === 0) return;
    Atomics.add(this.slots, base + Slot.GEN, 1);
    Atomics.sub(this.ctl, Ctl.ONLINE, 1);
    // ORDER: the epoch bump comes after the removal, so readers that publish the new epoch cannot see the old vCPU.
    const e = Atomics.add(this.ctl, Ctl.EPOCH, 2) + 2;
    this.graceEpoch.set(id, e);
  }

  /** True once every reader is quiescent or entered after epoch `e`. */
  graceDone(e: number): boolean {
    const s = this.slots;
    for (let id = 0; id < this.maxVcpus; id++) {
      const r = Atomics.load(s, id * Slot.STRIDE + Slot.READER_EPOCH);
      if (r !== 0 && r < (e | 1)) return false;
    }
    return true;
  }

  /** Resolves when slot `id` may be occupied again (the grace period after its last removal has elapsed). */
  async whenReusable(id: number, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.canOccupy(id)) {
      // Someone else (a guest's hart_start) occupied the slot while we waited.
      if (this.present(id)) throw new HvError('EEXIST', `vCPU ${id} exists already`);
      if (Date.now() > deadline) throw new HvError('ETIMEDOUT', `grace period for vCPU slot ${id} did not end within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 0));
    }
  }
}

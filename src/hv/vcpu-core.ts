/**
 * VcpuCore: one vCPU as it runs, on whichever thread the executor chose. It owns the Hart and implements the
 * hypervisor side of SBI for that hart over the VM's shared memory (slots, ctl, stats). Both executors drive
 * it the same way: `runSlice(budget)` and act on the returned Slice code, so threaded and deterministic runs
 * execute the same code.
 */
import { Exit, Hart, Mmio } from '../cpu/hart.js';
import type { Engine } from '../cpu/jit.js';
import { GuestMemory } from '../cpu/memory.js';
import { Irq, Mstatus, Priv } from '../cpu/csr.js';
import { HSM_SUSPEND_NON_RETENTIVE, HSM_SUSPEND_RETENTIVE, SbiError, SbiHost, handleSbiCall } from '../devices/sbi.js';
import { Ctl, HsmState, OnUnsupported, Req, RunState, Slot, SlotFlag, Stat, STAT_STRIDE, VmState } from '../host/layout.js';
import { HotplugQueue } from '../host/hotplug-queue.js';
import { VcpuRegistry } from './registry.js';

/** What a slice ended with, for the executor. */
export const enum Slice {
  /** Budget used up: runnable, schedule again. */
  CONTINUE = 0,
  /** WFI or HSM suspend with nothing pending: sleep until a wake-up or `deadline()`. */
  IDLE = 1,
  /** The hart stopped itself (HSM hart_stop). */
  STOPPED = 2,
  /** The VM is shutting down (SRST, or a fatal error). */
  SHUTDOWN = 3,
  /** Pause-loop exit: the vCPU is spinning. */
  SPIN = 4,
  /** Not started (HSM STOPPED / START_PENDING without a start request yet): wait for a start. */
  PARKED = 5,
  /** The guest yielded its CPU to another vCPU (paravirtual YIELD_TO): runnable, but let the other run. */
  YIELDED = 6,
}

/** The console as the vCPU sees it (rings shared with the owner thread). */
export interface ConsolePort {
  write(bytes: Uint8Array): void;
  read(max: number): Uint8Array;
}

/** What the executor provides to a vCPU core. */
export interface VcpuEnv {
  /** Current guest time in timebase ticks. */
  now(): number;
  console: ConsolePort;
  /** MMIO devices. */
  mmio: Mmio;
  /** Ask the owner to make vCPU `id` run its pending HSM start (creating it if absent). */
  requestStart(id: number): void;
  /** Wake vCPU `id` if it sleeps (after posting IRQ or REQ bits). */
  wake(id: number): void;
  /** Ticks per instruction for the time CSR within a slice (0: frozen; the deterministic executor's virtual clock). */
  timeScale?: number;
  /** Execution engine of this vCPU's hart (default: `defaultEngine()`, the translator). */
  engine?: Engine;
  /** Wait until vCPU `id` has consumed its requests (its ACK moved past `ackBefore`), if it is inside a slice. */
  waitAck(id: number, ackBefore: number): void;
  /** The VM is shutting down (SRST) or hit a fatal error: tell the owner. */
  notifyOwner(): void;
  /** A guest action the hypervisor does not support: named on stderr by the owner. */
  warn(message: string): void;
  /** Hotplug event queue (shared). */
  hotplug: HotplugQueue;
  /** Paravirtual directed yield: give this vCPU's CPU to `target`; 1 if done, 0 if not. */
  yieldTo(self: number, target: number): number;
}

/** Function ids of the hartvisor vendor extension (docs/sbi-hartvisor-extension.md). */
export const enum HvFid { HOTPLUG_GET_EVENT = 0, HOTPLUG_SET_NOTIFY = 1, HOTPLUG_PENDING = 2, YIELD_TO = 3, KICK = 4 }

const STIP = 1 << Irq.STI;

export class VcpuCore implements SbiHost {
  readonly hart: Hart;
  readonly hartId: number;
  readonly maxHarts: number;
  private readonly ctl: Int32Array;
  private readonly slots: Int32Array;
  private readonly stats: Float64Array;
  private readonly base: number;
  private readonly sbase: number;
  readonly registry: VcpuRegistry;
  /** Supervisor timer compare value (SBI set_timer), in ticks. */
  stimecmp = Infinity;
  /** The guest's clock when the last slice cut it off mid-stream (see updateTimer); NaN otherwise. */
  private cutAt = NaN;
  private stopping = false;
  private shutdown = false;
  private suspendType = -1;
  /** In WFI with nothing pending (the executor sleeps until a wake-up). */
  private halted = false;
  /** Set by a successful paravirtual YIELD_TO: the slice ends so the executor can switch. */
  private yielded = false;
  /** A KICK this hart sent itself: its next WFI returns at once. */
  private selfKick = false;
  private readonly warned = new Set<string>();

  constructor(
    readonly mem: GuestMemory,
    ctl: SharedArrayBuffer,
    slots: SharedArrayBuffer,
    stats: SharedArrayBuffer,
    id: number,
    readonly env: VcpuEnv,
  ) {
    this.hartId = id;
    this.ctl = new Int32Array(ctl);
    this.slots = new Int32Array(slots);
    this.stats = new Float64Array(stats);
    this.registry = new VcpuRegistry(ctl, slots);
    this.maxHarts = this.registry.maxVcpus;
    this.base = id * Slot.STRIDE;
    this.sbase = id * STAT_STRIDE;
    this.hart = new Hart(mem, { hartId: id, mmio: env.mmio, sbiMode: true, ...(env.engine ? { engine: env.engine } : {}) });
    this.hart.timeScale = env.timeScale ?? 0;
    this.stopOnUnsupported = Atomics.load(this.ctl, Ctl.ON_UNSUPPORTED) === OnUnsupported.STOP;
    this.hart.stopOnUnsupported = this.stopOnUnsupported;
  }

  private readonly stopOnUnsupported: boolean;

  private slot(f: Slot): number { return Atomics.load(this.slots, this.base + f); }
  private setSlot(f: Slot, v: number): void { Atomics.store(this.slots, this.base + f, v); }
  /** Adds to one of this vCPU's statistics (layout.ts STAT_NAMES). */
  count(s: number, n = 1): void { this.stats[this.sbase + s] += n; }

  /** Timer deadline in ticks for an idle wait (Infinity: none). */
  deadline(): number { return this.stimecmp; }

  /** Enters the guest at `pc` in S-mode with a0 = hartid, a1 = opaque (boot, HSM start, non-retentive resume). */
  enter(pc: number, opaque: number): void {
    const h = this.hart;
    h.reset(pc, Priv.S);
    h.csrWrite(0x180, 0); // satp = 0
    h.mstatus &= ~Mstatus.SIE;
    h.regs[10] = this.hartId;
    h.regs[11] = opaque;
  }

  /**
   * Makes a pending HSM start take effect: START_PENDING with the start request posted → STARTED at the
   * given address. Returns false while there is nothing to start.
   */
  tryStart(): boolean {
    if (this.slot(Slot.HSM) !== HsmState.START_PENDING) return false;
    if ((this.slot(Slot.REQ) & Req.START) === 0) return false;
    Atomics.and(this.slots, this.base + Slot.REQ, ~Req.START);
    // ORDER: START_ADDR/OPAQUE were stored before the START bit, so these loads see them.
    this.enter(this.slot(Slot.START_ADDR) >>> 0, this.slot(Slot.START_OPAQUE));
    this.armTimer(Infinity);
    this.hart.mip = 0;
    this.setSlot(Slot.HSM, HsmState.STARTED);
    this.ringOwner();
    return true;
  }

  /** Tells the owner thread that vCPU state it may wait for has changed (hotplug requests wait on this). */
  private ringOwner(): void {
    Atomics.add(this.ctl, Ctl.DOORBELL, 1);
    Atomics.notify(this.ctl, Ctl.DOORBELL);
  }

  /** Consumes posted requests and interrupts; called by the executor before each slice. */
  private takeRequests(): void {
    const req = Atomics.and(this.slots, this.base + Slot.REQ, Req.START | Req.KICK) & ~(Req.START | Req.KICK);
    if (req !== 0) {
      if (req & Req.FENCE_I) this.hart.fenceI();
      if (req & Req.SFENCE_VMA) this.hart.flushTlb();
      // Re-post the bits the executor handles itself.
      const rest = req & (Req.EXIT | Req.PAUSE);
      if (rest) Atomics.or(this.slots, this.base + Slot.REQ, rest);
      // ORDER: the flushes above happen before the ack that a remote fence waits for.
      Atomics.add(this.slots, this.base + Slot.ACK, 1);
      Atomics.notify(this.slots, this.base + Slot.ACK);
    }
    const irq = Atomics.exchange(this.slots, this.base + Slot.IRQ, 0);
    if (irq !== 0) this.hart.mip |= irq;
  }

  /**
   * Raises or clears STIP against the clock. `cut` is the guest's clock when the previous slice cut it off
   * mid-stream (the last time it read, or the clock at the cut; NaN if the slice did not end so): the gap
   * between two slices is one the guest cannot see, so a deadline that passed in it is raised by the guest's
   * next time read (Hart.timerCmp) or by the next slice, not in front of the instruction that came next.
   * Otherwise a guest that read the time just before the cut and then checks a flag its timer handler sets
   * takes the interrupt in between, and sees the deadline come before its reading (kvm-unit-tests' sbi "timer
   * delay honored" failed so, in 1 to 3 runs of 100 on a loaded machine).
   */
  private updateTimer(cut = NaN): void {
    const t = this.env.now();
    this.hart.time = t;
    this.hart.timeInstret = this.hart.instret;
    const seen = cut < t ? cut : t;
    if (seen >= this.stimecmp) this.hart.mip |= STIP; else this.hart.mip &= ~STIP;
  }

  private armTimer(v: number): void {
    this.stimecmp = v;
    this.hart.timerCmp = v;
  }

  /** True (and consumed) if a KICK arrived for this hart. */
  private consumeKick(): boolean {
    if (this.selfKick) { this.selfKick = false; return true; }
    if ((Atomics.load(this.slots, this.base + Slot.REQ) & Req.KICK) === 0) return false;
    Atomics.and(this.slots, this.base + Slot.REQ, ~Req.KICK);
    return true;
  }

  /** True if an idle vCPU has something to wake up for. */
  hasWakeup(): boolean {
    if (Atomics.load(this.slots, this.base + Slot.IRQ) !== 0) return true;
    if ((Atomics.load(this.slots, this.base + Slot.REQ) & ~Req.START) !== 0) return true;
    this.updateTimer();
    return this.hart.wakeable();
  }

  /** Runs the vCPU for up to `budget` instructions. */
  runSlice(budget: number): Slice {
    const hsm = this.slot(Slot.HSM);
    if (hsm === HsmState.STOPPED || hsm === HsmState.START_PENDING) {
      if (!this.tryStart()) return Slice.PARKED;
    }
    if (Atomics.load(this.ctl, Ctl.STATE) === VmState.SHUTDOWN) return Slice.SHUTDOWN;
    const kicked = this.halted && this.consumeKick();
    this.takeRequests();
    this.updateTimer(this.cutAt);
    this.cutAt = NaN;
    this.hart.timeSeen = NaN;
    const h = this.hart;
    if (this.halted) {
      // Leaving WFI: only for an interrupt that is pending and enabled in sie, a kick, or spuriously.
      if (!kicked && !h.wakeable()) return this.finish(Slice.IDLE);
      this.halted = false;
      this.count(Stat.halt_wakeup);
    }
    if (this.suspendType >= 0) {
      if (!h.wakeable()) return Slice.IDLE;
      this.resume();
    }
    let left = budget;
    while (left > 0) {
      const before = h.instret;
      const exit = h.run(left);
      const done = h.instret - before;
      if (h.unsupported !== null && !h.unsupported.stopped) {
        // Delivered to the guest as an illegal-instruction trap (user mode, or the 'report' policy): named once.
        this.warnOnce(`insn:${h.unsupported.inst}`, `${this.describeUnsupported(h.unsupported)}; delivered to the guest as an illegal-instruction exception`);
        h.unsupported = null;
      }
      this.stats[this.sbase + Stat.instructions] += done;
      left -= done > 0 ? done : 1;
      this.count(Stat.exits);
      switch (exit) {
        case Exit.Budget:
          this.count(Stat.exits_budget);
          break;
        case Exit.Ecall: {
          this.count(Stat.exits_ecall); this.count(Stat.sbi_calls);
          const out = handleSbiCall(h.regs, this);
          if (out.unsupported) {
            const call = `guest hart ${this.hartId} called an unsupported SBI function: extension 0x${(h.regs[17] >>> 0).toString(16)}, function ${h.regs[16] >>> 0}`;
            if (this.stopOnUnsupported) {
              this.fatal(`${call} (the guest would get SBI_ERR_NOT_SUPPORTED; --on-unsupported report lets it go on)`);
              return this.finish(Slice.SHUTDOWN);
            }
            this.warnOnce(`sbi:${h.regs[17] >>> 0}:${h.regs[16] >>> 0}`, `${call} (returned SBI_ERR_NOT_SUPPORTED)`);
          }
          if (this.shutdown) return this.finish(Slice.SHUTDOWN);
          if (this.stopping) return this.finish(Slice.STOPPED);
          if (this.suspendType >= 0) return this.finish(h.wakeable() ? (this.resume(), Slice.CONTINUE) : Slice.IDLE);
          if (this.yielded) { this.yielded = false; return this.finish(Slice.YIELDED); }
          // A self-IPI or a timer set in the past must be seen before the next instruction.
          this.takeRequests();
          this.updateTimer();
          h.checkInterrupts();
          break;
        }
        case Exit.Wfi:
          this.count(Stat.exits_wfi);
          this.updateTimer();
          if (this.consumeKick()) break; // a paravirtual kick: WFI returns without an interrupt
          if (Atomics.load(this.slots, this.base + Slot.IRQ) !== 0) this.takeRequests();
          if (!h.wakeable()) { this.halted = true; return this.finish(Slice.IDLE); }
          h.checkInterrupts();
          break;
        case Exit.Pause:
          this.count(Stat.exits_pause); this.count(Stat.pause_loop_exits);
          return this.finish(Slice.SPIN);
        case Exit.TrapLoop:
          if (h.unsupported?.stopped) {
            this.fatal(`${this.describeUnsupported(h.unsupported)} (--on-unsupported report delivers it to the guest instead)`);
          } else this.fatal(`guest hart ${this.hartId}: ${h.trapInfo()}`);
          return this.finish(Slice.SHUTDOWN);
      }

      if (Atomics.load(this.ctl, Ctl.STATE) === VmState.SHUTDOWN) return this.finish(Slice.SHUTDOWN);
    }
    return this.finish(Slice.CONTINUE);
  }

  private finish(s: Slice): Slice {
    // The guest's clock at the cut, for the next slice's timer check (live clocks only: virtual time has no gaps):
    // the last time it read in this slice, else the clock now.
    if ((s === Slice.CONTINUE || s === Slice.SPIN || s === Slice.YIELDED) && this.hart.clock !== null) {
      this.cutAt = this.hart.timeSeen >= 0 ? this.hart.timeSeen : this.env.now();
    }
    if (this.hart.priv === Priv.S) Atomics.or(this.slots, this.base + Slot.FLAGS, SlotFlag.IN_KERNEL);
    else Atomics.and(this.slots, this.base + Slot.FLAGS, ~SlotFlag.IN_KERNEL);
    return s;
  }

  /** Completes a stop: the thread no longer runs guest code. */
  completeStop(): void {
    this.stopping = false;
    this.setSlot(Slot.HSM, HsmState.STOPPED);
    this.ringOwner();
  }

  private resume(): void {
    const type = this.suspendType;
    this.suspendType = -1;
    this.count(Stat.halt_wakeup);
    this.setSlot(Slot.HSM, HsmState.STARTED);
    if (type === HSM_SUSPEND_NON_RETENTIVE) this.enter(this.slot(Slot.RESUME_ADDR) >>> 0, this.slot(Slot.RESUME_OPAQUE));
    else this.hart.checkInterrupts();
  }

  private fatal(message: string): void {
    Atomics.store(this.ctl, Ctl.FATAL, 1);
    Atomics.store(this.ctl, Ctl.FATAL_HART, this.hartId);
    this.env.warn(message);
    Atomics.store(this.ctl, Ctl.EXIT_CODE, 1);
    Atomics.store(this.ctl, Ctl.STATE, VmState.SHUTDOWN);
    this.env.notifyOwner();
  }

  private describeUnsupported(u: NonNullable<Hart['unsupported']>): string {
    const mode = u.priv === Priv.S ? 'S' : u.priv === Priv.U ? 'U' : 'M';
    const bits = (u.inst & 3) === 3 ? u.inst.toString(16).padStart(8, '0') : u.inst.toString(16).padStart(4, '0');
    return `guest hart ${this.hartId} executed an unsupported instruction 0x${bits} at pc 0x${(u.pc >>> 0).toString(16)} ` +
      `in ${mode}-mode: ${u.what}, which hartvisor does not implement (rv32imac_zicsr_zifencei_zihintpause)`;
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.env.warn(message);
  }

  // ---------------------------------------------------------------------------------------------
  // SbiHost

  validHart(id: number): boolean { return id >= 0 && id < this.maxHarts; }
  ramContains(addr: number, len: number): boolean { return len >= 0 && this.mem.contains(addr, len); }
  readRam(addr: number, len: number): Uint8Array { return this.mem.read(addr, len); }
  writeRam(addr: number, bytes: Uint8Array): void { this.mem.write(addr, bytes); }

  setTimer(v: number): void {
    this.armTimer(v);
    this.hart.mip &= ~STIP;
  }

  sendIpi(target: number): void {
    this.count(Stat.ipi_sent);
    if (target === this.hartId) { this.hart.mip |= 1 << Irq.SSI; return; }
    // ORDER: the pending bit is visible before the wake-up.
    Atomics.or(this.slots, target * Slot.STRIDE + Slot.IRQ, 1 << Irq.SSI);
    this.env.wake(target);
  }

  clearIpi(): void { this.hart.mip &= ~(1 << Irq.SSI); }

  remoteFence(target: number, kind: 'fence.i' | 'sfence.vma'): void {
    if (target === this.hartId) { if (kind === 'fence.i') this.hart.fenceI(); else this.hart.flushTlb(); return; }
    const tb = target * Slot.STRIDE;
    const ack = Atomics.load(this.slots, tb + Slot.ACK);
    Atomics.or(this.slots, tb + Slot.REQ, kind === 'fence.i' ? Req.FENCE_I : Req.SFENCE_VMA);
    // ORDER: a target that is not RUNNING will consume the request before its next slice.
    if (Atomics.load(this.slots, tb + Slot.RUN) === RunState.RUNNING) this.env.waitAck(target, ack);
  }

  hartStart(target: number, startAddr: number, opaque: number): number {
    if (!this.validHart(target)) return SbiError.INVALID_PARAM;
    if (!this.mem.contains(startAddr, 2)) return SbiError.INVALID_ADDRESS;
    const tb = target * Slot.STRIDE;
    const prev = Atomics.compareExchange(this.slots, tb + Slot.HSM, HsmState.STOPPED, HsmState.START_PENDING);
    if (prev !== HsmState.STOPPED) return prev === HsmState.START_PENDING ? SbiError.ALREADY_STARTED : SbiError.ALREADY_AVAILABLE;
    Atomics.store(this.slots, tb + Slot.START_ADDR, startAddr | 0);
    Atomics.store(this.slots, tb + Slot.START_OPAQUE, opaque | 0);
    // ORDER: the START bit is published after the address and opaque.
    Atomics.or(this.slots, tb + Slot.REQ, Req.START);
    this.env.requestStart(target);
    return SbiError.SUCCESS;
  }

  hartStop(): number {
    const prev = Atomics.compareExchange(this.slots, this.base + Slot.HSM, HsmState.STARTED, HsmState.STOP_PENDING);
    if (prev !== HsmState.STARTED) return SbiError.FAILED;
    this.stopping = true;
    return SbiError.SUCCESS;
  }

  hartStatus(target: number): number {
    return Atomics.load(this.slots, target * Slot.STRIDE + Slot.HSM);
  }

  hartSuspend(type: number, resumeAddr: number, opaque: number): number {
    if (type !== HSM_SUSPEND_RETENTIVE && type !== HSM_SUSPEND_NON_RETENTIVE) {
      // 0x00000001-0x0fffffff and 0x80000001-0x8fffffff are reserved; the platform-specific ranges are not supported.
      if ((type > 0 && type < 0x10000000) || (type > 0x80000000 && type < 0x90000000)) return SbiError.INVALID_PARAM;
      return SbiError.NOT_SUPPORTED;
    }
    if (type === HSM_SUSPEND_NON_RETENTIVE) {
      if (!this.mem.contains(resumeAddr, 2)) return SbiError.INVALID_ADDRESS;
      this.setSlot(Slot.RESUME_ADDR, resumeAddr | 0);
      this.setSlot(Slot.RESUME_OPAQUE, opaque | 0);
    }
    this.setSlot(Slot.HSM, HsmState.SUSPENDED);
    this.suspendType = type;
    return SbiError.SUCCESS;
  }

  systemReset(type: number, reason: number): void {
    Atomics.store(this.ctl, Ctl.RESET, type === 0 ? 1 : 2);
    Atomics.store(this.ctl, Ctl.EXIT_CODE, reason === 0 ? 0 : 1);
    Atomics.store(this.ctl, Ctl.STATE, VmState.SHUTDOWN);
    this.shutdown = true;
    this.env.notifyOwner();
  }

  vendorCall(fid: number, regs: Int32Array): { error: number; value: number } | undefined {
    const arg = regs[10] >>> 0;
    switch (fid) {
      case HvFid.HOTPLUG_GET_EVENT: return { error: 0, value: this.env.hotplug.take() };
      case HvFid.HOTPLUG_SET_NOTIFY:
        if (!this.validHart(arg)) return { error: SbiError.INVALID_PARAM, value: 0 };
        this.env.hotplug.notifyHart = arg;
        return { error: 0, value: 0 };
      case HvFid.HOTPLUG_PENDING: return { error: 0, value: this.env.hotplug.pending() };
      case HvFid.YIELD_TO:
        if (!this.validHart(arg)) return { error: SbiError.INVALID_PARAM, value: 0 };
        this.count(Stat.directed_yield_attempted);
        if (arg !== this.hartId && this.env.yieldTo(this.hartId, arg) === 1) { this.count(Stat.directed_yield_successful); this.yielded = true; return { error: 0, value: 0 }; }
        return { error: 0, value: 1 };
      case HvFid.KICK:
        if (!this.validHart(arg)) return { error: SbiError.INVALID_PARAM, value: 0 };
        if (arg === this.hartId) { this.selfKick = true; return { error: 0, value: 0 }; }
        // ORDER: the KICK bit is visible before the wake-up.
        Atomics.or(this.slots, arg * Slot.STRIDE + Slot.REQ, Req.KICK);
        this.env.wake(arg);
        return { error: 0, value: 0 };
    }
    return undefined;
  }

  consoleWrite(bytes: Uint8Array): void { this.env.console.write(bytes); }
  consoleRead(max: number): Uint8Array { return this.env.console.read(max); }
}

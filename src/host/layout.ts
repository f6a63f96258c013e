/**
 * The one table of shared-memory offsets for a VM (STYLE 7): every thread derives its views from here, nothing
 * is synced by hand. A VM has:
 *  - `ctl`: VM-wide words (state, online count, epoch, last boosted vCPU, ...);
 *  - `slots`: one fixed-size record per possible vCPU id, which outlives the vCPU that occupies it (HSM state
 *    of an absent vCPU lives here), so readers on other threads never touch memory that was freed;
 *  - `stats`: per-slot Float64 counters (KVM binary-stats names).
 */
export const enum Ctl {
  /** VmState below. */
  STATE = 0,
  /** SRST: 0 none, 1 shutdown, 2 reboot; the exit code is in EXIT_CODE. */
  RESET = 1,
  EXIT_CODE = 2,
  /** Number of vCPUs present in the registry. */
  ONLINE = 3,
  /** Global epoch for grace periods (registry.ts). */
  EPOCH = 4,
  /** Index of the vCPU that directed yield boosted last (KVM's last_boosted_vcpu); may name a removed vCPU. */
  LAST_BOOSTED = 5,
  MAX_VCPUS = 6,
  /** Doorbell for the owner thread: bumped with a notify when a vCPU posts a request needing the owner. */
  DOORBELL = 7,
  /** A guest-visible failure the host must report (unsupported instruction / SBI call), as a reason code. */
  FATAL = 8,
  FATAL_HART = 9,
  /** Tickets for CPU-slot waiters (FIFO order). */
  WAIT_TICKET = 10,
  /** What a guest kernel's unsupported instruction or SBI call does (OnUnsupported). */
  ON_UNSUPPORTED = 11,
  /**
   * Host work waiting for a core (threads.ts): how many vCPU threads the owner is waiting on (one being created,
   * one leaving). While it is non-zero, busy vCPU threads sleep briefly after each slice, so that the host's
   * scheduler runs that thread now rather than at its next tick (4 ms here).
   */
  HOST_YIELD = 12,
  /**
   * CPU slots: 1 when a waiter has become urgent (hasUrgentWork in cpu-slots.ts), so that a holder hands it its
   * slot at the end of the current slice instead of its time slice.
   */
  URGENT = 13,
  SIZE = 16,
}

/** 'stop': name it on stderr and end the run (a guest fault); 'report': name it and let the guest handle it. */
export const enum OnUnsupported { STOP = 0, REPORT = 1 }

export const enum VmState { CREATED = 0, RUNNING = 1, PAUSED = 2, SHUTDOWN = 3 }

/** Per-vCPU slot record, in Int32 words. */
export const enum Slot {
  /** Generation: odd while a vCPU occupies the slot, even when empty. Bumped on create and on destroy. */
  GEN = 0,
  /** SBI HSM state (HsmState). */
  HSM = 1,
  /** Scheduling state (RunState). */
  RUN = 2,
  /** Interrupt bits posted by other harts or the host (SSIP for IPIs, ...), merged into mip by the vCPU. */
  IRQ = 3,
  /** Futex word the vCPU thread sleeps on (WFI, stopped); bumped with a notify to wake it. */
  WAKE = 4,
  /** Request bits (Req) for the vCPU thread, consumed with Atomics.exchange. */
  REQ = 5,
  START_ADDR = 6,
  START_OPAQUE = 7,
  /** Flags (SlotFlag) describing the vCPU for others, e.g. directed yield. */
  FLAGS = 8,
  /** RCU-style reader epoch of the thread running this vCPU: 0 when quiescent. */
  READER_EPOCH = 9,
  /** Acknowledgement counter: bumped each time the vCPU has consumed its requests. */
  ACK = 10,
  /** HSM suspend: resume address and opaque for a non-retentive suspend. */
  RESUME_ADDR = 11,
  RESUME_OPAQUE = 12,
  SUSPEND_TYPE = 13,
  /** CPU slot granted to this waiting vCPU, plus one; 0 = accepting a grant, -1 = not accepting (cpu-slots.ts). */
  GRANT = 14,
  /** Ticket taken when the vCPU started waiting for a CPU slot. */
  WAIT_SINCE = 15,
  STRIDE = 16,
}

/** SBI HSM states (SBI spec, HSM extension). */
export const enum HsmState {
  STARTED = 0, STOPPED = 1, START_PENDING = 2, STOP_PENDING = 3, SUSPENDED = 4, SUSPEND_PENDING = 5, RESUME_PENDING = 6,
}

/** What the vCPU's thread is doing, as others see it. */
export const enum RunState { NONE = 0, RUNNING = 1, HALTED = 2, PREEMPTED = 3, STOPPED = 4 }

export const enum Req {
  /** End the vCPU thread (destroy). */
  EXIT = 1 << 0,
  FENCE_I = 1 << 1,
  SFENCE_VMA = 1 << 2,
  /** Paravirtual kick (vendor SBI KICK): the hart's current or next WFI returns without an interrupt. */
  KICK = 1 << 3,
  /** Park the vCPU (VM pause). */
  PAUSE = 1 << 4,
  /** An HSM start is posted (START_ADDR/START_OPAQUE are valid). */
  START = 1 << 5,
}

/** HOST_WAITS: the host waits on this vCPU (a hot-remove in flight): it goes first for a CPU slot (cpu-slots.ts). */
export const enum SlotFlag { IN_KERNEL = 1 << 0, SPINNING = 1 << 1, DY_ELIGIBLE = 1 << 2, HOST_WAITS = 1 << 3 }

/** Per-vCPU statistics, KVM binary stats names. */
export const STAT_NAMES = [
  'exits', 'exits_ecall', 'exits_wfi', 'exits_pause', 'exits_budget', 'halt_wakeup', 'pause_loop_exits',
  'directed_yield_attempted', 'directed_yield_successful', 'preempted', 'instructions', 'sbi_calls', 'ipi_sent',
] as const;
export type StatName = (typeof STAT_NAMES)[number];
export const STAT_STRIDE = 16;
export const Stat = Object.fromEntries(STAT_NAMES.map((n, i) => [n, i])) as Record<StatName, number>;

export function allocCtl(): SharedArrayBuffer {
  return new SharedArrayBuffer(Ctl.SIZE * 4);
}
export function allocSlots(maxVcpus: number): SharedArrayBuffer {
  return new SharedArrayBuffer(maxVcpus * Slot.STRIDE * 4);
}
export function allocStats(maxVcpus: number): SharedArrayBuffer {
  return new SharedArrayBuffer(maxVcpus * STAT_STRIDE * 8);
}

/**
 * The spare-thread handshake (one small SAB per vCPU worker, threads.ts): the owner assigns a vCPU by storing its
 * id and STATE = ASSIGNED with a notify (no message: a message would wait for the thread's event loop); the worker
 * reports LEFT when it no longer runs guest code.
 */
/**
 * A worker thread's own control words (one small buffer per thread, shared with the owner). TID: its kernel
 * thread id (0 if unknown); BOOST: 1 while the owner has lifted its OS priority (thread-priority.ts); READY: 1 once
 * it has booted (and warmed up), which lets the owner boot the next spare; HOST_WAITS: why the owner holds a count
 * in Ctl.HOST_YIELD for this thread (HostWait in thread-priority.ts), 0 when it holds none; TOKEN: the number of
 * the current hand-over, which the thread's messages carry (a thread reused for another vCPU may still have
 * messages about its previous one in flight).
 */
export const enum Spare { STATE = 0, ID = 1, TID = 2, BOOST = 3, READY = 4, HOST_WAITS = 5, TOKEN = 6, WORDS = 7 }
/** Spare.BOOST: lifted for about one time slice, or held until the owner lets go (then one more slice). */
export const enum Boost { NONE = 0, SLICE = 1, HELD = 2 }
/** PARKED: the thread left its vCPU because the guest stopped the hart; it waits for the owner to make it a spare
 *  again (IDLE) or let it go (QUIT). */
export const enum SpareState { IDLE = 0, ASSIGNED = 1, LEFT = 2, QUIT = 3, PARKED = 4 }

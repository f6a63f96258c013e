/**
 * Test helper: tiny S-mode guests for the VM/vCPU life-cycle tests and the `lifecycle` bench, assembled with
 * ./asm.ts and written straight into guest RAM. Every entry point follows the HSM start convention
 * (a0 = hart id, a1 = opaque) so the host can start a vCPU at it with `vcpu.start(entry, opaque)`.
 *
 * Layout (offsets from RAM base 0x80000000): code at +0, data at +0x10000 (one page per purpose, so no two
 * purposes share a word).
 */
import * as A from './asm.js';
import { a0, a1, a2, a6, a7, ra, s0, s1, s2, s3, t0, t1, t2, zero } from './asm.js';

export const RAM_BASE = 0x80000000;
/** Where data lives: counters, markers, flags, locks. */
export const DATA_BASE = RAM_BASE + 0x10000;
/** Per-hart counters: hart i increments the word at COUNTERS + 4 * i (counter guest, with opaque = its address). */
export const COUNTERS = DATA_BASE;
/** Per-start markers (bench): the marker guest stores its opaque (non-zero) to the address in a1 first of all. */
export const MARKERS = DATA_BASE + 0x1000;
/** The shared counter of the atomicity guests. */
export const SHARED_COUNTER = DATA_BASE + 0x2000;
/** The LR/SC spin lock word (own cache line's worth of distance from the counter). */
export const LOCK = DATA_BASE + 0x2040;
/** Per-hart completion flags of the atomicity guests: hart i stores 1 at FLAGS + 4 * i when done. */
export const FLAGS = DATA_BASE + 0x3000;
/** Start barrier of the atomicity guests: each hart adds 1, then waits until every hart has arrived. */
export const BARRIER = DATA_BASE + 0x2080;
/** SBI results of the spawn guest: hart i stores the error code of its hart_start at RESULTS + 4 * i. */
export const RESULTS = DATA_BASE + 0x4000;

export const SBI = {
  SRST: 0x53525354,
  HSM: 0x48534d,
  LEGACY_PUTCHAR: 1,
} as const;

/** The entry points of the guest program, all in one image at RAM_BASE. */
export interface GuestProgram {
  bytes: Uint8Array;
  /** Increment the word at a1 forever (plain load/add/store). */
  counter: number;
  /** First instruction stores a1 to [a1] (the "I ran" marker), then increments the word at a1 + 4 forever. */
  marker: number;
  /**
   * First instruction reads the `time` CSR (10 MHz wall-clock ticks since the VM's time origin); stores it to
   * [a1] and 1 to [a1 + 4] (the "I ran" flag), then counts at [a1 + 8] forever. The bench times creation
   * with it, so the owner needs no tight poll.
   */
  stamp: number;
  /** Exit the VM at once with SRST shutdown (reason a1 != 0: system failure). */
  shutdown: number;
  /** HSM hart_stop on itself (the VM destroys the vCPU by default). */
  hartStop: number;
  /**
   * Guest-driven hotplug: HSM hart_start of hart a1 at `counter` with opaque = its counter address, stores the
   * SBI error code at RESULTS + 4 * own id, then counts on its own counter.
   */
  spawn: number;
  /** Atomicity guests, see `guestProgram`. */
  amoadd: number;
  lrsc: number;
  /** Control for the atomicity tests: the plain load/add/store with no lock. */
  racy: number;
}

/** Emits an SBI call with the given extension/function; arguments must already be in a0..a5. */
function sbi(p: A.Asm, ext: number, fid: number): void {
  p.li(a7, ext).li(a6, fid).w(A.ecall());
}

/**
 * Builds the guest program. `harts` and `iterations` configure the atomicity entries: the harts meet at a start
 * barrier (BARRIER), then each adds 1 to
 * SHARED_COUNTER `iterations` times, stores 1 to its flag, and then hart 0 waits for every flag 0..harts-1 and
 * shuts the VM down (SRST, reason 0); the other harts park in a WFI loop.
 */
export function guestProgram(opts: { harts?: number; iterations?: number } = {}): GuestProgram {
  const harts = opts.harts ?? 4;
  const iterations = opts.iterations ?? 1000;
  const p = new A.Asm(RAM_BASE);

  p.label('counter')
    .w(A.lw(t0, a1, 0), A.addi(t0, t0, 1), A.sw(t0, a1, 0))
    .w((pc, L) => A.jal(zero, L('counter') - pc));

  p.label('marker')
    .w(A.sw(a1, a1, 0), A.addi(a1, a1, 4))
    .w((pc, L) => A.jal(zero, L('counter') - pc));

  p.label('stamp')
    .w(A.csrr(t0, 0xc01), A.sw(t0, a1, 0), A.addi(t1, zero, 1), A.sw(t1, a1, 4), A.addi(a1, a1, 8))
    .w((pc, L) => A.jal(zero, L('counter') - pc));

  p.label('shutdown');
  p.w(A.addi(a0, zero, 0)); // type: shutdown; a1 (reason) as given
  sbi(p, SBI.SRST, 0);
  p.label('hang').w(A.wfi()).w((pc, L) => A.jal(zero, L('hang') - pc));

  p.label('hartStop');
  sbi(p, SBI.HSM, 1);
  p.w((pc, L) => A.jal(zero, L('hang') - pc));

  p.label('spawn')
    .w(A.addi(s0, a0, 0), A.addi(a0, a1, 0))
    .la(a1, 'counter')
    .w(A.slli(t0, a0, 2)).li(a2, COUNTERS).w(A.add(a2, a2, t0));
  sbi(p, SBI.HSM, 0);
  p.w(A.slli(t0, s0, 2)).li(t1, RESULTS).w(A.add(t1, t1, t0), A.sw(a0, t1, 0))
    .li(a1, COUNTERS).w(A.add(a1, a1, t0))
    .w((pc, L) => A.jal(zero, L('counter') - pc));

  // ---- atomicity: amoadd.w ----
  // Start barrier (a subroutine: returns to ra), so that the harts really run the loops at the same time.
  p.label('barrier')
    .li(t0, BARRIER).w(A.addi(t1, zero, 1), A.amo(A.AMO.add, zero, t0, t1)).li(t2, harts)
    .label('barrier.wait')
    .w(A.lw(t1, t0, 0))
    .w((pc, L) => A.beq(t1, t2, L('barrier.go') - pc))
    .w(A.pause())
    .w((pc, L) => A.jal(zero, L('barrier.wait') - pc))
    .label('barrier.go')
    .w(A.jalr(zero, ra, 0));

  p.label('amoadd')
    .w((pc, L) => A.jal(ra, L('barrier') - pc))
    .li(s0, SHARED_COUNTER).li(s1, iterations).w(A.addi(s2, zero, 1))
    .label('amoadd.loop')
    .w(A.amo(A.AMO.add, zero, s0, s2), A.addi(s1, s1, -1))
    .w((pc, L) => A.bne(s1, zero, L('amoadd.loop') - pc))
    .w((pc, L) => A.jal(zero, L('done') - pc));

  // ---- atomicity: LR/SC spin lock around a plain load/add/store ----
  p.label('lrsc')
    .w((pc, L) => A.jal(ra, L('barrier') - pc))
    .li(s0, SHARED_COUNTER).li(s1, iterations).w(A.addi(s2, zero, 1)).li(s3, LOCK)
    .label('lrsc.acquire')
    .w(A.lrW(t0, s3))
    .w((pc, L) => A.bne(t0, zero, L('lrsc.spin') - pc))
    .w(A.scW(t0, s3, s2))
    .w((pc, L) => A.bne(t0, zero, L('lrsc.acquire') - pc))
    .w(A.fence()) // acquire
    .w(A.lw(t1, s0, 0), A.addi(t1, t1, 1), A.sw(t1, s0, 0))
    // release: amoswap.w.rl zero, zero, (lock)
    .w(A.amo(A.AMO.swap, zero, s3, zero, 0, 1))
    .w(A.addi(s1, s1, -1))
    .w((pc, L) => A.bne(s1, zero, L('lrsc.acquire') - pc))
    .w((pc, L) => A.jal(zero, L('done') - pc))
    .label('lrsc.spin')
    .w(A.pause())
    .w((pc, L) => A.jal(zero, L('lrsc.acquire') - pc));

  // ---- control: the same load/add/store without the lock (loses updates when harts interleave) ----
  p.label('racy')
    .w((pc, L) => A.jal(ra, L('barrier') - pc))
    .li(s0, SHARED_COUNTER).li(s1, iterations).w(A.addi(s2, zero, 1))
    .label('racy.loop')
    .w(A.lw(t1, s0, 0), A.addi(t1, t1, 1), A.sw(t1, s0, 0))
    .w(A.addi(s1, s1, -1))
    .w((pc, L) => A.bne(s1, zero, L('racy.loop') - pc))
    .w((pc, L) => A.jal(zero, L('done') - pc));

  // ---- completion: flag, then hart 0 waits for all and shuts down ----
  p.label('done')
    .w(A.fence())
    .li(t0, FLAGS).w(A.slli(t1, a0, 2), A.add(t0, t0, t1), A.sw(s2, t0, 0))
    .w((pc, L) => A.bne(a0, zero, L('hang') - pc))
    .li(t0, FLAGS).li(t2, FLAGS + 4 * harts)
    .label('done.wait')
    .w(A.lw(t1, t0, 0))
    .w((pc, L) => A.bne(t1, zero, L('done.next') - pc))
    .w(A.pause())
    .w((pc, L) => A.jal(zero, L('done.wait') - pc))
    .label('done.next')
    .w(A.addi(t0, t0, 4))
    .w((pc, L) => A.bne(t0, t2, L('done.wait') - pc))
    .w(A.fence())
    .w(A.addi(a1, zero, 0))
    .w((pc, L) => A.jal(zero, L('shutdown') - pc));

  const bytes = p.bytes();
  if (RAM_BASE + bytes.length > DATA_BASE) throw new Error('guest code overlaps its data');
  return {
    bytes,
    counter: p.addr('counter'),
    marker: p.addr('marker'),
    stamp: p.addr('stamp'),
    shutdown: p.addr('shutdown'),
    hartStop: p.addr('hartStop'),
    spawn: p.addr('spawn'),
    amoadd: p.addr('amoadd'),
    lrsc: p.addr('lrsc'),
    racy: p.addr('racy'),
  };
}

/** What the guest helpers need of a VM's RAM. */
export interface GuestRam {
  write(paddr: number, bytes: Uint8Array): void;
  readU32(paddr: number): number;
  writeU32(paddr: number, value: number): void;
}

/** Writes the guest program into RAM and returns its entry points. */
export function loadGuest(mem: GuestRam, opts?: { harts?: number; iterations?: number }): GuestProgram {
  const g = guestProgram(opts);
  mem.write(RAM_BASE, g.bytes);
  return g;
}

/** Address of hart/slot `i`'s counter. */
export const counterAddr = (i: number): number => COUNTERS + 4 * i;
/** Address of marker slot `i` (its counter is the next word; slots are 8 bytes apart). */
export const markerAddr = (i: number): number => MARKERS + 8 * i;

// ---------------------------------------------------------------------------------------------------------
// Host-side helpers shared by the vm-* tests and the lifecycle bench.

/** Polls `cond` (yielding to the event loop between polls, so the deterministic executor runs) until it holds. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Resolves after one turn of the event loop (lets the deterministic executor run one chunk of slices). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Engine warm-up: the first hart made in a thread first runs a small synthetic program on a throwaway hart, so that
 * V8 has seen every path of the interpreter run (every opcode, backward branches of each kind, the slow paths of
 * loads, stores and fetches, a fetch fault, an instruction straddling two pages, a store into code, a PAUSE spin,
 * Sv32 walks, MMIO, traps, CSRs in M- and S-mode, xRET, WFI, interrupts, and a translated loop's entry point)
 * before it optimizes it.
 *
 * Why: the interpreter is one large function. V8 optimizes it once it is hot, and deoptimizes the optimized code
 * the first time a path that had never run is taken ("insufficient type feedback"); it then runs unoptimized until
 * V8 has compiled it again on a background thread, ~50 ms of CPU each time. A 4-vCPU Linux boot compiled it about
 * 40 times (2 s of CPU on a 2-core machine); with this program, once per thread. The warm-up costs ~10 ms per
 * thread and changes nothing a guest can see: it has its own memory and hart.
 */
import { GuestMemory } from './memory.js';
import type { Hart, HartOptions, Mmio } from './hart.js';
import type { Engine } from './jit.js';

// A minimal RV32 encoder (formats from the unprivileged spec), enough for the program below.
const r = (f7: number, rs2: number, rs1: number, f3: number, rd: number, op: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const i = (imm: number, rs1: number, f3: number, rd: number, op: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const s = (imm: number, rs2: number, rs1: number, f3: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23) >>> 0;
const b = (off: number, rs2: number, rs1: number, f3: number): number =>
  ((((off >> 12) & 1) << 31) | (((off >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
    (((off >> 1) & 0xf) << 8) | (((off >> 11) & 1) << 7) | 0x63) >>> 0;
const jal = (rd: number, off: number): number =>
  ((((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) | (((off >> 12) & 0xff) << 12) |
    (rd << 7) | 0x6f) >>> 0;
const lui = (rd: number, v: number): number => ((v & 0xfffff000) | (rd << 7) | 0x37) >>> 0;
const auipc = (rd: number, v: number): number => ((v & 0xfffff000) | (rd << 7) | 0x17) >>> 0;
const csr = (f3: number, rd: number, n: number, src: number): number => i(n, src, f3, rd, 0x73);
const amo = (f5: number, rd: number, rs1: number, rs2: number): number => r(f5 << 2, rs2, rs1, 2, rd, 0x2f);

const BASE = 0x80000000;
const RAM = 64 * 1024;
const DATA = BASE + 0x8000;
const DEVICE = 0x10000000;
/** A page boundary inside the program's RAM, below the page table, for the straddling instruction. */
const STRADDLE = BASE + 0x6000;
// Registers: x5-x7 and x10-x17 are scratch; x8 points at data, x9 at the device, x18 counts loops.
const T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A2 = 12, A3 = 13, A4 = 14, S2 = 18, T3 = 28;

/** Loads a 32-bit constant (lui + addi). */
function li(rd: number, v: number): number[] {
  const lo = (v << 20) >> 20;
  return [lui(rd, (v - lo) | 0), i(lo, rd, 0, rd, 0x13)];
}

/** The warm-up program, laid out from BASE: words (32-bit) and halfwords (16-bit, compressed). */
function program(): { bytes: Uint8Array; start: number } {
  const out: number[] = []; // bytes
  let start = 0;
  const w = (...ws: number[]): void => { for (const x of ws) out.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24); };
  const h = (...hs: number[]): void => { for (const x of hs) out.push(x & 0xff, (x >>> 8) & 0xff); };
  const here = (): number => BASE + out.length;
  // Trap vector at BASE: an interrupt silences interrupts; an ECALL from S-mode returns to M-mode; any other
  // exception skips the trapping instruction (all of them are 32-bit).
  // A fetch fault (cause 1) returns to ra.
  w(csr(2, T2, 0x342, 0), b(48, 0, T2, 4)); // csrr t2, mcause; blt t2, x0, intr
  w(i(-1, T2, 0, T2, 0x13), b(12, 0, T2, 1), csr(1, 0, 0x341, 1), 0x30200073); // if mcause == 1: mepc = ra; mret
  w(i(-8, T2, 0, T2, 0x13), b(8, 0, T2, 1), csr(2, 0, 0x300, T3)); // if mcause == 9: MPP = M
  w(csr(2, T2, 0x341, 0), i(4, T2, 0, T2, 0x13), csr(1, 0, 0x341, T2), 0x30200073); // mepc += 4; mret
  w(csr(1, 0, 0x304, 0), 0x30200073); // intr: csrw mie, x0; mret
  start = here();
  w(...li(S0, DATA), ...li(2, DATA + 0x100), ...li(S1, DEVICE), ...li(T3, 3 << 11), ...li(A0, -7), ...li(A1, 12347),
    i(3, 0, 0, A2, 0x13), i(40, 0, 0, S2, 0x13));
  const loop = here();
  // ALU: every R-type op (with M) on small values of both signs, then the I-type ops, LUI, AUIPC. (Values that
  // overflow int32 would teach V8 to use doubles in the interpreter's arithmetic, which costs every guest.)
  for (const [f7, f3] of [[0, 0], [32, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [32, 5], [0, 6], [0, 7],
    [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 7]]) {
    w(r(f7, A1, A0, f3, A3, 0x33), r(f7, A2, A1, f3, A4, 0x33), r(f7, 0, A2, f3, A3, 0x33));
  }
  for (const f3 of [0, 2, 3, 4, 6, 7]) w(i(-5, A0, f3, A3, 0x13));
  w(r(0, 3, A1, 1, A3, 0x13), r(0, 3, A1, 5, A3, 0x13), r(32, 3, A1, 5, A3, 0x13), lui(A3, 0x12345000), auipc(A4, 0x1000));
  // Loads and stores of each size: aligned, misaligned, past the end of RAM (faults), and to a device.
  for (const f3 of [0, 1, 2, 4, 5]) w(i(8, S0, f3, A3, 0x03), i(3, S0, f3, A3, 0x03), i(0, S1, f3, A3, 0x03), i(-8, T0, f3, A3, 0x03));
  for (const f3 of [0, 1, 2]) w(s(8, A0, S0, f3), s(3, A0, S0, f3), s(0, A0, S1, f3), s(-8, A0, T0, f3));
  w(...li(T0, BASE + RAM + 8)); // for the next round's faulting accesses
  // Atomics (each AMO, LR/SC that succeeds and fails, a misaligned one that traps).
  for (const f5 of [0, 1, 4, 8, 12, 16, 20, 24, 28]) w(amo(f5, A3, S0, A0));
  w(amo(2, A3, S0, 0), amo(3, A4, S0, A0), amo(3, A4, S0, A0), amo(1, A3, A1, A0));
  w(amo(2, A3, S0, 0), amo(0, A3, S0, A0), amo(3, A4, S0, A0)); // an AMO on the reserved word drops the reservation
  // Fences, PAUSE, CSRs (each form; counters, time; a missing one traps), ECALL, EBREAK, an illegal word, WFI.
  w(0x0ff0000f, 0x0000100f, 0x0100000f);
  w(csr(2, A3, 0xb02, 0), csr(2, A3, 0xc01, 0), csr(2, A3, 0xb00, 0), csr(1, 0, 0x340, A0), csr(2, A3, 0x340, A1), csr(3, A3, 0x340, A1),
    csr(5, A3, 0x340, 5), csr(6, A3, 0x340, 1), csr(7, A3, 0x340, 1), csr(2, A3, 0x7c0, 0));
  w(0x00000073, 0x00100073, 0xffffffff, 0x10500073);
  // Compressed forms: addi, li, lui, mv, add, slli, srli, srai, andi, sub, xor, or, and, lw, sw, lwsp, swsp, nop,
  // beqz, bnez (20 halfwords: the words after stay aligned).
  h(0x0585, 0x4589, 0x6585, 0x85aa, 0x95aa, 0x0586, 0x8185, 0x8585, 0x8985, 0x8d89, 0x8da9, 0x8dc9, 0x8de9, 0x4058, 0xc058, 0x4532,
    0xc22a, 0x0001, 0xc189, 0xe189);
  // Branches both ways, a call and a return.
  for (const f3 of [0, 1, 4, 5, 6, 7]) w(b(8, A0, A1, f3), b(4, A1, A0, f3));
  w(jal(1, 8), jal(0, 8), i(0, 1, 0, 0, 0x67));
  // Each branch taken backwards once, then not (the interpreter counts loop iterations on backward edges):
  // t1 starts at 0 and the loop adds `step`; the branch compares it with `bound` (x0 or a3 = 1 or 2).
  for (const [f3, step, start, bound] of [[0, 1, 0, 1], [1, 1, -2, 0], [4, 1, 0, 2], [5, -1, 1, 0], [6, 1, 0, 2], [7, -1, 2, 1]]) {
    w(i(start, 0, 0, T1, 0x13), i(bound, 0, 0, A3, 0x13), i(step, T1, 0, T1, 0x13), b(-4, bound === 0 ? 0 : A3, T1, f3));
  }
  // A plain loop, which the translator compiles (its entry point then also stops the interpreter).
  w(i(40, 0, 0, T1, 0x13), i(1, A3, 0, A3, 0x13), i(-1, T1, 0, T1, 0x13), b(-8, 0, T1, 1));
  // A backward call: a forward jump to it, and it lands just after that jump.
  w(jal(0, 8), jal(0, 8), jal(1, -4));
  // A spin on PAUSE long enough for a pause-loop exit (pleGap 8, pleWindow 16 below).
  w(i(24, 0, 0, T1, 0x13), 0x0100000f, i(-1, T1, 0, T1, 0x13), b(-8, 0, T1, 1));
  // A store into code that has run (the same word again: self-modifying code that changes nothing).
  w(auipc(T1, 0), i(0, T1, 2, A3, 0x03), s(0, A3, T1, 2));
  // A call to an address outside RAM (an instruction access fault; the handler returns to ra).
  w(...li(T1, BASE + RAM + 0x100), i(0, T1, 0, 1, 0x67));
  // A 32-bit instruction that straddles two pages, and back.
  w(...li(T1, STRADDLE - 2), i(0, T1, 0, 1, 0x67));
  // Into S-mode over Sv32 (a superpage mapping RAM at 0x40000000 and at itself, the device too), and back with ECALL.
  const toS = here();
  w(csr(3, 0, 0x300, T3), ...li(T1, 1 << 11), csr(2, 0, 0x300, T1), ...li(T1, toS + 32), csr(1, 0, 0x341, T1), 0x30200073); // MPP = S; mret
  w(...li(T1, 0x80000000 | ((BASE + 0x7000) >>> 12)), csr(1, 0, 0x180, T1), 0x12000073); // satp = Sv32; sfence.vma
  w(i(8, S0, 2, A3, 0x03), 0x12040073, 0x12050073); // a superpage walked, then sfence.vma s0 (its region), a0 (one page)
  w(i(8, S0, 2, A3, 0x03), s(12, A3, S0, 2), i(0, S1, 2, A3, 0x03)); // translated accesses
  // S-mode CSRs (sstatus.SUM on and off, sscratch, time), WFI, then ECALL back to M-mode.
  w(...li(T1, 1 << 18), csr(2, 0, 0x100, T1), csr(3, 0, 0x100, T1), csr(2, A3, 0x100, 0), csr(1, 0, 0x140, A3),
    csr(2, A3, 0xc01, 0), 0x10500073, 0x00000073);
  w(csr(1, 0, 0x180, 0)); // back in M-mode: satp = 0
  w(i(-1, S2, 0, S2, 0x13), b(loop - (here() + 0), 0, S2, 1)); // addi s2, -1; bnez s2, loop
  w(jal(0, start - here()));
  const bytes = new Uint8Array(RAM);
  bytes.set(out);
  if (BASE + out.length > STRADDLE - 2) throw new Error('warm-up program too large');
  const put = (o: number, v: number): void => { bytes[o] = v; bytes[o + 1] = v >>> 8; bytes[o + 2] = v >>> 16; bytes[o + 3] = v >>> 24; };
  // At the page end: an addi whose upper half is on the next page, then a return (jalr x0, 0(ra)).
  put(STRADDLE - 2 - BASE, i(1, A3, 0, A3, 0x13));
  put(STRADDLE + 2 - BASE, i(0, 1, 0, 0, 0x67));
  // Sv32 root table at BASE + 0x7000: megapages for RAM (identity and at 0x40000000) and for the device.
  const pte = (pa: number): number => (((pa >>> 12) << 10) | 0xcf) >>> 0; // V R W X A D
  put(0x7000 + (BASE >>> 22) * 4, pte(BASE));
  put(0x7000 + (0x40000000 >>> 22) * 4, pte(BASE));
  put(0x7000 + (DEVICE >>> 22) * 4, pte(DEVICE));
  return { bytes, start };
}

/** A device that answers reads at DEVICE with zero and takes writes; elsewhere, access faults. */
const DEVICE_STUB: Mmio = {
  read: (pa) => ((pa >>> 12) === DEVICE >>> 12 ? 0 : undefined),
  write: (pa) => (pa >>> 12) === DEVICE >>> 12,
};

let done = false;

/** Whether this thread has run the warm-up (warmUpOnce). */
export function warmedUp(): boolean {
  return done;
}

/**
 * Runs the warm-up once per thread (later calls return at once). `make` builds a hart (the caller passes the Hart
 * constructor, which cannot be imported here without a cycle). `engine`: warm only that engine's run loop.
 */
export function warmUpOnce(make: (mem: GuestMemory, opts: HartOptions) => Hart, engine?: Engine): void {
  if (done) return;
  done = true;
  runWarmUp(make, engine);
}

/** Runs the warm-up program on a throwaway hart per engine (both when `engine` is undefined) for `rounds` short runs
 *  (200: a full warm-up; a few: only V8's bytecode is made) and returns the harts (tests check what they went through). */
export function runWarmUp(make: (mem: GuestMemory, opts: HartOptions) => Hart, engine?: Engine, rounds = 200): Hart[] {
  const { bytes, start } = program();
  // The run loops: the interpreter alone, and the translating engine's (with a low threshold, so that the plain
  // loop is translated and its entry point is met by the interpreter and entered by the run loop).
  const loops = [{ engine: 'interp' }, { engine: 'jit', jitThreshold: 8 }] as const;
  const harts: Hart[] = [];
  for (const opts of loops.filter((l) => engine === undefined || l.engine === engine)) {
    const mem = new GuestMemory(RAM);
    mem.u8.set(bytes);
    const h = make(mem, { ...opts, mmio: DEVICE_STUB });
    h.mtvec = BASE;
    h.mie = (1 << 7) | (1 << 3); // MTI, MSI
    h.mstatus |= 1 << 3; // MIE
    h.pleGap = 8;
    h.pleWindow = 16;
    h.reset(start, 3);
    for (let k = 0; k < rounds; k++) {
      if (k % 50 === 7) h.mip |= 1 << 7; // an interrupt now and then
      h.run(1 + (k * 37) % 61);
    }
    harts.push(h);
  }
  return harts;
}

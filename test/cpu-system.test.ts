/**
 * Traps, privilege transitions, counters, WFI, interrupts, PAUSE exits, atomics, MMIO, self-modifying code
 * and page-straddling instructions, each with small hand-assembled programs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory } from '../src/cpu/memory.js';
import { Exit, Hart, HartOptions, Mmio } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';
import { Asm, PTE, Sv32 } from './helpers/asm.js';

const BASE = 0x80000000;
const RAM = 1 << 20;
const U = 0, S = 1, M = 3;

// CSR numbers (from the privileged spec, independent of the engine's tables).
const SSTATUS = 0x100, SIE = 0x104, STVEC = 0x105, SEPC = 0x141, SCAUSE = 0x142, SIP = 0x144, SATP = 0x180;
const MSTATUS = 0x300, MEDELEG = 0x302, MIE = 0x304, MTVEC = 0x305, MEPC = 0x341, MCAUSE = 0x342, MIP = 0x344;
const MCYCLE = 0xb00, MINSTRET = 0xb02, MCYCLEH = 0xb80, MINSTRETH = 0xb82, CYCLE = 0xc00, TIME = 0xc01, INSTRET = 0xc02, TIMEH = 0xc81;
// mstatus bits.
const ST_SIE = 1 << 1, ST_MIE = 1 << 3, ST_SPIE = 1 << 5, ST_MPIE = 1 << 7, ST_SPP = 1 << 8, ST_MPP = 3 << 11, ST_MPRV = 1 << 17;
const ST_TVM = 1 << 20, ST_TW = 1 << 21, ST_TSR = 1 << 22;
// Interrupt numbers.
const SSI = 1, MSI = 3, STI = 5, MTI = 7, SEI = 9, MEI = 11;
const INTR = 0x80000000;

interface Machine { mem: GuestMemory; h: Hart; p: Asm }

/** Assembles a program at RAM base and makes a hart over it (M-mode, pc = RAM base). */
function machine(build: (p: Asm) => void, opts: HartOptions = {}): Machine {
  const mem = new GuestMemory(RAM);
  const p = new Asm(BASE);
  build(p);
  mem.write(BASE, p.bytes());
  const h = new Hart(mem, opts);
  return { mem, h, p };
}

/** Emits code that leaves M-mode for `priv` at label `target` (via mret). Clobbers t0. */
function enter(p: Asm, priv: number, target: string): void {
  p.li(A.t0, ST_MPP).w(A.csrc(MSTATUS, A.t0));
  if (priv !== 0) p.li(A.t0, priv << 11).w(A.csrs(MSTATUS, A.t0));
  p.la(A.t0, target).w(A.csrw(MEPC, A.t0), A.mret());
}

/** A trap handler that spins in place: after `run`, pc sits on it and the cause registers hold the trap. */
function spin(p: Asm, name: string): void {
  p.label(name).w(A.jal(0, 0));
}

const u = (x: number): number => x >>> 0;

// ---------------------------------------------------------------------------------------------------------
// ECALL, delegation, xRET.

for (const [priv, cause] of [[M, 11], [S, 9], [U, 8]] as const) {
  test(`ecall from ${['U', 'S', '', 'M'][priv]}-mode traps to M with cause ${cause}`, () => {
    const { h, p } = machine((p) => {
      p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
      enter(p, priv, 'guest');
      p.label('guest').w(A.addi(A.a0, 0, 5)).label('ecall').w(A.ecall(), A.addi(A.a0, 0, 6));
      spin(p, 'mtrap');
    });
    h.run(200);
    assert.equal(h.pc >>> 0, p.addr('mtrap'));
    assert.equal(h.priv, M);
    assert.equal(h.csrRead(MCAUSE), cause);
    assert.equal(u(h.mepc), p.addr('ecall'));
    assert.equal(h.mtval, 0);
    assert.equal((h.mstatus >>> 11) & 3, priv, 'MPP holds the previous privilege');
    assert.equal(h.regs[A.a0], 5, 'the instruction after ecall did not run');
  });
}

test('medeleg routes U and S ecalls to S-mode; M-mode ecalls and M-mode faults are never delegated', () => {
  for (const [priv, cause] of [[U, 8], [S, 9]] as const) {
    const { h, p } = machine((p) => {
      p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
      p.la(A.t0, 'strap').w(A.csrw(STVEC, A.t0));
      p.li(A.t0, 1 << cause).w(A.csrw(MEDELEG, A.t0));
      p.li(A.t0, ST_SIE).w(A.csrs(MSTATUS, A.t0));
      enter(p, priv, 'guest');
      p.label('guest').label('ecall').w(A.ecall());
      spin(p, 'mtrap');
      spin(p, 'strap');
    });
    h.run(200);
    assert.equal(h.pc >>> 0, p.addr('strap'));
    assert.equal(h.priv, S);
    assert.equal(h.csrRead(SCAUSE), cause);
    assert.equal(u(h.csrRead(SEPC)!), p.addr('ecall'));
    assert.equal(h.mcause, 0, 'M-mode cause untouched');
    const st = h.csrRead(SSTATUS)!;
    assert.equal((st & ST_SPP) !== 0, priv === S, 'SPP');
    assert.equal(st & ST_SIE, 0, 'SIE cleared');
    assert.equal(st & ST_SPIE, ST_SPIE, 'SPIE = old SIE');
  }
  // M-mode: medeleg has no bit 11, and exceptions raised in M-mode stay in M even if delegated.
  const { h, p } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.la(A.t0, 'strap').w(A.csrw(STVEC, A.t0));
    p.li(A.t0, -1).w(A.csrw(MEDELEG, A.t0), A.csrr(A.a1, MEDELEG));
    p.label('bad').w(0xffffffff);
    spin(p, 'mtrap');
    spin(p, 'strap');
  });
  h.run(200);
  assert.equal(h.regs[A.a1] & (1 << 11), 0, 'medeleg bit 11 (ecall from M) is read-only zero');
  assert.notEqual(h.regs[A.a1] & (1 << 2), 0, 'illegal instruction is delegable');
  assert.equal(h.pc >>> 0, p.addr('mtrap'));
  assert.equal(h.mcause, 2);
  assert.equal(u(h.mepc), p.addr('bad'));
});

test('a delegated fault from U-mode sets stval; an undelegated one from S-mode goes to M', () => {
  const { h, p } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.la(A.t0, 'strap').w(A.csrw(STVEC, A.t0));
    p.li(A.t0, 1 << 2).w(A.csrw(MEDELEG, A.t0));
    enter(p, U, 'guest');
    p.label('guest').w(0x0000107f); // opcode 0x7f (>= 80-bit prefix space): illegal
    spin(p, 'mtrap');
    spin(p, 'strap');
  });
  h.run(200);
  assert.equal(h.pc >>> 0, p.addr('strap'));
  assert.equal(h.scause, 2);
  assert.equal(u(h.stval), 0x0000107f);
  assert.equal(u(h.sepc), p.addr('guest'));
  // The same in S-mode with a breakpoint (not delegated).
  const m2 = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.la(A.t0, 'strap').w(A.csrw(STVEC, A.t0));
    p.li(A.t0, 1 << 2).w(A.csrw(MEDELEG, A.t0));
    enter(p, S, 'guest');
    p.label('guest').w(A.ebreak());
    spin(p, 'mtrap');
    spin(p, 'strap');
  });
  m2.h.run(200);
  assert.equal(m2.h.pc >>> 0, m2.p.addr('mtrap'));
  assert.equal(m2.h.mcause, 3);
  assert.equal(u(m2.h.mepc), m2.p.addr('guest'));
  assert.equal((m2.h.mstatus >>> 11) & 3, S);
});

test('mret: privilege from MPP, MIE from MPIE, MPIE set, MPP to U, MPRV cleared below M', () => {
  for (const [mpp, mpie] of [[S, 1], [U, 0], [M, 1], [M, 0], [S, 0]] as const) {
    const { h, p } = machine((p) => {
      p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
      p.li(A.t0, ST_MPP | ST_MPIE | ST_MIE).w(A.csrc(MSTATUS, A.t0));
      p.li(A.t0, (mpp << 11) | (mpie ? ST_MPIE : 0) | ST_MPRV).w(A.csrs(MSTATUS, A.t0));
      p.la(A.t0, 'after').w(A.csrw(MEPC, A.t0), A.mret());
      p.w(A.addi(A.a0, 0, 99)); // skipped
      p.label('after').w(A.addi(A.a1, 0, 1));
      p.label('stop').w(A.jal(0, 0));
      spin(p, 'mtrap');
    });
    h.run(100);
    assert.equal(h.pc >>> 0, p.addr('stop'), `mpp=${mpp}`);
    assert.equal(h.priv, mpp);
    assert.equal(h.regs[A.a0], 0);
    assert.equal(h.regs[A.a1], 1);
    const st = h.mstatus;
    assert.equal((st & ST_MIE) !== 0, mpie === 1, 'MIE = old MPIE');
    assert.equal(st & ST_MPIE, ST_MPIE, 'MPIE = 1');
    assert.equal((st >>> 11) & 3, U, 'MPP = U');
    assert.equal((st & ST_MPRV) !== 0, mpp === M, 'MPRV kept only when returning to M');
  }
});

test('sret: privilege from SPP, SIE from SPIE, SPIE set, SPP to U; also legal from M-mode', () => {
  for (const [from, spp, spie] of [[S, S, 1], [S, U, 0], [M, S, 0], [M, U, 1]] as const) {
    const { h, p } = machine((p) => {
      p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
      p.li(A.t0, ST_SPP | ST_SPIE | ST_SIE).w(A.csrc(MSTATUS, A.t0));
      p.li(A.t0, (spp === S ? ST_SPP : 0) | (spie ? ST_SPIE : 0)).w(A.csrs(MSTATUS, A.t0));
      p.la(A.t0, 'after').w(A.csrw(SEPC, A.t0));
      if (from === S) enter(p, S, 'ins'); else p.w(A.jal(0, 4));
      p.label('ins').w(A.sret(), A.addi(A.a0, 0, 99));
      p.label('after').w(A.addi(A.a1, 0, 1));
      p.label('stop').w(A.jal(0, 0));
      spin(p, 'mtrap');
    });
    h.run(100);
    assert.equal(h.pc >>> 0, p.addr('stop'), `from=${from} spp=${spp}: mcause ${h.mcause}`);
    assert.equal(h.priv, spp);
    assert.equal(h.regs[A.a0], 0);
    const st = h.mstatus;
    assert.equal((st & ST_SIE) !== 0, spie === 1, 'SIE = old SPIE');
    assert.equal(st & ST_SPIE, ST_SPIE, 'SPIE = 1');
    assert.equal(st & ST_SPP, 0, 'SPP = U');
  }
});

test('trap entry saves MIE in MPIE and clears MIE; vectored mtvec is used only for interrupts', () => {
  const { h, p } = machine((p) => {
    p.la(A.t0, 'vec').w(A.addi(A.t0, A.t0, 1), A.csrw(MTVEC, A.t0));
    p.w(A.csrrsi(0, MSTATUS, ST_MIE));
    p.label('ecall').w(A.ecall());
    p.org(BASE + 0x400).label('vec').w(A.jal(0, 0)); // synchronous traps land on the base
    p.org(BASE + 0x400 + 4 * MTI).label('vmti').w(A.jal(0, 0));
  });
  h.run(100);
  assert.equal(h.pc >>> 0, p.addr('vec'));
  assert.equal(h.mcause, 11);
  assert.equal(h.mstatus & ST_MIE, 0);
  assert.equal(h.mstatus & ST_MPIE, ST_MPIE);
  // An interrupt with the vectored mode goes to base + 4 * cause.
  h.mstatus |= ST_MIE;
  h.mie = 1 << MTI;
  h.mip = 1 << MTI;
  h.run(10);
  assert.equal(h.pc >>> 0, p.addr('vmti'));
  assert.equal(u(h.mcause), u(INTR | MTI));
  assert.equal(u(h.mepc), p.addr('vec'), 'mepc is the interrupted instruction');
});

// ---------------------------------------------------------------------------------------------------------
// Illegal instructions.

/** Runs one instruction at a fixed address in `priv` and returns the hart (trap handler spins at RAM base). */
function single(inst: number | number[], priv: number, prep?: (h: Hart) => void): Hart {
  const mem = new GuestMemory(RAM);
  mem.writeU32(BASE, A.jal(0, 0));
  const words = Array.isArray(inst) ? inst : [inst];
  words.forEach((w, i) => mem.writeU32(BASE + 0x100 + 4 * i, w));
  const h = new Hart(mem);
  h.mtvec = BASE;
  h.reset(BASE + 0x100, priv);
  prep?.(h);
  h.run(words.length);
  return h;
}

test('illegal instructions trap with mtval = the instruction bits', () => {
  const illegal: [string, number][] = [
    ['all ones', 0xffffffff],
    ['custom-0', 0x0000000b],
    ['flw (no F)', A.iType(0x07, A.a0, 2, A.a1, 0)],
    ['jalr funct3=1', A.iType(0x67, A.ra, 1, A.a1, 0)],
    ['branch funct3=2', A.bType(0x63, 2, A.a0, A.a1, 8)],
    ['ld (RV64)', A.iType(0x03, A.a0, 3, A.a1, 0)],
    ['lwu (RV64)', A.iType(0x03, A.a0, 6, A.a1, 0)],
    ['sd (RV64)', A.sType(0x23, 3, A.a1, A.a0, 0)],
    ['slli with funct7=1', A.rType(0x13, A.a0, 1, A.a0, 3, 0x01)],
    ['srli with funct7=0x10', A.rType(0x13, A.a0, 5, A.a0, 3, 0x10)],
    ['add with funct7=0x40', A.rType(0x33, A.a0, 0, A.a1, A.a2, 0x40)],
    ['sub-like funct3=1 funct7=0x20', A.rType(0x33, A.a0, 1, A.a1, A.a2, 0x20)],
    ['addw (RV64)', A.rType(0x3b, A.a0, 0, A.a1, A.a2, 0)],
    ['lr.w with rs2 != 0', A.amo(A.AMO.lr, A.a0, A.a1, A.a2)],
    ['amoadd.d (RV64)', (A.amo(A.AMO.add, A.a0, A.a1, A.a2) & ~0x7000) | 0x3000],
    ['amo funct5=0x1f', A.amo(0x1f, A.a0, A.a1, A.a2)],
    ['fence funct3=2', (A.fence() & ~0x7000) | 0x2000],
    ['system funct3=4', 0x00004073],
    ['ecall with rd != 0', 0x000000f3],
    ['uret', 0x00200073],
    ['hfence.vma (no H)', A.rType(0x73, 0, 0, 0, 0, 0x11)],
    ['csr 0x7c0 (does not exist)', A.csrr(A.a0, 0x7c0)],
    ['csr hstatus (no H)', A.csrr(A.a0, 0x600)],
    ['csrw cycle (read-only)', A.csrw(CYCLE, A.a0)],
    ['csrs mhartid with rs1 != 0 (read-only)', A.csrs(0xf14, A.a0)],
    ['csrrwi mvendorid', A.csrrwi(0, 0xf11, 1)],
  ];
  for (const [name, inst] of illegal) {
    const h = single(inst, M);
    assert.equal(h.pc >>> 0, BASE, name);
    assert.equal(h.mcause, 2, name);
    assert.equal(u(h.mtval), u(inst), `${name}: mtval`);
    assert.equal(u(h.mepc), BASE + 0x100, name);
    assert.equal(h.instret, 0, `${name}: a trapping instruction does not retire`);
  }
  // A 16-bit illegal instruction reports its 16 bits.
  const mem = new GuestMemory(RAM);
  mem.writeU32(BASE, A.jal(0, 0));
  mem.writeU32(BASE + 0x100, 0xffff0000);
  const h = new Hart(mem); h.mtvec = BASE; h.reset(BASE + 0x100, M); h.run(1);
  assert.equal(h.mcause, 2);
  assert.equal(h.mtval, 0);
});

test('read-only CSRs may be read by csrrs/csrrc with rs1 = x0 and csrrsi/csrrci with uimm = 0', () => {
  const h = single([A.csrr(A.a0, 0xf14), A.csrrc(A.a1, 0xf14, 0), A.csrrsi(A.a2, 0xc00, 0), A.csrrci(A.a3, 0xf11, 0)], M);
  assert.equal(h.mcause, 0);
  assert.equal(h.pc >>> 0, BASE + 0x110);
});

test('privileged instructions and CSRs are illegal from lower privileges', () => {
  const cases: [string, number, number, ((h: Hart) => void)?][] = [
    ['mret in S', A.mret(), S], ['mret in U', A.mret(), U], ['sret in U', A.sret(), U],
    ['sret in S with TSR', A.sret(), S, (h) => { h.mstatus |= ST_TSR; }],
    ['wfi in U', A.wfi(), U], ['wfi in S with TW', A.wfi(), S, (h) => { h.mstatus |= ST_TW; }],
    ['sfence.vma in U', A.sfenceVma(), U], ['sfence.vma in S with TVM', A.sfenceVma(), S, (h) => { h.mstatus |= ST_TVM; }],
    ['csrr satp in S with TVM', A.csrr(A.a0, SATP), S, (h) => { h.mstatus |= ST_TVM; }],
    ['csrr mstatus in S', A.csrr(A.a0, MSTATUS), S], ['csrr sstatus in U', A.csrr(A.a0, SSTATUS), U],
    ['csrw mepc in S', A.csrw(MEPC, A.a0), S], ['csrr mhartid in S', A.csrr(A.a0, 0xf14), S],
  ];
  for (const [name, inst, priv, prep] of cases) {
    const h = single(inst, priv, prep);
    assert.equal(h.mcause, 2, name);
    assert.equal(u(h.mtval), u(inst), `${name}: mtval`);
    assert.equal(h.priv, M, name);
    assert.equal((h.mstatus >>> 11) & 3, priv, `${name}: MPP`);
  }
  // ... and legal where allowed.
  const ok: [string, number, number, ((h: Hart) => void)?][] = [
    ['sret in S', A.sret(), S, (h) => { h.sepc = BASE + 0x200; h.mstatus |= ST_SPP; }],
    ['sfence.vma in S', A.sfenceVma(), S], ['csrr satp in S', A.csrr(A.a0, SATP), S],
    ['csrr sstatus in S', A.csrr(A.a0, SSTATUS), S],
  ];
  for (const [name, inst, priv, prep] of ok) {
    const h = single(inst, priv, prep);
    assert.equal(h.mcause, 0, name);
    assert.equal(h.priv, priv, name);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Counters.

test('instret counts exactly the retired instructions, across runs and traps', () => {
  const { h } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0)); // 3 instructions
    for (let i = 0; i < 20; i++) p.w(A.addi(A.a0, A.a0, 1));
    p.w(A.ecall()); // traps: does not retire
    spin(p, 'mtrap');
  });
  assert.equal(h.run(5), Exit.Budget);
  assert.equal(h.instret, 5);
  assert.equal(h.run(7), Exit.Budget);
  assert.equal(h.instret, 12);
  assert.equal(h.run(12), Exit.Budget); // 11 more addi, then the ecall (traps)
  assert.equal(h.instret, 23);
  assert.equal(h.mcause, 11);
  assert.equal(h.run(10), Exit.Budget); // the spin loop: 10 jal
  assert.equal(h.instret, 33);
  assert.equal(h.regs[A.a0], 20);
});

test('csrr instret reads the number of instructions retired before it', () => {
  const { h } = machine((p) => {
    p.w(A.nop(), A.nop(), A.nop(), A.csrr(A.a0, INSTRET), A.csrr(A.a1, MINSTRET), A.csrr(A.a2, CYCLE), A.csrr(A.a3, MCYCLE));
  });
  h.run(7);
  assert.deepEqual([h.regs[A.a0], h.regs[A.a1]], [3, 4]);
  assert.ok(h.regs[A.a2] >= 0 && h.regs[A.a3] >= h.regs[A.a2], 'cycle is monotonic');
  assert.equal(h.instret, 7);
});

test('writes to minstret/minstreth/mcycle are what the next read sees', () => {
  const { h } = machine((p) => {
    p.li(A.t0, 1000).w(A.csrw(MINSTRET, A.t0), A.csrr(A.a0, MINSTRET), A.csrr(A.a1, MINSTRET));
    p.li(A.t0, 7).w(A.csrw(MINSTRETH, A.t0), A.csrr(A.a2, MINSTRETH));
    p.li(A.t0, -1).w(A.csrw(MINSTRET, A.t0), A.nop(), A.csrr(A.a3, MINSTRET), A.csrr(A.a4, MINSTRETH));
    p.li(A.t0, 500).w(A.csrw(MCYCLE, A.t0), A.csrr(A.a5, MCYCLE));
    p.li(A.t0, 3).w(A.csrw(MCYCLEH, A.t0), A.csrr(A.a6, 0xc80));
    p.label('end').w(A.jal(0, 0));
  });
  h.run(24);
  assert.equal(h.regs[A.a0], 1000);
  assert.equal(h.regs[A.a1], 1001);
  assert.equal(h.regs[A.a2], 7);
  assert.equal(h.regs[A.a3], 0, 'minstret wrapped: 0xffffffff, then the nop retired (the write itself does not count)');
  assert.equal(h.regs[A.a4], 8, 'the carry went into minstreth');
  assert.equal(h.regs[A.a5], 500);
  assert.equal(h.regs[A.a6], 3);
});

test('minstret/mcycle are exact 64-bit counters, also with large high halves', () => {
  const { h } = machine((p) => {
    p.li(A.t0, 0x00400000).w(A.csrw(MINSTRETH, A.t0), A.csrw(MINSTRET, 0));
    p.w(A.nop(), A.nop(), A.nop(), A.csrr(A.a0, MINSTRET), A.csrr(A.a1, MINSTRET), A.csrr(A.a2, MINSTRETH));
    p.li(A.t0, -1).w(A.csrw(MINSTRETH, A.t0), A.csrw(MINSTRET, 0), A.nop(), A.csrr(A.a3, MINSTRET), A.csrr(A.a4, MINSTRETH));
    p.li(A.t0, -1).w(A.csrw(MCYCLEH, A.t0), A.csrw(MCYCLE, 0), A.nop(), A.csrr(A.a5, MCYCLE));
    p.label('end').w(A.jal(0, 0));
  });
  h.run(26);
  assert.deepEqual([A.a0, A.a1, A.a2, A.a3, A.a4, A.a5].map((r) => u(h.regs[r])), [3, 4, 0x00400000, 1, 0xffffffff, 1]);
});

test('counter access from S/U needs mcounteren (and scounteren from U)', () => {
  const read = (csr: number, priv: number, mcen: number, scen: number, time = 0): Hart =>
    single(A.csrr(A.a0, csr), priv, (h) => { h.mcounteren = mcen; h.scounteren = scen; h.time = time; });
  assert.equal(read(CYCLE, U, 0, 0).mcause, 2);
  assert.equal(read(CYCLE, U, 1, 0).mcause, 2, 'U also needs scounteren');
  assert.equal(read(CYCLE, U, 0, 1).mcause, 2, 'U also needs mcounteren');
  assert.equal(read(CYCLE, U, 1, 1).mcause, 0);
  assert.equal(read(CYCLE, S, 0, 0).mcause, 2);
  assert.equal(read(CYCLE, S, 1, 0).mcause, 0);
  assert.equal(read(INSTRET, S, 1, 0).mcause, 2, 'instret is bit 2, not bit 0');
  assert.equal(read(INSTRET, S, 4, 0).mcause, 0);
  assert.equal(read(TIME, U, 2, 2, 0x1234_5678_9abc).mcause, 0);
  assert.equal(u(read(TIME, M, 0, 0, 0x1234_5678_9abc).regs[A.a0]), 0x56789abc);
  assert.equal(u(read(TIMEH, M, 0, 0, 0x1234_5678_9abc).regs[A.a0]), 0x1234);
  assert.equal(read(TIME, S, 1, 0).mcause, 2);
  assert.equal(read(MCYCLE, S, 7, 7).mcause, 2, 'machine counters are M-only');
  const h = read(CYCLE, U, 0, 0);
  assert.equal(u(h.mtval), A.csrr(A.a0, CYCLE));
});

// ---------------------------------------------------------------------------------------------------------
// WFI and interrupts.

test('wfi with nothing pending exits with Exit.Wfi, pc past it; a later interrupt is taken there', () => {
  const { h, p } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.label('wfi').w(A.wfi());
    p.label('after').w(A.addi(A.a0, 0, 1), A.jal(0, 0));
    spin(p, 'mtrap');
  });
  assert.equal(h.run(100), Exit.Wfi);
  assert.equal(h.pc >>> 0, p.addr('after'));
  assert.equal(h.regs[A.a0], 0);
  // A timer interrupt arrives, globally enabled: taken before the next instruction.
  h.mie = 1 << MTI; h.mip = 1 << MTI; h.mstatus |= ST_MIE;
  h.run(10);
  assert.equal(h.pc >>> 0, p.addr('mtrap'));
  assert.equal(u(h.mcause), u(INTR | MTI));
  assert.equal(u(h.mepc), p.addr('after'));
  assert.equal(h.regs[A.a0], 0);
});

test('a live clock: the time read that reaches timerCmp raises STIP, and the interrupt is taken right after it', () => {
  const { h, p } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.label('loop').w(A.csrr(A.a0, TIME));
    p.label('after').w(A.addi(A.a1, A.a1, 1), A.jal(0, -8));
    spin(p, 'mtrap');
  });
  let now = 50;
  h.clock = () => now;
  h.timerCmp = 100;
  h.mie = 1 << STI; h.mstatus |= ST_MIE;
  h.run(40); // before the deadline: nothing pending, the loop runs
  assert.equal(h.mip & (1 << STI), 0);
  assert.notEqual(h.pc >>> 0, p.addr('mtrap'));
  const counted = h.regs[A.a1];
  // The deadline passes while the hart runs: the next time read sees it and the interrupt follows that read.
  now = 100;
  h.run(40);
  assert.equal(h.pc >>> 0, p.addr('mtrap'));
  assert.equal(u(h.mcause), u(INTR | STI));
  assert.notEqual(h.mip & (1 << STI), 0);
  assert.equal(h.regs[A.a0], 100);
  assert.equal(u(h.mepc), p.addr('after'));
  assert.ok(h.regs[A.a1] - counted <= 1, 'at most the one addi in flight ran after the deadline was read');
});

test('wfi is a nop when an interrupt is pending and enabled in mie, even with MIE clear', () => {
  const { h, p } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.w(A.wfi(), A.addi(A.a0, 0, 1));
    p.label('end').w(A.jal(0, 0));
    spin(p, 'mtrap');
  });
  h.mie = 1 << MTI; h.mip = 1 << MTI; // mstatus.MIE = 0
  assert.equal(h.run(50), Exit.Budget);
  assert.equal(h.pc >>> 0, p.addr('end'));
  assert.equal(h.regs[A.a0], 1);
  assert.equal(h.mcause, 0, 'no trap was taken');
  // Pending but not enabled in mie: wfi waits.
  const m2 = machine((p) => { p.w(A.wfi(), A.addi(A.a0, 0, 1), A.jal(0, 0)); });
  m2.h.mip = 1 << MTI; m2.h.mie = 1 << MSI;
  assert.equal(m2.h.run(50), Exit.Wfi);
  assert.equal(m2.h.pc >>> 0, BASE + 4);
  // S-mode wfi without TW also exits.
  const h3 = single(A.wfi(), S);
  assert.equal(h3.mcause, 0);
  assert.equal(h3.pc >>> 0, BASE + 0x104);
});

test('pending interrupts are taken in priority order MEI, MSI, MTI, SEI, SSI, STI', () => {
  const LOG = BASE + 0x8000;
  const { h, mem } = machine((p) => {
    p.label('main').w(A.jal(0, 0));
    p.org(BASE + 0x100).label('mtrap');
    p.w(A.csrr(A.t0, MCAUSE), A.sw(A.t0, A.s0, 0), A.addi(A.s0, A.s0, 4), A.andi(A.t0, A.t0, 31), A.addi(A.t1, 0, 1),
      A.sll(A.t1, A.t1, A.t0), A.csrc(MIE, A.t1), A.mret());
  });
  h.mtvec = BASE + 0x100;
  h.regs[A.s0] = LOG;
  h.mie = 0xaaa; h.mip = 0xaaa; h.mstatus |= ST_MIE;
  h.run(200);
  const got = [0, 1, 2, 3, 4, 5, 6].map((i) => mem.readU32(LOG + 4 * i));
  assert.deepEqual(got, [MEI, MSI, MTI, SEI, SSI, STI, 0].map((c) => (c ? u(INTR | c) : 0)));
  assert.equal(h.mie, 0);
});

test('with delegation, M-level interrupts preempt S-mode first, then delegated ones go to S in order', () => {
  const LOG = BASE + 0x8000;
  const { h, mem } = machine((p) => {
    p.label('main').w(A.jal(0, 0));
    p.org(BASE + 0x100).label('mtrap');
    p.w(A.csrr(A.t0, MCAUSE), A.andi(A.t0, A.t0, 31), A.sw(A.t0, A.s0, 0), A.addi(A.s0, A.s0, 4), A.addi(A.t1, 0, 1),
      A.sll(A.t1, A.t1, A.t0), A.csrc(MIE, A.t1), A.mret());
    p.org(BASE + 0x200).label('strap');
    p.w(A.csrr(A.t0, SCAUSE), A.andi(A.t0, A.t0, 31), A.ori(A.t2, A.t0, 0x100), A.sw(A.t2, A.s0, 0), A.addi(A.s0, A.s0, 4),
      A.addi(A.t1, 0, 1), A.sll(A.t1, A.t1, A.t0), A.csrc(SIE, A.t1), A.sret());
  });
  h.mtvec = BASE + 0x100; h.stvec = BASE + 0x200;
  h.regs[A.s0] = LOG;
  h.mideleg = (1 << SSI) | (1 << STI) | (1 << SEI);
  h.mie = 0xaaa; h.mip = 0xaaa;
  h.mstatus = ST_SIE; // MIE clear: M-level interrupts are still taken from S-mode
  h.reset(BASE, S);
  h.run(300);
  const got = [0, 1, 2, 3, 4, 5, 6].map((i) => mem.readU32(LOG + 4 * i));
  assert.deepEqual(got, [MEI, MSI, MTI, 0x100 | SEI, 0x100 | SSI, 0x100 | STI, 0]);
  assert.equal(h.priv, S);
});

test('interrupt enables: M-mode ignores delegated interrupts; S-mode with SIE=0 ignores S-level; U-mode takes both', () => {
  const mk = (priv: number, mstatus: number): Hart => {
    const mem = new GuestMemory(RAM);
    mem.writeU32(BASE, A.jal(0, 0));
    const h = new Hart(mem);
    h.mtvec = BASE + 0x100; h.stvec = BASE + 0x200;
    mem.writeU32(BASE + 0x100, A.jal(0, 0)); mem.writeU32(BASE + 0x200, A.jal(0, 0));
    h.mideleg = 1 << STI; h.mie = 1 << STI; h.mip = 1 << STI;
    h.mstatus = mstatus;
    h.reset(BASE, priv);
    h.run(5);
    return h;
  };
  assert.equal(mk(M, ST_MIE | ST_SIE).pc >>> 0, BASE, 'delegated interrupt not taken in M');
  assert.equal(mk(S, 0).pc >>> 0, BASE, 'S-mode with SIE clear');
  assert.equal(mk(S, ST_SIE).pc >>> 0, BASE + 0x200);
  const hu = mk(U, 0);
  assert.equal(hu.pc >>> 0, BASE + 0x200, 'U-mode takes S-level interrupts regardless of SIE');
  assert.equal(u(hu.scause), u(INTR | STI));
  // The guest can raise SSIP itself through sip when delegated, and mip from M-mode.
  const h = single([A.addi(A.t0, 0, 2), A.csrs(SIP, A.t0), A.csrr(A.a0, SIP), A.csrr(A.a1, MIP)], S, (h) => { h.mideleg = 1 << SSI; });
  assert.equal(h.regs[A.a0] & 2, 2);
  assert.equal(h.mcause, 2, 'reading mip from S is illegal');
});

// ---------------------------------------------------------------------------------------------------------
// PAUSE.

test('exitOnPause: every PAUSE exits with Exit.Pause, pc past it', () => {
  const { h, p } = machine((p) => { p.w(A.nop()).label('pause').w(A.pause()).label('after').w(A.nop(), A.jal(0, 0)); });
  h.exitOnPause = true;
  assert.equal(h.run(100), Exit.Pause);
  assert.equal(h.pc >>> 0, p.addr('after'));
  assert.equal(h.pauses, 1);
  assert.equal(h.run(100), Exit.Budget);
  assert.equal(h.pauses, 1);
});

test('pause-loop exiting: a tight PAUSE spin exits after pleWindow instructions; sparse pauses do not', () => {
  // 3-instruction loop: pause, addi, jal. The loop counter a0 counts iterations exactly.
  const spinLoop = machine((p) => { p.label('l').w(A.pause(), A.addi(A.a0, A.a0, 1), (pc, L) => A.jal(0, L('l') - pc)); });
  const h = spinLoop.h;
  h.pleGap = 16; h.pleWindow = 300;
  assert.equal(h.run(100000), Exit.Pause);
  assert.equal(h.pc >>> 0, BASE + 4, 'stopped right after a PAUSE');
  assert.equal(h.pauses, h.regs[A.a0] + 1);
  assert.ok(h.pauses * 3 >= 300 && h.pauses * 3 <= 300 + 16, `exited after ${h.pauses} iterations`);
  const again = h.pauses;
  assert.equal(h.run(100000), Exit.Pause, 'the next spin exits again');
  assert.ok((h.pauses - again) * 3 <= 300 + 16, `second exit after ${h.pauses - again} iterations`);
  // PLE off: only the budget stops it.
  const off = machine((p) => { p.label('l').w(A.pause(), (pc, L) => A.jal(0, L('l') - pc)); }).h;
  off.pleGap = 0;
  assert.equal(off.run(5000), Exit.Budget);
  assert.equal(off.pauses, 2500);
  // Pauses further apart than pleGap never form a spin.
  const sparse = machine((p) => {
    p.label('l').w(A.pause());
    for (let i = 0; i < 20; i++) p.w(A.nop());
    p.w((pc, L) => A.jal(0, L('l') - pc));
  }).h;
  sparse.pleGap = 16; sparse.pleWindow = 100;
  assert.equal(sparse.run(20000), Exit.Budget);
});

test('instret is exact when run() returns early (Exit.Wfi, Exit.Ecall, Exit.Pause, Exit.TrapLoop)', () => {
  // Two instructions retire (nop, then the exiting instruction), whatever budget was left.
  const cases: [string, number, HartOptions, (h: Hart) => void, number][] = [
    ['wfi', A.wfi(), {}, () => {}, Exit.Wfi],
    ['ecall (sbiMode)', A.ecall(), { sbiMode: true }, () => {}, Exit.Ecall],
    ['pause (exitOnPause)', A.pause(), {}, (h) => { h.exitOnPause = true; }, Exit.Pause],
  ];
  const got: string[] = [], want: string[] = [];
  for (const [name, inst, opts, prep, exit] of cases) {
    const { h } = machine((p) => { p.w(A.nop(), inst, A.jal(0, 0)); }, opts);
    prep(h);
    const e = h.run(1000);
    got.push(`${name}: exit ${e}, instret ${h.instret}, minstret ${h.csrRead(MINSTRET)}`);
    want.push(`${name}: exit ${exit}, instret 2, minstret 2`);
  }
  // A trap loop through an illegal instruction at the vector: nothing retires but the first nop.
  const { h } = machine((p) => { p.w(A.nop(), 0xffffffff); });
  h.mtvec = BASE + 4;
  const e = h.run(1000);
  got.push(`trap loop: exit ${e}, instret ${h.instret}`);
  want.push(`trap loop: exit ${Exit.TrapLoop}, instret 1`);
  assert.deepEqual(got, want);
});

// ---------------------------------------------------------------------------------------------------------
// Atomics.

test('LR/SC: success, no reservation, other address, reservation broken by a store', () => {
  const D = BASE + 0x4000;
  const { h, mem } = machine((p) => {
    p.li(A.a0, D).li(A.a1, D + 4);
    p.w(A.lrW(A.t0, A.a0), A.addi(A.t0, A.t0, 1), A.scW(A.s1, A.a0, A.t0)); // succeeds: s1 = 0
    p.w(A.scW(A.s2, A.a0, A.t0)); // no reservation: s2 = 1
    p.w(A.lrW(A.t1, A.a0), A.scW(A.s3, A.a1, A.t1)); // different address: s3 = 1
    p.w(A.lrW(A.t1, A.a0), A.addi(A.t2, 0, 77), A.sw(A.t2, A.a0, 0), A.scW(A.s4, A.a0, A.t1)); // store in between: s4 = 1
    p.w(A.lrW(A.t1, A.a1), A.scW(A.s5, A.a1, A.a1)); // s5 = 0
    p.w(A.scW(0, A.a1, A.a1)); // rd = x0: fails silently
    p.label('end').w(A.jal(0, 0));
  });
  mem.writeU32(D, 41);
  mem.writeU32(D + 4, 5);
  h.run(100);
  assert.equal(h.mcause, 0);
  assert.deepEqual([h.regs[A.s1], h.regs[A.s2], h.regs[A.s3], h.regs[A.s4], h.regs[A.s5]], [0, 1, 1, 1, 0]);
  assert.equal(h.regs[A.t0], 42);
  assert.equal(mem.readU32(D), 77, 'failed SCs did not write');
  assert.equal(mem.readU32(D + 4), D + 4);
});

test('AMOs return the old value and store the operation result (BigInt reference)', () => {
  const D = BASE + 0x4000;
  const ops: [number, (a: bigint, b: bigint) => bigint][] = [
    [A.AMO.swap, (_a, b) => b], [A.AMO.add, (a, b) => a + b], [A.AMO.xor, (a, b) => a ^ b], [A.AMO.and, (a, b) => a & b],
    [A.AMO.or, (a, b) => a | b],
    [A.AMO.min, (a, b) => (BigInt.asIntN(32, a) < BigInt.asIntN(32, b) ? a : b)],
    [A.AMO.max, (a, b) => (BigInt.asIntN(32, a) > BigInt.asIntN(32, b) ? a : b)],
    [A.AMO.minu, (a, b) => (BigInt.asUintN(32, a) < BigInt.asUintN(32, b) ? a : b)],
    [A.AMO.maxu, (a, b) => (BigInt.asUintN(32, a) > BigInt.asUintN(32, b) ? a : b)],
  ];
  const mem = new GuestMemory(RAM);
  const val = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.constantFrom(0, -1, 1, 0x7fffffff, -0x80000000));
  fc.assert(fc.property(fc.integer({ min: 0, max: ops.length - 1 }), val, val, fc.integer({ min: 1, max: 31 }), fc.integer({ min: 1, max: 31 }),
    fc.integer({ min: 0, max: 31 }), fc.boolean(), fc.boolean(),
    (k, old, b, rs1, rs2, rd, aq, rl) => {
      fc.pre(rs1 !== rs2);
      const [f5, f] = ops[k];
      mem.writeU32(BASE, A.amo(f5, rd, rs1, rs2, aq ? 1 : 0, rl ? 1 : 0));
      mem.writeU32(D, old);
      const h = new Hart(mem);
      h.regs[rs1] = D; h.regs[rs2] = b;
      h.run(1);
      assert.equal(h.mcause, 0);
      assert.equal(mem.readU32(D), Number(BigInt.asUintN(32, f(BigInt(old), BigInt(b)))));
      if (rd !== 0) assert.equal(h.regs[rd], old | 0);
      assert.equal(h.regs[0], 0);
    }), { numRuns: 600 });
});

test('misaligned AMO/SC → store address misaligned (6), misaligned LR → load address misaligned (4); non-RAM → access faults', () => {
  for (const [inst, cause] of [[A.amo(A.AMO.add, A.a0, A.a1, A.a2), 6], [A.amo(A.AMO.swap, A.a0, A.a1, A.a2), 6], [A.scW(A.a0, A.a1, A.a2), 6],
    [A.lrW(A.a0, A.a1), 4], [A.amo(A.AMO.maxu, A.a0, A.a1, A.a2), 6]] as const) {
    for (const off of [1, 2, 3]) {
      const h = single(inst, M, (h) => { h.regs[A.a1] = BASE + 0x4000 + off; });
      assert.equal(h.mcause, cause, `0x${inst.toString(16)} at +${off}`);
      assert.equal(u(h.mtval), BASE + 0x4000 + off);
    }
  }
  assert.equal(single(A.amo(A.AMO.add, A.a0, A.a1, A.a2), M, (h) => { h.regs[A.a1] = 0x10000000; }).mcause, 7);
  assert.equal(single(A.lrW(A.a0, A.a1), M, (h) => { h.regs[A.a1] = 0x10000000; }).mcause, 5);
});

// ---------------------------------------------------------------------------------------------------------
// MMIO.

test('MMIO: loads and stores outside RAM reach the device; undefined/false → access faults', () => {
  const DEV = 0x10000000;
  const log: string[] = [];
  const regs = new Map<number, number>([[DEV, 0x12345678], [DEV + 4, 0xff80], [DEV + 8, 0xa5]]);
  const mmio: Mmio = {
    read(pa, size) { log.push(`r ${(pa >>> 0).toString(16)} ${size}`); return pa >= DEV && pa < DEV + 0x100 ? regs.get(pa) ?? 0 : undefined; },
    write(pa, size, value) { log.push(`w ${(pa >>> 0).toString(16)} ${size} ${(value & (size === 4 ? -1 : (1 << (8 * size)) - 1)) >>> 0}`); return pa >= DEV && pa < DEV + 0x100; },
  };
  const { h, p } = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.li(A.a0, DEV);
    p.w(A.lw(A.s1, A.a0, 0), A.lh(A.s2, A.a0, 4), A.lhu(A.s3, A.a0, 4), A.lb(A.s4, A.a0, 8), A.lbu(A.s5, A.a0, 8));
    p.li(A.t1, 0xcafe1234 | 0);
    p.w(A.sw(A.t1, A.a0, 0x10), A.sh(A.t1, A.a0, 0x14), A.sb(A.t1, A.a0, 0x18));
    p.li(A.a1, 0x20000000);
    p.label('badload').w(A.lw(A.s6, A.a1, 0));
    spin(p, 'mtrap');
  }, { mmio });
  h.run(100);
  assert.equal(u(h.regs[A.s1]), 0x12345678);
  assert.equal(h.regs[A.s2], -128);
  assert.equal(h.regs[A.s3], 0xff80);
  assert.equal(h.regs[A.s4], -91);
  assert.equal(h.regs[A.s5], 0xa5);
  assert.deepEqual(log, ['r 10000000 4', 'r 10000004 2', 'r 10000004 2', 'r 10000008 1', 'r 10000008 1',
    'w 10000010 4 3405648436', 'w 10000014 2 4660', 'w 10000018 1 52', 'r 20000000 4']);
  assert.equal(h.mcause, 5);
  assert.equal(u(h.mtval), 0x20000000);
  assert.equal(u(h.mepc), p.addr('badload'));
  // A rejected write is a store access fault.
  const m2 = machine((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.li(A.a1, 0x20000004);
    p.label('badstore').w(A.sw(A.a1, A.a1, 0));
    spin(p, 'mtrap');
  }, { mmio });
  m2.h.run(100);
  assert.equal(m2.h.mcause, 7);
  assert.equal(u(m2.h.mtval), 0x20000004);
  assert.equal(u(m2.h.mepc), m2.p.addr('badstore'));
  // No device at all: access faults too, and fetching from outside RAM is an instruction access fault.
  const h3 = single(A.lw(A.a0, A.a1, 0), M, (h) => { h.regs[A.a1] = 0x1000; });
  assert.equal(h3.mcause, 5);
  const h4 = single(A.jalr(0, A.a1, 0), M, (h) => { h.regs[A.a1] = 0x1000; });
  h4.run(1);
  assert.equal(h4.mcause, 1);
  assert.equal(u(h4.mtval), 0x1000);
  assert.equal(u(h4.mepc), 0x1000);
});

test('MMIO: a byte store hands the device the byte in the low bits', () => {
  const seen: number[] = [];
  const mmio: Mmio = { read: () => 0, write: (_pa, _size, v) => { seen.push(v); return true; } };
  const { h } = machine((p) => { p.li(A.a0, 0x10000000).li(A.t1, 0x123456ab).w(A.sb(A.t1, A.a0, 0), A.sh(A.t1, A.a0, 2)); }, { mmio });
  h.run(6);
  assert.equal(seen.length, 2);
  assert.equal(seen[0] & 0xff, 0xab);
  assert.equal(seen[1] & 0xffff, 0x56ab);
});

// ---------------------------------------------------------------------------------------------------------
// Self-modifying code.

/** A program that calls `target` (a0 = 1), overwrites its first instruction with `addi a0, x0, 42` using `store`, calls it again. */
function smc(store: (p: Asm) => void, fenceI: boolean, targetOrg?: number): Machine {
  return machine((p) => {
    p.li(A.sp, BASE + 0x8000);
    for (let i = 0; i < 3; i++) p.w((pc, L) => A.jal(A.ra, L('target') - pc)); // decode and run it a few times
    p.w(A.add(A.s1, 0, A.a0));
    p.la(A.t1, 'target').li(A.t0, A.addi(A.a0, 0, 42));
    store(p);
    if (fenceI) p.w(A.fenceI());
    p.w((pc, L) => A.jal(A.ra, L('target') - pc));
    p.label('end').w(A.jal(0, 0));
    if (targetOrg !== undefined) p.org(targetOrg);
    p.label('target').w(A.addi(A.a0, 0, 1), A.jalr(0, A.ra, 0));
  });
}

const STORES: [string, (p: Asm) => void][] = [
  ['sw', (p) => p.w(A.sw(A.t0, A.t1, 0))],
  ['two sh', (p) => p.w(A.sh(A.t0, A.t1, 0), A.srli(A.t2, A.t0, 16), A.sh(A.t2, A.t1, 2))],
  ['sb x4', (p) => { for (let i = 0; i < 4; i++) p.w(A.srli(A.t2, A.t0, 8 * i), A.sb(A.t2, A.t1, i)); }],
  ['c.sw', (p) => p.w(A.add(A.a4, 0, A.t0), A.add(A.a5, 0, A.t1)).h(A.cSw(A.a4, A.a5, 0), A.cNop())],
  ['amoswap', (p) => p.w(A.amo(A.AMO.swap, 0, A.t1, A.t0))],
  ['sc.w', (p) => p.w(A.lrW(A.t2, A.t1), A.scW(A.s2, A.t1, A.t0))],
  ['misaligned sw', (p) => p.w(A.lhu(A.t2, A.t1, 4), A.slli(A.t2, A.t2, 16), A.srli(A.t3, A.t0, 16), A.or(A.t2, A.t2, A.t3), A.sw(A.t2, A.t1, 2),
    A.sh(A.t0, A.t1, 0))],
];

for (const fenceI of [true, false]) {
  for (const [name, store] of STORES) {
    test(`self-modifying code: ${name} over executed code${fenceI ? ' + fence.i' : ' without fence.i'} runs the new instruction`, () => {
      for (const org of [undefined, BASE + 0x3000]) {
        const { h, p } = smc(store, fenceI, org);
        h.run(200);
        assert.equal(h.mcause, 0);
        assert.equal(h.pc >>> 0, p.addr('end'), `${name}: program ran to the end`);
        assert.equal(h.regs[A.s1], 1, 'old instruction ran first');
        assert.equal(h.regs[A.a0], 42, `${name}, target ${org ? 'on another page' : 'on the same page'}: the new instruction ran`);
      }
    });
  }
}

test('self-modifying code: a page that was written (as data) before it was executed still sees later stores', () => {
  // The first store caches a store translation for the page before it holds decoded code; executing code
  // there must not leave that fast path pointing at a page whose instructions are cached.
  for (const fenceI of [false, true]) {
    const { h, p } = machine((p) => {
      p.la(A.t1, 'target').li(A.t0, A.addi(A.a0, 0, 1));
      p.w(A.sw(A.t0, A.t1, 0)); // plain data store into the (not yet executed) page
      p.w((pc, L) => A.jal(A.ra, L('target') - pc), A.add(A.s1, 0, A.a0));
      p.li(A.t0, A.addi(A.a0, 0, 42)).w(A.sw(A.t0, A.t1, 0));
      if (fenceI) p.w(A.fenceI());
      p.w((pc, L) => A.jal(A.ra, L('target') - pc));
      p.label('end').w(A.jal(0, 0));
      p.org(BASE + 0x3000).label('target').w(A.nop(), A.jalr(0, A.ra, 0));
    });
    h.run(100);
    assert.equal(h.pc >>> 0, p.addr('end'));
    assert.equal(h.regs[A.s1], 1);
    assert.equal(h.regs[A.a0], 42, `fence.i: ${fenceI}`);
  }
});

test('self-modifying code: a store over the very next instruction takes effect at once', () => {
  const { h } = machine((p) => {
    p.la(A.t1, 'next').li(A.t0, A.addi(A.a0, 0, 42));
    p.w(A.sw(A.t0, A.t1, 0));
    p.label('next').w(A.addi(A.a0, 0, 1));
    p.w(A.jal(0, 0));
  });
  h.run(20);
  assert.equal(h.regs[A.a0], 42);
  // The same through a loop that has executed the instruction many times.
  const { h: h2 } = machine((p) => {
    p.li(A.s1, 100);
    p.label('loop').label('inc').w(A.addi(A.a0, A.a0, 1), A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.la(A.t1, 'inc').li(A.t0, A.addi(A.a0, A.a0, 1000)).w(A.sw(A.t0, A.t1, 0));
    p.li(A.s1, 2).w((pc, L) => A.jal(0, L('loop') - pc));
  });
  h2.run(2 + 100 * 3 + 8 + 2 * 3);
  assert.equal(h2.regs[A.a0], 100 + 1000 + 1000);
});

// ---------------------------------------------------------------------------------------------------------
// Instructions straddling a page boundary.

test('a 32-bit instruction at page offset 0xffe runs (bare), and sees later stores to its second half', () => {
  const STRADDLE = BASE + 0xffe;
  const first = A.addi(A.a0, A.a0, 7);
  const second = A.addi(A.a0, A.a0, 100);
  assert.equal(first & 0xffff, second & 0xffff, 'only the upper half differs');
  const { h, mem } = machine((p) => {
    p.li(A.sp, BASE + 0x8000);
    p.w((pc) => A.jal(A.ra, STRADDLE - pc), A.add(A.s1, 0, A.a0));
    p.li(A.t1, BASE + 0x1000).li(A.t0, second >>> 16).w(A.sh(A.t0, A.t1, 0));
    p.w((pc) => A.jal(A.ra, STRADDLE - pc));
    p.label('end').w(A.jal(0, 0));
    p.org(STRADDLE).w(first).w(A.jalr(0, A.ra, 0));
  });
  assert.equal(mem.readU32(STRADDLE), first);
  h.run(100);
  assert.equal(h.mcause, 0);
  assert.equal(h.regs[A.s1], 7);
  assert.equal(h.regs[A.a0], 107);
});

test('a straddling instruction whose second page is unmapped (Sv32) → instruction page fault at the second page', () => {
  const mem = new GuestMemory(RAM);
  const pt = new Sv32(mem, BASE + 0x10000, BASE + 0x11000);
  const CODE_PA = BASE + 0x20000, VA = 0x40000000;
  pt.map(VA, CODE_PA, PTE.V | PTE.R | PTE.X | PTE.A);
  mem.writeU32(BASE, A.jal(0, 0)); // M handler
  const inst = A.addi(A.a0, 0, 9);
  mem.writeU32(CODE_PA + 0xffe, 0); // make room, then write the two halves
  mem.u16[(CODE_PA + 0xffe - BASE) >> 1] = inst & 0xffff;
  mem.u16[(CODE_PA + 0x1000 - BASE) >> 1] = inst >>> 16;
  mem.writeU32(CODE_PA + 0x1002, A.jal(0, 0));
  const run = (): Hart => {
    const h = new Hart(mem);
    h.mtvec = BASE;
    h.csrWrite(SATP, pt.satp);
    h.reset(VA + 0xffe, S);
    h.run(3);
    return h;
  };
  let h = run();
  assert.equal(h.mcause, 12);
  assert.equal(u(h.mepc), VA + 0xffe, 'mepc is the instruction');
  assert.equal(u(h.mtval), VA + 0x1000, 'mtval is the part that faulted');
  assert.equal(h.regs[A.a0], 0);
  // Second page mapped but not executable: still a fetch page fault.
  pt.map(VA + 0x1000, CODE_PA + 0x1000, PTE.V | PTE.R | PTE.A);
  h = run();
  assert.equal(h.mcause, 12);
  assert.equal(u(h.mtval), VA + 0x1000);
  // Executable: the instruction runs.
  pt.map(VA + 0x1000, CODE_PA + 0x1000, PTE.V | PTE.R | PTE.X | PTE.A);
  h = run();
  assert.equal(h.mcause, 0);
  assert.equal(h.regs[A.a0], 9);
  assert.equal(h.pc >>> 0, VA + 0x1002);
  // Second page outside RAM (physically): instruction access fault.
  pt.map(VA + 0x1000, 0x10000000, PTE.V | PTE.R | PTE.X | PTE.A);
  h = run();
  assert.equal(h.mcause, 1);
  assert.equal(u(h.mepc), VA + 0xffe);
});

test('a compressed instruction at offset 0xffe does not touch the next page', () => {
  const mem = new GuestMemory(RAM);
  const pt = new Sv32(mem, BASE + 0x10000, BASE + 0x11000);
  const CODE_PA = BASE + 0x20000, VA = 0x40000000;
  pt.map(VA, CODE_PA, PTE.V | PTE.R | PTE.X | PTE.A);
  mem.writeU32(BASE, A.jal(0, 0));
  mem.u16[(CODE_PA + 0xffe - BASE) >> 1] = A.cLi(A.a0, 5);
  const h = new Hart(mem);
  h.mtvec = BASE;
  h.csrWrite(SATP, pt.satp);
  h.reset(VA + 0xffe, S);
  h.run(2);
  assert.equal(h.regs[A.a0], 5);
  assert.equal(h.mcause, 12, 'the fault is on the next instruction');
  assert.equal(u(h.mepc), VA + 0x1000);
});

// ---------------------------------------------------------------------------------------------------------
// Exits.

test('sbiMode: S-mode ecall exits with Exit.Ecall (pc past it, a-registers intact); U-mode ecall is delegated', () => {
  const { h, p } = machine((p) => {
    p.li(A.a7, 0x54494d45).li(A.a6, 0).li(A.a0, 1234);
    p.label('ecall').w(A.ecall());
    p.label('after').w(A.addi(A.a1, A.a0, 1), A.jal(0, 0));
  }, { sbiMode: true });
  assert.equal(h.priv, S);
  assert.equal(h.run(100), Exit.Ecall);
  assert.equal(h.pc >>> 0, p.addr('after'));
  assert.equal(h.regs[A.a7], 0x54494d45);
  assert.equal(h.regs[A.a0], 1234);
  assert.equal(h.mcause, 0);
  assert.equal(h.scause, 0);
  h.regs[A.a0] = 0; // the hypervisor's answer
  assert.equal(h.run(10), Exit.Budget);
  assert.equal(h.regs[A.a1], 1);
  // From U-mode: ECALL_U is delegated to stvec.
  const m = machine((p) => { p.w(A.jal(0, 0)); p.org(BASE + 0x100).label('u').w(A.ecall()); }, { sbiMode: true });
  m.h.stvec = BASE;
  m.h.reset(BASE + 0x100, U);
  m.h.run(3);
  assert.equal(m.h.scause, 8);
  assert.equal(m.h.priv, S);
  assert.equal(u(m.h.sepc), BASE + 0x100);
});

test('a trap vector that faults at once gives Exit.TrapLoop', () => {
  const { h } = machine((p) => { p.w(0xffffffff); });
  h.mtvec = 0x1000; // not RAM
  assert.equal(h.run(1000), Exit.TrapLoop);
  assert.ok(h.trapInfo().length > 0);
});

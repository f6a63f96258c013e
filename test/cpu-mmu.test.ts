/**
 * Sv32 address translation: page tables built by the host in guest RAM, accesses made by small guest programs
 * in S- and U-mode (and M-mode with MPRV), results compared with what the privileged spec requires.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory } from '../src/cpu/memory.js';
import { Hart, Mmio } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';
import { PTE, Sv32 } from './helpers/asm.js';

const BASE = 0x80000000;
const RAM = 1 << 20;
const U = 0, S = 1, M = 3;
const SSTATUS = 0x100, SATP = 0x180, MSTATUS = 0x300, MEPC = 0x341;
const ST_MPP = 3 << 11, ST_MPRV = 1 << 17, ST_SUM = 1 << 18, ST_MXR = 1 << 19;
const { V, R, W, X, A: PA, D } = PTE;
const LOAD_PF = 13, STORE_PF = 15, FETCH_PF = 12;

// Physical layout.
const MTRAP = BASE; // M-mode handler: spins
const ROOT = BASE + 0x10000; // root table; second-level tables from BASE + 0x11000
const CODE_PA = BASE + 0x20000;
const DATA_PA = BASE + 0x30000;
const DATA2_PA = BASE + 0x31000;
// Virtual layout.
const CODE_VA = 0x40000000;
const DATA_VA = 0x40400000; // a different root entry from the code

interface Env { mem: GuestMemory; pt: Sv32 }

function env(): Env {
  const mem = new GuestMemory(RAM);
  mem.writeU32(MTRAP, A.jal(0, 0));
  return { mem, pt: new Sv32(mem, ROOT, ROOT + 0x1000) };
}

/**
 * Runs `words` as code at CODE_VA in `priv` (the code page is mapped for that privilege), with satp on the
 * tables and the given mstatus bits, for exactly `steps` instructions (default: all of them).
 */
function exec(e: Env, priv: number, words: number[], opts: { regs?: Record<number, number>; mstatus?: number; steps?: number; mmio?: Mmio } = {}): Hart {
  words.forEach((w, i) => e.mem.writeU32(CODE_PA + 4 * i, w));
  e.mem.writeU32(CODE_PA + 4 * words.length, A.jal(0, 0));
  e.pt.map(CODE_VA, CODE_PA, V | R | X | PA | (priv === U ? PTE.U : 0));
  const h = new Hart(e.mem, { mmio: opts.mmio });
  h.mtvec = MTRAP;
  h.csrWrite(SATP, e.pt.satp);
  if (opts.mstatus !== undefined) h.csrWrite(MSTATUS, opts.mstatus);
  h.reset(CODE_VA, priv);
  for (const [r, v] of Object.entries(opts.regs ?? {})) h.regs[Number(r)] = v;
  h.run(opts.steps ?? words.length);
  return h;
}

const u = (x: number): number => x >>> 0;

function assertFault(h: Hart, cause: number, va: number, what: string): void {
  assert.equal(h.mcause, cause, `${what}: mcause`);
  assert.equal(u(h.mtval), u(va), `${what}: mtval`);
  assert.equal(h.pc >>> 0, MTRAP, `${what}: in the M-mode handler`);
}

// ---------------------------------------------------------------------------------------------------------

test('4 KiB pages: loads, stores and aliases go to the mapped physical page', () => {
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D);
  e.pt.map(DATA_VA + 0x5000, DATA_PA, V | R | W | PA | D); // alias
  e.pt.map(DATA_VA + 0x1000, DATA2_PA, V | R | W | PA | D);
  e.mem.writeU32(DATA_PA + 0x120, 0x11223344);
  e.mem.writeU32(DATA2_PA + 0x120, 0x55667788);
  const h = exec(e, S, [
    A.lw(A.a0, A.a1, 0x120), A.lw(A.a3, A.a2, 0x120), A.sw(A.a0, A.a2, 0x124), A.lhu(A.a4, A.a5, 0x126),
    A.sb(A.a3, A.a5, 0x200), A.lbu(A.a6, A.a1, 0x200),
  ], { regs: { [A.a1]: DATA_VA, [A.a2]: DATA_VA + 0x1000, [A.a5]: DATA_VA + 0x5000 } });
  assert.equal(h.mcause, 0);
  assert.equal(h.regs[A.a0], 0x11223344);
  assert.equal(h.regs[A.a3], 0x55667788);
  assert.equal(e.mem.readU32(DATA2_PA + 0x124), 0x11223344);
  assert.equal(h.regs[A.a4], 0, 'alias of DATA_PA, not DATA2_PA');
  assert.equal(h.regs[A.a6], 0x88, 'byte stored through the alias is seen through the first mapping');
  assert.equal(e.mem.u8[DATA_PA + 0x200 - BASE], 0x88);
});

test('4 MiB superpages: data and instruction fetch through a root-level leaf', () => {
  const e = env();
  e.pt.mapSuper(0xc0000000, BASE, V | R | W | X | PA | D); // covers all of RAM
  e.mem.writeU32(DATA_PA + 0x40, 0xdeadbeef);
  e.mem.writeU32(CODE_PA + 0x100, A.addi(A.a3, 0, 55));
  e.mem.writeU32(CODE_PA + 0x104, A.jal(0, 0));
  const target = 0xc0000000 + (CODE_PA - BASE) + 0x100;
  const h = exec(e, S, [A.lw(A.a0, A.a1, 0x40), A.sw(A.a0, A.a1, 0x44), A.jalr(0, A.a2, 0)],
    { regs: { [A.a1]: 0xc0000000 + (DATA_PA - BASE), [A.a2]: target }, steps: 4 });
  assert.equal(h.mcause, 0);
  assert.equal(u(h.regs[A.a0]), 0xdeadbeef);
  assert.equal(e.mem.readU32(DATA_PA + 0x44), 0xdeadbeef);
  assert.equal(h.regs[A.a3], 55, 'code fetched through the superpage');
  assert.equal(h.pc >>> 0, target + 4);
  assert.equal(e.mem.readU32(ROOT + (0xc0000000 >>> 22) * 4) & (PA | D), PA | D);
});

test('a misaligned superpage (PPN[0] != 0) is a page fault for every access type', () => {
  const e = env();
  const SVA = 0xc0400000;
  e.pt.mapSuper(SVA, BASE + 0x1000, V | R | W | X | PA | D);
  assertFault(exec(e, S, [A.lw(A.a0, A.a1, 0)], { regs: { [A.a1]: SVA + 8 } }), LOAD_PF, SVA + 8, 'load');
  assertFault(exec(e, S, [A.sw(A.a0, A.a1, 0)], { regs: { [A.a1]: SVA + 12 } }), STORE_PF, SVA + 12, 'store');
  assertFault(exec(e, S, [A.jalr(0, A.a1, 0)], { regs: { [A.a1]: SVA + 16 }, steps: 2 }), FETCH_PF, SVA + 16, 'fetch');
  assert.equal(e.mem.readU32(e.pt.l1Addr(SVA)) & (PA | D), PA | D, 'PTE untouched');
});

/** Reference for one leaf-level access (spec 4.3.2), given that the walk reached this leaf. */
function expectFault(flags: number, priv: number, sum: boolean, mxr: boolean, access: 'load' | 'store' | 'fetch'): boolean {
  if (!(flags & V)) return true;
  if (!(flags & R) && (flags & W)) return true;
  if (!(flags & (R | X))) return true; // a pointer at level 0
  if (flags & PTE.U) {
    if (priv === S && (access === 'fetch' || !sum)) return true;
  } else if (priv === U) return true;
  if (access === 'fetch') return !(flags & X);
  if (access === 'load') return !((flags & R) || (mxr && (flags & X)));
  return !(flags & W);
}

test('leaf permissions (V, R, W, X, U, SUM, MXR) against the spec, with A/D updated only on success', () => {
  const e = env();
  const TVA = 0x40800000;
  const TPA = BASE + 0x40000;
  e.mem.writeU32(TPA, A.addi(A.a0, 0, 77));
  e.mem.writeU32(TPA + 4, A.jal(0, 0));
  e.mem.writeU32(TPA + 0x10, 0x13572468);
  fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.constantFrom(S, U), fc.boolean(), fc.boolean(),
    fc.constantFrom('load', 'store', 'fetch') as fc.Arbitrary<'load' | 'store' | 'fetch'>,
    (flags, priv, sum, mxr, access) => {
      e.pt.map(TVA, TPA, flags);
      e.mem.writeU32(TPA + 0x14, 0);
      const mstatus = (sum ? ST_SUM : 0) | (mxr ? ST_MXR : 0);
      const inst = access === 'load' ? A.lw(A.a0, A.a1, 0x10) : access === 'store' ? A.sw(A.a2, A.a1, 0x14) : A.jalr(0, A.a1, 0);
      const h = exec(e, priv, [inst], { regs: { [A.a1]: TVA, [A.a2]: 0x2468ace0 }, mstatus, steps: access === 'fetch' ? 2 : 1 });
      const what = `flags ${flags.toString(2).padStart(8, '0')} ${priv === S ? 'S' : 'U'} sum=${sum} mxr=${mxr} ${access}`;
      const pte = e.pt.leaf(TVA);
      if (expectFault(flags, priv, sum, mxr, access)) {
        const cause = access === 'load' ? LOAD_PF : access === 'store' ? STORE_PF : FETCH_PF;
        assertFault(h, cause, access === 'fetch' ? TVA : TVA + (access === 'load' ? 0x10 : 0x14), what);
        assert.equal(pte, Sv32.pte(TPA, flags), `${what}: PTE unchanged on a fault`);
        if (access === 'store') assert.equal(e.mem.readU32(TPA + 0x14), 0, `${what}: no store`);
      } else {
        assert.equal(h.mcause, 0, `${what}: no fault`);
        if (access === 'load') assert.equal(h.regs[A.a0], 0x13572468, what);
        if (access === 'store') assert.equal(e.mem.readU32(TPA + 0x14), 0x2468ace0, what);
        if (access === 'fetch') assert.equal(h.regs[A.a0], 77, what);
        assert.equal(pte & PA, PA, `${what}: A set`);
        assert.equal(pte & D, access === 'store' ? D : flags & D, `${what}: D set by (and only by) a store`);
        assert.equal(pte & ~(PA | D), Sv32.pte(TPA, flags) & ~(PA | D), `${what}: other PTE bits unchanged`);
      }
    }), { numRuns: 1500 });
});

test('A and D bits: load sets A, store sets A and D, fetch sets A; in both 4 KiB and superpage leaves', () => {
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W);
  e.pt.map(DATA_VA + 0x1000, DATA2_PA, V | R | W);
  e.pt.map(DATA_VA + 0x2000, BASE + 0x40000, V | X | R);
  e.mem.writeU32(BASE + 0x40000, A.jal(0, 0));
  exec(e, S, [A.lw(A.a0, A.a1, 0)], { regs: { [A.a1]: DATA_VA } });
  assert.equal(e.pt.leaf(DATA_VA) & (PA | D), PA);
  exec(e, S, [A.lw(A.a0, A.a1, 0), A.sw(A.a0, A.a1, 0)], { regs: { [A.a1]: DATA_VA } });
  assert.equal(e.pt.leaf(DATA_VA) & (PA | D), PA | D);
  exec(e, S, [A.sb(A.a0, A.a1, 3)], { regs: { [A.a1]: DATA_VA + 0x1000 } });
  assert.equal(e.pt.leaf(DATA_VA + 0x1000) & (PA | D), PA | D);
  exec(e, S, [A.jalr(0, A.a1, 0)], { regs: { [A.a1]: DATA_VA + 0x2000 }, steps: 3 });
  assert.equal(e.pt.leaf(DATA_VA + 0x2000) & (PA | D), PA);
  // Superpage leaf.
  e.pt.mapSuper(0xc0000000, BASE, V | R | W);
  exec(e, S, [A.lw(A.a0, A.a1, 0)], { regs: { [A.a1]: 0xc0030000 } });
  assert.equal(e.mem.readU32(e.pt.l1Addr(0xc0000000)) & (PA | D), PA);
  exec(e, S, [A.sw(A.a0, A.a1, 0)], { regs: { [A.a1]: 0xc0030000 } });
  assert.equal(e.mem.readU32(e.pt.l1Addr(0xc0000000)) & (PA | D), PA | D);
});

test('the guest clearing D and running sfence.vma gets D set again by the next store', () => {
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D);
  // The page tables themselves are mapped so the guest can edit its own PTE.
  const PT_VA = 0x40c01000; // a different TLB slot from DATA_VA
  const leafAddr = e.pt.l0Addr(DATA_VA);
  e.pt.map(PT_VA, leafAddr & ~0xfff, V | R | W | PA | D);
  const h = exec(e, S, [
    A.sw(A.a0, A.a1, 0), // D already set
    A.lw(A.t0, A.a2, leafAddr & 0xfff), A.andi(A.t0, A.t0, ~D), A.sw(A.t0, A.a2, leafAddr & 0xfff), A.sfenceVma(),
    A.sw(A.a0, A.a1, 4),
  ], { regs: { [A.a1]: DATA_VA, [A.a2]: PT_VA } });
  assert.equal(h.mcause, 0);
  assert.equal(e.pt.leaf(DATA_VA) & D, D);
});

test('invalid PTEs, W-without-R, a non-leaf at level 0, and tables outside RAM', () => {
  const e = env();
  const a = DATA_VA;
  const load = (va: number) => exec(e, S, [A.lw(A.a0, A.a1, 0)], { regs: { [A.a1]: va } });
  // No root entry at all.
  assertFault(load(0x7f000000), LOAD_PF, 0x7f000000, 'V=0 at level 1');
  // Level-0 entry with V=0 (but other bits set).
  e.pt.map(a, DATA_PA, R | W | X | PA | D);
  assertFault(load(a), LOAD_PF, a, 'V=0 at level 0');
  // W without R is reserved.
  e.pt.map(a, DATA_PA, V | W | PA | D);
  assertFault(load(a), LOAD_PF, a, 'W=1 R=0');
  assertFault(exec(e, S, [A.sw(A.a0, A.a1, 0)], { regs: { [A.a1]: a } }), STORE_PF, a, 'W=1 R=0 store');
  e.pt.map(a, DATA_PA, V | W | X | PA | D);
  assertFault(load(a), LOAD_PF, a, 'W=1 X=1 R=0');
  // A pointer (V, no R/W/X) at level 0.
  e.pt.map(a, DATA_PA, V);
  assertFault(load(a), LOAD_PF, a, 'non-leaf at level 0');
  e.pt.map(a, DATA_PA, V | PA | D | PTE.U);
  assertFault(load(a), LOAD_PF, a, 'non-leaf at level 0 with A/D/U');
  // A root entry pointing outside RAM: the walk's PTE read is an access fault.
  e.mem.writeU32(e.pt.l1Addr(0x7fc00000), Sv32.pte(0x1000, V));
  const h = load(0x7fc00010);
  assert.equal(h.mcause, 5, 'load access fault');
  assert.equal(u(h.mtval), 0x7fc00010);
  // A leaf whose physical address is beyond 32 bits (Sv32 has 34-bit physical addresses): access fault, not RAM.
  e.pt.map(a, 0x2_8000_0000 + 0x30000, V | R | W | PA | D);
  const h2 = load(a + 4);
  assert.equal(h2.mcause, 5);
  assert.equal(u(h2.mtval), a + 4);
  // ... and for a store and a fetch.
  assert.equal(exec(e, S, [A.sw(A.a0, A.a1, 0)], { regs: { [A.a1]: a } }).mcause, 7);
  e.pt.map(a, 0x2_8000_0000 + 0x30000, V | R | X | PA | D);
  assert.equal(exec(e, S, [A.jalr(0, A.a1, 0)], { regs: { [A.a1]: a }, steps: 2 }).mcause, 1);
});

test('a satp whose root is outside RAM makes every access fault (fetch → instruction access fault)', () => {
  const mem = new GuestMemory(RAM);
  mem.writeU32(MTRAP, A.jal(0, 0));
  const h = new Hart(mem);
  h.mtvec = MTRAP;
  h.csrWrite(SATP, 0x80000000 | 0x10); // root at physical 0x10000
  h.reset(CODE_VA, S);
  h.run(2);
  assert.equal(h.mcause, 1);
  assert.equal(u(h.mtval), CODE_VA);
});

test('satp reads back mode and PPN; writing satp and sfence.vma switch address spaces', () => {
  const e = env();
  const other = new Sv32(e.mem, BASE + 0x50000, BASE + 0x51000);
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D);
  other.map(DATA_VA, DATA2_PA, V | R | W | PA | D);
  other.map(CODE_VA, CODE_PA, V | R | X | PA);
  e.mem.writeU32(DATA_PA, 111);
  e.mem.writeU32(DATA2_PA, 222);
  const h = exec(e, S, [
    A.lw(A.s1, A.a1, 0),
    A.csrw(SATP, A.a2), A.sfenceVma(),
    A.lw(A.s2, A.a1, 0),
    A.csrr(A.s3, SATP),
    A.csrw(SATP, A.a3), A.sfenceVma(),
    A.lw(A.s4, A.a1, 0),
  ], { regs: { [A.a1]: DATA_VA, [A.a2]: other.satp, [A.a3]: e.pt.satp } });
  assert.equal(h.mcause, 0);
  assert.deepEqual([h.regs[A.s1], h.regs[A.s2], h.regs[A.s4]], [111, 222, 111]);
  assert.equal(u(h.regs[A.s3]), other.satp);
  assert.equal(u(h.csrRead(SATP)!), e.pt.satp);
});

test('sfence.vma makes a changed PTE visible (data and instruction fetch)', () => {
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D);
  const PT_VA = 0x40c01000; // a different TLB slot from DATA_VA
  const leaf = e.pt.l0Addr(DATA_VA);
  e.pt.map(PT_VA, leaf & ~0xfff, V | R | W | PA | D);
  e.mem.writeU32(DATA_PA, 1);
  e.mem.writeU32(DATA2_PA, 2);
  const h = exec(e, S, [
    A.lw(A.s1, A.a1, 0), // 1
    A.sw(A.s1, A.a1, 8), // DATA_PA + 8 = 1 (caches the store translation)
    A.sw(A.a3, A.a2, leaf & 0xfff), // remap DATA_VA → DATA2_PA
    A.sfenceVma(A.a1, 0),
    A.lw(A.s2, A.a1, 0), // 2
    A.sw(A.s2, A.a1, 12), // DATA2_PA + 12 = 2
  ], { regs: { [A.a1]: DATA_VA, [A.a2]: PT_VA, [A.a3]: Sv32.pte(DATA2_PA, V | R | W | PA | D) } });
  assert.equal(h.mcause, 0);
  assert.deepEqual([h.regs[A.s1], h.regs[A.s2]], [1, 2]);
  assert.deepEqual([e.mem.readU32(DATA_PA + 8), e.mem.readU32(DATA2_PA + 12), e.mem.readU32(DATA_PA + 12)], [1, 2, 0], 'stores follow the new mapping');
  // Fetch: jump to a page, remap it to other code, sfence.vma, jump again.
  const FVA = 0x40801000;
  e.pt.map(FVA, BASE + 0x40000, V | R | X | PA);
  e.mem.writeU32(BASE + 0x40000, A.addi(A.a0, 0, 1));
  e.mem.writeU32(BASE + 0x40004, A.jalr(0, A.ra, 0));
  e.mem.writeU32(BASE + 0x41000, A.addi(A.a0, 0, 2));
  e.mem.writeU32(BASE + 0x41004, A.jalr(0, A.ra, 0));
  const fleaf = e.pt.l0Addr(FVA);
  e.pt.map(PT_VA + 0x1000, fleaf & ~0xfff, V | R | W | PA | D);
  const h2 = exec(e, S, [
    A.jalr(A.ra, A.a1, 0), A.add(A.s1, 0, A.a0),
    A.sw(A.a3, A.a2, fleaf & 0xfff), A.sfenceVma(),
    A.jalr(A.ra, A.a1, 0), A.add(A.s2, 0, A.a0),
  ], { regs: { [A.a1]: FVA, [A.a2]: PT_VA + 0x1000, [A.a3]: Sv32.pte(BASE + 0x41000, V | R | X | PA) }, steps: 10 });
  assert.equal(h2.mcause, 0);
  assert.deepEqual([h2.regs[A.s1], h2.regs[A.s2]], [1, 2]);
});

test('cached translations do not survive privilege or SUM/MXR changes', () => {
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D); // supervisor page
  e.pt.map(DATA_VA + 0x1000, DATA2_PA, V | R | W | PA | D | PTE.U); // user page
  e.pt.map(DATA_VA + 0x2000, DATA2_PA, V | X | PA); // execute-only
  // S loads a supervisor page, then sret to U (code page is user), where the same load must fault.
  e.pt.map(CODE_VA + 0x1000, CODE_PA + 0x1000, V | R | X | PA | PTE.U);
  e.mem.writeU32(CODE_PA + 0x1000, A.lw(A.a0, A.a1, 0));
  const h = exec(e, S, [A.lw(A.a0, A.a1, 0), A.csrw(0x141, A.a2), A.sret()], { regs: { [A.a1]: DATA_VA, [A.a2]: CODE_VA + 0x1000 }, steps: 4 });
  assert.equal(h.mcause, LOAD_PF, 'U-mode cannot use the translation S-mode cached');
  assert.equal(u(h.mepc), CODE_VA + 0x1000);
  // SUM: allowed, then cleared: the cached user-page translation must not be used.
  const h2 = exec(e, S, [A.lw(A.a0, A.a1, 0), A.csrc(SSTATUS, A.a2), A.lw(A.a3, A.a1, 0)],
    { regs: { [A.a1]: DATA_VA + 0x1000, [A.a2]: ST_SUM }, mstatus: ST_SUM });
  assertFault(h2, LOAD_PF, DATA_VA + 0x1000, 'SUM cleared');
  // MXR: allowed, then cleared.
  const h3 = exec(e, S, [A.lw(A.a0, A.a1, 0), A.csrc(SSTATUS, A.a2), A.lw(A.a3, A.a1, 0)],
    { regs: { [A.a1]: DATA_VA + 0x2000, [A.a2]: ST_MXR }, mstatus: ST_MXR });
  assertFault(h3, LOAD_PF, DATA_VA + 0x2000, 'MXR cleared');
});

test('a translation cached in one context survives a switch to another and back, until SFENCE.VMA', () => {
  // TLB entries are tagged with their context (privilege, SUM, MXR, MPRV) instead of flushed when it changes.
  // Using a stale translation until SFENCE.VMA is what the spec allows; dropping it earlier would also be legal,
  // so this pins the design (no flush on a context switch), not the architecture.
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D);
  e.mem.writeU32(DATA_PA, 111);
  e.mem.writeU32(DATA2_PA, 222);
  const h = exec(e, S, [A.lw(A.a0, A.a1, 0), A.csrs(SSTATUS, A.a2), A.csrc(SSTATUS, A.a2), A.lw(A.a3, A.a1, 0),
    A.sfenceVma(), A.lw(A.a4, A.a1, 0)], { regs: { [A.a1]: DATA_VA, [A.a2]: ST_SUM }, steps: 1 });
  e.pt.map(DATA_VA, DATA2_PA, V | R | W | PA | D); // the guest changes the mapping without a fence yet
  h.run(3);
  assert.equal(h.regs[A.a3], 111, 'SUM on and off: the cached translation is still used');
  h.run(2);
  assert.equal(h.mcause, 0);
  assert.equal(h.regs[A.a4], 222, 'after SFENCE.VMA the new mapping is used');
});

test('SFENCE.VMA of one address: that page sees its new mapping; under a superpage, every page of it does', () => {
  const e = env();
  e.pt.map(DATA_VA, DATA_PA, V | R | W | PA | D);
  e.pt.map(DATA_VA + 0x1000, DATA_PA, V | R | W | PA | D);
  const SVA = 0xc0000000;
  e.pt.mapSuper(SVA, BASE, V | R | W | PA | D);
  e.mem.writeU32(DATA_PA, 111);
  e.mem.writeU32(DATA2_PA, 222);
  const off = DATA_PA - BASE; // the same words through the superpage
  // Load both 4 KiB pages and two pages of the superpage, so that all four translations are cached.
  const h = exec(e, S, [A.lw(A.a0, A.a1, 0), A.lw(A.a0, A.a2, 0), A.lw(A.a0, A.a3, 0), A.lw(A.a0, A.a4, 0),
    A.sfenceVma(A.a1), A.lw(A.s2, A.a1, 0), A.sfenceVma(A.a3), A.lw(A.s3, A.a4, 0)],
  { regs: { [A.a1]: DATA_VA, [A.a2]: DATA_VA + 0x1000, [A.a3]: SVA + off, [A.a4]: SVA + off + 0x1000 }, steps: 4 });
  // Remap the two small pages to DATA2_PA, and make the superpage execute-only (loads fault).
  e.pt.map(DATA_VA, DATA2_PA, V | R | W | PA | D);
  e.pt.map(DATA_VA + 0x1000, DATA2_PA, V | R | W | PA | D);
  e.pt.mapSuper(SVA, BASE, V | X | PA);
  h.run(4);
  assert.equal(h.regs[A.s2], 222, 'the fenced page uses its new mapping');
  assertFault(h, LOAD_PF, SVA + off + 0x1000, 'a fence of one address under a superpage drops the cached pages of all of it');
});

test('MMIO through a mapping: the device sees the physical address', () => {
  const e = env();
  const seen: string[] = [];
  const mmio: Mmio = {
    read: (pa, size) => { seen.push(`r ${u(pa).toString(16)} ${size}`); return 0x5a; },
    write: (pa, size, v) => { seen.push(`w ${u(pa).toString(16)} ${size} ${v & 0xff}`); return true; },
  };
  e.pt.map(DATA_VA, 0x10000000, V | R | W | PA | D);
  const h = exec(e, S, [A.lbu(A.a0, A.a1, 5), A.sb(A.a0, A.a1, 6)], { regs: { [A.a1]: DATA_VA }, mmio });
  assert.equal(h.mcause, 0);
  assert.equal(h.regs[A.a0], 0x5a);
  assert.deepEqual(seen, ['r 10000005 1', 'w 10000006 1 90']);
});

// ---------------------------------------------------------------------------------------------------------
// MPRV.

/** M-mode code at physical CODE_PA (MPRV does not affect fetch), satp on the tables. */
function mexec(e: Env, words: number[], mstatus: number, regs: Record<number, number>, steps = words.length): Hart {
  words.forEach((w, i) => e.mem.writeU32(CODE_PA + 4 * i, w));
  e.mem.writeU32(CODE_PA + 4 * words.length, A.jal(0, 0));
  const h = new Hart(e.mem);
  h.mtvec = MTRAP;
  h.csrWrite(SATP, e.pt.satp);
  h.csrWrite(MSTATUS, mstatus);
  h.reset(CODE_PA, M);
  for (const [r, v] of Object.entries(regs)) h.regs[Number(r)] = v;
  h.run(steps);
  return h;
}

test('MPRV: M-mode loads and stores translate with MPP privilege (SUM, MXR apply); fetch stays physical', () => {
  const e = env();
  const VA = DATA_PA + 0x10000; // a virtual address that is also RAM physically
  e.mem.writeU32(VA, 0x1111);
  e.mem.writeU32(DATA_PA, 0x2222);
  e.pt.map(VA, DATA_PA, V | R | W | PA | D);
  e.pt.map(VA + 0x1000, DATA_PA, V | R | W | PA | D | PTE.U);
  e.pt.map(VA + 0x2000, DATA_PA, V | X | PA);
  const ld = [A.lw(A.a0, A.a1, 0)];
  const r = (va: number) => ({ [A.a1]: va });
  assert.equal(mexec(e, ld, 0, r(VA)).regs[A.a0], 0x1111, 'MPRV=0: physical');
  assert.equal(mexec(e, ld, ST_MPRV | (M << 11), r(VA)).regs[A.a0], 0x1111, 'MPRV=1, MPP=M: physical');
  assert.equal(mexec(e, ld, ST_MPRV | (S << 11), r(VA)).regs[A.a0], 0x2222, 'MPRV=1, MPP=S: translated');
  assertFault(mexec(e, ld, ST_MPRV | (U << 11), r(VA)), LOAD_PF, VA, 'MPP=U on a supervisor page');
  assert.equal(mexec(e, ld, ST_MPRV | (U << 11), r(VA + 0x1000)).regs[A.a0], 0x2222, 'MPP=U on a user page');
  assertFault(mexec(e, ld, ST_MPRV | (S << 11), r(VA + 0x1000)), LOAD_PF, VA + 0x1000, 'MPP=S on a user page without SUM');
  assert.equal(mexec(e, ld, ST_MPRV | ST_SUM | (S << 11), r(VA + 0x1000)).regs[A.a0], 0x2222, 'with SUM');
  assertFault(mexec(e, ld, ST_MPRV | (S << 11), r(VA + 0x2000)), LOAD_PF, VA + 0x2000, 'execute-only without MXR');
  assert.equal(mexec(e, ld, ST_MPRV | ST_MXR | (S << 11), r(VA + 0x2000)).regs[A.a0], 0x2222, 'with MXR');
  const st = mexec(e, [A.sw(A.a2, A.a1, 4)], ST_MPRV | (S << 11), { [A.a1]: VA, [A.a2]: 0x3333 });
  assert.equal(st.mcause, 0);
  assert.equal(e.mem.readU32(DATA_PA + 4), 0x3333);
  assert.equal(e.mem.readU32(VA + 4), 0);
  // Toggling MPRV with csrc/csrs in the same run switches between the two views at once.
  const t = mexec(e, [A.lw(A.s1, A.a1, 0), A.csrc(MSTATUS, A.a2), A.lw(A.s2, A.a1, 0), A.csrs(MSTATUS, A.a2), A.lw(A.s3, A.a1, 0)],
    ST_MPRV | (S << 11), { [A.a1]: VA, [A.a2]: ST_MPRV });
  assert.deepEqual([t.regs[A.s1], t.regs[A.s2], t.regs[A.s3]], [0x2222, 0x1111, 0x2222]);
});

test('MPRV: a trap from M-mode to M-mode sets MPP=M, so the handler\'s loads become physical', () => {
  const e = env();
  const VA = DATA_PA + 0x10000;
  e.mem.writeU32(VA, 0x1111);
  e.mem.writeU32(DATA_PA, 0x2222);
  e.pt.map(VA, DATA_PA, V | R | W | PA | D);
  // Handler (M-mode, at MTRAP + 0x100): load the same address again.
  e.mem.writeU32(MTRAP + 0x100, A.lw(A.a2, A.a1, 0));
  e.mem.writeU32(MTRAP + 0x104, A.jal(0, 0));
  const words = [A.lw(A.a0, A.a1, 0), A.ecall()];
  words.forEach((w, i) => e.mem.writeU32(CODE_PA + 4 * i, w));
  const h = new Hart(e.mem);
  h.mtvec = MTRAP + 0x100;
  h.csrWrite(SATP, e.pt.satp);
  h.csrWrite(MSTATUS, ST_MPRV | (S << 11));
  h.reset(CODE_PA, M);
  h.regs[A.a1] = VA;
  h.run(4);
  assert.equal(h.mcause, 11);
  assert.equal((h.mstatus & ST_MPP) >>> 11, M, 'MPP = M after the trap');
  assert.equal(h.mstatus & ST_MPRV, ST_MPRV, 'MPRV unchanged by the trap');
  assert.equal(h.regs[A.a0], 0x2222, 'before the trap: translated (MPP=S)');
  assert.equal(h.regs[A.a2], 0x1111, 'in the handler: MPRV with MPP=M is physical');
});

test('MPRV: mret back to M-mode sets MPP=U and keeps MPRV, so later loads translate as U-mode', () => {
  const e = env();
  const VA = DATA_PA + 0x10000;
  e.mem.writeU32(VA, 0x1111);
  e.mem.writeU32(DATA_PA, 0x2222);
  e.pt.map(VA, DATA_PA, V | R | W | PA | D | PTE.U);
  const next = CODE_PA + 4 * 4;
  const h = mexec(e, [A.lw(A.a0, A.a1, 0), A.csrw(MEPC, A.a3), A.mret(), A.nop(), A.lw(A.a2, A.a1, 0)],
    ST_MPRV | (M << 11), { [A.a1]: VA, [A.a3]: next }, 4);
  assert.equal(h.mcause, 0);
  assert.equal(h.priv, M);
  assert.equal(h.mstatus & ST_MPRV, ST_MPRV, 'MPRV kept (mret to M)');
  assert.equal((h.mstatus & ST_MPP) >>> 11, U, 'MPP = U after mret');
  assert.equal(h.regs[A.a0], 0x1111, 'before mret: MPP=M, physical');
  assert.equal(h.regs[A.a2], 0x2222, 'after mret: MPP=U, translated');
});

test('a hart that refills its TLB on nearly every access grows it; translations, fences and both engines stay exact', () => {
  // 2,048 virtual pages (8 MiB, two root entries), aliased onto 4 physical pages: a loop that strides over them
  // misses a 1,024-entry TLB on every load and store.
  const PAGES = 2048, ROUNDS = 4, P1 = BASE + 0x34000, P2 = BASE + 0x35000;
  const program = [
    A.addi(A.t0, A.a1, 0), A.addi(A.t1, A.a2, 0), // outer: t0 = first page, t1 = pages left
    A.lw(A.t2, A.t0, 0), A.addi(A.t2, A.t2, 1), A.sw(A.t2, A.t0, 0), A.add(A.t0, A.t0, A.a4), A.addi(A.t1, A.t1, -1),
    A.bne(A.t1, A.zero, -20),
    A.addi(A.a3, A.a3, -1), A.bne(A.a3, A.zero, -36),
    A.jal(0, 0), // END1
    // Part 2, after the host remapped pages 1 and 2: one fence of an address, then a fence of everything.
    A.sfenceVma(A.a5), A.lw(A.s2, A.a5, 0), A.sfenceVma(A.zero), A.lw(A.s3, A.a6, 0), A.jal(0, 0),
  ];
  const END1 = CODE_VA + 4 * 10, PART2 = END1 + 4, END2 = PART2 + 4 * 4;
  const runOne = (engine: 'interp' | 'jit') => {
    const e = env();
    program.forEach((w, i) => e.mem.writeU32(CODE_PA + 4 * i, w));
    e.pt.map(CODE_VA, CODE_PA, V | R | X | PA);
    for (let k = 0; k < PAGES; k++) e.pt.map(DATA_VA + k * 0x1000, DATA_PA + (k % 4) * 0x1000, V | R | W | PA | D);
    const h = new Hart(e.mem, { engine, jitThreshold: 64 });
    h.mtvec = MTRAP;
    h.csrWrite(SATP, e.pt.satp);
    h.reset(CODE_VA, S);
    Object.assign(h.regs, { [A.a1]: DATA_VA, [A.a2]: PAGES, [A.a3]: ROUNDS, [A.a4]: 0x1000, [A.a5]: DATA_VA + 0x1000, [A.a6]: DATA_VA + 0x2000 });
    const before = h.tlbEntries;
    for (let n = 0; h.pc >>> 0 !== END1 && n < 1000; n++) h.run(1000); // (the TLB's size is reconsidered between runs)
    assert.equal(h.pc >>> 0, END1, `${engine}: the loop finished`);
    const grown = h.tlbEntries;
    // The TLB still holds page 1 and page 2 (not refilled since their last store): remap them, then fence.
    e.mem.writeU32(P1, 0x1111); e.mem.writeU32(P2, 0x2222);
    e.pt.map(DATA_VA + 0x1000, P1, V | R | W | PA | D);
    e.pt.map(DATA_VA + 0x2000, P2, V | R | W | PA | D);
    h.pc = PART2;
    h.run(5);
    assert.equal(h.pc >>> 0, END2, `${engine}: part 2 ran`);
    const words = [0, 1, 2, 3].map((k) => e.mem.readU32(DATA_PA + k * 0x1000));
    return { before, grown, words, s2: h.regs[A.s2], s3: h.regs[A.s3], mcause: h.mcause, instret: h.instret, regs: [...h.regs] };
  };
  const interp = runOne('interp'), jit = runOne('jit');
  for (const r of [interp, jit]) {
    assert.equal(r.before, 1024);
    assert.equal(r.grown, 32768, 'the TLB grew');
    assert.equal(r.mcause, 0, 'no trap');
    assert.deepEqual(r.words, [0, 1, 2, 3].map(() => (PAGES / 4) * ROUNDS), 'every store landed once, through the right page');
    assert.equal(r.s2, 0x1111, 'SFENCE.VMA of one address drops its entry from the grown TLB');
    assert.equal(r.s3, 0x2222, 'SFENCE.VMA of everything empties the grown TLB');
  }
  assert.equal(jit.instret, interp.instret);
  assert.deepEqual(jit.regs, interp.regs);
});

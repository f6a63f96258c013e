/**
 * Fuzzing the engine with random instruction streams: random 32-bit words, random compressed halfwords and
 * mixtures, run in M-mode (bare), in S/U-mode over random Sv32 page tables, and as an sbiMode guest.
 *
 * Properties, checked after every `run` and at every trap:
 *  - `run` never throws and returns a valid Exit code;
 *  - pc is an int32 with bit 0 clear, x0 is 0, priv is U, S or M, MPP is never the reserved value 2;
 *  - every exception cause is architectural (0-9, 11-13, 15), is written to the cause register of the mode
 *    that takes it, follows medeleg, and lands on that mode's trap vector; every interrupt cause is one of the
 *    six standard ones with the interrupt bit set;
 *  - instret never decreases (unless the guest wrote minstret/mcycle) and grows by at most the budget;
 *  - sbiMode: the hart never enters M-mode; Exit.Ecall / Exit.Wfi follow an ECALL / WFI.
 *
 * The trap handlers are tiny one-register routines (t0 swapped through xscratch) that skip the faulting
 * halfword (xepc += 2: the random stream goes on from there), or land at a pseudo-random point of the program
 * after an instruction fetch fault or an all-zeros instruction (a run into empty memory), and silence interrupts by clearing xie. Programs are generated from seeds
 * (xorshift); a failure names the seed. HARTVISOR_FUZZ_SEED sets the base seed, HARTVISOR_FUZZ_SCALE
 * multiplies the number of programs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/cpu/memory.js';
import { Exit, Hart } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';
import { Asm, PTE, Sv32 } from './helpers/asm.js';

const BASE_SEED = Number(process.env.HARTVISOR_FUZZ_SEED ?? 0x5eed1) >>> 0;
const SCALE = Number(process.env.HARTVISOR_FUZZ_SCALE ?? 1);
const U = 0, S = 1, M = 3;

const ARCH_EXCEPTIONS = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15]);
const ARCH_INTERRUPTS = new Set([1, 3, 5, 7, 9, 11]);
const EXITS = new Set<number>(Object.values(Exit));

// CSR numbers.
const SSTATUS = 0x100, SIE = 0x104, SSCRATCH = 0x140, SEPC = 0x141, SCAUSE = 0x142, SATP = 0x180;
const MSTATUS = 0x300, MIE = 0x304, MSCRATCH = 0x340, MEPC = 0x341, MCAUSE = 0x342, CYCLE = 0xc00, MCYCLE = 0xb00;
/** CSRs the generator aims CSR instructions at half of the time (never mtvec/stvec: a lost handler just ends the run). */
const CSRS = [SSTATUS, SIE, 0x106, SSCRATCH, SEPC, SCAUSE, 0x143, 0x144, SATP, 0x10a, MSTATUS, 0x301, 0x302, 0x303, MIE, 0x306,
  MSCRATCH, MEPC, MCAUSE, 0x343, 0x344, 0x30a, 0x310, 0x320, 0x3a0, 0x3b0, 0x7a0, CYCLE, 0xc01, 0xc02, 0xc80, 0xc81, 0xc82, 0xc03,
  MCYCLE, 0xb02, 0xb80, 0xb82, 0xf11, 0xf12, 0xf13, 0xf14, 0xf15, 0x7c0, 0x600, 0x5a8];
const OPCODES32 = [0x03, 0x0f, 0x13, 0x17, 0x23, 0x2f, 0x33, 0x37, 0x63, 0x67, 0x6f, 0x73];

/** xorshift32: a tiny seeded PRNG returning uint32. */
function prng(seed: number): () => number {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const next = (): number => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let i = 0; i < 8; i++) next();
  return next;
}

type Kind = '32' | '16' | 'mixed';

const SPECIAL = [A.ecall(), A.ebreak(), A.mret(), A.sret(), A.wfi(), A.sfenceVma(), A.pause(), A.fenceI(), A.fence()];

function randWord(r: () => number): number {
  if (r() % 48 === 0) return SPECIAL[r() % SPECIAL.length];
  let w = r();
  if (r() % 10 < 8) w = (w & ~0x7f) | OPCODES32[r() % OPCODES32.length];
  else w |= 3;
  // Mostly valid funct fields, so the streams execute more than they trap.
  const op = w & 0x7f;
  if (r() % 4 !== 0) {
    if (op === 0x33) w = (w & 0x01ffffff) | ([0x00, 0x20, 0x01][r() % 3] << 25);
    else if (op === 0x13 && ((w >>> 12) & 3) === 1) w = (w & 0x01ffffff) | ((r() & 1 ? 0x20 : 0) << 25);
    else if (op === 0x2f) w = (w & ~0x7000) | 0x2000;
    else if (op === 0x67) w &= ~0x7000;
    else if (op === 0x03) w = (w & ~0x7000) | ([0, 1, 2, 4, 5][r() % 5] << 12);
    else if (op === 0x23) w = (w & ~0x7000) | ((r() % 3) << 12);
    else if (op === 0x63) w = (w & ~0x7000) | ([0, 1, 4, 5, 6, 7][r() % 6] << 12);
    else if (op === 0x0f) w &= ~0x6000;
    else if (op === 0x6f && (r() & 1)) w = A.jal((w >>> 7) & 31, ((r() % 512) - 256) * 2); // stay nearby
  }
  if ((w & 0x7f) === 0x73 && (r() & 1)) w = ((w & 0x000fffff) | (CSRS[r() % CSRS.length] << 20)) >>> 0;
  return w >>> 0;
}

function randHalf(r: () => number): number {
  const h = r() & 0xfffc;
  return h | (r() % 3);
}

/** Fills [addr, addr+len) with a random instruction stream. */
function fillProgram(mem: GuestMemory, addr: number, len: number, kind: Kind, r: () => number): void {
  let o = 0;
  while (o < len) {
    const use32 = kind === '32' || (kind === 'mixed' && (r() & 1));
    if (use32 && o + 4 <= len) { mem.writeU32(addr + o, randWord(r)); o += 4; } else { mem.u16[(addr + o - mem.base) >> 1] = randHalf(r); o += 2; }
  }
}

/**
 * The one-register trap handler for mode `m` ("m" or "s"): skips a halfword, or lands at landBase + (cycle mod
 * 8 KiB) after a fetch fault, clears xie on interrupts.
 */
function handler(p: Asm, m: 'm' | 's', landBase: number): void {
  const scratch = m === 'm' ? MSCRATCH : SSCRATCH, cause = m === 'm' ? MCAUSE : SCAUSE, epc = m === 'm' ? MEPC : SEPC;
  const ie = m === 'm' ? MIE : SIE, cyc = m === 'm' ? MCYCLE : CYCLE, tval = m === 'm' ? 0x343 : 0x143;
  const t0 = A.t0;
  p.w(A.csrrw(t0, scratch, t0), A.csrr(t0, cause), (pc, L) => A.blt(t0, 0, L(`${m}intr`) - pc));
  p.w(A.addi(t0, t0, -1), (pc, L) => A.beq(t0, 0, L(`${m}fetch`) - pc)); // 1: fetch access fault
  p.w(A.addi(t0, t0, -1), (pc, L) => A.bne(t0, 0, L(`${m}not2`) - pc));
  p.w(A.csrr(t0, tval), (pc, L) => A.beq(t0, 0, L(`${m}fetch`) - pc), (pc, L) => A.jal(0, L(`${m}skip`) - pc)); // 2: zeros → elsewhere
  p.label(`${m}not2`).w(A.addi(t0, t0, -10), (pc, L) => A.beq(t0, 0, L(`${m}fetch`) - pc)); // 12: fetch page fault
  p.label(`${m}skip`).w(A.csrr(t0, epc), A.addi(t0, t0, 2), A.csrw(epc, t0), (pc, L) => A.jal(0, L(`${m}out`) - pc));
  p.label(`${m}fetch`).w(A.lui(t0, landBase >>> 12), A.csrw(epc, t0), A.csrr(t0, cyc), A.slli(t0, t0, 19), A.srli(t0, t0, 19),
    A.andi(t0, t0, -2), A.csrs(epc, t0), (pc, L) => A.jal(0, L(`${m}out`) - pc));
  p.label(`${m}intr`).w(A.csrw(ie, 0));
  p.label(`${m}out`).w(A.csrrw(t0, scratch, t0), m === 'm' ? A.mret() : A.sret());
}

interface Stats { programs: number; retired: number; exits: Map<number, number>; causes: Map<number, number> }
const bump = (m: Map<number, number>, k: number): void => { m.set(k, (m.get(k) ?? 0) + 1); };

/** Wraps the hart's trap entry points with the per-trap checks. Returns a flag object for counter writes. */
function instrument(h: Hart, stats: Stats, opts: { sbi?: boolean }): { counterWritten: boolean } {
  const flags = { counterWritten: false };
  const raise = h.raise.bind(h);
  const mem = h.mem;
  h.raise = (cause: number, tval: number): void => {
    assert.ok(ARCH_EXCEPTIONS.has(cause), `non-architectural exception cause ${cause}`);
    const from = h.priv;
    const pc = h.pc >>> 0;
    // With untranslated fetch, the trap value can be checked against memory.
    if (from === M || (h.satp >>> 31) === 0) {
      if (cause === 2 && mem.contains(pc, 2)) {
        const lo = mem.u16[(pc - mem.base) >> 1];
        const inst = (lo & 3) !== 3 ? lo : mem.contains(pc, 4) ? mem.readU32(pc) : -1;
        if (inst >= 0) assert.equal(tval >>> 0, inst >>> 0, `illegal instruction at 0x${pc.toString(16)}: tval is the instruction`);
      }
      if (cause === 1) {
        assert.ok(tval >>> 0 === pc || tval >>> 0 === ((pc + 2) >>> 0), `fetch fault tval 0x${(tval >>> 0).toString(16)} at pc 0x${pc.toString(16)}`);
        assert.ok(!mem.contains(tval >>> 0, 2), 'fetch access fault on RAM');
      }
    }
    if (cause === 3) assert.equal(tval >>> 0, pc, 'ebreak: tval = pc');
    if (cause === 8 || cause === 9 || cause === 11) assert.equal(tval, 0, 'ecall: tval = 0');
    if (cause === 12) assert.ok(tval >>> 0 === pc || tval >>> 0 === ((pc + 2) >>> 0), 'fetch page fault tval');
    const delegated = from <= S && ((h.medeleg >>> cause) & 1) === 1;
    raise(cause, tval);
    bump(stats.causes, cause);
    if (delegated) {
      assert.equal(h.priv, S, `cause ${cause} from ${from} is delegated: handled in S`);
      assert.equal(h.scause, cause, 'scause');
      assert.equal(h.pc, h.stvec & ~3, 'lands on stvec');
    } else {
      assert.equal(h.priv, M, `cause ${cause} from ${from} is not delegated: handled in M`);
      assert.equal(h.mcause, cause, 'mcause');
      assert.equal(h.pc, h.mtvec & ~3, 'lands on mtvec');
    }
    if (opts.sbi) assert.notEqual(h.priv, M, `sbiMode hart entered M-mode (cause ${cause})`);
  };
  const check = h.checkInterrupts.bind(h);
  h.checkInterrupts = (): boolean => {
    const taken = check();
    if (taken) {
      const c = h.priv === M ? h.mcause : h.scause;
      assert.ok(c < 0 && ARCH_INTERRUPTS.has(c & 0x7fffffff), `bad interrupt cause 0x${(c >>> 0).toString(16)}`);
      bump(stats.causes, c >>> 0);
      if (opts.sbi) assert.notEqual(h.priv, M, 'sbiMode hart took an interrupt in M-mode');
    }
    return taken;
  };
  const csrWrite = h.csrWrite.bind(h);
  h.csrWrite = (csr: number, v: number): boolean => {
    if (csr === 0xb02 || csr === 0xb82) flags.counterWritten = true;
    return csrWrite(csr, v);
  };
  return flags;
}

function checkState(h: Hart, what: string): void {
  assert.ok(Number.isInteger(h.pc) && h.pc === (h.pc | 0), `${what}: pc ${h.pc} is not an int32`);
  assert.equal(h.pc & 1, 0, `${what}: pc is odd`);
  assert.equal(h.regs[0], 0, `${what}: x0`);
  assert.ok(h.priv === U || h.priv === S || h.priv === M, `${what}: priv ${h.priv}`);
  assert.notEqual((h.mstatus >>> 11) & 3, 2, `${what}: MPP = 2`);
  assert.equal(h.mepc & 1, 0, `${what}: mepc is odd`);
  assert.equal(h.sepc & 1, 0, `${what}: sepc is odd`);
  // xcause is not checked here: the guest may write any value into it with a CSR instruction. What the hart
  // itself writes is checked at trap time (instrument).
  assert.ok(Number.isFinite(h.instret) && h.instret >= 0, `${what}: instret ${h.instret}`);
}

/**
 * Runs a prepared hart for `total` instructions in random-sized chunks, with optional random interrupts
 * raised by the host between chunks, checking the properties after every run.
 */
function drive(h: Hart, r: () => number, total: number, stats: Stats, flags: { counterWritten: boolean },
  opts: { sbi?: boolean; mem?: GuestMemory; irq?: boolean }): void {
  let done = 0;
  while (done < total) {
    const chunk = 1 + (r() % 300);
    if (opts.irq && r() % 4 === 0) {
      const mask = opts.sbi ? 0x222 : 0xaaa; // an SBI host only raises supervisor-level interrupts
      h.mip = (h.mip & ~mask) | (r() & mask);
      if (r() % 3 === 0) h.mie = (h.mie & ~mask) | (r() & mask);
    }
    const before = h.instret;
    flags.counterWritten = false;
    let exit: number;
    try { exit = h.run(chunk); } catch (e) {
      throw new Error(`run(${chunk}) threw a host exception: ${(e as Error).stack ?? e}`);
    }
    assert.ok(EXITS.has(exit), `bad exit code ${exit}`);
    bump(stats.exits, exit);
    checkState(h, `after run(${chunk}) → exit ${exit}`);
    // (Above 2^53 the 64-bit counters are no longer exact doubles; see the counter tests in cpu-system.)
    if (!flags.counterWritten && h.instret < 2 ** 53) {
      assert.ok(h.instret >= before, `instret went backwards: ${before} → ${h.instret}`);
      assert.ok(h.instret - before <= chunk, `instret grew by ${h.instret - before} > budget ${chunk}`);
      stats.retired += h.instret - before;
    }
    if (exit === Exit.Ecall || exit === Exit.Wfi || exit === Exit.Pause) {
      // pc is past the instruction that exited; read it back when fetch is untranslated.
      if (exit === Exit.Ecall) assert.equal(h.priv, S, 'Exit.Ecall comes from S-mode');
      if (opts.mem && (h.priv === M || (h.satp >>> 31) === 0) && opts.mem.contains((h.pc - 4) >>> 0, 4)) {
        const want = exit === Exit.Ecall ? A.ecall() : exit === Exit.Wfi ? A.wfi() : A.pause();
        assert.equal(opts.mem.readU32((h.pc - 4) >>> 0), want, `exit ${exit} follows its instruction`);
      }
    }
    if (opts.sbi) {
      assert.notEqual(h.priv, M, 'sbiMode hart is in M-mode');
      if (exit === Exit.Ecall) { h.regs[A.a0] = r() % 4 === 0 ? -2 : 0; h.regs[A.a1] = r(); }
    } else {
      assert.notEqual(exit, Exit.Ecall, 'Exit.Ecall without sbiMode');
    }
    if (exit === Exit.TrapLoop) break;
    done += chunk;
  }
  stats.programs++;
}

/** Random pause-loop-exit settings. */
function pauseKnobs(h: Hart, r: () => number): void {
  h.exitOnPause = r() % 8 === 0;
  h.pleGap = r() % 2 ? 0 : 1 + (r() % 32);
  h.pleWindow = 1 + (r() % 200);
}

function newStats(): Stats { return { programs: 0, retired: 0, exits: new Map(), causes: new Map() }; }

function summary(stats: Stats): string {
  const f = (m: Map<number, number>) => [...m.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k >= 0x80000000 ? `i${k & 0xff}` : k}:${v}`).join(' ');
  return `${stats.programs} programs, ${stats.retired} instructions retired; exits {${f(stats.exits)}}; traps {${f(stats.causes)}}`;
}

function withSeed(seed: number, what: string, body: () => void): void {
  try { body(); } catch (e) {
    const err = new Error(`${what}: failed for seed 0x${seed.toString(16)} (rerun: HARTVISOR_FUZZ_SEED=${seed} HARTVISOR_FUZZ_SCALE=${1 / 10000})\n${(e as Error).message}`);
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
}

/** Seeds for `n` programs of one variant: the base seed first, so HARTVISOR_FUZZ_SEED reruns a failure exactly. */
function seeds(n: number, salt: number): number[] {
  const out: number[] = [];
  const count = Math.max(1, Math.round(n * SCALE));
  for (let i = 0; i < count; i++) out.push((BASE_SEED + Math.imul(i, 0x9e3779b1) + salt * (i === 0 ? 0 : 0x85ebca6b)) >>> 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// M-mode, bare.

const M_RAM = 64 * 1024;
const M_PROG = 0x80002000, M_PROG_LEN = 0x2000;

function handlerImage(m: 'm' | 's', at: number, landBase: number): Uint8Array {
  const p = new Asm(at);
  handler(p, m, landBase);
  return p.bytes();
}
const M_HANDLER = handlerImage('m', 0x80000000, M_PROG);

/** An M-mode hart over a fresh random program in `mem` (everything drawn from `r`). */
function prepM(mem: GuestMemory, r: () => number, kind: Kind): Hart {
  mem.u8.fill(0);
  mem.write(0x80000000, M_HANDLER);
  fillProgram(mem, M_PROG, M_PROG_LEN, kind, r);
  for (let o = M_PROG + M_PROG_LEN; o < 0x80000000 + M_RAM; o += 4) if (r() % 2 === 0) mem.writeU32(o, r());
  const h = new Hart(mem);
  h.mtvec = 0x80000000;
  for (let i = 1; i < 32; i++) {
    const k = r() % 4;
    h.regs[i] = k === 0 ? r() : k === 1 ? (0x80000000 + (r() % M_RAM)) | 0 : k === 2 ? r() % 64 : (0x80000000 + M_PROG_LEN + (r() % 0x8000)) | 0;
  }
  h.reset(M_PROG + ((r() % 64) * 2), M);
  if (r() % 2) h.csrWrite(MSTATUS, 1 << 3); // MIE: host-raised interrupts are taken
  return h;
}

for (const kind of ['32', '16', 'mixed'] as Kind[]) {
  test(`fuzz: random ${kind === 'mixed' ? 'mixed 16/32-bit' : `${kind}-bit`} instruction streams in M-mode`, (t) => {
    const mem = new GuestMemory(M_RAM);
    const stats = newStats();
    for (const seed of seeds(1000, kind.length)) {
      withSeed(seed, `M-mode ${kind}`, () => {
        const r = prng(seed);
        const h = prepM(mem, r, kind);
        const flags = instrument(h, stats, {});
        pauseKnobs(h, r);
        drive(h, r, 600, stats, flags, { irq: r() % 2 === 0, mem });
      });
    }
    t.diagnostic(summary(stats));
    assert.ok(stats.causes.size >= (kind === '16' ? 4 : 8), `trap variety: ${summary(stats)}`);
  });
}

// ---------------------------------------------------------------------------------------------------------
// S/U-mode over random Sv32 page tables.

const V_RAM = 256 * 1024;
const ROOT = 0x80001000;
const CODE_VA = 0x40000000, SH_VA = 0x40003000;
const POOL = 0x80010000, POOL_PAGES = 32; // physical pages that random PTEs point at
const V_MHANDLER = handlerImage('m', 0x80000000, CODE_VA);
const V_SHANDLER = handlerImage('s', SH_VA, CODE_VA);

/** An S- or U-mode hart over random Sv32 tables and a random program in `mem`. */
function prepSv32(mem: GuestMemory, r: () => number): Hart {
  const { V, R, W, X, A: PA, D } = PTE;
  mem.u8.fill(0);
  mem.write(0x80000000, V_MHANDLER);
  const kind = (['32', '16', 'mixed'] as Kind[])[r() % 3];
  const priv = r() % 2 === 0 ? S : U;
  const pt = new Sv32(mem, ROOT, 0x80002000);
  const pool = (i: number) => POOL + (i % POOL_PAGES) * 4096;
  const randPa = (): number => {
    const k = r() % 16;
    if (k === 0) return 0x80000000 + (r() % 16) * 4096; // handler and table pages
    if (k === 1) return (r() % 0x400000) * 4096; // anywhere in the 34-bit space
    return pool(r());
  };
  const randFlags = (likely: number): number => (r() % 4 === 0 ? r() & 0xff : likely | (r() & (PA | D | PTE.G | 0x300)));
  // Code: two pages at CODE_VA, usually executable for `priv`.
  const code0 = pool(0), code1 = pool(1);
  fillProgram(mem, code0, 8192, kind, r);
  const codeFlags = V | R | X | (priv === U ? PTE.U : 0);
  pt.map(CODE_VA, code0, randFlags(codeFlags));
  pt.map(CODE_VA + 0x1000, code1, randFlags(codeFlags));
  // The S handler page (supervisor, executable) and random data pages around it.
  mem.write(pool(2), V_SHANDLER);
  pt.map(SH_VA, pool(2), V | R | X | PA);
  for (let i = 4; i < 16; i++) if (r() % 4 !== 0) pt.map(CODE_VA + i * 4096, randPa(), randFlags(V | R | W | (priv === U ? PTE.U : 0)));
  // Random leaves and pointers in other root entries, random data in the pool.
  for (let i = 0; i < 4; i++) {
    const va = ((0x101 + (r() % 8)) << 22) >>> 0;
    if (r() % 2) pt.mapSuper(va, r() % 3 === 0 ? 0x80000000 : randPa(), randFlags(V | R | W));
    else pt.map((va + (r() % 1024) * 4096) >>> 0, randPa(), randFlags(V | R | W | X));
  }
  for (let o = pool(4); o < pool(POOL_PAGES - 1) + 4096; o += 4) if (r() % 16 === 0) mem.writeU32(o, r());
  const h = new Hart(mem);
  h.mtvec = 0x80000000;
  h.stvec = SH_VA;
  h.csrWrite(SATP, pt.satp);
  h.medeleg = r() % 2 ? 0 : r() & 0xb1ff; // never ecall-from-S (keeps the S handler's own faults in M)
  h.mideleg = r() & 0x222;
  h.csrWrite(MSTATUS, (r() & ((1 << 18) | (1 << 19))) | (r() % 2 ? 1 << 1 : 0));
  for (let i = 1; i < 32; i++) {
    const k = r() % 4;
    h.regs[i] = k === 0 ? r() : k === 1 ? (CODE_VA + (r() % 0x10000)) | 0 : k === 2 ? r() % 64 : (0x80000000 + (r() % V_RAM)) | 0;
  }
  h.reset(CODE_VA + (r() % 64) * 2, priv);
  h.mcounteren = 7; // the S handler reads cycle
  return h;
}

test('fuzz: random instruction streams in S/U-mode over random Sv32 page tables', (t) => {
  const mem = new GuestMemory(V_RAM);
  const stats = newStats();
  for (const seed of seeds(1500, 7)) {
    withSeed(seed, 'Sv32', () => {
      const r = prng(seed);
      const h = prepSv32(mem, r);
      const flags = instrument(h, stats, {});
      pauseKnobs(h, r);
      drive(h, r, 600, stats, flags, { irq: r() % 2 === 0, mem });
    });
  }
  t.diagnostic(summary(stats));
  for (const c of [1, 2, 12, 13, 15]) assert.ok(stats.causes.has(c), `cause ${c} was exercised: ${summary(stats)}`);
});

// ---------------------------------------------------------------------------------------------------------
// sbiMode: an S-mode guest with everything delegated; ECALL exits to the host.

test('fuzz: random instruction streams as an sbiMode guest (S-mode, ecall → Exit.Ecall)', (t) => {
  const mem = new GuestMemory(M_RAM);
  const sBytes = handlerImage('s', 0x80000000, M_PROG);
  const stats = newStats();
  for (const seed of seeds(1000, 11)) {
    withSeed(seed, 'sbiMode', () => {
      const r = prng(seed);
      mem.u8.fill(0);
      mem.write(0x80000000, sBytes);
      fillProgram(mem, M_PROG, M_PROG_LEN, (['32', '16', 'mixed'] as Kind[])[r() % 3], r);
      const h = new Hart(mem, { sbiMode: true });
      const flags = instrument(h, stats, { sbi: true });
      h.stvec = 0x80000000;
      for (let i = 1; i < 32; i++) {
        const k = r() % 3;
        h.regs[i] = k === 0 ? r() : k === 1 ? (0x80000000 + (r() % M_RAM)) | 0 : r() % 64;
      }
      h.reset(M_PROG + (r() % 64) * 2, S);
      if (r() % 2) h.csrWrite(SIE, 0x222);
      pauseKnobs(h, r);
      drive(h, r, 600, stats, flags, { sbi: true, mem, irq: r() % 2 === 0 });
    });
  }
  t.diagnostic(summary(stats));
  assert.ok((stats.exits.get(Exit.Ecall) ?? 0) > 0, `some programs made SBI calls: ${summary(stats)}`);
});

// ---------------------------------------------------------------------------------------------------------
// Slicing independence: the same program run with one budget or sliced into many runs ends in the same state.

const CSR_SNAPSHOT = [SSTATUS, SIE, 0x105, 0x106, SSCRATCH, SEPC, SCAUSE, 0x143, 0x144, SATP, MSTATUS, 0x302, 0x303, MIE, 0x305,
  0x306, MSCRATCH, MEPC, MCAUSE, 0x343, 0x344, MCYCLE, 0xb80, 0xb02, 0xb82];

function snapshot(h: Hart, mem: GuestMemory): string {
  const csrs = CSR_SNAPSHOT.map((c) => `${c.toString(16)}=${((h.csrRead(c) ?? 0) >>> 0).toString(16)}`).join(' ');
  let hash = 0x811c9dc5;
  for (let i = 0; i < mem.i32.length; i++) hash = Math.imul(hash ^ mem.i32[i], 0x01000193);
  return `pc=${(h.pc >>> 0).toString(16)} priv=${h.priv} instret=${h.instret} regs=${Array.from(h.regs.subarray(0, 32)).join(',')} ${csrs} mem=${(hash >>> 0).toString(16)}`;
}

test('fuzz: execution does not depend on how the budget is sliced into runs', (t) => {
  const memA = new GuestMemory(V_RAM), memB = new GuestMemory(V_RAM);
  const mA = new GuestMemory(M_RAM), mB = new GuestMemory(M_RAM);
  let compared = 0, skipped = 0;
  for (const seed of seeds(600, 13)) {
    withSeed(seed, 'slicing', () => {
      const sv = seed % 2 === 0;
      const [ma, mb] = sv ? [memA, memB] : [mA, mB];
      const kind = (['32', '16', 'mixed'] as Kind[])[seed % 3];
      const a = sv ? prepSv32(ma, prng(seed)) : prepM(ma, prng(seed), kind);
      const b = sv ? prepSv32(mb, prng(seed)) : prepM(mb, prng(seed), kind);
      const total = 800;
      // A: one run. B: random slices. An early exit (WFI, PAUSE, trap loop) ends the comparison for this program.
      if (a.run(total) !== Exit.Budget) { skipped++; return; }
      const r = prng(seed ^ 0x5a5a5a5a);
      let left = total;
      while (left > 0) {
        const n = Math.min(left, 1 + (r() % 40));
        if (b.run(n) !== Exit.Budget) { skipped++; return; }
        left -= n;
      }
      assert.equal(snapshot(b, mb), snapshot(a, ma));
      compared++;
    });
  }
  t.diagnostic(`${compared} programs compared, ${skipped} skipped (early exit)`);
  assert.ok(compared > skipped, 'most programs were compared');
});

// ---------------------------------------------------------------------------------------------------------
// Sanity: the checks themselves catch a broken engine (guards against a vacuous fuzz).

test('fuzz harness: an injected non-architectural cause is reported', () => {
  const mem = new GuestMemory(M_RAM);
  mem.writeU32(0x80000000, A.jal(0, 0));
  mem.writeU32(0x80000100, 0xffffffff);
  const h = new Hart(mem);
  const stats = newStats();
  instrument(h, stats, {});
  h.mtvec = 0x80000000;
  h.reset(0x80000100, M);
  assert.throws(() => h.raise(10, 0), /non-architectural exception cause 10/);
  assert.throws(() => h.raise(14, 0), /non-architectural exception cause 14/);
  h.run(5);
  assert.equal(stats.causes.get(2), 1);
});

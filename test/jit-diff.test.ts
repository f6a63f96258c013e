/**
 * Differential tests of the translating engine against the interpreter (the reference).
 *
 * Two harts over two copies of the same RAM image, one with `engine: 'interp'`, one with `engine: 'jit'` and a
 * threshold of 1-4 dispatches (so nearly everything gets translated at once), are driven through the same
 * sequence of `run(budget)` calls with random budgets, the same host-raised interrupts and the same MMIO device.
 * After every call they must agree on the exit code, pc, privilege, instret, every register, a set of CSRs, the
 * sequence of traps (cause, epc, tval) and of MMIO accesses, and a hash of RAM.
 *
 * Programs: (1) structured random programs: a main loop calling loop functions spread over several pages, whose
 * bodies mix ALU, M, compressed, load/store (aligned, misaligned, MMIO, outside RAM), forward branches, CSR
 * reads of the counters, ECALL/EBREAK/illegal instructions, WFI, PAUSE, FENCE.I and self-modifying stores that
 * patch instructions of the same function or of one on another page; run in M-mode, and in S/U-mode over Sv32
 * with the code mapped twice (an alias) and random permissions on the data pages. (2) Random instruction streams
 * (as in cpu-fuzz). The trap handler (M-mode) skips a faulting instruction (reading its length through MPRV),
 * restarts the program after a fetch fault and silences interrupts.
 *
 * Seeds are reproducible: HARTVISOR_JIT_SEED sets the base seed, HARTVISOR_JIT_SCALE multiplies the program count.
 * The translator's back end is WebAssembly, and what it does not translate runs in the interpreter in WebAssembly
 * (interp-wasm.ts) before the JavaScript one; jit-diff-js.test.ts runs the same tests over the JavaScript back end and
 * the JavaScript interpreter alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/cpu/memory.js';
import { Exit, Hart, HartOptions, Mmio } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';
import { Asm, PTE, Sv32 } from './helpers/asm.js';

const BASE_SEED = Number(process.env.HARTVISOR_JIT_SEED ?? 0x1badb002) >>> 0;
const SCALE = Number(process.env.HARTVISOR_JIT_SCALE ?? 1);
const U = 0, S = 1, M = 3;
const RAM = 64 * 1024;
const RAM_BASE = 0x80000000;
const MMIO_PA = 0x10000000;
/** The back end under test (jit-diff-js.test.ts sets 'js' before importing this file). */
const BACK_END: 'wasm' | 'js' = process.env.HARTVISOR_JIT_BACKEND === 'js' ? 'js' : 'wasm';
/** Whether the 'jit' hart interprets through WebAssembly first (jit-diff-js.test.ts turns that off too). */
const WASM_INTERP = process.env.HARTVISOR_WASM_INTERP !== '0';

// CSRs compared after every run.
const CSRS = [0x100, 0x104, 0x105, 0x140, 0x141, 0x142, 0x143, 0x144, 0x180, 0x300, 0x302, 0x303, 0x304, 0x305, 0x340,
  0x341, 0x342, 0x343, 0x344, 0xb00, 0xb80, 0xb02, 0xb82];

/** xorshift32. */
function prng(seed: number): () => number {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const next = (): number => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let i = 0; i < 8; i++) next();
  return next;
}

function seeds(n: number, salt: number): number[] {
  const out: number[] = [];
  const count = Math.max(1, Math.round(n * SCALE));
  for (let i = 0; i < count; i++) out.push((BASE_SEED + Math.imul(i + salt * 7919, 0x9e3779b1)) >>> 0);
  return out;
}

/** A small deterministic MMIO device at MMIO_PA (one page) that logs every access; elsewhere: access fault. */
class LogDevice implements Mmio {
  readonly log: string[] = [];
  private n = 0;
  read(pa: number, size: 1 | 2 | 4): number | undefined {
    if ((pa >>> 12) !== MMIO_PA >>> 12) return undefined;
    this.n++;
    this.log.push(`r${size}@${(pa >>> 0).toString(16)}`);
    const v = Math.imul(pa ^ this.n, 0x45d9f3b) >>> 0;
    return size === 4 ? v : size === 2 ? v & 0xffff : v & 0xff;
  }
  write(pa: number, size: 1 | 2 | 4, value: number): boolean {
    if ((pa >>> 12) !== MMIO_PA >>> 12) return false;
    this.log.push(`w${size}@${(pa >>> 0).toString(16)}=${(value >>> 0).toString(16)}`);
    return true;
  }
}

/** A hart plus what the comparison looks at. */
interface Side { h: Hart; mem: GuestMemory; dev: LogDevice; traps: string[] }

function makeSide(image: Uint8Array, engine: 'jit' | 'interp', threshold: number, setup: (h: Hart) => void): Side {
  const mem = new GuestMemory(RAM);
  mem.u8.set(image);
  const dev = new LogDevice();
  const opts: HartOptions = { engine, mmio: dev, jitThreshold: threshold, jitBackEnd: BACK_END };
  const h = new Hart(mem, opts);
  if (engine === 'jit') {
    assert.equal(h.translator!.wasm, BACK_END === 'wasm', `regions are compiled to ${BACK_END}`);
    assert.equal(h.wasmInterpreting, WASM_INTERP, `the interpreter in WebAssembly is ${WASM_INTERP ? 'on' : 'off'}`);
  }
  const traps: string[] = [];
  const raise = h.raise.bind(h);
  h.raise = (cause: number, tval: number): void => { traps.push(`${cause}@${(h.pc >>> 0).toString(16)}:${(tval >>> 0).toString(16)}`); raise(cause, tval); };
  const check = h.checkInterrupts.bind(h);
  h.checkInterrupts = (): boolean => {
    const pc = h.pc;
    const taken = check();
    if (taken) traps.push(`irq@${(pc >>> 0).toString(16)}:${((h.priv === M ? h.mcause : h.scause) >>> 0).toString(16)}`);
    return taken;
  };
  setup(h);
  return { h, mem, dev, traps };
}

function ramHash(mem: GuestMemory): number {
  let hash = 0x811c9dc5;
  const w = mem.i32;
  for (let i = 0; i < w.length; i++) hash = Math.imul(hash ^ w[i], 0x01000193);
  return hash >>> 0;
}

function state(s: Side): string {
  const h = s.h;
  const csrs = CSRS.map((c) => ((h.csrRead(c) ?? 0) >>> 0).toString(16)).join(',');
  return `pc=${(h.pc >>> 0).toString(16)} priv=${h.priv} instret=${h.instret} regs=${Array.from(h.regs.subarray(0, 32)).join(',')} csrs=${csrs}`;
}

/** Totals over a test, to show the comparison was not vacuous. */
interface Tally { programs: number; runs: number; retired: number; regions: number; translated: number; traps: number; mmio: number; exits: Map<number, number> }
const newTally = (): Tally => ({ programs: 0, runs: 0, retired: 0, regions: 0, translated: 0, traps: 0, mmio: 0, exits: new Map() });
const describe = (t: Tally): string => `back end ${BACK_END}: ${t.programs} programs, ${t.runs} runs, ${t.retired} instructions retired, ${t.regions} regions ` +
  `(${t.translated} instructions translated), ${t.traps} traps, ${t.mmio} MMIO accesses; exits ${[...t.exits].map(([k, v]) => `${k}:${v}`).join(' ')}`;

/**
 * Runs both sides through `total` instructions of random budgets (and random host interrupts when `irq`),
 * comparing after every run. Returns early (still compared) on a trap loop.
 */
function compare(a: Side, b: Side, r: () => number, total: number, tally: Tally, irq: boolean, maxBudget = 400): void {
  let done = 0, run = 0;
  while (done < total) {
    const budget = 1 + (r() % maxBudget);
    if (irq && r() % 8 === 0) {
      const bits = r() & 0xaaa;
      for (const s of [a, b]) { s.h.mip = bits; if (bits !== 0) s.h.mie = bits; }
    }
    const ea = a.h.run(budget);
    const eb = b.h.run(budget);
    run++;
    const where = `run ${run} (budget ${budget})`;
    assert.equal(eb, ea, `${where}: exit code`);
    assert.equal(state(b), state(a), `${where}: state`);
    assert.deepEqual(b.traps, a.traps, `${where}: traps`);
    assert.deepEqual(b.dev.log, a.dev.log, `${where}: MMIO accesses`);
    assert.equal(ramHash(b.mem), ramHash(a.mem), `${where}: RAM`);
    tally.exits.set(ea, (tally.exits.get(ea) ?? 0) + 1);
    if (ea === Exit.TrapLoop) break;
    done += budget;
  }
  tally.programs++;
  tally.runs += run;
  tally.retired += a.h.instret;
  tally.regions += b.h.jitStats!.regions;
  tally.translated += b.h.jitStats!.instructions;
  tally.traps += a.traps.length;
  tally.mmio += a.dev.log.length;
}

/**
 * A translation threshold: mostly tiny (below 8, every pc the run loop sees is translated, loops or not), else a
 * small loop count (the default policy: loop heads only, after that many iterations), or one never reached (all
 * code runs in the interpreter in WebAssembly, or the JavaScript one: interp-wasm.ts).
 */
function pickThreshold(r: () => number): number {
  return r() % 3 === 0 ? [8, 16, 40, 1 << 30][r() % 4] : 1 + (r() % 3);
}

function withSeed(seed: number, what: string, body: () => void): void {
  try { body(); } catch (e) {
    const err = new Error(`${what}: failed for seed 0x${seed.toString(16)} (rerun: HARTVISOR_JIT_SEED=${seed} HARTVISOR_JIT_SCALE=0.0001)\n${(e as Error).message}`);
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
}

// -------------------------------------------------------------------------------------------------------------
// Structured random programs.

// Registers: x8 data base, x9 main-loop counter, x18 function loop counter, x1 return address, x3 MMIO pointer,
// x4 patch address, x29-x31 the trap handler's. Random instructions write the pool only.
const POOL = [2, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28];
const CPOOL = [10, 11, 12, 13, 14, 15]; // compressed rd'
const HANDLER_PA = RAM_BASE;
const CODE_OFF = 0x5000, CODE_PAGES = 7, DATA_OFF = 0xc000; // page tables at 0x1000-0x4fff

interface Layout {
  /** Virtual address of RAM offset 0 for code and data, of the code alias (or null), and of the MMIO page. */
  vbase: number; alias: number | null; mmio: number;
}

/** The M-mode trap handler at RAM offset 0 (physical): see the file comment. `restart` is the program's start (virtual). */
function handler(restart: number): Uint8Array {
  const p = new Asm(HANDLER_PA);
  p.w(A.csrr(31, 0x342)); // mcause
  p.w((pc, L) => A.blt(31, 0, L('intr') - pc));
  p.w(A.addi(30, 31, -1), (pc, L) => A.beq(30, 0, L('restart') - pc));
  p.w(A.addi(30, 31, -12), (pc, L) => A.beq(30, 0, L('restart') - pc));
  p.w(A.csrr(31, 0x341)); // mepc
  p.w(A.lui(29, 0x20), A.csrs(0x300, 29)); // MPRV: read the instruction as the trapped mode would
  p.w(A.lhu(30, 31, 0), A.csrc(0x300, 29));
  p.w(A.andi(30, 30, 3), A.addi(30, 30, -3), A.addi(31, 31, 2));
  p.w((pc, L) => A.bne(30, 0, L('skip') - pc), A.addi(31, 31, 2));
  p.label('skip').w(A.csrw(0x341, 31), A.mret());
  p.label('restart').li(31, restart).w(A.csrw(0x341, 31), A.mret());
  p.label('intr').w(A.csrw(0x304, 0), A.mret());
  return p.bytes();
}

/** Emits a random body instruction (or a few) into `p`. `slots` are patchable instructions (labels). */
function randomInst(p: Asm, r: () => number, lay: Layout, slots: string[], fresh: () => string): void {
  const rd = (): number => POOL[r() % POOL.length];
  const rs = (): number => (r() % 6 === 0 ? [0, 8, 9, 18][r() % 4] : POOL[r() % POOL.length]);
  const imm12 = (): number => ((r() % 4096) - 2048);
  const k = r() % 100;
  if (k < 30) {
    const ops = [A.add, A.sub, A.sll, A.slt, A.sltu, A.xor, A.srl, A.sra, A.or, A.and, A.mul, A.mulh, A.mulhsu, A.mulhu, A.div, A.divu, A.rem, A.remu];
    p.w(ops[r() % ops.length](rd(), rs(), rs()));
  } else if (k < 45) {
    const ops = [A.addi, A.slti, A.sltiu, A.xori, A.ori, A.andi];
    if (r() % 4 === 0) p.w([A.slli, A.srli, A.srai][r() % 3](rd(), rs(), r() % 32));
    else p.w(ops[r() % ops.length](rd(), rs(), imm12()));
  } else if (k < 50) {
    p.w(r() & 1 ? A.lui(rd(), r() & 0xfffff) : A.auipc(rd(), r() & 0xfffff));
  } else if (k < 58) {
    const c = CPOOL[r() % CPOOL.length], c2 = 8 + (r() % 8);
    const forms = [
      () => A.cAddi(c, (r() % 63) - 31 || 1), () => A.cLi(c, (r() % 63) - 31), () => A.cMv(c, c2), () => A.cAdd(c, c2),
      () => A.cSlli(c, 1 + (r() % 31)), () => A.cSrli(c, r() % 32), () => A.cSrai(c, r() % 32), () => A.cAndi(c, (r() % 63) - 31),
      () => A.cSub(c, c2), () => A.cXor(c, c2), () => A.cOr(c, c2), () => A.cAnd(c, c2),
      () => A.cLw(c, 8, (r() % 32) * 4), () => A.cSw(c2, 8, (r() % 32) * 4),
    ];
    p.h(forms[r() % forms.length]());
  } else if (k < 78) {
    // Loads and stores off the data base: mostly aligned, some misaligned.
    const size = [1, 2, 4][r() % 3];
    let off = (r() % 1024) - 512;
    off = r() % 8 === 0 ? off : off & -size;
    const loads = size === 1 ? [A.lb, A.lbu] : size === 2 ? [A.lh, A.lhu] : [A.lw];
    if (r() & 1) p.w(loads[r() % loads.length](rd(), 8, off));
    else p.w((size === 1 ? A.sb : size === 2 ? A.sh : A.sw)(rs(), 8, off));
  } else if (k < 82) {
    // MMIO, or anywhere (a pool register as the base: likely an access fault).
    const size = [1, 2, 4][r() % 3];
    const base = r() % 3 === 0 ? rs() : 3;
    const off = (r() % 64) & -size;
    const loads = size === 1 ? [A.lb, A.lbu] : size === 2 ? [A.lh, A.lhu] : [A.lw];
    if (r() & 1) p.w(loads[r() % loads.length](rd(), base, off));
    else p.w((size === 1 ? A.sb : size === 2 ? A.sh : A.sw)(rs(), base, off));
  } else if (k < 88) {
    // A forward branch over 1-4 instructions.
    const l = fresh();
    const ops = [A.beq, A.bne, A.blt, A.bge, A.bltu, A.bgeu];
    const op = ops[r() % ops.length];
    const x = rs(), y = rs();
    p.w((pc, L) => op(x, y, L(l) - pc));
    const n = 1 + (r() % 4);
    for (let i = 0; i < n; i++) p.w(A.addi(rd(), rs(), imm12()));
    p.label(l);
  } else if (k < 92) {
    // Self-modifying code: write a new `addi` over a patch slot (here or on another page), maybe with fence.i.
    if (slots.length === 0) { p.w(A.nop()); return; }
    const slot = slots[r() % slots.length];
    const v = rd();
    p.li(5, A.addi(v, v, imm12())).la(4, slot).w(A.sw(5, 4, 0));
    if (r() & 1) p.w(A.fenceI());
  } else if (k < 96 && r() % 2 === 0) {
    // Atomics off the data base (a word, sometimes misaligned or MMIO: faults), an LR/SC pair around a store to
    // the same word or not, and SFENCE.VMA of one page or of everything.
    const t = 5, off = ((r() % 256) - 128) * 4 + (r() % 8 === 0 ? 2 : 0);
    p.w(A.addi(t, r() % 8 === 0 ? 3 : 8, off));
    const f = r() % 4;
    if (f === 0) {
      const ops = [A.AMO.add, A.AMO.swap, A.AMO.xor, A.AMO.or, A.AMO.and, A.AMO.min, A.AMO.maxu];
      p.w(A.amo(ops[r() % ops.length], rd(), t, rs()));
    } else if (f === 1) {
      p.w(A.lrW(rd(), t));
      if (r() & 1) p.w(A.sw(rs(), r() & 1 ? t : 8, 0));
      if (r() & 1) p.w(A.amo(A.AMO.add, rd(), t, rs()));
      p.w(A.scW(rd(), t, rs()));
    } else if (f === 2) {
      p.w(A.scW(rd(), t, rs()));
    } else {
      p.w(A.sfenceVma(r() % 4 === 0 ? 0 : t, 0));
    }
  } else if (k < 96) {
    const forms = [
      () => A.csrr(rd(), 0xb02), () => A.csrr(rd(), 0xb00), () => A.csrr(rd(), 0xc02), () => A.csrw(0x340, rs()), () => A.csrr(rd(), 0x340),
      () => A.fence(), () => A.fenceI(), () => A.pause(),
      // sstatus: SIE alone (the WebAssembly interpreter's own path in S-mode), or other bits too (JavaScript's).
      () => A.csrrci(rd(), 0x100, 2), () => A.csrrsi(rd(), 0x100, 2), () => A.csrrs(rd(), 0x100, rs()),
      () => A.csrrc(r() % 2 ? 0 : rd(), 0x100, rs()), () => A.csrrw(r() % 2 ? 0 : rd(), 0x100, rs()),
    ];
    p.w(forms[r() % forms.length]());
  } else {
    const forms = [A.ecall, A.ebreak, () => 0xffffffff, A.wfi, () => A.csrr(rd(), 0x7c0) /* no such CSR */];
    p.w(forms[r() % forms.length]());
  }
}

/** A structured program image (RAM offset 0 up) for a layout, and its start address. */
function structured(r: () => number, lay: Layout): { image: Uint8Array; start: number } {
  const image = new Uint8Array(RAM);
  for (let o = DATA_OFF; o < RAM; o++) image[o] = r();
  const nfun = 2 + (r() % 5);
  const code = new Asm(lay.vbase + CODE_OFF);
  let labels = 0;
  const fresh = (): string => `l${labels++}`;
  // Patch slots are placed first (their labels are needed by stores anywhere): one per function.
  const slots = Array.from({ length: nfun }, (_, i) => `slot${i}`);
  code.label('start');
  code.li(8, lay.vbase + DATA_OFF + 0x1000).li(3, lay.mmio + (r() % 16) * 4);
  code.label('main').li(9, 3 + (r() % 6));
  code.label('mloop');
  for (let i = 0; i < 2 + (r() % 4); i++) {
    const f = r() % nfun;
    if (lay.alias !== null && r() % 3 === 0) {
      // Call the function through its alias mapping.
      code.w((_pc, L) => A.lui(5, (((L(`f${f}`) - lay.vbase + lay.alias!) + 0x800) >>> 12) & 0xfffff));
      code.w((_pc, L) => A.addi(5, 5, (((L(`f${f}`) - lay.vbase + lay.alias!) << 20) >> 20)));
      code.w(A.jalr(1, 5, 0));
    } else {
      code.w((pc, L) => A.jal(1, L(`f${f}`) - pc));
    }
  }
  code.w(A.addi(9, 9, -1), (pc, L) => A.bne(9, 0, L('mloop') - pc));
  code.w((pc, L) => A.jal(0, L('main') - pc));
  // Functions, spread over the code pages.
  for (let f = 0; f < nfun; f++) {
    const at = lay.vbase + CODE_OFF + (Math.floor(f * CODE_PAGES * 4096 / nfun) & ~3) + (r() % 256) * 4;
    if (Math.max(code.here, at) + 1024 >= lay.vbase + CODE_OFF + CODE_PAGES * 4096) break;
    code.org(Math.max(code.here, at));
    code.label(`f${f}`).li(18, 2 + (r() % 30));
    code.label(`f${f}loop`);
    const n = 2 + (r() % 24);
    for (let i = 0; i < n; i++) {
      if (i === (n >> 1)) code.label(slots[f]).w(A.addi(POOL[r() % POOL.length], POOL[r() % POOL.length], 1));
      randomInst(code, r, lay, slots, fresh);
    }
    code.w(A.addi(18, 18, -1), (pc, L) => A.bne(18, 0, L(`f${f}loop`) - pc));
    code.w(A.jalr(0, 1, 0));
  }
  // Functions that did not fit have no slot: point their labels at a plain `ret`.
  for (let f = 0; f < nfun; f++) {
    try { code.addr(`f${f}`); } catch { code.label(`f${f}`).label(slots[f]).w(A.jalr(0, 1, 0)); }
  }
  const bytes = code.bytes();
  image.set(bytes, CODE_OFF);
  const start = code.addr('start');
  image.set(handler(start), 0);
  return { image, start };
}

test('jit vs interpreter: structured random programs in M-mode', (t) => {
  const tally = newTally();
  for (const seed of seeds(60, 1)) {
    withSeed(seed, 'M-mode', () => {
      const r = prng(seed);
      const lay: Layout = { vbase: RAM_BASE, alias: null, mmio: MMIO_PA };
      const { image, start } = structured(r, lay);
      const threshold = pickThreshold(r);
      const pleGap = r() % 2 ? 0 : 1 + (r() % 16), exitOnPause = r() % 8 === 0, pleWindow = r() % 2 ? 4096 : 1 + (r() % 300);
      const setup = (h: Hart): void => {
        h.mtvec = HANDLER_PA;
        h.pleGap = pleGap; h.exitOnPause = exitOnPause; h.pleWindow = pleWindow;
        h.csrWrite(0x300, 1 << 3); // MIE: host interrupts are taken
        h.reset(start, M);
      };
      compare(makeSide(image, 'interp', threshold, setup), makeSide(image, 'jit', threshold, setup), r, 12000, tally, r() % 2 === 0);
    });
  }
  t.diagnostic(describe(tally));
  assert.ok(tally.regions > tally.programs, `regions were translated: ${describe(tally)}`);
  assert.ok(tally.traps > 0 && tally.mmio > 0, describe(tally));
});

/** Sv32 tables for the structured layout: code at vbase and alias (R+X, +U for U-mode), data with random permissions. */
function sv32Setup(mem: GuestMemory, r: () => number, lay: Layout, priv: number): number {
  const { V, R, W, X, A: PA, D } = PTE;
  const u = priv === U ? PTE.U : 0;
  const pt = new Sv32(mem, RAM_BASE + 0x1000, RAM_BASE + 0x2000);
  for (let i = 0; i < CODE_PAGES; i++) {
    const pa = RAM_BASE + CODE_OFF + i * 4096;
    pt.map(lay.vbase + CODE_OFF + i * 4096, pa, V | R | X | u | (r() % 2 ? PA : 0));
    pt.map(lay.alias! + CODE_OFF + i * 4096, pa, V | R | X | u | PA);
  }
  for (let i = 0; i < 4; i++) {
    const flags = r() % 3 === 0 ? (r() & 0xff) | V : V | R | W | u | (r() % 2 ? PA | D : 0);
    pt.map(lay.vbase + DATA_OFF + i * 4096, RAM_BASE + DATA_OFF + i * 4096, flags);
  }
  pt.map(lay.mmio, MMIO_PA, V | R | W | u | PA | D);
  return pt.satp;
}

test('jit vs interpreter: structured random programs in S/U-mode over Sv32, code mapped twice', (t) => {
  const tally = newTally();
  for (const seed of seeds(50, 2)) {
    withSeed(seed, 'Sv32', () => {
      const r = prng(seed);
      const lay: Layout = { vbase: 0x40000000, alias: 0x48000000, mmio: 0x50000000 };
      const { image, start } = structured(r, lay);
      const priv = r() % 2 ? S : U;
      const threshold = pickThreshold(r);
      // Page tables are built into a scratch copy of the image once, then both sides load it.
      const scratch = new GuestMemory(RAM);
      scratch.u8.set(image);
      const satp = sv32Setup(scratch, r, lay, priv);
      const img = scratch.u8.slice();
      const sum = r() % 4 === 0 ? 1 << 18 : 0;
      const setup = (h: Hart): void => {
        h.mtvec = HANDLER_PA;
        h.csrWrite(0x180, satp);
        h.csrWrite(0x300, (1 << 3) | sum);
        h.reset(start, priv);
      };
      const a = makeSide(img, 'interp', threshold, setup);
      const b = makeSide(img, 'jit', threshold, setup);
      compare(a, b, r, 12000, tally, r() % 2 === 0);
    });
  }
  t.diagnostic(describe(tally));
  assert.ok(tally.regions > tally.programs, `regions were translated: ${describe(tally)}`);
});

test('jit vs interpreter: the S-mode CSRs Linux uses most (sstatus.SIE, trap CSRs, time), with interrupts arriving', (t) => {
  // The WebAssembly interpreter runs these itself (interp-wasm.ts); a write that sets SIE while an interrupt is
  // pending and enabled, and a time read that raises the timer interrupt, must be left to JavaScript, which takes
  // the interrupt after the instruction (as hart.ts does). The clock is the same on both sides and steps between runs.
  let ssi = 0, sti = 0, programs = 0;
  for (const seed of seeds(40, 3)) {
    withSeed(seed, 'S-mode CSRs', () => {
      const r = prng(seed);
      // The S-mode handler at RAM_BASE counts in x20, clears SSIP, turns STIE off and returns; the program loops over
      // random CSR instructions (x21: a saved sstatus, x27: the SIE bit, x28: SUM, x29: STIE) and a few ALU ones.
      const p = new Asm(RAM_BASE);
      p.w(A.addi(20, 20, 1), A.csrrci(0, 0x144, 2), A.csrrc(0, 0x104, 29), A.sret());
      const start = RAM_BASE + 0x100;
      const q = new Asm(start);
      q.li(27, 2).li(28, 1 << 18).li(29, 1 << 5);
      q.label('loop');
      const sie = [
        () => A.csrrci(21, 0x100, 2), () => A.csrrs(0, 0x100, 21), () => A.csrrw(0, 0x100, 21), () => A.csrrsi(22, 0x100, 2),
        () => A.csrrc(23, 0x100, 27), () => A.csrrs(24, 0x100, 0), () => A.csrrsi(0, 0x100, 0),
      ];
      const other = [
        () => A.csrrs(0, 0x100, 28), () => A.csrrc(0, 0x100, 28), () => A.addi(25, 25, 1), () => A.xor(26, 25, 21),
        () => A.csrr(24, 0xc01), () => A.csrr(25, 0xc81), () => A.csrrsi(0, 0xc01, 0), () => A.csrrc(26, 0xc81, 0),
        () => A.csrrw(22, 0x140, 25), () => A.csrr(23, 0x140), () => A.csrrw(0, 0x141, 25), () => A.csrr(22, 0x141),
        () => A.csrrs(23, 0x142, 27), () => A.csrrc(24, 0x143, 21), () => A.csrrwi(0, 0x143, 7), () => A.csrrsi(26, 0x140, 5),
      ];
      for (let i = 0; i < 24; i++) q.w(i % 3 === 0 ? sie[r() % sie.length]() : other[r() % other.length]());
      q.w((pc, L) => A.jal(0, L('loop') - pc));
      const image = new Uint8Array(RAM);
      image.set(p.bytes(), 0);
      image.set(q.bytes(), 0x100);
      let now = 1000 + (r() % 100000);
      const setup = (h: Hart): void => {
        h.csrWrite(0x303, (1 << 1) | (1 << 5)); // mideleg: SSI, STI
        h.csrWrite(0x304, (1 << 1) | (1 << 5)); // mie: SSIE, STIE
        h.csrWrite(0x105, RAM_BASE); // stvec
        h.csrWrite(0x306, 2); // mcounteren: time
        h.clock = () => now;
        h.reset(start, S);
      };
      const threshold = pickThreshold(r);
      const a = makeSide(image, 'interp', threshold, setup);
      const b = makeSide(image, 'jit', threshold, setup);
      for (let k = 0; k < 200; k++) {
        now += 1 + (r() % 5000);
        const ipi = r() % 3 === 0, timer = r() % 4 === 0, cmp = now + (r() % 3000);
        for (const s of [a, b]) {
          if (ipi) s.h.mip |= 1 << 1;
          // As the executor's SBI set_timer does: a new deadline, the pending bit cleared; STIE back on.
          if (timer) { s.h.timerCmp = cmp; s.h.mip &= ~(1 << 5); s.h.mie |= 1 << 5; }
        }
        compare(a, b, r, 1, newTally(), false, 80);
      }
      ssi += a.traps.filter((x) => x.startsWith('irq@') && x.endsWith(':80000001')).length;
      sti += a.traps.filter((x) => x.startsWith('irq@') && x.endsWith(':80000005')).length;
      programs++;
    });
  }
  t.diagnostic(`${programs} programs, 200 runs each; interrupts taken: ${ssi} software, ${sti} timer`);
  assert.ok(ssi > 100 && sti > 100, `interrupts were taken between the CSR instructions: ${ssi} software, ${sti} timer`);
});

test('jit vs interpreter: pause-loop exits of a spin on a lock word, PAUSE in either interpreter', (t) => {
  // A ticket-lock-like spin (load, compare, PAUSE, a few more instructions) that the host releases after a while,
  // with random PLE settings and budgets: Exit.Pause at the same instruction on both sides, in JavaScript (engine
  // 'interp') and in the WebAssembly interpreter (engine 'jit': regions stop before PAUSE).
  let pauses = 0, programs = 0;
  for (const seed of seeds(40, 4)) {
    withSeed(seed, 'PLE', () => {
      const r = prng(seed);
      const lock = RAM_BASE + 0x8000;
      const p = new Asm(RAM_BASE + 0x100);
      p.li(10, lock);
      p.label('spin').w(A.lw(5, 10, 0), (pc, L) => A.bne(5, 0, L('got') - pc), A.pause());
      for (let i = r() % 4; i > 0; i--) p.w(A.addi(6, 6, 1));
      p.w((pc, L) => A.jal(0, L('spin') - pc));
      p.label('got').w(A.addi(7, 7, 1), A.sw(0, 10, 0)).w((pc, L) => A.jal(0, L('spin') - pc));
      const image = new Uint8Array(RAM);
      image.set(p.bytes(), 0x100);
      const gap = r() % 4 === 0 ? 0 : 1 + (r() % 40), win = 1 + (r() % 400), every = r() % 10 === 0;
      const setup = (h: Hart): void => { h.pleGap = gap; h.pleWindow = win; h.exitOnPause = every; h.reset(RAM_BASE + 0x100, M); };
      const a = makeSide(image, 'interp', pickThreshold(r), setup);
      const b = makeSide(image, 'jit', 8, setup);
      for (let k = 0; k < 150; k++) {
        if (r() % 5 === 0) for (const s of [a, b]) s.mem.writeU32(lock, 1); // the lock is released
        compare(a, b, r, 1, newTally(), false, 300);
        assert.equal(b.h.pauses, a.h.pauses, `run ${k}: PAUSEs counted`);
      }
      pauses += a.h.pauses;
      programs++;
    });
  }
  t.diagnostic(`${programs} programs, 150 runs each; ${pauses} PAUSEs`);
  assert.ok(pauses > 10000, `the spins ran: ${pauses} PAUSEs`);
});

test('jit vs interpreter: a 32-bit instruction straddling two pages, its upper half rewritten between runs', (t) => {
  // The WebAssembly interpreter keeps a straddling instruction's decoding beside its page and checks the next
  // page's half at every execution (hart.ts STRADDLE_WORD); the JavaScript one decodes it every time. The host
  // rewrites the upper half (the immediate of an ADDI, or a JAL's offset) now and then, with no fence: both sides
  // must run what memory holds.
  let programs = 0, rewrites = 0;
  for (const seed of seeds(30, 5)) {
    withSeed(seed, 'straddle', () => {
      const r = prng(seed);
      const edge = RAM_BASE + 0x2000; // a page boundary
      const p = new Asm(edge - 16);
      const jal = r() % 2 === 0;
      p.label('loop').w(A.addi(6, 6, 1), A.addi(7, 7, 3), A.xor(8, 6, 7));
      p.h(A.cAddi(9, 1)); // (compressed: the next instruction starts 2 bytes before the boundary)
      p.w(jal ? A.jal(1, 0x200) : A.addi(5, 5, 17)); // at edge - 2: straddles
      p.w((pc, L) => A.jal(0, L('loop') - pc));
      const image = new Uint8Array(RAM);
      image.set(p.bytes(), edge - 16 - RAM_BASE);
      if (jal) { // the callee, and where a rewritten offset may land: returns
        // (offsets below 0x1000: the lower half, which holds offset bits 15:12, stays right)
        for (let k = 0; k < 8; k++) {
          const q = new Asm(edge - 2 + 0x200 + 0x100 * k);
          q.w(A.addi(10, 10, k + 1), A.jalr(0, 1, 0));
          image.set(q.bytes(), edge - 2 + 0x200 + 0x100 * k - RAM_BASE);
        }
      }
      const setup = (h: Hart): void => { h.reset(edge - 16, M); };
      const a = makeSide(image, 'interp', pickThreshold(r), setup);
      const b = makeSide(image, 'jit', pickThreshold(r), setup);
      for (let k = 0; k < 120; k++) {
        if (r() % 6 === 0) {
          const word = jal ? A.jal(1, 0x200 + 0x100 * (r() % 8)) : A.addi(5, 5, (r() % 2048) - 1024);
          for (const s of [a, b]) s.mem.u16[(edge - RAM_BASE) >> 1] = word >>> 16;
          rewrites++;
        }
        compare(a, b, r, 1, newTally(), false, 200);
      }
      programs++;
    });
  }
  t.diagnostic(`${programs} programs, 120 runs each; ${rewrites} rewrites of the upper half`);
});

// -------------------------------------------------------------------------------------------------------------
// Random instruction streams.

const OPCODES32 = [0x03, 0x0f, 0x13, 0x17, 0x23, 0x2f, 0x33, 0x37, 0x63, 0x67, 0x6f, 0x73];
function randWord(r: () => number): number {
  let w = r();
  if (r() % 10 < 8) w = (w & ~0x7f) | OPCODES32[r() % OPCODES32.length]; else w |= 3;
  const op = w & 0x7f;
  if (r() % 4 !== 0) {
    if (op === 0x33) w = (w & 0x01ffffff) | ([0x00, 0x20, 0x01][r() % 3] << 25);
    else if (op === 0x03) w = (w & ~0x7000) | ([0, 1, 2, 4, 5][r() % 5] << 12);
    else if (op === 0x23) w = (w & ~0x7000) | ((r() % 3) << 12);
    else if (op === 0x63) { w = (w & ~0x7000) | ([0, 1, 4, 5, 6, 7][r() % 6] << 12); if (r() & 1) w = A.bne((w >>> 15) & 31, (w >>> 20) & 31, -2 * (1 + (r() % 32))); }
    else if (op === 0x6f && (r() & 1)) w = A.jal((w >>> 7) & 31, ((r() % 512) - 256) * 2);
    else if (op === 0x67) w &= ~0x7000;
  }
  return w >>> 0;
}

test('jit vs interpreter: random instruction streams (M-mode), including backward branches', (t) => {
  const tally = newTally();
  for (const seed of seeds(150, 3)) {
    withSeed(seed, 'random stream', () => {
      const r = prng(seed);
      const image = new Uint8Array(RAM);
      const prog = 0x2000, len = 0x2000;
      for (let o = prog; o < prog + len;) {
        if (r() % 3 === 0) { const h = (r() & 0xfffc) | (r() % 3); image[o] = h; image[o + 1] = h >>> 8; o += 2; }
        else { const w = randWord(r); image[o] = w; image[o + 1] = w >>> 8; image[o + 2] = w >>> 16; image[o + 3] = w >>> 24; o += 4; }
      }
      for (let o = prog + len; o < RAM; o++) if (r() % 2) image[o] = r();
      const entry = RAM_BASE + prog + (r() % 64) * 2;
      image.set(handler(entry), 0);
      const regs = Array.from({ length: 32 }, () => (r() % 3 === 0 ? (RAM_BASE + (r() % RAM)) | 0 : r() % 3 === 0 ? MMIO_PA + (r() % 4096) : r()) | 0);
      const threshold = pickThreshold(r);
      const setup = (h: Hart): void => {
        h.mtvec = HANDLER_PA;
        for (let i = 1; i < 29; i++) h.regs[i] = regs[i];
        h.reset(entry, M);
      };
      compare(makeSide(image, 'interp', threshold, setup), makeSide(image, 'jit', threshold, setup), r, 3000, tally, r() % 2 === 0, 200);
    });
  }
  t.diagnostic(describe(tally));
  assert.ok(tally.regions > tally.programs, `regions were translated: ${describe(tally)}`);
});

// -------------------------------------------------------------------------------------------------------------
// ALU chains over edge values: results are consumed inside the translated code (compares, branches, shifts,
// address arithmetic) before they are written back, so a value that is not kept as an int32 shows.

const EDGES = [0, 1, -1, 2, -2, 31, 32, 0x7fffffff, -0x80000000, 0x80000001 | 0, 0xffff, 0x8000, 0x12345678, -0x12345678];

test('jit vs interpreter: ALU chains over edge values, consumed by compares and branches', (t) => {
  const tally = newTally();
  for (const seed of seeds(120, 4)) {
    withSeed(seed, 'ALU chains', () => {
      const r = prng(seed);
      const regs = [5, 6, 7, 10, 11, 12, 13, 14];
      const pick = (): number => regs[r() % regs.length];
      const shamt = (): number => [0, 1, 31, r() % 32][r() % 4];
      const imm = (): number => [0, -1, 1, 2047, -2048, (r() % 4096) - 2048][r() % 6];
      const p = new Asm(RAM_BASE + 0x2000);
      for (const x of regs) p.li(x, EDGES[r() % EDGES.length]);
      p.li(9, 1 + (r() % 20)).li(8, 0);
      p.label('loop');
      const n = 8 + (r() % 40);
      for (let i = 0; i < n; i++) {
        const k = r() % 10;
        const rd = pick(), a = pick(), b = pick();
        if (k < 4) {
          const ops = [A.add, A.sub, A.sll, A.slt, A.sltu, A.xor, A.srl, A.sra, A.or, A.and, A.mul, A.mulh, A.mulhsu, A.mulhu, A.div, A.divu, A.rem, A.remu];
          const op = ops[r() % ops.length];
          // Shift amounts that are multiples of 32 (a shift by 0) half of the time.
          if ((op === A.sll || op === A.srl || op === A.sra) && b !== a && r() % 2 === 0) p.li(b, [0, 32, -32, 64][r() % 4]);
          p.w(op(rd, a, b));
        } else if (k < 6) {
          p.w([A.slli, A.srli, A.srai][r() % 3](rd, a, shamt()));
        } else if (k < 8) {
          const ops = [A.addi, A.slti, A.sltiu, A.xori, A.ori, A.andi];
          p.w(ops[r() % ops.length](rd, a, imm()));
        } else if (k < 9) {
          p.li(rd, EDGES[r() % EDGES.length]);
        } else {
          // Fold a comparison into the checksum register x8 through a branch.
          const l = `s${i}`;
          const ops = [A.beq, A.bne, A.blt, A.bge, A.bltu, A.bgeu];
          p.w(A.slli(8, 8, 1), (pc, L) => ops[r() % ops.length](a, b, L(l) - pc), A.addi(8, 8, 1));
          p.label(l);
        }
        if (r() % 3 === 0) {
          // Consume rd at once: a signed or unsigned compare, or an equality branch, folded into x8.
          const other = pick();
          const c = r() % 4;
          if (c === 0) p.w(A.slt(15, rd, other), A.add(8, 8, 15));
          else if (c === 1) p.w(A.sltu(15, other, rd), A.add(8, 8, 15));
          else {
            const l = `c${i}`;
            p.w(A.slli(8, 8, 1), (pc, L) => (c === 2 ? A.beq : A.blt)(rd, other, L(l) - pc), A.addi(8, 8, 1));
            p.label(l);
          }
        }
        if (r() % 6 === 0) p.w(A.add(8, 8, rd), A.sltu(15, 8, rd), A.add(8, 8, 15));
      }
      p.w(A.addi(9, 9, -1), (pc, L) => A.bne(9, 0, L('loop') - pc));
      p.label('end').w((pc, L) => A.jal(0, L('end') - pc));
      const image = new Uint8Array(RAM);
      image.set(p.bytes(), 0x2000);
      image.set(handler(RAM_BASE + 0x2000), 0);
      const setup = (h: Hart): void => { h.mtvec = HANDLER_PA; h.reset(RAM_BASE + 0x2000, M); };
      const threshold = pickThreshold(r);
      compare(makeSide(image, 'interp', threshold, setup), makeSide(image, 'jit', threshold, setup), r, 3000, tally, false, 300);
    });
  }
  t.diagnostic(describe(tally));
  assert.ok(tally.regions > tally.programs, `regions were translated: ${describe(tally)}`);
});

// -------------------------------------------------------------------------------------------------------------
// Targeted tests. Each program runs on a 'jit' hart with a small loop threshold (so its loops are translated
// early) and on an 'interp' hart, and both must agree; the jit hart must actually have translated the code.

const TBASE = RAM_BASE;
const MTVEC = 0x305, MINSTRET = 0xb02;
/** Budgets for the targeted tests: random but reproducible. */
const budgetRng = prng(BASE_SEED ^ 0x7a7a);
const upTo = (n: number) => (): number => 1 + (budgetRng() % n);

interface Pair { jit: Side; ref: Side; p: Asm }

/** Assembles a program at RAM base and makes the two harts (M-mode, pc = RAM base). */
function pair(build: (p: Asm) => void, threshold = 16, opts: HartOptions = {}): Pair {
  const p = new Asm(TBASE);
  build(p);
  const image = new Uint8Array(RAM);
  image.set(p.bytes());
  const setup = (h: Hart): void => { h.reset(TBASE, opts.sbiMode ? S : M); };
  const mk = (engine: 'jit' | 'interp'): Side => {
    const mem = new GuestMemory(RAM);
    mem.u8.set(image);
    const dev = new LogDevice();
    const h = new Hart(mem, { ...opts, engine, mmio: dev, jitThreshold: threshold, jitBackEnd: BACK_END });
    const traps: string[] = [];
    const raise = h.raise.bind(h);
    h.raise = (cause: number, tval: number): void => { traps.push(`${cause}@${(h.pc >>> 0).toString(16)}:${(tval >>> 0).toString(16)}`); raise(cause, tval); };
    setup(h);
    return { h, mem, dev, traps };
  };
  return { jit: mk('jit'), ref: mk('interp'), p };
}

/** Runs both harts with the same budgets until `total` instructions or an early exit, comparing after each run. */
function lockstep(pr: Pair, budgets: () => number, total: number): number[] {
  const exits: number[] = [];
  let done = 0;
  while (done < total) {
    const b = budgets();
    const e1 = pr.ref.h.run(b), e2 = pr.jit.h.run(b);
    assert.equal(e2, e1, 'exit code');
    assert.equal(state(pr.jit), state(pr.ref));
    assert.deepEqual(pr.jit.traps, pr.ref.traps);
    assert.equal(ramHash(pr.jit.mem), ramHash(pr.ref.mem));
    exits.push(e1);
    done += b;
  }
  return exits;
}

/** A trap handler that reads minstret into s11 (the count of instructions retired before the trap) and spins. */
function recordingHandler(p: Asm): void {
  p.label('mtrap').w(A.csrr(27, MINSTRET)).label('mspin').w(A.jal(0, 0));
}

test('jit: straight-line code that runs on into the next page, then code at the first page\'s start', () => {
  // New code is decoded ahead of execution (hart.ts decodeAhead) up to the end of its page only: decoding on into
  // the next page once put that page's first instruction into this page's first slot.
  const pr = pair((p) => {
    p.w((pc, L) => A.jal(0, L('main') - pc));
    p.org(TBASE + 0x1000).label('f').w(A.addi(A.a0, A.a0, 1), A.jalr(0, 1, 0)); // the start of main's page
    p.org(TBASE + 0x1ff0).label('main');
    for (let k = 0; k < 8; k++) p.w(A.addi(A.a1, A.a1, 1)); // runs from 0x1ff0 on into 0x2000
    p.w((pc, L) => A.jal(1, L('f') - pc), A.addi(A.s1, A.s1, 1));
    p.w((pc, L) => A.jal(0, L('main') - pc));
  }, 1 << 30);
  lockstep(pr, upTo(50), 2000);
  assert.ok(pr.jit.h.regs[A.a0] > 10 && pr.jit.h.regs[A.a0] === pr.jit.h.regs[A.s1], 'f ran as written');
});

for (const threshold of [16, 1 << 30]) {
  test(`jit: SFENCE.VMA of one page drops its translation while a loop runs (threshold ${threshold})`, () => {
    // S-mode over Sv32 with 4 KiB pages: each iteration loads from DATA_VA, then rewrites its leaf PTE to the other
    // physical page and fences that one page (the WebAssembly interpreter does such fences itself). A stale
    // translation would load the old page's value.
    const DATA_VA = 0x40000000, P1 = TBASE + 0xa000, P2 = TBASE + 0xb000, ROOT = TBASE + 0x1000, POOL = TBASE + 0x2000;
    const flags = PTE.V | PTE.R | PTE.W | PTE.A | PTE.D;
    const leaf = POOL + ((DATA_VA >>> 12) & 0x3ff) * 4; // (the first second-level table Sv32 makes is at POOL)
    const N = 200;
    const pr = pair((p) => {
      p.li(A.s0, DATA_VA).li(A.s2, leaf).li(A.t0, Sv32.pte(P2, flags)).li(A.t1, Sv32.pte(P1, flags)).li(A.s3, N);
      p.label('loop').w(A.lw(A.a0, A.s0, 0), A.add(A.s1, A.s1, A.a0));
      p.w(A.sw(A.t0, A.s2, 0), A.sfenceVma(A.s0, 0));
      p.w(A.xor(A.t0, A.t0, A.t1), A.xor(A.t1, A.t0, A.t1), A.xor(A.t0, A.t0, A.t1)); // swap the two PTEs
      p.w(A.addi(A.s3, A.s3, -1), (pc, L) => A.bne(A.s3, 0, L('loop') - pc));
      p.label('end').w((pc, L) => A.jal(0, L('end') - pc));
    }, threshold, { sbiMode: true });
    for (const side of [pr.jit, pr.ref]) {
      const pt = new Sv32(side.mem, ROOT, POOL);
      pt.map(DATA_VA, P1, flags);
      assert.equal(pt.l0Addr(DATA_VA), leaf);
      for (let k = 0; k < 16; k++) if (TBASE + k * 4096 !== P1) pt.map(TBASE + k * 4096, TBASE + k * 4096, flags | PTE.X);
      side.mem.writeU32(P1, 111);
      side.mem.writeU32(P2, 222);
      side.h.satp = pt.satp;
    }
    lockstep(pr, upTo(300), 12 * N + 200);
    assert.equal(pr.jit.h.regs[A.s1], (N / 2) * (111 + 222), 'each load saw the page mapped at that iteration');
    assert.equal(pr.jit.h.wasmInterpreting, WASM_INTERP);
  });
}

test('jit: SFENCE.VMA of one page of a superpage drops the translations of all its pages', () => {
  // The root PTE of DATA_VA's 4 MiB region flips between a megapage of RAM (pages a and b: 111 and 444) and a
  // table mapping them to two other pages (222 and 333). Leaving the megapage, only page a is fenced: the fence must
  // drop page b's translation too, both came from one superpage (hart.ts superRegions, which page walks in
  // WebAssembly mark).
  const DATA_VA = 0x40000000, ROOT = TBASE + 0x1000, POOL = TBASE + 0x2000, L0 = TBASE + 0x3000;
  const flags = PTE.V | PTE.R | PTE.W | PTE.A | PTE.D;
  const rootPte = ROOT + (DATA_VA >>> 22) * 4;
  const N = 200;
  const pr = pair((p) => {
    p.li(A.s0, DATA_VA + 0xa000).li(A.s4, DATA_VA + 0xb000).li(A.s2, rootPte);
    p.li(A.t0, Sv32.pte(L0, PTE.V)).li(A.t1, Sv32.pte(TBASE, flags)).li(A.s3, N).li(A.s5, Sv32.pte(TBASE, flags));
    p.label('loop').w(A.lw(A.a0, A.s4, 0), A.lw(A.a1, A.s0, 0), A.add(A.s1, A.s1, A.a0), A.add(A.s1, A.s1, A.a1));
    p.w(A.sw(A.t0, A.s2, 0), A.sfenceVma(A.s0, 0));
    // Back to the megapage: pages a and b had translations of their own, so b is fenced too.
    p.w((pc, L) => A.bne(A.t0, A.s5, L('swap') - pc), A.sfenceVma(A.s4, 0));
    p.label('swap');
    p.w(A.xor(A.t0, A.t0, A.t1), A.xor(A.t1, A.t0, A.t1), A.xor(A.t0, A.t0, A.t1));
    p.w(A.addi(A.s3, A.s3, -1), (pc, L) => A.bne(A.s3, 0, L('loop') - pc));
    p.label('end').w((pc, L) => A.jal(0, L('end') - pc));
  }, 1 << 30, { sbiMode: true });
  for (const side of [pr.jit, pr.ref]) {
    const pt = new Sv32(side.mem, ROOT, POOL);
    for (let k = 0; k < 16; k++) pt.map(TBASE + k * 4096, TBASE + k * 4096, flags | PTE.X);
    side.mem.writeU32(rootPte, Sv32.pte(TBASE, flags)); // the megapage first
    for (let k = 0; k < 1024; k++) side.mem.writeU32(L0 + 4 * k, 0);
    side.mem.writeU32(L0 + 4 * 0xa, Sv32.pte(TBASE + 0xc000, flags));
    side.mem.writeU32(L0 + 4 * 0xb, Sv32.pte(TBASE + 0xd000, flags));
    side.mem.writeU32(TBASE + 0xa000, 111); side.mem.writeU32(TBASE + 0xb000, 444);
    side.mem.writeU32(TBASE + 0xc000, 222); side.mem.writeU32(TBASE + 0xd000, 333);
    side.h.satp = pt.satp;
  }
  lockstep(pr, upTo(300), 16 * N + 200);
  assert.equal(pr.jit.h.regs[A.s1], (N / 2) * (111 + 444 + 222 + 333), 'each load saw the mapping of its iteration');
});

test('jit: a fault in the middle of a translated block retires exactly the instructions before it', () => {
  const N = 500; // iterations before the pointer leaves RAM
  const pr = pair((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0)); // 3 instructions
    p.li(A.a0, TBASE + RAM - 4 * N); // 2
    p.label('loop');
    p.w(A.addi(A.s1, A.s1, 1), A.lw(A.t1, A.a0, 0), A.addi(A.s2, A.s2, 1), A.add(A.s3, A.s3, A.t1), A.addi(A.a0, A.a0, 4));
    p.w((pc, L) => A.jal(0, L('loop') - pc));
    recordingHandler(p);
  });
  lockstep(pr, upTo(300), 10 * N);
  const h = pr.jit.h;
  assert.ok(h.jitStats!.regions > 0, 'the loop was translated');
  assert.equal(h.mcause, 5, 'load access fault');
  assert.equal(h.mtval >>> 0, TBASE + RAM);
  assert.equal(h.regs[A.s1], N + 1, 'the instruction before the load retired');
  assert.equal(h.regs[A.s2], N, 'the instruction after the load did not');
  assert.equal(h.regs[27], 5 + 6 * N + 1, 'minstret at the trap counts exactly the instructions before the fault');
});

test('jit: runs of one op (stores, loads, ALU) retire exactly as in the interpreter: budgets ending mid-run, a misaligned load and a fault inside a run', () => {
  // The WebAssembly interpreter runs an instruction that follows one of the same op without a dispatch (interp-wasm.ts
  // nextInRun); no translation here (threshold too high), so everything below runs in it.
  const pr = pair((p) => {
    p.la(A.t0, 'mtrap').w(A.csrw(MTVEC, A.t0));
    p.li(A.a0, TBASE + 0x8000).li(A.s1, 60);
    p.label('loop');
    p.w(A.sw(A.a1, A.a0, 0), A.sw(A.a2, A.a0, 4), A.sw(A.a3, A.a0, 8), A.sw(A.a4, A.a0, 12), A.sw(A.a5, A.a0, 16));
    p.w(A.lw(A.t1, A.a0, 0), A.lw(A.t2, A.a0, 4), A.lw(A.t3, A.a0, 8), A.lw(A.t4, A.a0, 12), A.lw(A.t5, A.a0, 16));
    p.w(A.lw(A.t6, A.a0, 1), A.lw(A.t6, A.a0, 2), A.lw(A.t6, A.a0, 4)); // misaligned in the middle of a run
    p.w(A.addi(A.a1, A.a1, 1), A.addi(A.a2, A.a2, 3), A.addi(A.a3, A.a3, 5), A.addi(A.a4, A.a4, 7), A.addi(A.a5, A.a5, 11));
    p.w(A.add(A.s2, A.s2, A.t1), A.add(A.s3, A.s3, A.t2), A.add(A.s4, A.s4, A.t3), A.add(A.s5, A.s5, A.t4));
    p.w(A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.li(A.a0, TBASE + RAM - 8);
    p.w(A.lw(A.t1, A.a0, 0), A.lw(A.t2, A.a0, 4), A.lw(A.t3, A.a0, 8), A.lw(A.t4, A.a0, 12)); // the third leaves RAM
    recordingHandler(p);
  }, 1 << 20);
  lockstep(pr, upTo(7), 3 + 4 + 60 * 24 + 4 + 150);
  const h = pr.jit.h;
  assert.equal(h.jitStats!.regions, 0, 'nothing translated');
  assert.equal(h.mcause, 5, 'load access fault');
  assert.equal(h.mtval >>> 0, TBASE + RAM);
  assert.equal(h.regs[27], 3 + 4 + 60 * 24 + 4, 'minstret at the trap counts exactly the instructions before the fault');
  assert.equal(h.regs[A.s2], (60 * 59) / 2, 'the stores, loads and adds of every iteration ran');
});

test('jit: a store to a page holding translated code (same page) takes effect at the next execution', () => {
  const pr = pair((p) => {
    p.li(A.s1, 300);
    p.label('loop').label('patch').w(A.addi(A.a0, A.a0, 1));
    p.w(A.addi(A.s1, A.s1, -1));
    // After 200 iterations, replace the increment by 1000 (the loop is translated long before).
    p.w(A.addi(A.t2, 0, 100), (pc, L) => A.bne(A.s1, A.t2, L('skip') - pc));
    p.la(A.t1, 'patch').li(A.t0, A.addi(A.a0, A.a0, 1000)).w(A.sw(A.t0, A.t1, 0));
    p.label('skip').w((pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.label('end').w(A.jal(0, 0));
  });
  lockstep(pr, upTo(200), 3000);
  assert.equal(pr.jit.h.regs[A.a0], 200 + 100 * 1000);
  assert.equal(pr.jit.h.pc >>> 0, pr.p.addr('end'));
  const st = pr.jit.h.jitStats!;
  assert.ok(st.regions >= 2 && st.pageInvalidations >= 1, `translated, invalidated, translated again: ${JSON.stringify(st)}`);
});

test('jit: a store to translated code on another page takes effect at the next call', () => {
  const pr = pair((p) => {
    p.li(A.s1, 300);
    p.label('loop').w((pc, L) => A.jal(A.ra, L('fn') - pc), A.addi(A.s1, A.s1, -1));
    p.w(A.addi(A.t2, 0, 150), (pc, L) => A.bne(A.s1, A.t2, L('skip') - pc));
    p.la(A.t1, 'patch').li(A.t0, A.addi(A.a0, A.a0, 7)).w(A.sw(A.t0, A.t1, 0));
    p.label('skip').w((pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.label('end').w(A.jal(0, 0));
    // The callee loops too, so its page gets a translation of its own.
    p.org(TBASE + 0x3000).label('fn').li(A.t3, 8);
    p.label('inner').label('patch').w(A.addi(A.a0, A.a0, 1), A.addi(A.t3, A.t3, -1), (pc, L) => A.bne(A.t3, 0, L('inner') - pc));
    p.w(A.jalr(0, A.ra, 0));
  });
  lockstep(pr, upTo(200), 14000);
  assert.equal(pr.jit.h.regs[A.a0], 150 * 8 + 150 * 8 * 7);
  assert.equal(pr.jit.h.pc >>> 0, pr.p.addr('end'));
  assert.ok(pr.jit.h.jitStats!.pageInvalidations >= 1);
});

test('jit: code changed behind the hart\'s back runs only after FENCE.I, as with the interpreter', () => {
  // The host (standing in for another hart) rewrites an instruction of a translated loop without going through
  // this hart's stores; the guest then executes fence.i. Both engines keep the stale code until the fence.
  const pr = pair((p) => {
    p.li(A.s1, 400);
    p.label('loop').label('patch').w(A.addi(A.a0, A.a0, 1), A.addi(A.s1, A.s1, -1));
    p.w(A.addi(A.t2, 0, 100), (pc, L) => A.bne(A.s1, A.t2, L('skip') - pc));
    p.w(A.fenceI());
    p.label('skip').w((pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.label('end').w(A.jal(0, 0));
  });
  const patch = pr.p.addr('patch');
  // Run 150 iterations, then rewrite the increment on both sides.
  lockstep(pr, () => 50, 150 * 5 + 2);
  for (const s of [pr.jit, pr.ref]) s.mem.writeU32(patch, A.addi(A.a0, A.a0, 10));
  lockstep(pr, upTo(100), 4000);
  assert.equal(pr.jit.h.pc >>> 0, pr.p.addr('end'));
  assert.equal(pr.jit.h.regs[A.a0], 300 + 100 * 10, 'the new instruction ran from the fence.i on');
  // The fence.i dropped the changed page's translation (only that page: hart.ts fenceI), which was made again.
  assert.ok(pr.jit.h.jitStats!.pageInvalidations >= 1 && pr.jit.h.jitStats!.regions >= 2);
});

test('jit: run(budget) retires exactly the budget inside translated loops (no early exits)', () => {
  const pr = pair((p) => {
    p.li(A.a1, TBASE + 0x8000);
    p.label('outer').li(A.s1, 37);
    p.label('loop').w(A.lw(A.t0, A.a1, 0), A.add(A.a0, A.a0, A.t0), A.addi(A.t0, A.t0, 3), A.sw(A.t0, A.a1, 4));
    p.h(A.cAddi(A.a1, 4)).w(A.andi(A.a1, A.a1, 0x7ff), A.lui(A.t1, (TBASE + 0x8000) >>> 12), A.or(A.a1, A.a1, A.t1));
    p.w(A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.w((pc, L) => A.jal(0, L('outer') - pc));
  }, 8);
  let total = 0;
  for (let i = 0; i < 400; i++) {
    const b = 1 + ((i * 7919) % 97);
    const before = pr.jit.h.instret;
    const e1 = pr.ref.h.run(b), e2 = pr.jit.h.run(b);
    assert.equal(e1, Exit.Budget); assert.equal(e2, Exit.Budget);
    assert.equal(pr.jit.h.instret - before, b, `run(${b}) retired exactly ${b}`);
    assert.equal(state(pr.jit), state(pr.ref));
    total += b;
  }
  assert.equal(pr.jit.h.instret, total);
  assert.equal(ramHash(pr.jit.mem), ramHash(pr.ref.mem));
  assert.ok(pr.jit.h.jitStats!.regions > 0);
});

test('jit: SBI calls, WFI and PAUSE inside translated loops exit exactly as with the interpreter (sbiMode)', () => {
  const pr = pair((p) => {
    p.li(A.s1, 200);
    p.label('loop').w(A.addi(A.a0, A.a0, 1), A.addi(A.s1, A.s1, -1));
    p.w(A.andi(A.t0, A.s1, 15), (pc, L) => A.bne(A.t0, 0, L('no') - pc), A.ecall());
    p.label('no').w(A.andi(A.t0, A.s1, 31), A.addi(A.t1, 0, 1), (pc, L) => A.bne(A.t0, A.t1, L('no2') - pc), A.wfi());
    p.label('no2').w(A.andi(A.t0, A.s1, 2), (pc, L) => A.bne(A.t0, 0, L('no3') - pc), A.pause());
    p.label('no3').w((pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.label('end').w(A.jal(0, 0));
  }, 8, { sbiMode: true });
  for (const s of [pr.jit, pr.ref]) { s.h.pleGap = 64; s.h.pleWindow = 100; }
  const exits = lockstep(pr, upTo(120), 20000);
  for (const e of [Exit.Ecall, Exit.Wfi, Exit.Pause]) assert.ok(exits.includes(e), `exit ${e} seen`);
  assert.equal(pr.jit.h.pc >>> 0, pr.p.addr('end'));
  assert.ok(pr.jit.h.jitStats!.regions > 0);
});

test('jit: MMIO and misaligned accesses in a translated loop go through the interpreter\'s slow paths', () => {
  const pr = pair((p) => {
    p.li(A.s1, 300).li(A.a1, MMIO_PA).li(A.a2, TBASE + 0x8001);
    p.label('loop').w(A.lw(A.t0, A.a1, 8), A.sw(A.s1, A.a1, 12), A.lw(A.t1, A.a2, 0), A.sh(A.t0, A.a2, 4), A.add(A.a0, A.a0, A.t1));
    p.w(A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.label('end').w(A.jal(0, 0));
  });
  lockstep(pr, upTo(150), 3000);
  assert.deepEqual(pr.jit.dev.log, pr.ref.dev.log);
  assert.equal(pr.jit.dev.log.length, 600);
  assert.equal(pr.jit.h.pc >>> 0, pr.p.addr('end'));
  assert.ok(pr.jit.h.jitStats!.regions > 0);
});

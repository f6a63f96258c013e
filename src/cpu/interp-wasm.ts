/**
 * The interpreter's fast path in WebAssembly: one function, the same for every hart, that runs decoded instructions
 * (decode.ts) from the hart's decoded-page frames in guest memory, with registers, TLBs and code map in the hart's
 * slot (memory.ts). It does what hart.ts `interp` does for the common instructions (integer, multiply, branches,
 * jumps, loads and stores that hit the TLB or that its page walk can refill, atomics, PAUSE with pause-loop exiting,
 * the S-mode CSRs Linux uses most, 32-bit instructions straddling a page end) and stops in front of anything else,
 * which the JavaScript interpreter then runs: other system and CSR instructions, faults, MMIO, misaligned accesses,
 * pages not decoded yet.
 *
 * Why: JavaScript's interpreter must be optimized by V8 in each vCPU thread's isolate, after it has run slowly for a
 * while, and deoptimizes on paths it has not seen; a WebAssembly module with the same bytes is compiled once per
 * process and shared by every isolate (V8's module cache), and runs ~2x as fast (bench/README, session 11 probe).
 *
 * Contract: `run(slot, pc, left)` runs at most `left` instructions from `pc` and returns the next pc; the slot's
 * JIT_LEFT word gets the budget left and STOP why it stopped (`Stop`). No instruction it runs can trap, so every one
 * it counts has retired. Like `interp`, it stops in front of a translated entry point unless that is its first
 * instruction, and after a taken backward branch that makes a loop head hot (the same counts in the same frames).
 */
import { Csr, Mstatus, Priv, SSTATUS_MASK } from './csr.js';
import { Op } from './decode.js';
import { GuestMemory, HartSlot } from './memory.js';
import { Body, W, divRem, moduleBytes } from './wasm-emit.js';

/** Why `run` returned (the slot's STOP word). */
export const enum Stop {
  /** The budget ran out. */
  Budget = 0,
  /** The instruction at pc needs the JavaScript interpreter. */
  Js = 1,
  /** At a translated entry point or a loop head that just became hot: the run loop decides. */
  Dispatch = 2,
  /** After a PAUSE that is a pause-loop exit (hart.ts `pause`). */
  Pause = 3,
}

export type WasmInterp = (slot: number, pc: number, left: number) => number;

/** Word index, in a decoded page, of the loop counts (hart.ts LOOP_COUNTS). */
const LOOP_COUNTS = 4096 + 2;
/** Bit 27 of a decoded word: the instruction that follows on the page is of the same op (hart.ts decodeAhead). */
export const RUN_BIT = 1 << 27;
/** Word index, in a decoded page, of a straddling instruction's decoding and its upper half (hart.ts). */
const STRADDLE_WORD = 4096;
/** The access a page walk is for (local ACC; `walk`): bit 0 set for a write, bit 1 for an SC, whose own reservation
 *  does not stop it. */
const ACC_LOAD = 0, ACC_STORE = 1, ACC_SC = 3;

// Locals: the parameters slot, pc, left; then the function's own.
const S = 0, PC = 1, LEFT = 2, LEFT0 = 3, VPAGE = 4, FR = 5, C = 6, IMM = 7, A = 8, T = 9, CX = 10, FCX = 11, TM = 12,
  LB = 13, ST = 14, HOT = 15, LST = 16, CMAP = 17, STOP = 18, RD = 19, B = 20, ACC = 21, DP = 22, PTE = 23, W1 = 24,
  LVL = 25;
const LOCALS = LVL - LEFT;

let compiled: WebAssembly.Module | null = null;
const instances = new WeakMap<WebAssembly.Memory, WasmInterp>();

/** The interpreter's compiled module, made once per thread, or taken from another thread (`adoptWasmInterpreter`):
 *  a vCPU thread then neither generates nor compiles it. */
export function wasmInterpreterModule(): WebAssembly.Module {
  return compiled ??= new WebAssembly.Module(moduleBytes(3, LOCALS, body(), 't'));
}

/**
 * Reads of the time CSR: the interpreter calls "e"."t"(slot), which asks the hart of that slot of its memory
 * (hart.ts `wasmTime`) to leave the time in the slot's TIME_LO/TIME_HI words (1), or to have JavaScript run the
 * read (0). Held weakly: a hart that is dropped undisposed still gives its slot back (hart.ts slotRelease).
 */
type TimeSource = { wasmTime(): number };
const timeSources = new WeakMap<WebAssembly.Memory, Map<number, WeakRef<TimeSource>>>();

/** Makes `h` the source of time CSR reads for `slot` of `mem` (null: none). */
export function setTimeSource(mem: GuestMemory, slot: number, h: TimeSource | null): void {
  const m = mem.wasm === null ? undefined : timeSources.get(mem.wasm);
  if (m === undefined) return;
  if (h === null) m.delete(slot); else m.set(slot, new WeakRef(h));
}

/** Uses a module that `wasmInterpreterModule` made in another thread (a WebAssembly.Module is shared, not copied). */
export function adoptWasmInterpreter(m: WebAssembly.Module | null): void {
  if (m !== null) compiled ??= m;
}

/** The interpreter over `mem`'s WebAssembly memory (one instance per memory and thread), or null without one. */
export function wasmInterpreter(mem: GuestMemory): WasmInterp | null {
  if (mem.wasm === null) return null;
  let f = instances.get(mem.wasm);
  if (f === undefined) {
    const sources = new Map<number, WeakRef<TimeSource>>();
    timeSources.set(mem.wasm, sources);
    const t = (slot: number): number => sources.get(slot)?.deref()?.wasmTime() ?? 0;
    f = new WebAssembly.Instance(wasmInterpreterModule(), { e: { m: mem.wasm, t } }).exports.f as WasmInterp;
    instances.set(mem.wasm, f);
  }
  return f;
}

/**
 * The Sv32 walk of a load or LR (ACC 0), a store or AMO (ACC 1) or an SC (ACC 3) at A that missed the TLB, as hart.ts
 * `translate` does it, for the common case only: a valid leaf that allows the access, its A (and D) bits already set,
 * in RAM, and for a store not on a page of decoded code nor (but for an SC) to the reserved word. It fills the TLB
 * entry and runs the instruction again; anything else (faults, A/D updates, MMIO, M-mode, code pages) goes to
 * JavaScript, which walks again. Linux fences single pages ~130,000 times in a boot, and each fence is followed by
 * misses; a secondary vCPU doing kernel work left ~5,000 AMOs and SCs a boot to JavaScript for their misses.
 */
function walk(f: Body, slow: () => void): void {
  const fail = (): void => { f.open(W.If, 'if'); slow(); f.end(); };
  const ramBase = (): void => { f.get(S).mem(W.I32Load, 2, 4 * HartSlot.RAM_BASE); };
  const ramSize = (): void => { f.get(S).mem(W.I32Load, 2, 4 * HartSlot.RAM_SIZE); };
  // Translation on, data privilege below M, decoded pages all in frames.
  f.get(S).mem(W.I32Load, 2, 4 * HartSlot.SATP).set(W1);
  f.get(CX).i32(22).op(W.I32ShrU).i32(3).op(W.I32And).op(W.LocalTee).uleb(DP).i32(3).op(W.I32Eq);
  f.get(W1).i32(0).op(W.I32GeS, W.I32Or).get(S).mem(W.I32Load, 2, 4 * HartSlot.NO_FRAMES).op(W.I32Or); fail();
  // Level 1: the root table's PTE for A (the table's physical page below 4 GiB, the PTE in RAM).
  f.get(W1).i32(0x3fffff).op(W.I32And).op(W.LocalTee).uleb(W1).i32(0x100000).op(W.I32GeU); fail();
  const loadPte = (): void => { // W1 = the PTE's physical address; PTE = the PTE
    f.get(W1); ramBase(); f.op(W.I32Sub).op(W.LocalTee).uleb(W1); ramSize(); f.i32(4).op(W.I32Sub, W.I32GtU); fail();
    f.get(W1).op(0xfe, 0x10, 2, 0).op(W.LocalTee).uleb(PTE);
    // invalid, or writable without readable
    f.i32(1).op(W.I32And, W.I32Eqz).get(PTE).i32(6).op(W.I32And).i32(4).op(W.I32Eq, W.I32Or); fail();
  };
  f.get(W1).i32(12).op(W.I32Shl).get(A).i32(22).op(W.I32ShrU).i32(2).op(W.I32Shl, W.I32Add).set(W1);
  loadPte();
  f.i32(1).set(LVL);
  f.get(PTE).i32(0xa).op(W.I32And, W.I32Eqz).open(W.If, 'if'); // a pointer to the level-0 table
  f.get(PTE).i32(10).op(W.I32ShrU).op(W.LocalTee).uleb(W1).i32(0x100000).op(W.I32GeU); fail();
  f.get(W1).i32(12).op(W.I32Shl).get(A).i32(12).op(W.I32ShrU).i32(0x3ff).op(W.I32And).i32(2).op(W.I32Shl, W.I32Add).set(W1);
  loadPte();
  f.get(PTE).i32(0xa).op(W.I32And, W.I32Eqz); fail(); // no leaf at level 0
  f.i32(0).set(LVL);
  f.end();
  // Permissions: U pages for S only with SUM, none for U otherwise; loads need R (or X with MXR), stores W.
  f.get(PTE).i32(16).op(W.I32And).open(W.If, 'if', W.I32);
  f.get(DP).i32(1).op(W.I32Eq).get(CX).i32(24).op(W.I32ShrU).i32(1).op(W.I32And, W.I32Eqz, W.I32And);
  f.op(W.Else).get(DP).op(W.I32Eqz).end(); fail();
  f.get(ACC).open(W.If, 'if', W.I32);
  f.get(PTE).i32(4).op(W.I32And, W.I32Eqz);
  f.op(W.Else).get(PTE).i32(2).op(W.I32And, W.I32Eqz).get(CX).i32(25).op(W.I32ShrU).get(PTE).i32(3).op(W.I32ShrU, W.I32And);
  f.i32(1).op(W.I32And, W.I32Eqz, W.I32And).end(); fail();
  // A, and D for a store, already set (JavaScript sets them, atomically).
  f.get(PTE).i32(0x40).get(ACC).i32(1).op(W.I32And).i32(7).op(W.I32Shl, W.I32Or).op(W.LocalTee).uleb(B).op(W.I32And).get(B).op(W.I32Ne); fail();
  // The physical address (below 4 GiB; a superpage aligned), then its RAM offset (else MMIO) in W1.
  f.get(LVL).open(W.If, 'if');
  f.get(PTE).i32(10).op(W.I32ShrU).i32(0x3ff).op(W.I32And).get(PTE).i32(20).op(W.I32ShrU).i32(0x400).op(W.I32GeU, W.I32Or); fail();
  f.get(S).get(A).i32(22).op(W.I32ShrU, W.I32Add).i32(1).mem(W.I32Store8, 0, HartSlot.SUPER); // superRegions
  f.get(PTE).i32(20).op(W.I32ShrU).i32(22).op(W.I32Shl).get(A).i32(0x3fffff).op(W.I32And, W.I32Or).set(W1);
  f.op(W.Else);
  f.get(PTE).i32(10).op(W.I32ShrU).op(W.LocalTee).uleb(W1).i32(0x100000).op(W.I32GeU); fail();
  f.get(W1).i32(12).op(W.I32Shl).get(A).i32(0xfff).op(W.I32And, W.I32Or).set(W1);
  f.end();
  f.get(W1); ramBase(); f.op(W.I32Sub).op(W.LocalTee).uleb(W1); ramSize(); f.op(W.I32GeU); fail();
  // A store to a page of decoded code takes JavaScript's path (it drops the page), and so does one to the reserved
  // word (hart.ts storeSlow drops the reservation), but for an SC's.
  f.get(ACC).get(CMAP).get(W1).i32(12).op(W.I32ShrU).i32(2).op(W.I32Shl, W.I32Add).mem(W.I32Load, 2, 0).i32(0).op(W.I32Ne, W.I32And); fail();
  f.get(ACC).i32(ACC_STORE).op(W.I32Eq).get(S).mem(W.I32Load, 2, 4 * HartSlot.RES_OFF).get(W1).i32(-4).op(W.I32And, W.I32Eq, W.I32And); fail();
  // The TLB entry, and the instruction again.
  f.get(A).i32(12).op(W.I32ShrU).get(TM).op(W.I32And).i32(2).op(W.I32Shl).get(S).op(W.I32Add).set(T);
  f.get(ACC).open(W.If, 'if');
  f.get(T).get(A).i32(12).op(W.I32ShrU).get(CX).op(W.I32Or).mem(W.I32Store, 2, HartSlot.STORE_TAG);
  f.get(T).get(W1).i32(-4096).op(W.I32And).mem(W.I32Store, 2, HartSlot.STORE_OFF);
  f.op(W.Else);
  f.get(T).get(A).i32(12).op(W.I32ShrU).get(CX).op(W.I32Or).mem(W.I32Store, 2, HartSlot.LOAD_TAG);
  f.get(T).get(W1).i32(-4096).op(W.I32And).mem(W.I32Store, 2, HartSlot.LOAD_OFF);
  f.end();
  f.get(S).get(S).mem(W.I32Load, 2, 4 * HartSlot.REFILLS).i32(1).op(W.I32Add).mem(W.I32Store, 2, 4 * HartSlot.REFILLS);
  f.get(LEFT).i32(1).op(W.I32Add).set(LEFT).br('top');
}

function body(): Body {
  const f = new Body();
  const slotWord = (w: number, into: number): void => { f.get(S).mem(W.I32Load, 2, 4 * w).set(into); };
  slotWord(HartSlot.DATA_CTX, CX); slotWord(HartSlot.FETCH_CTX, FCX); slotWord(HartSlot.TLB_MASK, TM);
  slotWord(HartSlot.LAST_BACK, LB); slotWord(HartSlot.STREAK, ST);
  slotWord(HartSlot.LOOP_HOT, HOT); slotWord(HartSlot.LOOP_STREAK, LST); slotWord(HartSlot.CODE_MAP, CMAP);
  f.get(LEFT).set(LEFT0);
  f.i32(-1).set(VPAGE);
  f.open(W.Block, 'exit').open(W.Loop, 'top');
  const stop = (why: Stop): void => { f.i32(why).set(STOP).br('exit'); };
  /** T = the address of pc's decoded word in the page's frame, left on the stack too. */
  const slotOfPc = (): void => { f.get(FR).get(PC).i32(0xffe).op(W.I32And).i32(2).op(W.I32Shl, W.I32Add).op(W.LocalTee).uleb(T); };
  /** The instruction in C is counted, and RD is the address of its rd. */
  const counted = (): void => {
    f.get(LEFT).i32(1).op(W.I32Sub).set(LEFT);
    f.get(S).get(C).i32(6).op(W.I32ShrS).i32(0xfc).op(W.I32And, W.I32Add).set(RD);
  };
  /** The address after the instruction in C (pushed); pc moved there. */
  const afterC = (): void => { f.get(PC).get(C).i32(24).op(W.I32ShrU).i32(7).op(W.I32And, W.I32Add); };
  const pastC = (): void => { afterC(); f.set(PC); };

  // Budget.
  f.get(LEFT).op(W.I32Eqz).open(W.If, 'if'); stop(Stop.Budget); f.end();
  // A new page: the fetch TLB, then the code map (no frame yet: the JavaScript side decodes the page first).
  f.get(PC).i32(12).op(W.I32ShrU).get(VPAGE).op(W.I32Ne).open(W.If, 'if');
  f.get(PC).i32(12).op(W.I32ShrU).get(TM).op(W.I32And).i32(2).op(W.I32Shl).set(T);
  f.get(S).get(T).op(W.I32Add).mem(W.I32Load, 2, HartSlot.FETCH_TAG);
  f.get(PC).i32(12).op(W.I32ShrU).get(FCX).op(W.I32Or, W.I32Ne).open(W.If, 'if'); stop(Stop.Js); f.end();
  f.get(CMAP).get(S).get(T).op(W.I32Add).mem(W.I32Load, 2, HartSlot.FETCH_OFF).i32(12).op(W.I32ShrU).i32(2).op(W.I32Shl, W.I32Add);
  f.mem(W.I32Load, 2, 0).op(W.LocalTee).uleb(FR);
  f.op(W.I32Eqz).open(W.If, 'if'); stop(Stop.Js); f.end();
  f.get(PC).i32(12).op(W.I32ShrU).set(VPAGE);
  f.end();
  // Fetch the decoded word and its immediate.
  slotOfPc(); f.mem(W.I32Load, 2, 0).set(C);
  f.get(T).mem(W.I32Load, 2, 4).set(IMM);
  f.get(C).i32(0).op(W.I32LeS).open(W.If, 'if');
  f.get(C).op(W.I32Eqz).open(W.If, 'if');
  // Not decoded yet, or an instruction straddling the page's end (never decoded in place): its decoding beside the
  // page (hart.ts STRADDLE_WORD) if the next page, found in the fetch TLB, still holds the upper half it came from.
  f.get(PC).i32(0xfff).op(W.I32And).i32(0xffe).op(W.I32Eq).get(FR).mem(W.I32Load, 2, 4 * STRADDLE_WORD).i32(0).op(W.I32Ne, W.I32And);
  f.open(W.If, 'if');
  f.get(PC).i32(2).op(W.I32Add).i32(12).op(W.I32ShrU).op(W.LocalTee).uleb(A);
  f.get(TM).op(W.I32And).i32(2).op(W.I32Shl).get(S).op(W.I32Add).set(T);
  f.get(T).mem(W.I32Load, 2, HartSlot.FETCH_TAG).get(A).get(FCX).op(W.I32Or).op(W.I32Eq).open(W.If, 'if');
  f.get(T).mem(W.I32Load, 2, HartSlot.FETCH_OFF).mem(W.I32Load16U, 1, 0).get(FR).mem(W.I32Load, 2, 4 * (STRADDLE_WORD + 1)).op(W.I32Eq);
  f.open(W.If, 'if');
  f.get(FR).mem(W.I32Load, 2, 4 * STRADDLE_WORD).set(C);
  f.end().end().end();
  f.get(C).op(W.I32Eqz).open(W.If, 'if'); stop(Stop.Js); f.end();
  f.op(W.Else);
  f.get(LEFT).get(LEFT0).op(W.I32Ne).open(W.If, 'if'); stop(Stop.Dispatch); f.end(); // an entry point
  f.get(C).i32(0x7fffffff).op(W.I32And).set(C);
  f.end();
  f.end();
  counted();

  const rs1 = (): void => { f.get(S).get(C).i32(12).op(W.I32ShrU).i32(0x7c).op(W.I32And, W.I32Add).mem(W.I32Load, 2, 0); };
  const rs2 = (): void => { f.get(S).get(C).i32(17).op(W.I32ShrU).i32(0x7c).op(W.I32And, W.I32Add).mem(W.I32Load, 2, 0); };
  const toRd = (): void => { f.mem(W.I32Store, 2, 0); }; // (RD pushed first)
  const next = (): void => { pastC(); f.br('top'); };
  // The end of a handler of an op that runs: when the next instruction on the page is the same op (RUN_BIT, set by
  // hart.ts decodeAhead), has budget and is no entry point, it runs without another dispatch ('run' is the handler's
  // loop). The dispatch's indirect branch is what kernel code mostly pays for (bench/README, sixteenth session), and
  // 22% of the instructions of the slowest stretch of a Linux boot follow one of the same op (stores 9%, loads 7%).
  const nextInRun = (): void => {
    pastC();
    f.get(C).i32(27).op(W.I32ShrU).i32(1).op(W.I32And).get(LEFT).i32(0).op(W.I32Ne, W.I32And).open(W.If, 'if');
    slotOfPc(); f.mem(W.I32Load, 2, 0).op(W.LocalTee).uleb(B);
    f.i32(0).op(W.I32GtS).open(W.If, 'if');
    f.get(B).set(C).get(T).mem(W.I32Load, 2, 4).set(IMM);
    counted();
    f.br('run');
    f.end().end();
    f.br('top');
  };
  const slow = (): void => { f.get(LEFT).i32(1).op(W.I32Add).set(LEFT); stop(Stop.Js); };
  // Conditions of the system instructions run here: (not) in S-mode; an interrupt pending and enabled in mie, which
  // JavaScript must take (a write that sets SIE then goes there).
  const notSMode = (): void => { f.get(FCX).i32(20).op(W.I32ShrU).i32(Priv.S).op(W.I32Ne); };
  const slowIfInterruptPending = (): void => {
    f.get(S).mem(W.I32Load, 2, 4 * HartSlot.MIP).get(S).mem(W.I32Load, 2, 4 * HartSlot.MIE).op(W.I32And).open(W.If, 'if'); slow(); f.end();
  };
  // A taken jump by IMM: hart.ts `backEdge` for a backward one, then on to the target.
  const taken = (): void => {
    f.get(IMM).i32(0).op(W.I32LtS).get(HOT).i32(0).op(W.I32GtS, W.I32And).open(W.If, 'if');
    f.get(FR).get(LB).op(W.I32Ne).open(W.If, 'if');
    f.get(FR).set(LB).i32(0).set(ST);
    f.op(W.Else);
    f.get(ST).i32(1).op(W.I32Add).op(W.LocalTee).uleb(ST).get(LST).op(W.I32GeS).open(W.If, 'if');
    f.get(PC).i32(0xffe).op(W.I32And).get(IMM).op(W.I32Add).op(W.LocalTee).uleb(A).i32(0).op(W.I32GeS).open(W.If, 'if');
    f.get(FR).get(A).i32(1).op(W.I32Shl, W.I32Add).set(T);
    f.get(T).get(T).mem(W.I32Load, 2, 4 * LOOP_COUNTS).i32(1).op(W.I32Add).op(W.LocalTee).uleb(B).mem(W.I32Store, 2, 4 * LOOP_COUNTS);
    f.get(B).get(HOT).op(W.I32Eq).open(W.If, 'if');
    f.get(PC).get(IMM).op(W.I32Add).set(PC); stop(Stop.Dispatch);
    f.end().end().end().end().end();
    f.get(PC).get(IMM).op(W.I32Add).set(PC).br('top');
  };

  const NOPS = Op.COUNT;
  f.open(W.Block, 'walk');
  f.open(W.Block, 'default');
  for (let k = NOPS - 1; k >= 0; k--) f.open(W.Block, `op${k}`);
  f.get(C).i32(0xff).op(W.I32And).op(W.BrTable).uleb(NOPS);
  for (let k = 0; k < NOPS; k++) f.uleb(k);
  f.uleb(NOPS);
  const aluI: Partial<Record<number, number>> = {
    [Op.ADDI]: W.I32Add, [Op.SLTI]: W.I32LtS, [Op.SLTIU]: W.I32LtU, [Op.XORI]: W.I32Xor, [Op.ORI]: W.I32Or,
    [Op.ANDI]: W.I32And, [Op.SLLI]: W.I32Shl, [Op.SRLI]: W.I32ShrU, [Op.SRAI]: W.I32ShrS,
  };
  const aluR: Partial<Record<number, number>> = {
    [Op.ADD]: W.I32Add, [Op.SUB]: W.I32Sub, [Op.SLL]: W.I32Shl, [Op.SLT]: W.I32LtS, [Op.SLTU]: W.I32LtU,
    [Op.XOR]: W.I32Xor, [Op.SRL]: W.I32ShrU, [Op.SRA]: W.I32ShrS, [Op.OR]: W.I32Or, [Op.AND]: W.I32And, [Op.MUL]: W.I32Mul,
  };
  const branch: Partial<Record<number, number>> = {
    [Op.BEQ]: W.I32Eq, [Op.BNE]: W.I32Ne, [Op.BLT]: W.I32LtS, [Op.BGE]: W.I32GeS, [Op.BLTU]: W.I32LtU, [Op.BGEU]: W.I32GeU,
  };
  for (let k = 0; k < NOPS; k++) {
    f.end(); // op k's code follows its block
    const ai = aluI[k], ar = aluR[k], br = branch[k];
    if (ai !== undefined) { f.open(W.Loop, 'run'); f.get(RD); rs1(); f.get(IMM).op(ai); toRd(); nextInRun(); f.end(); continue; }
    if (ar !== undefined) { f.open(W.Loop, 'run'); f.get(RD); rs1(); rs2(); f.op(ar); toRd(); nextInRun(); f.end(); continue; }
    if (br !== undefined) { rs1(); rs2(); f.op(br).open(W.If, 'if'); taken(); f.end(); next(); continue; }
    switch (k) {
      case Op.MULH: case Op.MULHSU: case Op.MULHU:
        f.get(RD);
        rs1(); f.op(k === Op.MULHU ? W.I64ExtendI32U : W.I64ExtendI32S);
        rs2(); f.op(k === Op.MULH ? W.I64ExtendI32S : W.I64ExtendI32U);
        f.op(W.I64Mul, W.I64Const, 32, k === Op.MULHU ? W.I64ShrU : W.I64ShrS, W.I32WrapI64);
        toRd(); next(); break;
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU: {
        rs1(); f.set(A); rs2(); f.set(B); f.get(RD);
        divRem(f, k, A, B); toRd(); next(); break;
      }
      case Op.AUIPC: f.get(RD).get(PC).get(IMM).op(W.I32Add); toRd(); next(); break;
      case Op.JAL:
        f.get(RD); afterC(); toRd();
        taken(); break;
      case Op.JALR:
        // The target before the link is written (rd may be rs1).
        rs1(); f.get(IMM).op(W.I32Add).i32(-2).op(W.I32And).set(A);
        f.get(RD); afterC(); toRd();
        f.get(A).set(PC).br('top'); break;
      case Op.LW: case Op.LH: case Op.LHU: case Op.LB: case Op.LBU:
      case Op.SW: case Op.SH: case Op.SB: {
        const store = k === Op.SW || k === Op.SH || k === Op.SB;
        const size = k === Op.LW || k === Op.SW ? 4 : k === Op.LB || k === Op.LBU || k === Op.SB ? 1 : 2;
        const align = size === 4 ? 2 : size === 2 ? 1 : 0;
        f.open(W.Loop, 'run');
        rs1(); f.get(IMM).op(W.I32Add).op(W.LocalTee).uleb(A);
        f.i32(12).op(W.I32ShrU).get(TM).op(W.I32And).i32(2).op(W.I32Shl).get(S).op(W.I32Add).set(T);
        f.get(T).mem(W.I32Load, 2, store ? HartSlot.STORE_TAG : HartSlot.LOAD_TAG);
        f.get(A).i32(12).op(W.I32ShrU).get(CX).op(W.I32Or, W.I32Ne);
        f.open(W.If, 'if');
        // A TLB miss of an aligned access: the page walk below; misaligned: JavaScript.
        if (size > 1) { f.get(A).i32(size - 1).op(W.I32And).open(W.If, 'if'); slow(); f.end(); }
        f.i32(store ? ACC_STORE : ACC_LOAD).set(ACC).br('walk');
        f.end();
        if (!store) f.get(RD);
        f.get(T).mem(W.I32Load, 2, store ? HartSlot.STORE_OFF : HartSlot.LOAD_OFF);
        f.get(A).i32(4095).op(W.I32And, W.I32Add);
        if (store) {
          rs2();
          f.mem(size === 4 ? W.I32Store : size === 2 ? W.I32Store16 : W.I32Store8, align, 0);
        } else {
          f.mem(k === Op.LW ? W.I32Load : k === Op.LH ? W.I32Load16S : k === Op.LHU ? W.I32Load16U : k === Op.LB ? W.I32Load8S : W.I32Load8U, align, 0);
          toRd();
        }
        nextInRun(); f.end(); break;
      }
      case Op.FENCE: f.op(0xfe, 0x03, 0x00); next(); break; // atomic.fence
      case Op.SFENCE_VMA:
        // One page's translations (hart.ts flushTlbPage), where allowed: M-mode, or S-mode without mstatus.TVM.
        // Everything (rs1 = x0) and a page of a superpage region (its whole region goes) are left to JavaScript.
        f.get(FCX).i32(20).op(W.I32ShrU).set(B);
        f.get(B).i32(3).op(W.I32Eq);
        f.get(B).i32(1).op(W.I32Eq).get(S).mem(W.I32Load, 2, 4 * HartSlot.MSTATUS).i32(20).op(W.I32ShrU).i32(1).op(W.I32And, W.I32Eqz, W.I32And);
        f.op(W.I32Or, W.I32Eqz).get(C).i32(14).op(W.I32ShrU).i32(31).op(W.I32And, W.I32Eqz, W.I32Or).open(W.If, 'if'); slow(); f.end();
        rs1(); f.i32(12).op(W.I32ShrU).set(A); // vpn
        f.get(S).get(A).i32(10).op(W.I32ShrU, W.I32Add).mem(W.I32Load8U, 0, HartSlot.SUPER).open(W.If, 'if'); slow(); f.end();
        f.get(A).get(TM).op(W.I32And).i32(2).op(W.I32Shl).get(S).op(W.I32Add).set(T);
        for (const tag of [HartSlot.FETCH_TAG, HartSlot.LOAD_TAG, HartSlot.STORE_TAG]) {
          f.get(T).mem(W.I32Load, 2, tag).i32(0xfffff).op(W.I32And).get(A).op(W.I32Eq).open(W.If, 'if');
          f.get(T).i32(-1).mem(W.I32Store, 2, tag);
          f.end();
        }
        f.i32(-1).set(VPAGE); // (the current page is looked up again, as after JavaScript's `refetch`)
        next(); break;
      case Op.LR_W: case Op.SC_W: case Op.AMOSWAP_W: case Op.AMOADD_W: case Op.AMOXOR_W: case Op.AMOAND_W: case Op.AMOOR_W: {
        // Aligned, and in the load TLB (LR) or the store TLB (SC, AMOs: never a page of decoded code), after a walk if
        // need be, as hart.ts amoIndex; A = the RAM byte offset. Reservation: the slot's RES_OFF and RES_VAL words.
        const lr = k === Op.LR_W;
        rs1(); f.op(W.LocalTee).uleb(A).i32(12).op(W.I32ShrU).get(TM).op(W.I32And).i32(2).op(W.I32Shl).get(S).op(W.I32Add).set(T);
        f.get(A).i32(3).op(W.I32And).open(W.If, 'if'); slow(); f.end(); // misaligned: JavaScript raises the fault
        // A TLB miss: the page walk, as for loads and stores.
        f.get(T).mem(W.I32Load, 2, lr ? HartSlot.LOAD_TAG : HartSlot.STORE_TAG);
        f.get(A).i32(12).op(W.I32ShrU).get(CX).op(W.I32Or, W.I32Ne);
        f.open(W.If, 'if'); f.i32(lr ? ACC_LOAD : k === Op.SC_W ? ACC_SC : ACC_STORE).set(ACC).br('walk'); f.end();
        f.get(T).mem(W.I32Load, 2, lr ? HartSlot.LOAD_OFF : HartSlot.STORE_OFF).get(A).i32(4095).op(W.I32And, W.I32Add).set(A);
        if (lr) {
          f.get(A).op(0xfe, 0x10, 2, 0).set(B); // i32.atomic.load
          f.get(S).get(A).mem(W.I32Store, 2, 4 * HartSlot.RES_OFF);
          f.get(S).get(B).mem(W.I32Store, 2, 4 * HartSlot.RES_VAL);
          f.get(RD).get(B); toRd();
        } else if (k === Op.SC_W) {
          // Succeeds if the reservation is ours and memory still holds what LR saw (compare-and-swap).
          f.get(S).mem(W.I32Load, 2, 4 * HartSlot.RES_OFF).get(A).op(W.I32Eq).open(W.If, 'if', W.I32);
          f.get(A).get(S).mem(W.I32Load, 2, 4 * HartSlot.RES_VAL); rs2(); f.op(0xfe, 0x48, 2, 0); // i32.atomic.rmw.cmpxchg
          f.get(S).mem(W.I32Load, 2, 4 * HartSlot.RES_VAL).op(W.I32Ne);
          f.op(W.Else).i32(1).end().set(B);
          f.get(S).i32(-1).mem(W.I32Store, 2, 4 * HartSlot.RES_OFF);
          f.get(RD).get(B); toRd();
        } else {
          const rmw = ({ [Op.AMOSWAP_W]: 0x41, [Op.AMOADD_W]: 0x1e, [Op.AMOXOR_W]: 0x3a, [Op.AMOAND_W]: 0x2c, [Op.AMOOR_W]: 0x33 } as Record<number, number>)[k];
          f.get(A); rs2(); f.op(0xfe, rmw, 2, 0).set(B);
          f.get(S).mem(W.I32Load, 2, 4 * HartSlot.RES_OFF).get(A).op(W.I32Eq).open(W.If, 'if');
          f.get(S).i32(-1).mem(W.I32Store, 2, 4 * HartSlot.RES_OFF);
          f.end();
          f.get(RD).get(B); toRd();
        }
        next(); break;
      }
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI: {
        // In S-mode, the CSRs Linux uses most, as hart.ts does them; anything else goes to JavaScript. No write here
        // can let an interrupt in (JavaScript takes those), and none changes a TLB context. A 4-vCPU boot left
        // ~270,000 instructions to JavaScript, 40% of them sstatus writes (SIE cleared and restored around every
        // spinlock taken with interrupts saved), 8% reads of time, 5% the trap CSRs.
        const kind = k >= Op.CSRRWI ? k - 3 : k;
        const source = (): void => {
          if (k >= Op.CSRRWI) f.get(C).i32(14).op(W.I32ShrU).i32(31).op(W.I32And).set(B); // uimm
          else { rs1(); f.set(B); }
        };
        const oldToRd = (old: () => void): void => {
          // (x0 is not the sink for CSR instructions, decode.ts)
          f.get(C).i32(8).op(W.I32ShrU).i32(63).op(W.I32And).open(W.If, 'if');
          f.get(RD); old(); toRd();
          f.end();
        };
        notSMode(); f.open(W.If, 'if'); slow(); f.end();
        // sscratch, sepc, scause, stval: slot words SSCRATCH.. in CSR order.
        f.get(IMM).i32(Csr.SSCRATCH).op(W.I32Sub).i32(4).op(W.I32LtU).open(W.If, 'if');
        f.get(IMM).i32(Csr.SSCRATCH - HartSlot.SSCRATCH).op(W.I32Sub).i32(2).op(W.I32Shl).get(S).op(W.I32Add).set(T);
        f.get(T).mem(W.I32Load, 2, 0).set(A);
        source();
        f.get(T);
        if (kind === Op.CSRRW) f.get(B);
        else if (kind === Op.CSRRS) f.get(A).get(B).op(W.I32Or);
        else f.get(A).get(B).i32(-1).op(W.I32Xor, W.I32And);
        f.i32(-1).get(IMM).i32(Csr.SEPC).op(W.I32Eq).op(W.I32Sub, W.I32And); // sepc: bit 0 reads as zero
        f.mem(W.I32Store, 2, 0);
        oldToRd(() => f.get(A));
        next();
        f.end();
        // time, timeh: reads only (a write, to a read-only CSR, is illegal).
        f.get(IMM).i32(Csr.TIME).op(W.I32Eq).get(IMM).i32(Csr.TIMEH).op(W.I32Eq).op(W.I32Or).open(W.If, 'if');
        if (kind === Op.CSRRW) slow();
        else {
          f.get(C).i32(14).op(W.I32ShrU).i32(31).op(W.I32And).open(W.If, 'if'); slow(); f.end();
          f.get(S).op(W.Call, 0).op(W.I32Eqz).open(W.If, 'if'); slow(); f.end();
          oldToRd(() => {
            f.get(S).get(IMM).i32(Csr.TIMEH).op(W.I32Eq).i32(2).op(W.I32Shl, W.I32Add).mem(W.I32Load, 2, 4 * HartSlot.TIME_LO);
          });
          next();
        }
        f.end();
        // sstatus, when the write changes no bit but SIE and leaves no interrupt pending and enabled.
        f.get(IMM).i32(Csr.SSTATUS).op(W.I32Ne).open(W.If, 'if'); slow(); f.end();
        f.get(S).mem(W.I32Load, 2, 4 * HartSlot.MSTATUS).set(A); // mstatus
        source();
        // T = the sstatus written; then the sstatus bits that change.
        if (kind === Op.CSRRW) f.get(B);
        else if (kind === Op.CSRRS) f.get(A).i32(SSTATUS_MASK).op(W.I32And).get(B).op(W.I32Or);
        else f.get(A).get(B).i32(-1).op(W.I32Xor, W.I32And);
        f.get(A).op(W.I32Xor).i32(SSTATUS_MASK).op(W.I32And).op(W.LocalTee).uleb(T);
        f.i32(~Mstatus.SIE).op(W.I32And).open(W.If, 'if'); slow(); f.end();
        f.get(A).get(T).op(W.I32Xor).set(T); // the new mstatus
        f.get(T).i32(Mstatus.SIE).op(W.I32And).open(W.If, 'if');
        slowIfInterruptPending();
        f.end();
        f.get(S).get(T).mem(W.I32Store, 2, 4 * HartSlot.MSTATUS);
        oldToRd(() => f.get(A).i32(SSTATUS_MASK).op(W.I32And));
        next(); break;
      }
      case Op.PAUSE: {
        // Pause-loop exiting as hart.ts `pause` does it, on the instruction clock ICLOCK + instructions run here.
        // Linux spins with PAUSE on contended locks; each one in JavaScript made a spin 10-20x slower in wall time
        // for the same window in instructions, while the lock holder waited for the CPU the spinner held.
        f.get(S).mem(W.I32Load, 2, 4 * HartSlot.EXIT_ON_PAUSE).open(W.If, 'if'); slow(); f.end();
        f.get(S).get(S).mem(W.I32Load, 2, 4 * HartSlot.PAUSES).i32(1).op(W.I32Add).mem(W.I32Store, 2, 4 * HartSlot.PAUSES);
        f.get(S).mem(W.I32Load, 2, 4 * HartSlot.PLE_GAP).op(W.LocalTee).uleb(B).i32(0).op(W.I32GtS).open(W.If, 'if');
        f.get(S).mem(W.I32Load, 2, 4 * HartSlot.ICLOCK).get(LEFT0).get(LEFT).op(W.I32Sub, W.I32Add).set(A); // now
        f.get(A).get(S).mem(W.I32Load, 2, 4 * HartSlot.LAST_PAUSE).op(W.I32Sub).get(B).op(W.I32GtU).open(W.If, 'if');
        f.get(S).get(A).mem(W.I32Store, 2, 4 * HartSlot.SPIN_START);
        f.end();
        f.get(S).get(A).mem(W.I32Store, 2, 4 * HartSlot.LAST_PAUSE);
        f.get(A).get(S).mem(W.I32Load, 2, 4 * HartSlot.SPIN_START).op(W.I32Sub).get(S).mem(W.I32Load, 2, 4 * HartSlot.PLE_WINDOW).op(W.I32GtU);
        f.open(W.If, 'if');
        f.get(S).get(A).mem(W.I32Store, 2, 4 * HartSlot.SPIN_START);
        pastC();
        stop(Stop.Pause);
        f.end();
        f.end();
        next(); break;
      }
      case Op.SRET: {
        // From S-mode back to S-mode (SPP set, TSR clear), as hart.ts does it: the privilege and so the TLB contexts
        // stay; SIE comes back from SPIE, unless that would let a pending interrupt in (JavaScript then takes it
        // after the instruction). Every interrupt Linux takes in the kernel (timer ticks, IPIs) returns this way.
        f.get(S).mem(W.I32Load, 2, 4 * HartSlot.MSTATUS).set(A);
        notSMode();
        f.get(A).i32(Mstatus.TSR).op(W.I32And, W.I32Or).get(A).i32(Mstatus.SPP).op(W.I32And, W.I32Eqz, W.I32Or);
        f.open(W.If, 'if'); slow(); f.end();
        f.get(A).i32(~(Mstatus.SIE | Mstatus.SPP | Mstatus.MPRV)).op(W.I32And).i32(Mstatus.SPIE).op(W.I32Or);
        f.get(A).i32(Mstatus.SPIE).op(W.I32And).i32(4).op(W.I32ShrU).op(W.I32Or).set(B); // SPIE (bit 5) -> SIE (bit 1)
        f.get(B).i32(Mstatus.SIE).op(W.I32And).open(W.If, 'if');
        slowIfInterruptPending();
        f.end();
        f.get(S).get(B).mem(W.I32Store, 2, 4 * HartSlot.MSTATUS);
        f.get(S).i32(-1).mem(W.I32Store, 2, 4 * HartSlot.RES_OFF);
        f.get(S).mem(W.I32Load, 2, 4 * HartSlot.SEPC).i32(-2).op(W.I32And).set(PC).br('top');
        break;
      }
      default: slow(); // everything else: other system instructions, AMOMIN/MAX(U), FENCE.I, ILLEGAL
    }
  }
  f.end(); // default: every other instruction
  slow();
  f.end(); // walk
  walk(f, slow);
  f.end().end(); // top, exit
  const slotStore = (w: number, from: number): void => { f.get(S).get(from).mem(W.I32Store, 2, 4 * w); };
  slotStore(HartSlot.JIT_LEFT, LEFT); slotStore(HartSlot.STOP, STOP); slotStore(HartSlot.LAST_BACK, LB); slotStore(HartSlot.STREAK, ST);
  f.get(PC);
  return f;
}

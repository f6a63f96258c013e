/**
 * One RISC-V RV32IMAC hart (M/S/U, Sv32): the vCPU engine. It knows nothing of VMs: the executor calls
 * `run(budget)` and gets back an Exit code, as with KVM_RUN. Time is an input (`time`), never read from a clock,
 * so the threaded and the deterministic executors run exactly the same code.
 *
 * Performance notes (the interpreter is also the reference for the translator):
 *  - instructions are pre-decoded once per physical code page into an Int32Array of [word, imm] pairs (a view of
 *    a frame in guest memory when the hart has a slot there);
 *  - loads/stores go through direct-mapped TLBs holding the RAM byte offset of each virtual page, so the
 *    common case is one compare and one typed-array access; MMIO, faults and misses take the slow path. Tags
 *    carry the translation context (privilege, SUM, MXR, MPRV), so traps and mode switches flush nothing, and
 *    SFENCE.VMA of one address drops one page;
 *  - pages holding decoded code are never entered in the store TLB, so a store to code takes the slow path
 *    and invalidates the decoded page (self-modifying code works; FENCE.I drops every decoded page whose bytes
 *    changed since it was decoded, from a snapshot of the page taken at its first fetch);
 *  - with engine 'jit' (the default; HARTVISOR_ENGINE=interp turns it off) hot loops are translated (jit.ts, to
 *    WebAssembly or JavaScript), and the rest runs first in the interpreter in WebAssembly (interp-wasm.ts, over
 *    decoded pages kept in frames of guest memory), which stops for `step` in front of what it does not do; `interp`
 *    stays the reference (engine 'interp') and the fallback of a hart without a slot in guest memory.
 */
import { CODE_PAGE_WORDS, GuestMemory, HartSlot, PAGE_SIZE, SNAPSHOT_WORD, snapshotInstruction } from './memory.js';
import { RUN_BIT, Stop, WasmInterp, setTimeSource, wasmInterpreter } from './interp-wasm.js';
import { Decoded, Op, decode16, decode32 } from './decode.js';
import { mulh, mulhsu, mulhu } from './alu.js';
import { Engine, JitStats, MIN_RUN, PROBE_CALLS, Translator, defaultAdoptDecoded, defaultBackEnd, defaultEngine, defaultJitThreshold, defaultWasmInterp } from './jit.js';
import type { JitState } from './jit.js';
import { warmUpOnce } from './warmup.js';
import { unsupportedInstruction } from './unsupported.js';
import {
  CAUSE_NAMES, Cause, Csr, Irq, MEDELEG_MASK, MIP_MASK, MSTATUS_WRITABLE, Mstatus, Priv, SIP_MASK, SSTATUS_MASK,
} from './csr.js';

/** Memory-mapped devices outside RAM. `undefined` from read / `false` from write means an access fault. */
export interface Mmio {
  read(paddr: number, size: 1 | 2 | 4): number | undefined;
  write(paddr: number, size: 1 | 2 | 4, value: number): boolean;
}

/** Why `run` returned. */
export const Exit = {
  /** The instruction budget ran out. */
  Budget: 0,
  /** WFI with no interrupt pending: the executor may sleep until one is. pc is past the WFI. */
  Wfi: 1,
  /** ECALL from S-mode with `sbiMode`: the SBI call is in a0-a7; the hypervisor handles it and sets a0/a1. pc is past it. */
  Ecall: 2,
  /** A pause-loop exit (PLE): the hart has been spinning on PAUSE (see `pleGap`/`pleWindow`), or every PAUSE when `exitOnPause`. */
  Pause: 3,
  /** The hart trapped into a handler that itself faulted at once (e.g. no trap vector): unrecoverable. */
  TrapLoop: 4,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

export interface HartOptions {
  hartId?: number;
  mmio?: Mmio;
  /** Guest mode of a KVM-style hypervisor: S-mode ECALLs exit to the host (SBI), there is no M-mode software. */
  sbiMode?: boolean;
  /** 'jit': hot loops are translated to JavaScript (jit.ts), the rest interpreted; 'interp': the interpreter
   *  only, the reference. The default follows HARTVISOR_ENGINE (see `defaultEngine`: the translator unless it says interp). */
  engine?: Engine;
  /** Engine 'jit': iterations of a loop (backward branches to its head) before it is translated (default:
   *  HARTVISOR_JIT_THRESHOLD, else DEFAULT_JIT_THRESHOLD). Below 8 (tests) every pc the run loop sees is
   *  translated, loop or not. */
  jitThreshold?: number;
  /** Engine 'jit': what regions are compiled to, 'wasm' (the default where the hart has a slot in a WebAssembly
   *  memory; see jit-wasm.ts) or 'js' (default: HARTVISOR_JIT_BACKEND, else 'wasm'). */
  jitBackEnd?: 'wasm' | 'js';
  /** Engine 'jit': what is not translated runs first through the interpreter in WebAssembly (interp-wasm.ts), where
   *  the hart has a slot (default: true unless HARTVISOR_WASM_INTERP is '0'). */
  wasmInterp?: boolean;
  /** With the WebAssembly interpreter: a page this hart has not decoded yet starts as a copy of another hart's
   *  decoding of it, when one is up to date (memory.ts adoptDecodedPage; default: true unless
   *  HARTVISOR_ADOPT_DECODED is '0'). */
  adoptDecoded?: boolean;
  /**
   * Run the engine warm-up (warmup.ts) first, once per thread: fewer V8 deoptimizations in long runs, for a few
   * ms of CPU. vCPU threads do it while they wait in the spare pool (VmConfig.warmUp), not here.
   */
  warmUp?: boolean;
}

/** Hart.translate's results other than a RAM offset: a fault was raised; the address is not RAM (see lastPa). */
const FAULT = -1;
const NOT_RAM = -2;

/**
 * TLB sizes (direct-mapped, by virtual page number). A hart starts with 1,024 entries (4 MiB), which cover code and
 * data of most guests and cost little to create and flush: with 256, Linux's 1.2 MiB of text evicted its own pages
 * (0xc002xxxx and 0xc012xxxx share entries) and each such fetch miss went to JavaScript (4-vCPU boot: 13,000 of
 * 152,000 exits to it; 1,024 made a 1-vCPU deterministic boot 5% faster). It grows once to 32,768 (128 MiB of 4 KiB
 * pages; 768 KiB of arrays) when refills come faster than one per GROW_INSTR_PER_REFILL instructions over
 * GROW_CHECK_REFILLS refills: a guest striding over a large mapping then misses on nearly every access
 * (kvm-unit-tests' sieve over 100 MB of vmalloc'd memory: 45 s with 256 entries, 14 s with 32,768).
 */
const TLB_SIZE = 1 << 10;
const BIG_TLB_SIZE = 1 << 15;
const GROW_CHECK_REFILLS = 1 << 13;
const GROW_INSTR_PER_REFILL = 64;
/** A decoded code page: [word, imm] per halfword slot, two words for an instruction straddling its end
 *  (STRADDLE_WORD), then (from LOOP_COUNTS) one counter per halfword of the times a backward branch or jump on the
 *  page went there (the translator's hotness; jit.ts), then the page's bytes it was decoded from (memory.ts
 *  SNAPSHOT_WORD). */
const LOOP_COUNTS = PAGE_SIZE + 2;
const CODE_PAGE_LENGTH = CODE_PAGE_WORDS;
/** Consecutive iterations of a loop before its iterations count towards its translation (see `loopStreak`). */
const MIN_STREAK = 32;
/** Drops a TLB's entries for the pages of one 4 MiB region (va >>> 22), in every context: only the (at most 1,024)
 *  slots its pages map to. */
function dropRegion(tag: Int32Array, region: number): void {
  const mask = tag.length - 1, n = Math.min(tag.length, 1024);
  for (let k = 0; k < n; k++) {
    const t = ((region << 10) + k) & mask;
    if (((tag[t] & 0xfffff) >>> 10) === region) tag[t] = -1;
  }
}

/** With a tiny jitThreshold (tests), the longest stretch interpreted before the run loop looks at the pc again. */
const JIT_CHUNK = 64;
/** Instructions `decodeAhead` decodes after the one the WebAssembly interpreter stopped at. */
const DECODE_AHEAD = 32;
const STRADDLE = 1 << 31;
/** Word index, in a decoded page, of the last straddling instruction's decoding and its upper half (interp-wasm.ts). */
const STRADDLE_WORD = PAGE_SIZE;
const NO_DEVICE: Mmio = { read: () => undefined, write: () => false };

const enum Access { Fetch = 0, Load = 1, Store = 2 }
const enum Pte { V = 1, R = 2, W = 4, X = 8, U = 16, G = 32, A = 64, D = 128 }

export class Hart {
  readonly mem: GuestMemory;
  readonly hartId: number;
  /** x0..x31, then the sink register 32 that absorbs writes to x0. */
  readonly regs: Int32Array;
  /** The hart's slot in guest memory (byte offset; -1: none, its state lives in its own arrays), and the slot's
   *  words (regs, then JIT_LEFT and DATA_CTX; memory.ts): translated WebAssembly code works on them. */
  readonly slot: number;
  private readonly hs: Int32Array;
  /** Program counter (kept as int32 internally; read it with `>>> 0`). */
  pc = 0x80000000 | 0;
  priv: number = Priv.M;
  /** Retired instructions (exact). */
  instret = 0;
  /** Value of the time CSR, in timebase ticks, when `instret` was `timeInstret`; set by the executor. */
  time = 0;
  timeInstret = 0;
  /** Ticks per retired instruction between executor updates (0: time stands still within a run). A virtual
   *  clock (deterministic executor) advances with the instructions, as the guest would see on hardware. */
  timeScale = 0;
  /** Optional live time source (ticks) supplied by the executor, e.g. the wall clock of the threaded executor;
   *  when set, a read of the time CSR is always current. The engine itself never reads a clock. */
  clock: (() => number) | null = null;
  /** With a live `clock`: the timer compare value (ticks) of the executor's timer. A read of the time CSR that
   *  reaches it raises STIP and takes the interrupt right after the reading instruction, as a hart with a
   *  hardware comparator would; without it a guest could see the deadline pass and still run on for a slice. */
  timerCmp = Infinity;
  private timerRaised = false;
  /** With a live `clock`: the time the guest last read (NaN once the executor clears it). */
  timeSeen = NaN;
  /** Pause-loop exiting: a PAUSE more than `pleGap` instructions after the previous one starts a new spin;
   *  a spin longer than `pleWindow` instructions exits with Exit.Pause. `pleGap` 0 turns PLE off. */
  get pleGap(): number { return this.hs[HartSlot.PLE_GAP]; }
  set pleGap(v: number) { this.hs[HartSlot.PLE_GAP] = v; }
  get pleWindow(): number { return this.hs[HartSlot.PLE_WINDOW]; }
  set pleWindow(v: number) { this.hs[HartSlot.PLE_WINDOW] = v; }
  /** Exit on every PAUSE instruction (a scheduler that counts pauses itself). */
  get exitOnPause(): boolean { return this.hs[HartSlot.EXIT_ON_PAUSE] !== 0; }
  set exitOnPause(v: boolean) { this.hs[HartSlot.EXIT_ON_PAUSE] = v ? 1 : 0; }
  /** Count of PAUSE instructions executed (modulo 2^32). */
  get pauses(): number { return this.hs[HartSlot.PAUSES] >>> 0; }
  set pauses(v: number) { this.hs[HartSlot.PAUSES] = v; }
  readonly sbiMode: boolean;
  mmio: Mmio;

  // CSRs
  /** mstatus, kept in the slot's MSTATUS word. */
  get mstatus(): number { return this.hs[HartSlot.MSTATUS]; }
  set mstatus(v: number) { this.hs[HartSlot.MSTATUS] = v; }
  misa = (1 << 30) | (1 << 0) | (1 << 2) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20); // RV32 A C I M S U
  /** mip and mie, kept in the slot's MIP and MIE words. */
  get mip(): number { return this.hs[HartSlot.MIP]; }
  set mip(v: number) { this.hs[HartSlot.MIP] = v; }
  get mie(): number { return this.hs[HartSlot.MIE]; }
  set mie(v: number) { this.hs[HartSlot.MIE] = v; }
  medeleg = 0; mideleg = 0; mtvec = 0; mcounteren = 0; mscratch = 0; mepc = 0; mcause = 0; mtval = 0;
  stvec = 0; scounteren = 0;
  /** sscratch, sepc, scause and stval, kept in the slot (the WebAssembly interpreter reads and writes them). */
  get sscratch(): number { return this.hs[HartSlot.SSCRATCH]; }
  set sscratch(v: number) { this.hs[HartSlot.SSCRATCH] = v; }
  get sepc(): number { return this.hs[HartSlot.SEPC]; }
  set sepc(v: number) { this.hs[HartSlot.SEPC] = v; }
  get scause(): number { return this.hs[HartSlot.SCAUSE]; }
  set scause(v: number) { this.hs[HartSlot.SCAUSE] = v; }
  get stval(): number { return this.hs[HartSlot.STVAL]; }
  set stval(v: number) { this.hs[HartSlot.STVAL] = v; }
  /** satp, kept in the slot's SATP word (the WebAssembly interpreter walks page tables). */
  get satp(): number { return this.hs[HartSlot.SATP]; }
  set satp(v: number) { this.hs[HartSlot.SATP] = v; }
  menvcfg = 0; senvcfg = 0; mcountinhibit = 0;
  /** minstret and mcycle are instret plus a 64-bit offset (hi, lo words) that CSR writes set, so the guest sees
   *  exact 64-bit counters while `instret` itself only ever counts up. */
  private instretOff = [0, 0];
  private cycleOff = [0, 0];
  readonly pmpcfg = new Int32Array(4);
  readonly pmpaddr = new Int32Array(16);

  // LR/SC reservation (physical RAM byte offset, or -1) and the value LR saw.
  private get resOff(): number { return this.hs[HartSlot.RES_OFF]; }
  private set resOff(v: number) { this.hs[HartSlot.RES_OFF] = v; }
  private get resVal(): number { return this.hs[HartSlot.RES_VAL]; }
  private set resVal(v: number) { this.hs[HartSlot.RES_VAL] = v; }

  // TLBs: tag = virtual page number (or -1), value = RAM byte offset of the page.
  /**
   * TLB tags are the virtual page number with the translation context in bits 20-25, so that entries made in one
   * context never match in another and a change of context needs no flush: Linux switches privilege on every trap
   * and toggles sstatus.SUM around every user-memory access (a boot did ~130,000 flushes and a million page walks
   * before). Fetches depend on the privilege only; loads and stores on it, the data privilege (MPRV) and SUM/MXR.
   */
  fetchCtx = 0;
  dataCtx = 0;
  /** 4 MiB regions (va >>> 22) where a superpage was walked since the last full flush: an SFENCE.VMA of one page
   *  there must drop every cached page of the region, all derived from that one leaf. */
  private readonly superRegions: Uint8Array;
  /** The physical address of the last translation that found no RAM (MMIO). */
  private lastPa = 0;
  // The TLBs (tag: page number | context, or -1; off: the page's RAM offset), all of tlbMask + 1 entries (setTlb).
  private tlbMask!: number;
  private fetchTag!: Int32Array;
  private fetchOff!: Int32Array;
  private loadTag!: Int32Array;
  private loadOff!: Int32Array;
  private storeTag!: Int32Array;
  private storeOff!: Int32Array;
  /** Data TLB refills since `refillMark` (instret then): the measure that grows the TLB (see BIG_TLB_SIZE). */
  private refills = 0;
  private refillMark = 0;
  /** Decoded code pages, indexed by RAM page number: [word, imm] per halfword slot. */
  private code: (Int32Array | undefined)[];
  /** The RAM pages `code` has held since the last full flush or fence.i (some since dropped), each once (`listed`):
   *  what a fence.i looks at. */
  private codePages: number[] = [];
  private listed: Uint8Array;
  /** With the WebAssembly interpreter (interp-wasm.ts): the slot's code map (RAM page → its frame's decoded page,
   *  as a byte address in guest memory, or 0), the frames this hart may reuse, and the interpreter. Decoded pages
   *  then live in frames, which the slot keeps for its next hart (memory.ts). */
  private readonly codeMap: Int32Array | null = null;
  private readonly freeFrames: number[] = [];
  /** Whether new decoded pages start as copies of other harts' (HartOptions.adoptDecoded), and how many did. */
  private readonly adoptPages: boolean;
  adopted = 0;
  private readonly wasmInterp: WasmInterp | null = null;
  /** Set when a store hits a decoded page, so the run loop re-fetches its current page. */
  private codeDirty = false;
  private readonly dec: Decoded = { word: 0, imm: 0 };

  // Trap bookkeeping for the run loop (no exceptions, no allocation on the hot path).
  private trapped = false;
  /** Budget left when `interp` returned, and the budget left after the first instruction of the current call. */
  private interpLeft = 0;
  private entryLeft = 0;
  /** Loop count at which the interpreter stops at a loop head for the translator (0: never, engine 'interp'), and
   *  the consecutive iterations from which an iteration counts (loops that run only a few iterations at a time
   *  are not worth a translation: each entry would cost more than it saves). */
  private readonly loopHot: number;
  private readonly loopStreak: number;
  /** backEdge's state: the code page of the last backward branch, and how many in a row were on it. */
  private lastBack: Int32Array | null = null;
  private streak = 0;
  /** The engine running this hart's code. */
  readonly engine: Engine;
  /** The translator (engine 'jit'), or null. */
  private readonly jit: Translator | null;
  private runTraps = 0;
  private lastTrapCause = -1;
  private lastTrapPc = 0;
  private lastTrapTval = 0;
  private trapLoop = false;
  /**
   * A guest in S-mode that executes a standard instruction this engine lacks (unsupported.ts) stops the run
   * (Exit.TrapLoop with `unsupported.stopped`) instead of taking the illegal-instruction trap hardware would raise.
   */
  stopOnUnsupported = false;
  /** The last unimplemented standard instruction the guest executed; the caller reads and clears it. */
  unsupported: { what: string; inst: number; pc: number; priv: number; stopped: boolean } | null = null;
  /** Set by CSR writes, SFENCE.VMA and interrupts: the run loop must re-translate its code page. */
  private refetch = false;

  constructor(mem: GuestMemory, opts: HartOptions = {}) {
    this.mem = mem;
    this.hartId = opts.hartId ?? 0;
    this.mmio = opts.mmio ?? NO_DEVICE;
    this.sbiMode = opts.sbiMode ?? false;
    this.code = new Array(mem.size / PAGE_SIZE);
    this.listed = new Uint8Array(mem.size / PAGE_SIZE);
    this.slot = mem.claimHartSlot(this.hartId);
    this.hs = this.slot >= 0 ? new Int32Array(mem.sab, this.slot, HartSlot.WORDS) : new Int32Array(HartSlot.WORDS);
    // The frames of the slot's earlier harts are all free now; its code map is cleared.
    const frames = this.hs[HartSlot.FRAMES];
    this.hs.fill(0);
    this.hs[HartSlot.FRAMES] = frames;
    this.resOff = -1;
    this.hs[HartSlot.RAM_BASE] = mem.base | 0;
    this.hs[HartSlot.RAM_SIZE] = mem.size;
    this.hs[HartSlot.PLE_WINDOW] = 4096;
    this.hs[HartSlot.LAST_PAUSE] = 0x80000000 | 0; // long before any PAUSE (the clock's distances are unsigned)
    // In the slot, where the WebAssembly interpreter's SFENCE.VMA reads them.
    this.superRegions = this.slot >= 0 ? new Uint8Array(mem.sab, this.slot + HartSlot.SUPER, 1024) : new Uint8Array(1024);
    this.superRegions.fill(0);
    this.regs = this.hs.subarray(0, 34);
    if (this.slot >= 0) slotRelease.register(this, { mem, slot: this.slot }, this);
    this.setTlb(TLB_SIZE);
    this.engine = opts.engine ?? defaultEngine();
    // On request, the first hart of a thread first warms the engine up (warmup.ts).
    if (opts.warmUp) warmUpOnce((m, o) => new Hart(m, o), this.engine);
    const threshold = opts.jitThreshold ?? defaultJitThreshold();
    if (!(Number.isInteger(threshold) && threshold >= 1)) throw new RangeError(`jitThreshold must be a positive integer, got ${threshold}`);
    this.adoptPages = opts.adoptDecoded ?? defaultAdoptDecoded();
    this.loopHot = this.engine === 'jit' ? threshold : 0;
    this.loopStreak = threshold < 8 ? 0 : Math.min(MIN_STREAK, threshold >> 2);
    if (this.engine === 'jit' && this.slot >= 0 && (opts.wasmInterp ?? defaultWasmInterp())) {
      this.wasmInterp = wasmInterpreter(mem);
      if (this.wasmInterp !== null) {
        setTimeSource(mem, this.slot, this);
        const map = mem.codeMapOf(this.slot);
        this.codeMap = mem.view(map, mem.size / PAGE_SIZE).fill(0);
        this.hs[HartSlot.CODE_MAP] = map;
        this.hs[HartSlot.LOOP_HOT] = this.loopHot;
        this.hs[HartSlot.LOOP_STREAK] = this.loopStreak;
        for (let f = frames; f !== 0; f = mem.i32Word(f)) this.freeFrames.push(f);
      }
    }
    this.jit = this.engine === 'jit' ? new Translator(this, {
      regs: this.regs, hs: this.hs, slot: this.slot, mem, code: this.code, ...this.dataTlbs(),
    }, threshold, opts.jitBackEnd ?? defaultBackEnd()) : null;
    if (this.sbiMode) {
      // No M-mode software: every S-level interrupt and exception is delegated, as under KVM.
      this.mideleg = SIP_MASK;
      this.medeleg = MEDELEG_MASK & ~(1 << Cause.ECALL_S);
      this.mcounteren = 7;
      this.priv = Priv.S;
    }
    this.modeChanged();
  }

  /** Gives the hart's slot in guest memory back (the hart is not run again). */
  dispose(): void {
    if (this.slot < 0 || this.disposed) return;
    this.disposed = true;
    if (this.wasmInterp !== null) setTimeSource(this.mem, this.slot, null);
    slotRelease.unregister(this);
    this.mem.releaseHartSlot(this.slot);
  }
  private disposed = false;

  /** Puts the hart at `pc` in privilege `priv` with cleared registers' pending state kept. */
  reset(pc: number, priv: number): void {
    this.pc = pc | 0;
    this.priv = priv;
    this.resOff = -1;
    this.flushTlb();
    this.modeChanged();
  }

  /** A readable description of the last trap (for errors and conformance reports). */
  trapInfo(): string {
    if (this.lastTrapCause < 0) return 'no trap';
    const intr = this.lastTrapCause < 0 || (this.lastTrapCause & 0x80000000) !== 0;
    const name = intr ? `interrupt ${this.lastTrapCause & 0x7fffffff}` : (CAUSE_NAMES[this.lastTrapCause] ?? `cause ${this.lastTrapCause}`);
    return `${name} (tval 0x${(this.lastTrapTval >>> 0).toString(16)}) at pc 0x${(this.lastTrapPc >>> 0).toString(16)}` +
      (this.trapLoop ? ', and its trap handler faulted at once' : '');
  }

  /** The TLB contexts after a change of privilege or of mstatus (see `fetchCtx`). */
  private modeChanged(): void {
    this.fetchCtx = this.priv << 20;
    this.hs[HartSlot.FETCH_CTX] = this.fetchCtx;
    this.dataCtx = (this.priv | (this.dataPriv() << 2) | (((this.mstatus >>> 18) & 3) << 4)) << 20; // SUM, MXR
    this.hs[HartSlot.DATA_CTX] = this.dataCtx;
  }

  /** Drops every translation (satp, SFENCE.VMA of everything). */
  flushTlb(): void {
    this.fetchTag.fill(-1);
    this.loadTag.fill(-1);
    this.storeTag.fill(-1);
    this.superRegions.fill(0);
  }

  /**
   * SFENCE.VMA of one address: drops the cached translations of its page in every context, or of its whole 4 MiB
   * region when a superpage was walked there. Linux fences single pages ~130,000 times in a boot; flushing
   * everything each time cost a million page walks.
   */
  flushTlbPage(va: number): void {
    const vpn = va >>> 12, region = vpn >>> 10;
    if (this.superRegions[region] !== 0) {
      this.superRegions[region] = 0;
      dropRegion(this.fetchTag, region); dropRegion(this.loadTag, region); dropRegion(this.storeTag, region);
      return;
    }
    const t = vpn & this.tlbMask;
    if ((this.fetchTag[t] & 0xfffff) === vpn) this.fetchTag[t] = -1;
    if ((this.loadTag[t] & 0xfffff) === vpn) this.loadTag[t] = -1;
    if ((this.storeTag[t] & 0xfffff) === vpn) this.storeTag[t] = -1;
  }

  /** Between runs: grows the TLB if the data refills since the last check came faster than one per
   *  GROW_INSTR_PER_REFILL instructions (see BIG_TLB_SIZE). */
  private checkTlbSize(): void {
    const fast = this.instret - this.refillMark < (this.refills + this.hs[HartSlot.REFILLS]) * GROW_INSTR_PER_REFILL;
    this.refills = 0;
    this.hs[HartSlot.REFILLS] = 0;
    this.refillMark = this.instret;
    if (!fast || this.tlbMask === BIG_TLB_SIZE - 1) return;
    this.setTlb(BIG_TLB_SIZE);
    // Translated regions hold the old arrays and mask: new ones are made over the new TLB.
    if (this.jit !== null) this.flushCode();
  }

  /** Empty TLBs of `size` entries (the translator, if any, makes its regions over them from now on). */
  private setTlb(size: number): void {
    this.tlbMask = size - 1;
    // The TLBs live in the hart's slot when it has one (WebAssembly code reads them).
    const at = (off: number): Int32Array => this.slot >= 0 ? new Int32Array(this.mem.sab, this.slot + off, size) : new Int32Array(size);
    this.fetchTag = at(HartSlot.FETCH_TAG).fill(-1); this.fetchOff = at(HartSlot.FETCH_OFF);
    this.hs[HartSlot.TLB_MASK] = this.tlbMask;
    this.loadTag = at(HartSlot.LOAD_TAG).fill(-1); this.loadOff = at(HartSlot.LOAD_OFF);
    this.storeTag = at(HartSlot.STORE_TAG).fill(-1); this.storeOff = at(HartSlot.STORE_OFF);
    this.jit?.useTlb(this.dataTlbs());
  }

  /** The data TLBs and their mask, as translated regions use them. */
  private dataTlbs(): Pick<JitState, 'loadTag' | 'loadOff' | 'storeTag' | 'storeOff' | 'tlbMask'> {
    return { loadTag: this.loadTag, loadOff: this.loadOff, storeTag: this.storeTag, storeOff: this.storeOff, tlbMask: this.tlbMask };
  }

  /** Drops every decoded and translated instruction (the TLB grew: regions index the old arrays). */
  flushCode(): void {
    const map = this.codeMap;
    if (map !== null) {
      for (let pn = 0; pn < map.length; pn++) if (map[pn] !== 0) { this.freeFrames.push(map[pn] - 8); map[pn] = 0; }
    }
    this.code.fill(undefined);
    this.codePages.length = 0;
    this.listed.fill(0);
    if (this.jit !== null) this.jit.flush();
    this.codeDirty = true;
  }

  /**
   * FENCE.I (or a remote one): fetches see every store made before it, so each decoded page whose bytes changed since
   * it was decoded (its snapshot, memory.ts SNAPSHOT_WORD) is dropped, with its translations; the others stay. Linux
   * patches its text (static keys, alternatives) and fences all harts ~10 times in a boot: dropping every page each
   * time made each vCPU decode its code again, ~500 pages, and lose its translated loops.
   */
  fenceI(): void {
    const code = this.code, pages = this.codePages;
    let kept = 0;
    for (let k = 0; k < pages.length; k++) {
      const pn = pages[k], page = code[pn];
      if (page !== undefined && this.mem.snapshotMatches(page, pn)) { pages[kept++] = pn; continue; }
      if (page !== undefined) this.dropCode(pn);
      this.listed[pn] = 0;
    }
    pages.length = kept;
  }

  /** Pages of decoded code the hart holds (tests). */
  get decodedPages(): number {
    return this.codePages.filter((pn) => this.code[pn] !== undefined).length;
  }

  /** Drops one RAM page's decoded and translated instructions (a store hit it). */
  private dropCode(pn: number): void {
    this.code[pn] = undefined;
    const map = this.codeMap;
    if (map !== null && map[pn] !== 0) { this.freeFrames.push(map[pn] - 8); map[pn] = 0; }
    if (this.jit !== null) this.jit.dropPage(pn);
    this.codeDirty = true;
  }

  /** Entries of each of the hart's TLBs (1,024, or 32,768 once grown; see BIG_TLB_SIZE). */
  get tlbEntries(): number {
    return this.tlbMask + 1;
  }

  /** Counters of the translator, or null with the interpreter. */
  get jitStats(): Readonly<JitStats> | null {
    return this.jit === null ? null : this.jit.stats;
  }

  /** Whether untranslated code runs through the interpreter in WebAssembly first (interp-wasm.ts). */
  get wasmInterpreting(): boolean {
    return this.wasmInterp !== null;
  }

  /** The translator (engine 'jit'), or null: for tests and debugging (e.g. the source of the last region). */
  get translator(): Translator | null {
    return this.jit;
  }

  /** The pending-and-enabled interrupt bits, ignoring global enables (what wakes WFI). */
  wakeable(): boolean {
    return (this.mip & this.mie) !== 0;
  }

  // ---------------------------------------------------------------------------------------------
  // The run loop.

  /** Runs up to `budget` instructions; returns an Exit code. */
  run(budget: number): number {
    this.runTraps = 0;
    if (this.refills + this.hs[HartSlot.REFILLS] >= GROW_CHECK_REFILLS) this.checkTlbSize();
    this.checkInterrupts();
    return this.jit !== null ? this.runJit(budget) : this.interp(budget);
  }

  /**
   * The translating engine's run loop (jit.ts). At a pc that is an entry point of a translated region, with budget
   * for the entry's first segment, it runs the region; otherwise it interprets, and the interpreter stops in front
   * of the next entry point or at a loop head that just became hot, which it translates. Budget, instret and trap
   * bookkeeping are the interpreter's: `left` counts instruction attempts, `runTraps` the trapped ones, and
   * instret is committed before each interpreted stretch (which commits its own).
   */
  private runJit(budget: number): number {
    const jit = this.jit!;
    const ftag = this.fetchTag, foff = this.fetchOff, tm = this.tlbMask, pages = jit.pages, code = this.code;
    let pc = this.pc | 0;
    let left = budget;
    let exit: number = Exit.Budget;
    this.codeDirty = false;
    while (left > 0) {
      const vpn = pc >>> 12, t = vpn & tm;
      let page: Int32Array | undefined;
      if (ftag[t] !== (vpn | this.fetchCtx) || (page = code[foff[t] >>> 12]) === undefined) {
        this.pc = pc;
        page = this.fetchPage(pc);
        if (page === undefined) { // fetch fault taken: one attempted, none retired
          left--;
          this.trapped = false; pc = this.pc;
          if (this.trapLoop) { exit = Exit.TrapLoop; break; }
          continue;
        }
      }
      const pn = foff[t] >>> 12;
      const jp = pages[pn]; // (defined only while the decoded page is)
      const o = pc & 0xfff;
      const d = jp === undefined ? undefined : jp.descs[o >> 1];
      let k: number;
      if (d !== undefined) {
        if (left >= d.need) {
          const npc = d.fn(pc & -4096, d.idx, left);
          if (d.calls < PROBE_CALLS) {
            d.ran += left - this.hs[HartSlot.JIT_LEFT];
            if (++d.calls === PROBE_CALLS && d.ran < PROBE_CALLS * MIN_RUN) jit.retire(jp!, pn, o);
          }
          left = this.hs[HartSlot.JIT_LEFT];
          if ((npc & 1) === 0) { pc = npc; continue; }
          // The instruction at npc - 1 needs the interpreter's slow path (TLB miss, MMIO, misaligned, code page).
          pc = npc - 1;
          k = 1;
        } else {
          k = left; // the tail that does not fit, or a retired entry point
        }
      } else {
        // A loop head whose count reached the threshold (the interpreter stopped here), or any pc with a tiny
        // threshold (tests: translate everything).
        if (jit.tiny || page[LOOP_COUNTS + (o >> 1)] >= jit.thresholdOf(pn)) {
          const p = jp ?? jit.newPage(pn);
          jit.compile(p, pn, o);
          if (p.descs[o >> 1] !== undefined) continue;
          page[LOOP_COUNTS + (o >> 1)] = -Math.min(8 * jit.threshold, 1 << 30); // nothing to translate here now: back off
        }
        k = jit.tiny && left > JIT_CHUNK ? JIT_CHUNK : left;
      }
      if (this.wasmInterp !== null) {
        // The WebAssembly interpreter; it stops in front of an instruction that needs `step`. (Its instructions all
        // retired: they are committed with the next one.)
        this.hs[HartSlot.ICLOCK] = (this.instret + (budget - left) - this.runTraps) | 0;
        pc = this.wasmInterp(this.slot, pc, k);
        left -= k - this.hs[HartSlot.JIT_LEFT];
        const stop = this.hs[HartSlot.STOP];
        if (stop === Stop.Pause) { exit = Exit.Pause; break; }
        if (stop !== Stop.Js) continue;
        this.instret += (budget - left) - this.runTraps;
        this.runTraps = 0;
        this.pc = pc;
        exit = this.step();
        pc = this.pc;
        left -= 1 - this.interpLeft;
        budget = left;
        if (exit !== Exit.Budget) break;
        continue;
      }
      this.instret += (budget - left) - this.runTraps;
      this.runTraps = 0;
      this.pc = pc;
      exit = this.interp(k);
      pc = this.pc;
      left -= k - this.interpLeft;
      budget = left;
      if (exit !== Exit.Budget) break;
    }
    this.pc = pc;
    this.instret += (budget - left) - this.runTraps;
    this.runTraps = 0;
    return exit;
  }

  /**
   * Loop hotness for the translator (engine 'jit'), called by the interpreter for each taken backward branch or
   * jump to offset `to` of the current code page: it counts for its target once it is the loopStreak-th in a row on
   * the same page (the loop has kept to its page that long). Returns true when the target's count reaches the
   * threshold: the interpreter then stops there and the run loop translates the loop.
   */
  private backEdge(page: Int32Array, to: number): boolean {
    if (page !== this.lastBack) { this.lastBack = page; this.streak = 0; return false; }
    return ++this.streak >= this.loopStreak && to >= 0 && ++page[LOOP_COUNTS + (to >> 1)] === this.loopHot;
  }

  /** The interpreter: runs up to `budget` instructions from this.pc (no interrupt check at entry); commits instret. */
  private interp(budget: number): number {
    const r = this.regs;
    const m32 = this.mem.i32;
    const m16 = this.mem.u16;
    const m8 = this.mem.u8;
    const ltag = this.loadTag, loff = this.loadOff, stag = this.storeTag, soff = this.storeOff, tm = this.tlbMask;
    let cx = this.dataCtx; // reloaded wherever a trap or a system instruction may have changed it
    let pc = this.pc | 0;
    let vpage = -1;
    let page: Int32Array = EMPTY_PAGE;
    let left = budget;
    let exit: number = Exit.Budget;
    this.entryLeft = budget - 1; // a stop at an entry point never comes before the first instruction
    this.codeDirty = false;

    run: while (left > 0) {
      left--;
      if ((pc >>> 12) !== vpage) {
        this.pc = pc;
        const p = this.fetchPage(pc);
        if (p === undefined) { // fetch fault taken
          this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx;
          if (this.trapLoop) { exit = Exit.TrapLoop; break; }
          continue;
        }
        page = p; vpage = pc >>> 12;
      }
      const i = pc & 0xffe;
      let c = page[i];
      if (c <= 0) {
        if (c < 0) {
          // A translated entry point (jit.ts sets bit 31 of its decoded word): back to the dispatcher, which
          // enters the translation, unless it is the first instruction of this call.
          if (left < this.entryLeft) { left++; break; }
          c &= 0x7fffffff;
        } else {
          this.pc = pc;
          c = this.decodeAt(pc, page, i);
          if (c === 0) { this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx; if (this.trapLoop) { exit = Exit.TrapLoop; break; } continue; }
        }
      }
      const imm = page[i + 1];
      const len = (c >> 24) & 7;
      switch (c & 0xff) {
        case Op.ADDI: r[(c >> 8) & 63] = r[(c >> 14) & 31] + imm; pc = pc + len | 0; break;
        case Op.SLTI: r[(c >> 8) & 63] = r[(c >> 14) & 31] < imm ? 1 : 0; pc = pc + len | 0; break;
        case Op.SLTIU: r[(c >> 8) & 63] = (r[(c >> 14) & 31] >>> 0) < (imm >>> 0) ? 1 : 0; pc = pc + len | 0; break;
        case Op.XORI: r[(c >> 8) & 63] = r[(c >> 14) & 31] ^ imm; pc = pc + len | 0; break;
        case Op.ORI: r[(c >> 8) & 63] = r[(c >> 14) & 31] | imm; pc = pc + len | 0; break;
        case Op.ANDI: r[(c >> 8) & 63] = r[(c >> 14) & 31] & imm; pc = pc + len | 0; break;
        case Op.SLLI: r[(c >> 8) & 63] = r[(c >> 14) & 31] << imm; pc = pc + len | 0; break;
        case Op.SRLI: r[(c >> 8) & 63] = r[(c >> 14) & 31] >>> imm; pc = pc + len | 0; break;
        case Op.SRAI: r[(c >> 8) & 63] = r[(c >> 14) & 31] >> imm; pc = pc + len | 0; break;
        case Op.ADD: r[(c >> 8) & 63] = r[(c >> 14) & 31] + r[(c >> 19) & 31]; pc = pc + len | 0; break;
        case Op.SUB: r[(c >> 8) & 63] = r[(c >> 14) & 31] - r[(c >> 19) & 31]; pc = pc + len | 0; break;
        case Op.SLL: r[(c >> 8) & 63] = r[(c >> 14) & 31] << (r[(c >> 19) & 31] & 31); pc = pc + len | 0; break;
        case Op.SLT: r[(c >> 8) & 63] = r[(c >> 14) & 31] < r[(c >> 19) & 31] ? 1 : 0; pc = pc + len | 0; break;
        case Op.SLTU: r[(c >> 8) & 63] = (r[(c >> 14) & 31] >>> 0) < (r[(c >> 19) & 31] >>> 0) ? 1 : 0; pc = pc + len | 0; break;
        case Op.XOR: r[(c >> 8) & 63] = r[(c >> 14) & 31] ^ r[(c >> 19) & 31]; pc = pc + len | 0; break;
        case Op.SRL: r[(c >> 8) & 63] = r[(c >> 14) & 31] >>> (r[(c >> 19) & 31] & 31); pc = pc + len | 0; break;
        case Op.SRA: r[(c >> 8) & 63] = r[(c >> 14) & 31] >> (r[(c >> 19) & 31] & 31); pc = pc + len | 0; break;
        case Op.OR: r[(c >> 8) & 63] = r[(c >> 14) & 31] | r[(c >> 19) & 31]; pc = pc + len | 0; break;
        case Op.AND: r[(c >> 8) & 63] = r[(c >> 14) & 31] & r[(c >> 19) & 31]; pc = pc + len | 0; break;
        case Op.MUL: r[(c >> 8) & 63] = Math.imul(r[(c >> 14) & 31], r[(c >> 19) & 31]); pc = pc + len | 0; break;
        case Op.MULH: r[(c >> 8) & 63] = mulh(r[(c >> 14) & 31], r[(c >> 19) & 31]); pc = pc + len | 0; break;
        case Op.MULHSU: r[(c >> 8) & 63] = mulhsu(r[(c >> 14) & 31], r[(c >> 19) & 31]); pc = pc + len | 0; break;
        case Op.MULHU: r[(c >> 8) & 63] = mulhu(r[(c >> 14) & 31], r[(c >> 19) & 31]); pc = pc + len | 0; break;
        case Op.DIV: {
          const a = r[(c >> 14) & 31], b = r[(c >> 19) & 31];
          r[(c >> 8) & 63] = b === 0 ? -1 : (a === -0x80000000 && b === -1) ? a : (a / b) | 0;
          pc = pc + len | 0; break;
        }
        case Op.DIVU: {
          const a = r[(c >> 14) & 31] >>> 0, b = r[(c >> 19) & 31] >>> 0;
          r[(c >> 8) & 63] = b === 0 ? -1 : (a / b) >>> 0;
          pc = pc + len | 0; break;
        }
        case Op.REM: {
          const a = r[(c >> 14) & 31], b = r[(c >> 19) & 31];
          r[(c >> 8) & 63] = b === 0 ? a : (a === -0x80000000 && b === -1) ? 0 : (a % b) | 0;
          pc = pc + len | 0; break;
        }
        case Op.REMU: {
          const a = r[(c >> 14) & 31] >>> 0, b = r[(c >> 19) & 31] >>> 0;
          r[(c >> 8) & 63] = b === 0 ? a : (a % b) | 0;
          pc = pc + len | 0; break;
        }
        case Op.AUIPC: r[(c >> 8) & 63] = pc + imm; pc = pc + len | 0; break;
        case Op.JAL: r[(c >> 8) & 63] = pc + len; pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; break;
        case Op.JALR: { const t = (r[(c >> 14) & 31] + imm) & ~1; r[(c >> 8) & 63] = pc + len; pc = t; break; }
        case Op.BEQ: if (r[(c >> 14) & 31] === r[(c >> 19) & 31]) { pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; } else pc = pc + len | 0; break;
        case Op.BNE: if (r[(c >> 14) & 31] !== r[(c >> 19) & 31]) { pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; } else pc = pc + len | 0; break;
        case Op.BLT: if (r[(c >> 14) & 31] < r[(c >> 19) & 31]) { pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; } else pc = pc + len | 0; break;
        case Op.BGE: if (r[(c >> 14) & 31] >= r[(c >> 19) & 31]) { pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; } else pc = pc + len | 0; break;
        case Op.BLTU: if ((r[(c >> 14) & 31] >>> 0) < (r[(c >> 19) & 31] >>> 0)) { pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; } else pc = pc + len | 0; break;
        case Op.BGEU: if ((r[(c >> 14) & 31] >>> 0) >= (r[(c >> 19) & 31] >>> 0)) { pc = pc + imm | 0; if (imm < 0 && this.loopHot > 0 && this.backEdge(page, i + imm)) break run; } else pc = pc + len | 0; break;

        case Op.LW: {
          const a = r[(c >> 14) & 31] + imm | 0;
          const t = (a >>> 12) & tm;
          if (ltag[t] === ((a >>> 12) | cx) && (a & 3) === 0) r[(c >> 8) & 63] = m32[(loff[t] + (a & 0xfff)) >> 2];
          else {
            this.pc = pc; const v = this.loadSlow(a, 4);
            if (this.trapped) { this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx; if (this.trapLoop) { exit = Exit.TrapLoop; budget -= left; left = 0; } break; }
            r[(c >> 8) & 63] = v;
          }
          pc = pc + len | 0; break;
        }
        case Op.LH: case Op.LHU: {
          const a = r[(c >> 14) & 31] + imm | 0;
          const t = (a >>> 12) & tm;
          let v: number;
          if (ltag[t] === ((a >>> 12) | cx) && (a & 1) === 0) v = m16[(loff[t] + (a & 0xfff)) >> 1];
          else {
            this.pc = pc; v = this.loadSlow(a, 2);
            if (this.trapped) { this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx; if (this.trapLoop) { exit = Exit.TrapLoop; budget -= left; left = 0; } break; }
          }
          r[(c >> 8) & 63] = (c & 0xff) === Op.LH ? (v << 16) >> 16 : v & 0xffff;
          pc = pc + len | 0; break;
        }
        case Op.LB: case Op.LBU: {
          const a = r[(c >> 14) & 31] + imm | 0;
          const t = (a >>> 12) & tm;
          let v: number;
          if (ltag[t] === ((a >>> 12) | cx)) v = m8[loff[t] + (a & 0xfff)];
          else {
            this.pc = pc; v = this.loadSlow(a, 1);
            if (this.trapped) { this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx; if (this.trapLoop) { exit = Exit.TrapLoop; budget -= left; left = 0; } break; }
          }
          r[(c >> 8) & 63] = (c & 0xff) === Op.LB ? (v << 24) >> 24 : v & 0xff;
          pc = pc + len | 0; break;
        }
        case Op.SW: case Op.SH: case Op.SB: {
          const a = r[(c >> 14) & 31] + imm | 0;
          const v = r[(c >> 19) & 31];
          const t = (a >>> 12) & tm;
          const op = c & 0xff;
          const size = op === Op.SW ? 4 : op === Op.SH ? 2 : 1;
          if (stag[t] === ((a >>> 12) | cx) && (a & (size - 1)) === 0) {
            const o = soff[t] + (a & 0xfff);
            if (size === 4) m32[o >> 2] = v; else if (size === 2) m16[o >> 1] = v; else m8[o] = v;
          } else {
            this.pc = pc; this.storeSlow(a, size, v);
            if (this.trapped) { this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx; if (this.trapLoop) { exit = Exit.TrapLoop; budget -= left; left = 0; } break; }
            if (this.codeDirty) { this.codeDirty = false; vpage = -1; } // the store hit decoded code (possibly this page)
          }
          pc = pc + len | 0; break;
        }

        case Op.PAUSE:
          pc = pc + len | 0;
          if (this.pause((this.instret + (budget - left) - this.runTraps) | 0)) { exit = Exit.Pause; budget -= left; left = 0; }
          break;
        case Op.FENCE:
          Atomics.load(m32, 0); // an ordering point for the guest's fences (plain accesses may be reordered by V8 otherwise)
          pc = pc + len | 0; break;
        case Op.FENCE_I:
          this.fenceI();
          this.codeDirty = false; vpage = -1;
          pc = pc + len | 0;
          break;

        case Op.ILLEGAL:
          this.pc = pc; this.raise(Cause.ILLEGAL_INST, imm);
          this.trapped = false; pc = this.pc; vpage = -1; cx = this.dataCtx; if (this.trapLoop) { exit = Exit.TrapLoop; budget -= left; left = 0; }
          break;

        default: {
          // System, CSR and atomic instructions: rare enough for a method call. Commit the retired count first
          // so counters read exactly, and write pc back for traps.
          this.instret += (budget - left - 1) - this.runTraps;
          budget = left + 1;
          this.runTraps = 0;
          this.pc = pc;
          const e = this.execSlow(c, imm);
          pc = this.pc;
          cx = this.dataCtx;
          if (this.trapped) { this.trapped = false; vpage = -1; if (this.trapLoop) { exit = Exit.TrapLoop; budget -= left; left = 0; } break; }
          if (this.refetch || this.codeDirty) { this.refetch = false; this.codeDirty = false; vpage = -1; }
          if (e >= 0) { exit = e; budget -= left; left = 0; }
          break;
        }
      }
    }
    this.pc = pc;
    this.instret += (budget - left) - this.runTraps;
    this.runTraps = 0;
    this.interpLeft = left;
    return exit;
  }

  /**
   * The instruction at pc, for the WebAssembly interpreter, which stopped in front of it: the fetch or decode it
   * lacked (then, if the page has a frame, nothing runs: the WebAssembly interpreter runs it next), or the slow
   * path of a load or store, a system, CSR or atomic instruction. Anything else goes to `interp` for one
   * instruction. Sets `interpLeft` to 0 when an instruction was attempted, else 1, and commits instret as `interp`.
   * Why not `interp` itself: a smaller function, which each vCPU thread's V8 optimizes in a fraction of the time.
   */
  private step(): number {
    const pc = this.pc;
    const page = this.fetchPage(pc);
    if (page === undefined) return this.stepped(); // fetch fault taken
    const i = pc & 0xffe;
    let c = page[i];
    if (c === 0) {
      c = this.decodeAt(pc, page, i);
      if (c === 0) return this.stepped(); // fault taken (the upper half of a straddling instruction)
      if (c > 0 && this.codeMap![this.fetchOff[(pc >>> 12) & this.tlbMask] >>> 12] !== 0) {
        this.decodeAhead(pc, c, page);
        this.interpLeft = 1;
        return Exit.Budget;
      }
    }
    c &= 0x7fffffff;
    const imm = page[i + 1];
    const op = c & 0xff, len = (c >> 24) & 7;
    const r = this.regs;
    let exit: number = Exit.Budget;
    switch (op) {
      case Op.LW: case Op.LH: case Op.LHU: case Op.LB: case Op.LBU: {
        const size = op === Op.LW ? 4 : op === Op.LB || op === Op.LBU ? 1 : 2;
        const v = this.loadSlow(r[(c >> 14) & 31] + imm | 0, size);
        if (this.trapped) break;
        r[(c >> 8) & 63] = op === Op.LH ? (v << 16) >> 16 : op === Op.LB ? (v << 24) >> 24 : op === Op.LHU ? v & 0xffff : op === Op.LBU ? v & 0xff : v;
        this.pc = pc + len | 0;
        break;
      }
      case Op.SW: case Op.SH: case Op.SB:
        this.storeSlow(r[(c >> 14) & 31] + imm | 0, op === Op.SW ? 4 : op === Op.SH ? 2 : 1, r[(c >> 19) & 31]);
        if (!this.trapped) this.pc = pc + len | 0;
        break;
      case Op.PAUSE:
        this.pc = pc + len | 0;
        if (this.pause((this.instret + 1) | 0)) exit = Exit.Pause;
        break;
      case Op.FENCE_I:
        this.fenceI();
        this.pc = pc + len | 0;
        break;
      case Op.ILLEGAL:
        this.raise(Cause.ILLEGAL_INST, imm);
        break;
      default: {
        if (op < Op.ECALL) { this.interpLeft = 0; return this.interp(1); } // (a page without a frame, or straddling)
        const e = this.execSlow(c, imm);
        if (!this.trapped && e >= 0) exit = e;
      }
    }
    this.codeDirty = false; this.refetch = false;
    return this.stepped(exit);
  }

  /**
   * Decodes the instructions that follow pc's (decoded word `c`) on its page, up to DECODE_AHEAD of them, until one
   * already decoded or one after which execution does not simply go on (a jump, a system instruction): without
   * this the WebAssembly interpreter stopped in front of every instruction of new code (151,000 times in a boot).
   * Decoding is a pure function of the bytes, so decoding early changes nothing (stores to the page drop it).
   */
  private decodeAhead(pc: number, c: number, page: Int32Array): void {
    const vpn = pc >>> 12;
    for (let n = 0; n < DECODE_AHEAD; n++) {
      const op = c & 0xff;
      if (op === Op.JAL || op === Op.JALR || op >= Op.ECALL || op === Op.ILLEGAL || op === Op.FENCE_I) return;
      const prev = pc & 0xffe;
      pc = pc + ((c >> 24) & 7) | 0;
      const i = pc & 0xfff;
      // The same page only; its last halfword may start an instruction that straddles (never cached).
      if ((pc >>> 12) !== vpn || i >= 0xffe || page[i] !== 0) return;
      c = this.decodeAt(pc, page, i);
      if (c <= 0) return;
      // Two of the same op in a row: the WebAssembly interpreter runs the second without a dispatch (RUN_BIT).
      if ((c & 0xff) === op && op >= Op.ADDI && op <= Op.SW && (op <= Op.AND || op >= Op.LB)) Atomics.or(page, prev, RUN_BIT);
    }
  }

  /** `step`'s end: one instruction attempted (trapped or not); a trap whose handler faults at once ends the run. */
  private stepped(exit: number = Exit.Budget): number {
    if (this.trapped) { this.trapped = false; if (this.trapLoop) exit = Exit.TrapLoop; }
    this.instret += 1 - this.runTraps;
    this.runTraps = 0;
    this.interpLeft = 0;
    return exit;
  }

  // ---------------------------------------------------------------------------------------------
  // Instruction fetch and decode.

  /** Translates pc's page for execution and returns its decoded page, or undefined after raising a fault. */
  private fetchPage(pc: number): Int32Array | undefined {
    const vpn = pc >>> 12;
    const t = vpn & this.tlbMask;
    let off: number;
    const tag = vpn | this.fetchCtx;
    if (this.fetchTag[t] === tag) off = this.fetchOff[t];
    else {
      const o = this.translate(pc, Access.Fetch);
      if (o === FAULT) return undefined;
      if (o === NOT_RAM) { this.raise(Cause.INST_ACCESS, pc); return undefined; }
      off = o & ~0xfff;
      this.fetchTag[t] = tag; this.fetchOff[t] = off;
    }
    const pn = off >>> 12;
    let p = this.code[pn];
    if (p === undefined) {
      p = this.newCodePage(pn);
      this.code[pn] = p;
      if (this.listed[pn] === 0) { this.listed[pn] = 1; this.codePages.push(pn); }
      // A page now holds code: stores to it must take the slow path so they invalidate it.
      this.storeTag.fill(-1);
    }
    return p;
  }

  /** An empty decoded page for RAM page `pn`: in a frame, entered in the code map, with the WebAssembly
   *  interpreter (a frame of the free list, or a new one of the slot), else in the hart's own memory. */
  private newCodePage(pn: number): Int32Array {
    if (this.codeMap !== null) {
      let f = this.freeFrames.pop();
      const used = f !== undefined;
      if (f === undefined) {
        f = this.mem.allocateFrame();
        if (f >= 0) {
          // Linked into the slot's frames first (its link word), for the slot's next harts.
          this.mem.setI32Word(f, this.hs[HartSlot.FRAMES]);
          this.hs[HartSlot.FRAMES] = f;
        }
      }
      if (f >= 0) {
        // A new frame is fresh memory, zero already, its host pages not even mapped yet. One word of each is written
        // now: a page the WebAssembly interpreter reads first (a decoded word, a loop count) gets the host's shared
        // zero page, and the write that follows then makes the host kernel flush that mapping on every core
        // (do_wp_page: ~13 ms of a 4-vCPU Linux boot's CPU).
        this.mem.renewFrame(f);
        const p = this.mem.view(f + 8, CODE_PAGE_LENGTH);
        if (used) p.fill(0);
        else for (let k = 0; k < SNAPSHOT_WORD; k += PAGE_SIZE / 4) p[k] = 0;
        if (this.adoptPages && this.mem.adoptDecodedPage(pn, this.slot, p)) this.adopted++;
        else this.mem.takeSnapshot(p, pn);
        this.codeMap[pn] = f + 8; // (others may copy it from now on)
        return p;
      }
    }
    // No frame: the WebAssembly interpreter cannot see this page, so it must not fill store TLB entries either.
    this.hs[HartSlot.NO_FRAMES] = 1;
    const p = new Int32Array(CODE_PAGE_LENGTH);
    this.mem.takeSnapshot(p, pn);
    return p;
  }

  /** Decodes the instruction at pc into its slot; returns the word, or 0 after raising a fault. */
  private decodeAt(pc: number, page: Int32Array, i: number): number {
    // From the page's snapshot, not from RAM (memory.ts SNAPSHOT_WORD).
    const o = pc & 0xfff;
    const inst = snapshotInstruction(page, o);
    const d = this.dec;
    if ((inst & 3) !== 3) {
      decode16(inst, d);
    } else if (o !== 0xffe) {
      decode32(inst, d);
    } else {
      // The instruction straddles two pages: fetch the upper half through the MMU, and never cache it where the
      // interpreters look. The WebAssembly interpreter keeps the decoding beside the page (STRADDLE_WORD) with the
      // upper half it came from, and uses it while the next page, looked up in the fetch TLB, still holds that half.
      const up = this.translate(pc + 2 | 0, Access.Fetch);
      if (up === FAULT) return 0;
      if (up === NOT_RAM) { this.raise(Cause.INST_ACCESS, pc + 2 | 0); return 0; }
      const hi = this.mem.u16[up >> 1];
      decode32(inst | (hi << 16), d);
      page[i + 1] = d.imm;
      page[STRADDLE_WORD] = d.word;
      page[STRADDLE_WORD + 1] = hi;
      return d.word | STRADDLE;
    }
    // The immediate first: another hart may be copying this page (memory.ts adoptDecodedPage).
    page[i + 1] = d.imm;
    Atomics.store(page, i, d.word);
    return d.word;
  }

  // ---------------------------------------------------------------------------------------------
  // Memory: Sv32 translation and the slow load/store paths.

  /** The privilege that data accesses use (MPRV). */
  private dataPriv(): number {
    return this.priv === Priv.M && (this.mstatus & Mstatus.MPRV) !== 0 ? (this.mstatus >>> 11) & 3 : this.priv;
  }

  /**
   * Translates a virtual address to its offset in RAM; FAULT after raising the page fault (or an access fault for
   * a physical address above 4 GiB: Sv32 has 34 bits); NOT_RAM when the physical address, left in `lastPa`, is
   * outside RAM (MMIO). An offset rather than the address: RAM sits at 0x80000000, and an address that large is
   * not a small integer to V8, so each call that returned one allocated a heap number (46 MB per million demo
   * increments, collected by V8's helper threads beside the vCPU threads).
   */
  private translate(va: number, access: number): number {
    const priv = access === Access.Fetch ? this.priv : this.dataPriv();
    if (priv === Priv.M || (this.satp >>> 31) === 0) return this.ramOffset(va >>> 0);
    const fault = access === Access.Fetch ? Cause.INST_PAGE_FAULT : access === Access.Load ? Cause.LOAD_PAGE_FAULT : Cause.STORE_PAGE_FAULT;
    const accessFault = access === Access.Fetch ? Cause.INST_ACCESS : access === Access.Load ? Cause.LOAD_ACCESS : Cause.STORE_ACCESS;
    let table = (this.satp & 0x3fffff) * PAGE_SIZE; // may exceed 2^32: then it is not RAM
    let level = 1;
    const mem = this.mem;
    for (;;) {
      const vpn = level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff;
      const pteAddr = table + vpn * 4;
      const po = pteAddr - mem.base;
      if (po < 0 || po + 4 > mem.size) { this.raise(accessFault, va); return FAULT; }
      let pte = Atomics.load(mem.i32, po >> 2);
      if ((pte & Pte.V) === 0 || ((pte & Pte.R) === 0 && (pte & Pte.W) !== 0)) { this.raise(fault, va); return FAULT; }
      if ((pte & (Pte.R | Pte.X)) === 0) { // pointer to the next level
        if (level === 0) { this.raise(fault, va); return FAULT; }
        table = (pte >>> 10) * PAGE_SIZE;
        level = 0;
        continue;
      }
      // Leaf: permission checks.
      if ((pte & Pte.U) !== 0) {
        if (priv === Priv.S && (access === Access.Fetch || (this.mstatus & Mstatus.SUM) === 0)) { this.raise(fault, va); return FAULT; }
      } else if (priv === Priv.U) { this.raise(fault, va); return FAULT; }
      if (access === Access.Fetch ? (pte & Pte.X) === 0
        : access === Access.Load ? ((pte & Pte.R) === 0 && ((this.mstatus & Mstatus.MXR) === 0 || (pte & Pte.X) === 0))
          : (pte & Pte.W) === 0) { this.raise(fault, va); return FAULT; }
      const ppn = pte >>> 10;
      if (level === 1 && (ppn & 0x3ff) !== 0) { this.raise(fault, va); return FAULT; } // misaligned superpage
      // A and D bits are set by the hardware, atomically with respect to other harts.
      const need = Pte.A | (access === Access.Store ? Pte.D : 0);
      while ((pte & need) !== need) {
        const seen = Atomics.compareExchange(mem.i32, po >> 2, pte, pte | need);
        if (seen === pte) break;
        pte = seen;
        if ((pte & Pte.V) === 0) { this.raise(fault, va); return FAULT; }
      }
      if (level === 1) this.superRegions[va >>> 22] = 1;
      const pa = level === 1 ? (ppn >>> 10) * 0x400000 + (va & 0x3fffff) : ppn * PAGE_SIZE + (va & 0xfff);
      if (pa >= 0x100000000) { this.raise(accessFault, va); return FAULT; }
      return this.ramOffset(pa);
    }
  }

  /** `pa`'s offset in RAM, or NOT_RAM with `pa` kept in `lastPa`. */
  private ramOffset(pa: number): number {
    const o = pa - this.mem.base;
    if (o >= 0 && o < this.mem.size) return o;
    this.lastPa = pa;
    return NOT_RAM;
  }

  /** A load that missed the TLB, is misaligned, or targets MMIO. Sets `trapped` on a fault. */
  loadSlow(va: number, size: number): number {
    if ((va & (size - 1)) !== 0) {
      // Misaligned loads are done byte by byte (each byte may fault on its own page).
      let v = 0;
      for (let k = 0; k < size; k++) {
        const b = this.loadSlow(va + k | 0, 1);
        if (this.trapped) return 0; // tval is the faulting byte's address, as the spec allows
        v |= b << (8 * k);
      }
      return v;
    }
    const o = this.translate(va, Access.Load);
    if (o === FAULT) return 0;
    if (o !== NOT_RAM) {
      const vpn = va >>> 12, t = vpn & this.tlbMask;
      this.loadTag[t] = vpn | this.dataCtx; this.loadOff[t] = o & ~0xfff; this.refills++;
      return size === 4 ? this.mem.i32[o >> 2] : size === 2 ? this.mem.u16[o >> 1] : this.mem.u8[o];
    }
    const v = this.mmio.read(this.lastPa, size as 1 | 2 | 4);
    if (v === undefined) { this.raise(Cause.LOAD_ACCESS, va); return 0; }
    return v;
  }

  /** A store that missed the TLB, is misaligned, targets MMIO or a page holding decoded code. */
  storeSlow(va: number, size: number, value: number): void {
    if ((va & (size - 1)) !== 0) {
      // Check every byte's translation first so a fault leaves memory unchanged.
      for (let k = 0; k < size; k++) {
        const o = this.translate(va + k | 0, Access.Store);
        if (o === FAULT) return;
        if (o === NOT_RAM) { this.raise(Cause.STORE_ACCESS, va); return; }
      }
      for (let k = 0; k < size; k++) this.storeSlow(va + k | 0, 1, value >>> (8 * k));
      return;
    }
    const o = this.translate(va, Access.Store);
    if (o === FAULT) return;
    if (o !== NOT_RAM) {
      const pn = o >>> 12;
      if (this.code[pn] !== undefined) this.dropCode(pn);
      else { const vpn = va >>> 12, t = vpn & this.tlbMask; this.storeTag[t] = vpn | this.dataCtx; this.storeOff[t] = o & ~0xfff; this.refills++; }
      if (this.resOff >= 0 && (o & ~3) === this.resOff) this.resOff = -1;
      if (size === 4) this.mem.i32[o >> 2] = value; else if (size === 2) this.mem.u16[o >> 1] = value; else this.mem.u8[o] = value;
      return;
    }
    if (!this.mmio.write(this.lastPa, size as 1 | 2 | 4, value)) this.raise(Cause.STORE_ACCESS, va);
  }

  /** Translates an AMO/LR/SC address to a RAM word index, or -1 after raising a fault. */
  private amoIndex(va: number, isLoad: boolean): number {
    if ((va & 3) !== 0) { this.raise(isLoad ? Cause.LOAD_MISALIGNED : Cause.STORE_MISALIGNED, va); return -1; }
    const o = this.translate(va, isLoad ? Access.Load : Access.Store);
    if (o === FAULT) return -1;
    if (o === NOT_RAM) { this.raise(isLoad ? Cause.LOAD_ACCESS : Cause.STORE_ACCESS, va); return -1; }
    if (!isLoad) {
      const pn = o >>> 12;
      if (this.code[pn] !== undefined) this.dropCode(pn);
    }
    return o >> 2;
  }

  // ---------------------------------------------------------------------------------------------
  // System, CSR and atomic instructions.

  /** Executes a rare instruction at this.pc; returns an Exit code to leave the loop, or -1 to go on. */
  private execSlow(c: number, imm: number): number {
    const r = this.regs;
    const rd = (c >> 8) & 63, rs1 = (c >> 14) & 31, rs2 = (c >> 19) & 31, len = (c >> 24) & 7;
    const pc = this.pc;
    const m32 = this.mem.i32;
    switch (c & 0xff) {
      case Op.ECALL:
        if (this.priv === Priv.S && this.sbiMode) { this.pc = pc + 4 | 0; return Exit.Ecall; }
        this.raise(this.priv === Priv.U ? Cause.ECALL_U : this.priv === Priv.S ? Cause.ECALL_S : Cause.ECALL_M, 0);
        return -1;
      case Op.EBREAK:
        this.raise(Cause.BREAKPOINT, pc);
        return -1;
      case Op.MRET: {
        if (this.priv !== Priv.M) { this.raise(Cause.ILLEGAL_INST, imm); return -1; }
        const s = this.mstatus;
        const mpp = (s >>> 11) & 3;
        let ns = (s & ~(Mstatus.MIE | Mstatus.MPP)) | Mstatus.MPIE | ((s & Mstatus.MPIE) ? Mstatus.MIE : 0);
        if (mpp !== Priv.M) ns &= ~Mstatus.MPRV;
        this.mstatus = ns;
        this.setPriv(mpp === 2 ? Priv.U : mpp); // (the data context follows MPP and MPRV even if the privilege stays M)
        this.pc = this.mepc & ~1;
        this.resOff = -1;
        this.checkInterrupts();
        return -1;
      }
      case Op.SRET: {
        if (this.priv === Priv.U || (this.priv === Priv.S && (this.mstatus & Mstatus.TSR))) { this.raise(Cause.ILLEGAL_INST, imm); return -1; }
        const s = this.mstatus;
        const spp = (s & Mstatus.SPP) ? Priv.S : Priv.U;
        this.mstatus = ((s & ~(Mstatus.SIE | Mstatus.SPP | Mstatus.MPRV)) | Mstatus.SPIE | ((s & Mstatus.SPIE) ? Mstatus.SIE : 0));
        this.setPriv(spp);
        this.pc = this.sepc & ~1;
        this.resOff = -1;
        this.checkInterrupts();
        return -1;
      }
      case Op.WFI:
        if (this.priv === Priv.U || (this.priv === Priv.S && (this.mstatus & Mstatus.TW))) { this.raise(Cause.ILLEGAL_INST, imm); return -1; }
        this.pc = pc + 4 | 0;
        if (this.wakeable()) { this.checkInterrupts(); return -1; }
        return Exit.Wfi;
      case Op.SFENCE_VMA:
        if (this.priv === Priv.U || (this.priv === Priv.S && (this.mstatus & Mstatus.TVM))) { this.raise(Cause.ILLEGAL_INST, imm); return -1; }
        // rs2 (the ASID) is ignored: without ASIDs every address space is flushed.
        if (rs1 !== 0) this.flushTlbPage(r[rs1]); else this.flushTlb();
        this.pc = pc + 4 | 0;
        this.refetch = true;
        return -1;
      case Op.CSRRW: case Op.CSRRS: case Op.CSRRC: case Op.CSRRWI: case Op.CSRRSI: case Op.CSRRCI: {
        const op = c & 0xff;
        const csr = imm;
        const src = op >= Op.CSRRWI ? rs1 : r[rs1];
        const kind = op >= Op.CSRRWI ? op - 3 : op; // CSRRW / CSRRS / CSRRC
        const writes = kind === Op.CSRRW || rs1 !== 0;
        const reads = kind !== Op.CSRRW || rd !== 0;
        if (!this.csrAllowed(csr, writes)) { this.raise(Cause.ILLEGAL_INST, this.lastInst(c, imm, rd, rs1)); return -1; }
        let old = 0;
        if (reads || kind !== Op.CSRRW) {
          const v = this.csrRead(csr);
          if (v === undefined) { this.raise(Cause.ILLEGAL_INST, this.lastInst(c, imm, rd, rs1)); return -1; }
          old = v;
        }
        if (writes) {
          const nv = kind === Op.CSRRW ? src : kind === Op.CSRRS ? old | src : old & ~src;
          if (!this.csrWrite(csr, nv | 0)) { this.raise(Cause.ILLEGAL_INST, this.lastInst(c, imm, rd, rs1)); return -1; }
        }
        if (rd !== 0) r[rd] = old;
        this.pc = pc + 4 | 0;
        if (writes) this.refetch = true;
        if (writes || this.timerRaised) { this.timerRaised = false; this.checkInterrupts(); }
        return -1;
      }
      case Op.LR_W: {
        const a = r[rs1];
        const idx = this.amoIndex(a, true);
        if (idx < 0) return -1;
        const v = Atomics.load(m32, idx);
        this.resOff = idx << 2; this.resVal = v;
        r[rd] = v;
        break;
      }
      case Op.SC_W: {
        const a = r[rs1];
        const idx = this.amoIndex(a, false);
        if (idx < 0) return -1;
        // SC succeeds if the reservation is ours and memory still holds what LR saw (compare-and-swap).
        let ok = false;
        if (this.resOff === idx << 2) ok = Atomics.compareExchange(m32, idx, this.resVal, r[rs2]) === this.resVal;
        this.resOff = -1;
        r[rd] = ok ? 0 : 1;
        break;
      }
      default: { // AMOs
        const a = r[rs1];
        const idx = this.amoIndex(a, false);
        if (idx < 0) return -1;
        const b = r[rs2];
        let old: number;
        switch (c & 0xff) {
          case Op.AMOSWAP_W: old = Atomics.exchange(m32, idx, b); break;
          case Op.AMOADD_W: old = Atomics.add(m32, idx, b); break;
          case Op.AMOXOR_W: old = Atomics.xor(m32, idx, b); break;
          case Op.AMOAND_W: old = Atomics.and(m32, idx, b); break;
          case Op.AMOOR_W: old = Atomics.or(m32, idx, b); break;
          default: {
            // min/max: a compare-and-swap loop.
            const op = c & 0xff;
            for (;;) {
              old = Atomics.load(m32, idx);
              const nv = op === Op.AMOMIN_W ? (old < b ? old : b) : op === Op.AMOMAX_W ? (old > b ? old : b)
                : op === Op.AMOMINU_W ? ((old >>> 0) < (b >>> 0) ? old : b) : ((old >>> 0) > (b >>> 0) ? old : b);
              if (Atomics.compareExchange(m32, idx, old, nv) === old) break;
            }
          }
        }
        if (this.resOff === idx << 2) this.resOff = -1;
        r[rd] = old;
        break;
      }
    }
    this.pc = pc + len | 0;
    return -1;
  }

  /** Re-assembles a CSR instruction's bits for mtval on an illegal CSR access. */
  private lastInst(c: number, csr: number, rd: number, rs1: number): number {
    const op = c & 0xff;
    const funct3 = op === Op.CSRRW ? 1 : op === Op.CSRRS ? 2 : op === Op.CSRRC ? 3 : op === Op.CSRRWI ? 5 : op === Op.CSRRSI ? 6 : 7;
    return ((csr << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | 0x73) | 0;
  }

  /** Sets the privilege after a trap or xRET (which also changed mstatus): new TLB contexts, no flush. */
  private setPriv(p: number): void {
    this.priv = p;
    this.modeChanged();
  }

  // ---------------------------------------------------------------------------------------------
  // CSRs.

  private csrAllowed(csr: number, writes: boolean): boolean {
    if (((csr >>> 8) & 3) > this.priv) return false;
    if (writes && (csr >>> 10) === 3) return false;
    if (csr === Csr.SATP && this.priv === Priv.S && (this.mstatus & Mstatus.TVM)) return false;
    // Counters from S/U need mcounteren (and scounteren from U).
    if ((csr >= 0xc00 && csr <= 0xc1f) || (csr >= 0xc80 && csr <= 0xc9f)) {
      const bit = 1 << (csr & 31);
      if (this.priv < Priv.M && (this.mcounteren & bit) === 0) return false;
      if (this.priv === Priv.U && (this.scounteren & bit) === 0) return false;
    }
    return true;
  }

  /** A 64-bit counter CSR half: instret (+ extra) plus offset, exact modulo 2^64. */
  private counter(off: number[], high: boolean, extra = 0): number {
    const n = this.instret + extra;
    const nHi = Math.floor(n / 0x100000000), nLo = n - nHi * 0x100000000;
    const lo = nLo + off[1];
    const carry = lo >= 0x100000000 ? 1 : 0;
    return high ? (nHi + off[0] + carry) | 0 : (lo - carry * 0x100000000) | 0;
  }

  /** Sets a counter half so that the next instruction reads `v` there (this one is not counted). */
  private setCounter(off: number[], high: boolean, v: number): void {
    const curHi = this.counter(off, true) >>> 0, curLo = this.counter(off, false) >>> 0;
    const wantHi = high ? v >>> 0 : curHi, wantLo = high ? curLo : v >>> 0;
    // offset = want - (instret + 1), modulo 2^64
    const n = this.instret + 1;
    const nHi = Math.floor(n / 0x100000000), nLo = n - nHi * 0x100000000;
    let lo = wantLo - nLo, borrow = 0;
    if (lo < 0) { lo += 0x100000000; borrow = 1; }
    off[0] = (wantHi - nHi - borrow) >>> 0;
    off[1] = lo;
  }

  /** The time CSR now. */
  timeNow(): number {
    if (this.clock !== null) {
      const t = this.clock();
      if (t >= this.timerCmp && (this.mip & (1 << Irq.STI)) === 0) { this.mip |= 1 << Irq.STI; this.timerRaised = true; }
      this.timeSeen = t;
      return t;
    }
    return this.timeScale === 0 ? this.time : Math.floor(this.time + (this.instret - this.timeInstret) * this.timeScale);
  }

  /**
   * A read of the time CSR for the WebAssembly interpreter (interp-wasm.ts): 1 with the time in the slot's TIME_LO
   * and TIME_HI words, or 0 when JavaScript must run the instruction: no live clock, the counter not enabled for
   * this mode, or a read that raises the timer interrupt (JavaScript then takes it).
   */
  wasmTime(): number {
    if (this.clock === null) return 0;
    if (this.priv < Priv.M && (this.mcounteren & 2) === 0) return 0;
    if (this.priv === Priv.U && (this.scounteren & 2) === 0) return 0;
    const t = this.clock();
    if (t >= this.timerCmp && (this.mip & (1 << Irq.STI)) === 0) return 0;
    this.timeSeen = t;
    this.hs[HartSlot.TIME_LO] = t % 0x100000000 | 0;
    this.hs[HartSlot.TIME_HI] = Math.floor(t / 0x100000000) | 0;
    return 1;
  }

  /** Reads a CSR; undefined if it does not exist. */
  csrRead(csr: number): number | undefined {
    switch (csr) {
      case Csr.SSTATUS: return this.mstatus & SSTATUS_MASK;
      case Csr.SIE: return this.mie & this.mideleg;
      case Csr.STVEC: return this.stvec;
      case Csr.SCOUNTEREN: return this.scounteren;
      case Csr.SENVCFG: return this.senvcfg;
      case Csr.SSCRATCH: return this.sscratch;
      case Csr.SEPC: return this.sepc;
      case Csr.SCAUSE: return this.scause;
      case Csr.STVAL: return this.stval;
      case Csr.SIP: return this.mip & this.mideleg;
      case Csr.SATP: return this.satp;
      case Csr.MSTATUS: return this.mstatus;
      case Csr.MSTATUSH: return 0;
      case Csr.MISA: return this.misa;
      case Csr.MEDELEG: return this.medeleg;
      case Csr.MIDELEG: return this.mideleg;
      case Csr.MIE: return this.mie;
      case Csr.MTVEC: return this.mtvec;
      case Csr.MCOUNTEREN: return this.mcounteren;
      case Csr.MENVCFG: return this.menvcfg;
      case Csr.MENVCFGH: return 0;
      case Csr.MCOUNTINHIBIT: return this.mcountinhibit;
      case Csr.MSCRATCH: return this.mscratch;
      case Csr.MEPC: return this.mepc;
      case Csr.MCAUSE: return this.mcause;
      case Csr.MTVAL: return this.mtval;
      case Csr.MIP: return this.mip;
      case Csr.MCYCLE: case Csr.CYCLE: return this.counter(this.cycleOff, false);
      case Csr.MCYCLEH: case Csr.CYCLEH: return this.counter(this.cycleOff, true);
      case Csr.MINSTRET: case Csr.INSTRET: return this.counter(this.instretOff, false);
      case Csr.MINSTRETH: case Csr.INSTRETH: return this.counter(this.instretOff, true);
      case Csr.TIME: return this.timeNow() % 0x100000000 | 0;
      case Csr.TIMEH: return Math.floor(this.timeNow() / 0x100000000) | 0;
      case Csr.MVENDORID: case Csr.MARCHID: case Csr.MIMPID: case Csr.MCONFIGPTR: return 0;
      case Csr.MHARTID: return this.hartId;
      case Csr.TSELECT: return 0;
      case Csr.TDATA1: case Csr.TDATA2: case Csr.TDATA3: return 0;
    }
    if (csr >= Csr.PMPCFG0 && csr < Csr.PMPCFG0 + 4) return this.pmpcfg[csr - Csr.PMPCFG0];
    if (csr >= Csr.PMPCFG0 + 4 && csr < Csr.PMPCFG0 + 16) return 0;
    if (csr >= Csr.PMPADDR0 && csr < Csr.PMPADDR0 + 16) return this.pmpaddr[csr - Csr.PMPADDR0];
    if (csr >= Csr.PMPADDR0 + 16 && csr < Csr.PMPADDR0 + 64) return 0;
    // hpmcounters and hpmevents exist and read as zero.
    if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0xb83 && csr <= 0xb9f) || (csr >= 0x323 && csr <= 0x33f)) return 0;
    if ((csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0xc83 && csr <= 0xc9f)) return 0;
    return undefined;
  }

  /** Writes a CSR (WARL rules applied); false if it does not exist. */
  csrWrite(csr: number, v: number): boolean {
    switch (csr) {
      case Csr.SSTATUS: this.setMstatus((this.mstatus & ~SSTATUS_MASK) | (v & SSTATUS_MASK)); return true;
      case Csr.SIE: this.mie = (this.mie & ~this.mideleg) | (v & this.mideleg); return true;
      case Csr.STVEC: this.stvec = (v & 3) >= 2 ? v & ~3 : v; return true;
      case Csr.SCOUNTEREN: this.scounteren = v; return true;
      case Csr.SENVCFG: this.senvcfg = 0; return true;
      case Csr.SSCRATCH: this.sscratch = v; return true;
      case Csr.SEPC: this.sepc = v & ~1; return true;
      case Csr.SCAUSE: this.scause = v; return true;
      case Csr.STVAL: this.stval = v; return true;
      case Csr.SIP: { const m = this.mideleg & (1 << Irq.SSI); this.mip = (this.mip & ~m) | (v & m); return true; }
      case Csr.SATP: {
        const mode = v >>> 31;
        // Sv32 or Bare only; ASIDs are not implemented (ASID bits read as zero).
        this.satp = (mode << 31) | (v & 0x3fffff);
        this.flushTlb();
        return true;
      }
      case Csr.MSTATUS: this.setMstatus(v); return true;
      case Csr.MSTATUSH: return true;
      case Csr.MISA: return true; // read-only in this implementation (WARL)
      case Csr.MEDELEG: this.medeleg = v & MEDELEG_MASK; return true;
      case Csr.MIDELEG: this.mideleg = v & SIP_MASK; return true;
      case Csr.MIE: this.mie = v & MIP_MASK; return true;
      case Csr.MTVEC: this.mtvec = (v & 3) >= 2 ? v & ~3 : v; return true;
      case Csr.MCOUNTEREN: this.mcounteren = v; return true;
      case Csr.MENVCFG: case Csr.MENVCFGH: return true;
      case Csr.MCOUNTINHIBIT: this.mcountinhibit = v & 5; return true;
      case Csr.MSCRATCH: this.mscratch = v; return true;
      case Csr.MEPC: this.mepc = v & ~1; return true;
      case Csr.MCAUSE: this.mcause = v; return true;
      case Csr.MTVAL: this.mtval = v; return true;
      case Csr.MIP: { const m = SIP_MASK; this.mip = (this.mip & ~m) | (v & m); return true; }
      // Counter writes: the value written is what the next instruction reads (this one does not count).
      case Csr.MINSTRET: this.setCounter(this.instretOff, false, v); return true;
      case Csr.MINSTRETH: this.setCounter(this.instretOff, true, v); return true;
      case Csr.MCYCLE: this.setCounter(this.cycleOff, false, v); return true;
      case Csr.MCYCLEH: this.setCounter(this.cycleOff, true, v); return true;
      case Csr.TSELECT: case Csr.TDATA1: case Csr.TDATA2: case Csr.TDATA3: return true;
    }
    if (csr >= Csr.PMPCFG0 && csr < Csr.PMPCFG0 + 4) { this.pmpcfg[csr - Csr.PMPCFG0] = v; return true; }
    if (csr >= Csr.PMPADDR0 && csr < Csr.PMPADDR0 + 16) { this.pmpaddr[csr - Csr.PMPADDR0] = v & 0x3fffffff; return true; }
    return this.csrRead(csr) !== undefined;
  }

  private setMstatus(v: number): void {
    const old = this.mstatus;
    let n = (old & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
    if (((n >>> 11) & 3) === 2) n = (n & ~Mstatus.MPP) | (old & Mstatus.MPP); // MPP = 2 is reserved: keep the old value
    this.mstatus = n;
    if ((old ^ n) & (Mstatus.MPRV | Mstatus.SUM | Mstatus.MXR | Mstatus.MPP)) this.modeChanged();
  }

  // ---------------------------------------------------------------------------------------------
  // Traps.

  /** Raises a synchronous exception at this.pc. */
  raise(cause: number, tval: number): void {
    this.trapped = true;
    this.runTraps++;
    if (cause === Cause.ILLEGAL_INST) {
      const what = unsupportedInstruction(tval);
      if (what !== null) {
        const stopped = this.stopOnUnsupported && this.priv === Priv.S;
        this.unsupported = { what, inst: tval >>> 0, pc: this.pc, priv: this.priv, stopped };
        // The run loops leave on trapLoop; pc stays at the instruction, nothing of the trap is taken.
        if (stopped) { this.trapLoop = true; return; }
      }
    }
    const pc = this.pc;
    // A fault at the very address of the trap vector we just jumped to means the handler cannot run.
    this.trapLoop = this.lastTrapCause >= 0 && this.lastTrapCause === cause && pc === this.lastTrapVector && this.lastTrapCount > 0;
    this.takeTrap(cause, tval, false);
  }
  private lastTrapVector = -1;
  private lastTrapCount = 0;

  private takeTrap(cause: number, tval: number, interrupt: boolean): void {
    const pc = this.pc;
    this.lastTrapCause = interrupt ? (cause | 0x80000000) : cause;
    this.lastTrapPc = pc;
    this.lastTrapTval = tval;
    this.resOff = -1;
    const deleg = interrupt ? this.mideleg : this.medeleg;
    const mcauseVal = interrupt ? (cause | 0x80000000) : cause;
    let vector: number;
    if (this.priv <= Priv.S && ((deleg >>> cause) & 1)) {
      this.scause = mcauseVal; this.sepc = pc; this.stval = tval;
      const s = this.mstatus;
      this.mstatus = (s & ~(Mstatus.SPIE | Mstatus.SIE | Mstatus.SPP)) | ((s & Mstatus.SIE) ? Mstatus.SPIE : 0) | (this.priv === Priv.S ? Mstatus.SPP : 0);
      this.setPriv(Priv.S);
      vector = this.stvec;
    } else {
      this.mcause = mcauseVal; this.mepc = pc; this.mtval = tval;
      const s = this.mstatus;
      this.mstatus = (s & ~(Mstatus.MPIE | Mstatus.MIE | Mstatus.MPP)) | ((s & Mstatus.MIE) ? Mstatus.MPIE : 0) | (this.priv << 11);
      this.setPriv(Priv.M);
      vector = this.mtvec;
    }
    const base = vector & ~3;
    this.pc = (interrupt && (vector & 3) === 1) ? base + 4 * cause | 0 : base | 0;
    if (this.pc === this.lastTrapVector) this.lastTrapCount++; else { this.lastTrapVector = this.pc; this.lastTrapCount = 0; }
  }

  /**
   * A PAUSE at instruction clock `now` (instret, low 32 bits, the PAUSE counted): whether it is a pause-loop exit.
   * A PAUSE more than pleGap instructions after the previous one starts a spin; one more than pleWindow into a spin
   * exits. Distances are unsigned 32-bit, as the WebAssembly interpreter (interp-wasm.ts) computes them too.
   */
  private pause(now: number): boolean {
    const hs = this.hs;
    hs[HartSlot.PAUSES]++;
    if (hs[HartSlot.EXIT_ON_PAUSE] !== 0) return true;
    const gap = hs[HartSlot.PLE_GAP];
    if (gap <= 0) return false;
    if (((now - hs[HartSlot.LAST_PAUSE]) >>> 0) > gap) hs[HartSlot.SPIN_START] = now;
    hs[HartSlot.LAST_PAUSE] = now;
    if (((now - hs[HartSlot.SPIN_START]) >>> 0) <= hs[HartSlot.PLE_WINDOW]) return false;
    hs[HartSlot.SPIN_START] = now;
    return true;
  }

  /** Takes the highest-priority pending and enabled interrupt, if any. Returns true if one was taken. */
  checkInterrupts(): boolean {
    const pending = this.mip & this.mie;
    if (pending === 0) return false;
    const s = this.mstatus;
    const mEnabled = this.priv < Priv.M || (s & Mstatus.MIE) !== 0;
    const sEnabled = this.priv < Priv.S || (this.priv === Priv.S && (s & Mstatus.SIE) !== 0);
    const toM = mEnabled ? pending & ~this.mideleg : 0;
    const toS = sEnabled ? pending & this.mideleg : 0;
    const p = toM !== 0 ? toM : toS;
    if (p === 0) return false;
    let cause: number;
    if (p & (1 << Irq.MEI)) cause = Irq.MEI;
    else if (p & (1 << Irq.MSI)) cause = Irq.MSI;
    else if (p & (1 << Irq.MTI)) cause = Irq.MTI;
    else if (p & (1 << Irq.SEI)) cause = Irq.SEI;
    else if (p & (1 << Irq.SSI)) cause = Irq.SSI;
    else cause = Irq.STI;
    this.lastTrapCount = 0;
    this.takeTrap(cause, 0, true);
    this.refetch = true;
    return true;
  }
}

/** Gives a dropped hart's slot back (a hart that was not disposed). */
const slotRelease = new FinalizationRegistry<{ mem: GuestMemory; slot: number }>((s) => s.mem.releaseHartSlot(s.slot));

const EMPTY_PAGE = new Int32Array(CODE_PAGE_LENGTH);

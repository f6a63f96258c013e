/**
 * The translating engine: hot guest loops compiled to WebAssembly (jit-wasm.ts) or JavaScript (this file's
 * `generate`, with HARTVISOR_JIT_BACKEND=js or a hart without a slot in guest memory), over the same state as the
 * interpreter. The two back ends share everything up to code generation, and the same contract; below, "JS" says
 * how the JavaScript back end does it, the WebAssembly one does the same in its own terms.
 *
 * Dispatch. The run loop of a 'jit' hart (`Hart.runJit`) looks at the pc whenever it is not inside translated
 * code. At a pc that is an *entry point* of a translated region (and the budget allows) it calls the region;
 * anywhere else it runs the interpreter, which stops in front of the next entry point: the translator marks entry
 * points by setting bit 31 of their word in the interpreter's decoded-instruction cache, and the interpreter's
 * "not decoded yet" test (`word <= 0`) already catches that. So cold code runs at interpreter speed with no
 * dispatch at all, and translated code is used wherever control reaches it.
 *
 * Hotness. The interpreter counts, per halfword of each code page (next to its decoded words), the backward
 * branches and jumps that land there: loop iterations, counted only once control has stayed on the page for a
 * streak of iterations (Hart.backEdge), so that loops that run a few iterations per entry never qualify. When a
 * count reaches the threshold the interpreter stops there, and the run loop asks the translator for a region at
 * that loop head. (With a threshold below 8, as in tests, every pc the run loop sees is translated, loop or not.)
 *
 * Regions. A region is a loop: the basic blocks of the page that lie on a cycle through the head (following branch
 * targets, fall-throughs, jump targets, and the return points after calls to functions on the page), with the
 * bodies of those functions, taking in only blocks that have run (the interpreter decoded them), up to MAX_REGION
 * instructions (Linux's SLOB allocator walks its free lists in such a loop: a quarter of a boot's instructions).
 * Code that is not a loop is not translated: V8 compiles each region more than once before it is fast, which only
 * loops pay back. A basic block is a straight
 * run of instructions up to the first branch or jump, stopping before any instruction left to the interpreter
 * (system, CSR, atomics, PAUSE, FENCE.I, illegal, a 32-bit instruction straddling the page end) and at the page end.
 * The region is one JS function (`new Function`) holding a `for (;;) switch` whose cases are its entry points:
 * every block head, every static target inside the region, and the instruction after each load and store.
 * Control stays inside from block to block; a target outside the region returns to the run loop, as does a JALR
 * unless it lands on an entry point of the region. A straight run that branches back to its own start also gets a
 * copy as an inner `for (;;)`. An entry point whose calls run fewer than MIN_RUN instructions on average is
 * retired (unmarked): calling a region costs more than interpreting a few instructions.
 *
 * No slow path in translated code. Guest registers used by a region live in JS locals, loaded at entry and
 * written back at the single exit. Loads and stores use the hart's TLBs and RAM views exactly like the
 * interpreter's fast paths; where the interpreter would take its slow path (TLB miss, MMIO, misaligned address,
 * a store to a page holding code) the region returns *before* that instruction with an odd pc (pc + 1), and the
 * run loop interprets it, then re-enters the region at the next instruction (an entry point). Translated code
 * therefore never calls back into the hart, never traps and never sees self-modifying stores: every trap is raised
 * by the interpreter with its own bookkeeping. (It also spares V8 deoptimizations: V8 deoptimizes optimized code
 * the first time a path it never saw run is taken, and slow paths are exactly those.)
 *
 * Exactness. Each straight-line segment (from an entry point to the next) checks the budget before it starts
 * (`left >= n`, else it returns and the run loop interprets the tail) and subtracts its instruction count; an
 * instruction that leaves for the interpreter gives back itself and the rest of its segment. So budgets, instret,
 * pcs and traps are those of the interpreter, and a fault in the middle of a block retires exactly the
 * instructions before it. Interrupts are taken where the interpreter takes them (run entry, CSR writes, xRET,
 * WFI), all of which are interpreted.
 *
 * Invalidation. Translations belong to a physical page and live exactly as long as the page's decoded
 * instructions (the interpreter's cache, entry marks and loop counts included): pages holding decoded code are
 * never in the store TLB, so a store to one goes to the interpreter's slow path, which drops the page (both
 * caches). FENCE.I (and a remote fence.i) drops the pages whose bytes changed since they were decoded (hart.ts
 * fenceI). A page whose translations keep being invalidated
 * (code and written data sharing a page) is no longer translated. Translations are per hart, so per thread;
 * another vCPU's stores reach them through the guest's fence.i, exactly as with the interpreter's cache.
 */
import { Decoded, Op, decode16, decode32 } from './decode.js';
import { mulh, mulhsu, mulhu } from './alu.js';
import { HartSlot, snapshotInstruction } from './memory.js';
import type { GuestMemory } from './memory.js';
import { compileWasm } from './jit-wasm.js';

/** Which engine runs a hart's guest code. 'jit' translates hot code and interprets the rest; 'interp' only
 *  interprets (the reference). */
export type Engine = 'jit' | 'interp';

/** Iterations of a loop (back edges to its head) before it is translated (default of `HartOptions.jitThreshold`). */
export const DEFAULT_JIT_THRESHOLD = 8192;
/** Bit 31 of a decoded-instruction word: the instruction is an entry point of a translated region. */
export const ENTRY_BIT = 0x80000000 | 0;
/** Longest basic block and straight-line segment, in instructions. */
const MAX_BLOCK = 64;
/** Largest region, in guest instructions, and how far the translator looks for a loop. */
const MAX_REGION = 128;
const MAX_SCAN = 512;
/** Regions compiled for one page (then no more until it is invalidated). */
const MAX_PAGE_REGIONS = 32;
/** Invalidations of a page's translations after which it is no longer translated. */
const MAX_CHURN = 4;

type Env = Record<string, string | undefined>;
const env = (): Env | undefined => (globalThis as { process?: { env?: Env } }).process?.env;

/**
 * The engine a hart uses when its options do not say: 'jit' when the environment variable HARTVISOR_ENGINE is
 * 'jit', else 'interp' (the translator is opt-in for now). Read at each hart's construction, so executors, worker
 * threads (which inherit the environment) and the CLI all follow it without passing it down.
 */
export function defaultEngine(): Engine {
  // The translator by default; HARTVISOR_ENGINE=interp (hartvisor run --engine interp) selects the reference.
  return env()?.HARTVISOR_ENGINE === 'interp' ? 'interp' : 'jit';
}

/** The translator's back end: WebAssembly unless HARTVISOR_JIT_BACKEND is 'js' (a testing and comparison knob). */
export function defaultBackEnd(): 'wasm' | 'js' {
  return env()?.HARTVISOR_JIT_BACKEND === 'js' ? 'js' : 'wasm';
}

/** Whether harts of engine 'jit' interpret through the WebAssembly interpreter (interp-wasm.ts): yes unless
 *  HARTVISOR_WASM_INTERP is '0' (a testing and comparison knob). */
export function defaultWasmInterp(): boolean {
  return env()?.HARTVISOR_WASM_INTERP !== '0';
}

/** Whether harts copy other harts' decoded pages (HartOptions.adoptDecoded): yes unless HARTVISOR_ADOPT_DECODED is
 *  '0' (a testing and comparison knob). */
export function defaultAdoptDecoded(): boolean {
  return env()?.HARTVISOR_ADOPT_DECODED !== '0';
}

/** The default threshold: HARTVISOR_JIT_THRESHOLD when it is a positive integer (a testing and tuning knob),
 *  else DEFAULT_JIT_THRESHOLD. */
export function defaultJitThreshold(): number {
  const v = Number(env()?.HARTVISOR_JIT_THRESHOLD);
  return Number.isInteger(v) && v >= 1 ? v : DEFAULT_JIT_THRESHOLD;
}

/**
 * A compiled region: `(pc0, entry, left)` runs from entry point `entry` of the region on the virtual page `pc0`
 * with `left` instructions of budget (at least the entry's `need`), stores the budget left in `host.jitLeft` and
 * returns the next pc: even, or odd (pc + 1) when the instruction at pc needs the interpreter.
 */
export type RegionFn = (pc0: number, entry: number, left: number) => number;

/** An entry point of a translated region. */
export class Entry {
  /** Calls so far (counted up to PROBE_CALLS), and the instructions they ran. */
  calls = 0;
  ran = 0;
  constructor(
    /** The region. */
    readonly fn: RegionFn,
    /** The entry's case in `fn`. */
    readonly idx: number,
    /** Budget the entry needs: its first straight-line segment (Infinity: retired, never entered). */
    readonly need: number,
  ) {}
}

/** Calls of an entry after which it is judged; an entry whose calls ran fewer than MIN_RUN instructions on
 *  average is retired (calling a region costs more than interpreting a few instructions). */
export const PROBE_CALLS = 256;
export const MIN_RUN = 24;
const noRegion: RegionFn = () => { throw new Error('a retired entry was entered'); };
/** The entry of a retired entry point: never entered, and no new translation starts there. */
const RETIRED = new Entry(noRegion, 0, Infinity);

/** Translation state of one physical page of RAM. */
export class JitPage {
  /** Entry points by halfword offset. */
  readonly descs: (Entry | undefined)[] = new Array(2048);
  /** Regions compiled for this page. */
  regions = 0;
}

/** What translated code touches on the hart, besides the arrays it is given. */
export interface JitHost {
  /** The TLB context of loads and stores (the hart's tags are page number | context; a region runs in one). */
  readonly dataCtx: number;
}

/** The arrays a translator works over (the hart's own). */
export interface JitState {
  regs: Int32Array;
  /** The hart's slot words (memory.ts HartSlot): a region leaves its budget in JIT_LEFT. */
  hs: Int32Array;
  /** The slot's byte offset in guest memory, or -1 (then regions are JavaScript). */
  slot: number;
  mem: GuestMemory;
  /** Decoded code pages of the interpreter, by RAM page number. */
  code: (Int32Array | undefined)[];
  loadTag: Int32Array; loadOff: Int32Array; storeTag: Int32Array; storeOff: Int32Array;
  /** Index mask of those TLBs (their size - 1): regions index them with it as a literal. */
  tlbMask: number;
}

/** Counters of the translator (cumulative). */
export interface JitStats {
  /** Regions compiled, and the guest instructions in them. */
  regions: number;
  instructions: number;
  /** Pages whose translations were dropped (a store to the page, or a fence.i after its bytes changed), and full
   *  flushes (the TLB grew). */
  pageInvalidations: number;
  flushes: number;
  /** Entry points retired for running too few instructions per call. */
  retired: number;
  /** Hot spots not translated because their region would hold no loop. */
  declined: number;
}

/** One decoded instruction. */
export interface Inst { off: number; word: number; imm: number; len: number; kind: Kind }

export const enum Kind { Plain, Memory, Branch, Jal, Jalr }

/** How an op ends a block (Branch, Jal, Jalr), is a load or store, or neither; -1: left to the interpreter. */
function kindOf(op: number): Kind | -1 {
  switch (op) {
    case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: return Kind.Branch;
    case Op.JAL: return Kind.Jal;
    case Op.JALR: return Kind.Jalr;
    case Op.LB: case Op.LH: case Op.LW: case Op.LBU: case Op.LHU: case Op.SB: case Op.SH: case Op.SW: return Kind.Memory;
    default: return (op >= Op.ADDI && op <= Op.AUIPC) || op === Op.FENCE ? Kind.Plain : -1;
  }
}

/** Per-hart translator: translation state per page, region formation and code generation. */
export class Translator {
  /** Translation state by RAM page number; defined only while the interpreter's decoded page is. */
  readonly pages: (JitPage | undefined)[];
  /** Loop iterations before a translation (below 8: translate everything, see `tiny`). */
  readonly threshold: number;
  readonly stats: JitStats = { regions: 0, instructions: 0, pageInvalidations: 0, flushes: 0, retired: 0, declined: 0 };
  /** Source of the last region compiled (for tests and debugging). */
  lastSource = '';
  /** Times each page was invalidated after holding translations (MAX_CHURN: no more translations there). */
  private readonly churn: Uint8Array;
  private readonly dec: Decoded = { word: 0, imm: 0 };
  private readonly host: JitHost;
  private readonly st: JitState;

  /** Regions are compiled to WebAssembly (the hart has a slot in a WebAssembly memory, and the back end is not
   *  set to JavaScript), else to JavaScript. */
  readonly wasm: boolean;

  constructor(host: JitHost, st: JitState, threshold: number, backEnd: 'wasm' | 'js' = defaultBackEnd()) {
    this.host = host;
    this.wasm = st.slot >= 0 && st.mem.wasm !== null && backEnd === 'wasm';
    this.st = st;
    this.threshold = threshold;
    this.pages = new Array(st.code.length);
    this.churn = new Uint8Array(st.code.length);
  }

  /** Makes the translation state of a page that holds decoded code. */
  newPage(pn: number): JitPage {
    const p = new JitPage();
    this.pages[pn] = p;
    return p;
  }

  /** Drops a page's translations (its code was written; the caller drops its decoded page, entry marks included). */
  dropPage(pn: number): void {
    const p = this.pages[pn];
    if (p === undefined) return;
    this.pages[pn] = undefined;
    if (p.regions > 0) {
      this.stats.pageInvalidations++;
      if (this.churn[pn] < 255) this.churn[pn]++;
    }
  }

  /** The hart's data TLB changed (it grew): regions made from now on index these arrays; the caller drops the old
   *  regions (Hart.flushCode). */
  useTlb(tlb: Pick<JitState, 'loadTag' | 'loadOff' | 'storeTag' | 'storeOff' | 'tlbMask'>): void {
    Object.assign(this.st, tlb);
  }

  /** Drops every translation (the TLB grew; the caller drops the decoded pages). */
  flush(): void {
    this.pages.fill(undefined);
    this.stats.flushes++;
  }

  /** Retires the entry point at offset `off` of page `pn`: the run loop no longer enters it, the interpreter no
   *  longer stops there. */
  retire(jp: JitPage, pn: number, off: number): void {
    jp.descs[off >> 1] = RETIRED;
    this.st.code[pn]![off] &= 0x7fffffff;
    this.stats.retired++;
  }

  /** Loop iterations a head on page `pn` must see before it is translated: the threshold, or never for a page whose
   *  translations keep being invalidated (code and written data sharing a page), or that has too many regions. */
  thresholdOf(pn: number): number {
    const p = this.pages[pn];
    return this.churn[pn] >= MAX_CHURN || (p !== undefined && p.regions >= MAX_PAGE_REGIONS) ? Infinity : this.threshold;
  }

  /** A threshold below 8 (tests): every pc the run loop sees is translated, loop or not, with all its successors. */
  get tiny(): boolean { return this.threshold < 8; }

  /** Scans the basic block at `off` of page `pn` into `out` (in order); returns false if it is empty. */
  private scan(pn: number, off: number, out: Inst[]): boolean {
    const page = this.st.code[pn]!;
    let o = off;
    while (out.length < MAX_BLOCK && o < 4096) {
      const c = this.slot(page, o);
      if (c === 0) break; // straddles the page end: the interpreter runs it
      const kind = kindOf(c & 0xff);
      if (kind < 0) break;
      const len = (c >> 24) & 7;
      out.push({ off: o, word: c, imm: page[o + 1], len, kind: kind as Kind });
      o += len;
      if (kind >= Kind.Branch) break;
    }
    return out.length > 0;
  }

  /** The decoded word at offset `o` of a code page without its entry mark (decoding it into the cache if needed);
   *  0 if it straddles the page end. */
  private slot(page: Int32Array, o: number): number {
    const c = page[o];
    if (c !== 0) return c & 0x7fffffff;
    // From the page's snapshot, as hart.ts decodeAt (memory.ts SNAPSHOT_WORD).
    const inst = snapshotInstruction(page, o);
    const d = this.dec;
    if ((inst & 3) !== 3) decode16(inst, d);
    else if (o === 0xffe) return 0;
    else decode32(inst, d);
    page[o + 1] = d.imm; // (the immediate first: see hart.ts decodeAt)
    Atomics.store(page, o, d.word);
    return d.word;
  }

  /**
   * Translates the code around offset `off` of page `pn` (see the file comment) and makes its entry points known to
   * the run loop (`descs`) and to the interpreter (bit 31 in the decoded page); entry points that already belong to
   * a region keep it. Does nothing when there is nothing worth translating there.
   */
  compile(jp: JitPage, pn: number, off: number): void {
    if (jp.regions >= MAX_PAGE_REGIONS) return;
    const tiny = this.tiny;
    const page = this.st.code[pn]!;
    // Blocks reachable from the head on this page, with their static successors (a call's successor is its
    // return point; a JALR has none).
    const blocks = new Map<number, { insts: Inst[]; succ: number[] }>();
    const queue = [off];
    let size = 0;
    while (queue.length > 0 && size < MAX_SCAN) {
      const o = queue.shift()!;
      if (blocks.has(o)) continue;
      // A successor joins only if it has run (the interpreter decoded it), so that V8 has seen its code run.
      if (o !== off && !tiny && page[o] === 0) continue;
      const block: Inst[] = [];
      if (!this.scan(pn, o, block)) continue;
      const last = block[block.length - 1];
      const succ: number[] = [];
      if (last.kind !== Kind.Jalr) succ.push(last.off + last.len);
      if (last.kind === Kind.Branch || last.kind === Kind.Jal) succ.push(last.off + last.imm);
      const inPage = succ.filter((t) => t >= 0 && t < 4096);
      blocks.set(o, { insts: block, succ: inPage });
      size += block.length;
      for (const t of inPage) if (!blocks.has(t)) queue.push(t);
    }
    if (!blocks.has(off)) return; // nothing to translate at this pc (e.g. a CSR instruction)
    let keep = [...blocks.keys()];
    if (!tiny) {
      // Only loops pay for their translation (V8 compiles each region more than once before it is fast), and only
      // the loop itself: the blocks on a cycle through the head, and the bodies of the functions it calls on this
      // page. Paths out of the loop return to the run loop. A call (JAL with a link) to a function on this page is
      // an edge to its return point: the function's return (a JALR) finds the return point among the region's
      // entry points and stays inside. A call to another page leaves the loop, so a loop that calls out is not
      // translated (each iteration would leave the region and come back).
      const callee = (b: { insts: Inst[] }): number => {
        const last = b.insts[b.insts.length - 1];
        return last.kind === Kind.Jal && ((last.word >> 8) & 63) !== 32 ? last.off + last.imm : -1;
      };
      const preds = new Map<number, number[]>();
      for (const [o, b] of blocks) {
        const fn = callee(b);
        for (const t of b.succ) {
          if (fn !== -1 && (t === fn || !blocks.has(fn))) continue; // into the function, or a call off the page
          if (!preds.has(t)) preds.set(t, []);
          preds.get(t)!.push(o);
        }
      }
      const onCycle = new Set<number>();
      const work = [...(preds.get(off) ?? [])];
      while (work.length > 0) {
        const o = work.pop()!;
        if (onCycle.has(o) || !blocks.has(o)) continue;
        onCycle.add(o);
        for (const q of preds.get(o) ?? []) work.push(q);
      }
      if (!onCycle.has(off)) { this.stats.declined++; return; }
      // The called functions' blocks: everything reachable from their entries (nested calls included).
      const inRegion = new Set(onCycle);
      const work2: number[] = [];
      for (const o of onCycle) { const fn = callee(blocks.get(o)!); if (fn !== -1) work2.push(fn); }
      while (work2.length > 0) {
        const o = work2.pop()!;
        if (inRegion.has(o) || !blocks.has(o)) continue;
        inRegion.add(o);
        for (const t of blocks.get(o)!.succ) work2.push(t);
      }
      keep = keep.filter((o) => inRegion.has(o));
    }
    const insts = new Map<number, Inst>();
    const heads: number[] = [];
    for (const o of keep) {
      if (insts.size >= MAX_REGION) break;
      heads.push(o);
      for (const it of blocks.get(o)!.insts) if (!insts.has(it.off)) insts.set(it.off, it);
    }
    const region = layout(insts, heads);
    const st = this.st;
    let fn: RegionFn;
    if (this.wasm) {
      fn = compileWasm(region, st.tlbMask, st.slot, st.mem.wasm!);
      this.lastSource = '';
    } else {
      const src = generate(region, `region_${(pn << 12).toString(16).padStart(5, '0')}_${off.toString(16).padStart(3, '0')}`, st.tlbMask);
      this.lastSource = src;
      const factory = new Function('h', 'hs', 'r', 'm32', 'm16', 'm8', 'ltag', 'loff', 'stag', 'soff', 'map', 'mulh', 'mulhu', 'mulhsu', src) as
        (...args: unknown[]) => RegionFn;
      fn = factory(this.host, st.hs, st.regs, st.mem.i32, st.mem.u16, st.mem.u8, st.loadTag, st.loadOff, st.storeTag, st.storeOff,
        region.map, mulh, mulhu, mulhsu);
    }
    for (const e of region.entries) {
      if (jp.descs[e.off >> 1] !== undefined) continue;
      jp.descs[e.off >> 1] = new Entry(fn, e.idx, e.need);
      page[e.off] |= ENTRY_BIT;
    }
    jp.regions++;
    this.stats.regions++;
    this.stats.instructions += insts.size;
  }
}

// -------------------------------------------------------------------------------------------------------------
// Region layout and code generation.

/** An entry point of a region being laid out: case `idx` at page offset `off`, whose first segment has `need` instructions. */
interface EntryPoint { off: number; idx: number; need: number }
/**
 * A straight-line run of instructions, cut into segments at entry points. `cuts` are the indices in `insts` where
 * segments start ([0] is 0) and `idx` their cases (-1: a segment no one enters). A run that branches back to its
 * start also gets a loop copy, case `loopIdx`, which is where its start is entered.
 */
export interface Run { insts: Inst[]; cuts: number[]; idx: number[]; loopIdx: number }
export interface Region { runs: Run[]; entries: EntryPoint[]; /** Halfword offset → case, -1 if none. */ map: Int16Array }

/**
 * Lays out the region's instructions as straight-line runs (each instruction once), with an entry point at every
 * head, after every load and store, at every static branch or jump target inside the region, wherever two runs
 * meet, and every MAX_BLOCK instructions.
 */
function layout(insts: Map<number, Inst>, heads: number[]): Region {
  const entry = new Set<number>(heads);
  const preds = new Map<number, number>();
  for (const it of insts.values()) {
    const next = it.off + it.len;
    if (it.kind === Kind.Memory && insts.has(next)) entry.add(next);
    if ((it.kind === Kind.Branch || it.kind === Kind.Jal) && insts.has(it.off + it.imm)) entry.add(it.off + it.imm);
    if (it.kind === Kind.Branch && insts.has(next)) entry.add(next);
    if (it.kind <= Kind.Memory && insts.has(next)) preds.set(next, (preds.get(next) ?? 0) + 1);
  }
  // Offsets grow along fall-through, so there are no cycles; two instructions fall into the same one only when code
  // jumps into the middle of a 32-bit instruction: that one is an entry, which the second run ends by going to.
  for (const [o, count] of preds) if (count > 1) entry.add(o);
  const runs: Run[] = [];
  const placed = new Set<number>();
  for (const s of [...insts.keys()].sort((a, b) => a - b)) {
    if (preds.has(s) || placed.has(s)) continue;
    const run: Run = { insts: [], cuts: [], idx: [], loopIdx: -1 };
    let o = s, sinceCut = 0;
    for (;;) {
      const it = insts.get(o)!;
      if (run.insts.length === 0 || entry.has(o) || sinceCut >= MAX_BLOCK) {
        run.cuts.push(run.insts.length);
        entry.add(o);
        sinceCut = 0;
      }
      run.insts.push(it);
      placed.add(o);
      sinceCut++;
      if (it.kind > Kind.Memory) break;
      o += it.len;
      if (!insts.has(o) || placed.has(o)) break;
    }
    runs.push(run);
  }
  const map = new Int16Array(2048).fill(-1);
  const entries: EntryPoint[] = [];
  for (const run of runs) {
    const n = run.insts.length, last = run.insts[n - 1];
    if ((last.kind === Kind.Branch || last.kind === Kind.Jal) && last.off + last.imm === run.insts[0].off && n <= MAX_BLOCK) {
      run.loopIdx = entries.length;
      entries.push({ off: run.insts[0].off, idx: run.loopIdx, need: n });
      map[run.insts[0].off >> 1] = run.loopIdx;
    }
    run.cuts.forEach((c, j) => {
      if (j === 0 && run.loopIdx >= 0) { run.idx.push(-1); return; } // entered through the loop copy
      const end = j + 1 < run.cuts.length ? run.cuts[j + 1] : n;
      const idx = entries.length;
      run.idx.push(idx);
      entries.push({ off: run.insts[c].off, idx, need: end - c });
      map[run.insts[c].off >> 1] = idx;
    });
  }
  return { runs, entries, map };
}

/** A JS integer literal. */
const lit = (v: number): string => (v < 0 ? `(${v})` : `${v}`);

/**
 * The body of a region factory: `return function name(pc0, s, left) {...}` over the parameters of
 * `Translator.compile`'s `new Function`. Guest registers the region uses live in locals, loaded at entry; exits
 * set `npc` to the page offset of the next pc (odd: the instruction at npc - 1 needs the interpreter) and leave the
 * loop for the one epilogue, which stores back the registers the region writes and the budget.
 */
function generate(region: Region, name: string, tlbMask: number): string {
  const { map } = region;
  const { used, written } = registers(region);
  const out: string[] = [];
  out.push('"use strict";');
  out.push(`return function ${name}(pc0, s, left) {`);
  // `back`: instructions an exit to the interpreter gives back, added in the epilogue: an exit then only stores
  // constants, so that V8 has no operation there whose type it never saw (it would deoptimize the whole region the
  // first time the exit is taken).
  out.push('let npc = 0, a = 0, b = 0, t = 0, back = 0;');
  out.push('const cx = h.dataCtx;');
  if (used.length > 0) out.push(`let ${used.map((q) => `x${q} = r[${q}]`).join(', ')};`);
  out.push('out: for (;;) {');
  out.push('switch (s) {');
  for (const g of segments(region)) emitSegment(out, g.run, g.k0, g.k1, g.idx, map, g.loop, tlbMask);
  out.push('default: npc = 0; break out;'); // (unreachable: every entry is a case)
  out.push('}');
  out.push('}');
  const wb = written.map((q) => `r[${q}] = x${q};`).join(' ');
  if (wb !== '') out.push(wb);
  out.push(`hs[${HartSlot.JIT_LEFT}] = left + back;`);
  out.push('return pc0 + npc | 0;');
  out.push('};');
  return out.filter((l) => l !== '').join('\n');
}

/** A piece of a region as a back end emits it: instructions [k0, k1) of `run` as case `idx`; `loop`: the run's
 *  loop copy (the whole run, its branch back to its start staying inside). */
export interface Segment { run: Run; k0: number; k1: number; idx: number; loop: boolean }

/** The region's segments in the order their code is laid out, each case once. */
export function segments(region: Region): Segment[] {
  const out: Segment[] = [];
  for (const run of region.runs) {
    if (run.loopIdx >= 0) out.push({ run, k0: 0, k1: run.insts.length, idx: run.loopIdx, loop: true });
    for (let j = run.loopIdx >= 0 ? 1 : 0; j < run.cuts.length; j++) {
      out.push({ run, k0: run.cuts[j], k1: j + 1 < run.cuts.length ? run.cuts[j + 1] : run.insts.length, idx: run.idx[j], loop: false });
    }
  }
  return out;
}

/** The registers a region reads or writes, and those it writes (not x0), in order: what a back end loads at entry
 *  and stores back at its exit. */
export function registers(region: Region): { used: number[]; written: number[] } {
  const used = new Set<number>(), written = new Set<number>();
  for (const run of region.runs) {
    for (const it of run.insts) {
      for (const q of reads(it)) used.add(q);
      const w = writes(it);
      if (w >= 0) { used.add(w); written.add(w); }
    }
  }
  const sorted = (s: Set<number>): number[] => [...s].sort((p, q) => p - q);
  return { used: sorted(used), written: sorted(written) };
}

/** Registers an instruction reads (not x0). */
export function reads(it: Inst): number[] {
  const c = it.word, op = c & 0xff;
  const rs1 = (c >> 14) & 31, rs2 = (c >> 19) & 31;
  const out: number[] = [];
  if (rs1 !== 0) out.push(rs1);
  if (rs2 !== 0 && usesRs2(op) && rs2 !== rs1) out.push(rs2);
  return out;
}

/** The register an instruction writes, or -1 (none, or x0). */
export function writes(it: Inst): number {
  const c = it.word, rd = (c >> 8) & 63;
  return rd !== 0 && rd !== 32 && writesRd(c & 0xff) ? rd : -1;
}

/**
 * Emits instructions [k0, k1) of a run as case `idx`, ending by falling into the next segment's case or with the
 * run's last instruction. `loop`: the whole run as one case holding an inner `for (;;)` whose branch back to the
 * run's start stays inside. `tlbMask`: the hart's TLB index mask, a literal in the code.
 */
function emitSegment(out: string[], run: Run, k0: number, k1: number, idx: number, map: Int16Array, loop: boolean, tlbMask: number): void {
  const n = k1 - k0;
  const start = run.insts[0].off;
  const goto = (target: number): string => {
    if (loop && target === start) return 'continue;';
    if (target >= 0 && target < 4096 && map[target >> 1] >= 0) return `s = ${map[target >> 1]}; continue out;`;
    return `npc = ${lit(target)}; break out;`;
  };
  out.push(`case ${idx}:`);
  if (loop) out.push('for (;;) {');
  out.push(`if (left < ${n}) { npc = ${run.insts[k0].off}; break out; }`);
  out.push(`left -= ${n};`);
  const x = (i: number): string => (i === 0 ? '0' : `x${i}`);
  for (let k = 0; k < n; k++) {
    const it = run.insts[k0 + k];
    const c = it.word, imm = it.imm, op = c & 0xff, len = it.len;
    const rd = (c >> 8) & 63, rs1 = (c >> 14) & 31, rs2 = (c >> 19) & 31;
    const A = x(rs1), B = x(rs2);
    const w = writes(it);
    const set = (e: string): string => (w < 0 ? '' : `x${rd} = ${e};`);
    const pcOf = (d: number): string => `pc0 + ${lit(it.off + d)} | 0`;
    // The fast path does not apply: give back this instruction and the rest of the segment, and let the
    // interpreter run it.
    const slow = `{ back = ${n - k}; npc = ${it.off + 1}; break out; }`;
    switch (op) {
      case Op.ADDI: out.push(set(rs1 === 0 ? lit(imm) : `${A} + ${lit(imm)} | 0`)); break;
      case Op.SLTI: out.push(set(`${A} < ${lit(imm)} ? 1 : 0`)); break;
      case Op.SLTIU: out.push(set(`(${A} >>> 0) < ${imm >>> 0} ? 1 : 0`)); break;
      case Op.XORI: out.push(set(`${A} ^ ${lit(imm)}`)); break;
      case Op.ORI: out.push(set(`${A} | ${lit(imm)}`)); break;
      case Op.ANDI: out.push(set(`${A} & ${lit(imm)}`)); break;
      case Op.SLLI: out.push(set(`${A} << ${imm}`)); break;
      case Op.SRLI: out.push(set(`${A} >>> ${imm} | 0`)); break;
      case Op.SRAI: out.push(set(`${A} >> ${imm}`)); break;
      case Op.ADD: out.push(set(`${A} + ${B} | 0`)); break;
      case Op.SUB: out.push(set(`${A} - ${B} | 0`)); break;
      case Op.SLL: out.push(set(`${A} << (${B} & 31)`)); break;
      case Op.SLT: out.push(set(`${A} < ${B} ? 1 : 0`)); break;
      case Op.SLTU: out.push(set(`(${A} >>> 0) < (${B} >>> 0) ? 1 : 0`)); break;
      case Op.XOR: out.push(set(`${A} ^ ${B}`)); break;
      case Op.SRL: out.push(set(`${A} >>> (${B} & 31) | 0`)); break;
      case Op.SRA: out.push(set(`${A} >> (${B} & 31)`)); break;
      case Op.OR: out.push(set(`${A} | ${B}`)); break;
      case Op.AND: out.push(set(`${A} & ${B}`)); break;
      case Op.MUL: out.push(set(`Math.imul(${A}, ${B})`)); break;
      case Op.MULH: out.push(set(`mulh(${A}, ${B})`)); break;
      case Op.MULHSU: out.push(set(`mulhsu(${A}, ${B})`)); break;
      case Op.MULHU: out.push(set(`mulhu(${A}, ${B})`)); break;
      case Op.DIV: out.push(`a = ${A}; b = ${B};`, set('b === 0 ? -1 : (a === -2147483648 && b === -1) ? a : (a / b) | 0')); break;
      case Op.DIVU: out.push(`a = ${A} >>> 0; b = ${B} >>> 0;`, set('b === 0 ? -1 : (a / b) | 0')); break;
      case Op.REM: out.push(`a = ${A}; b = ${B};`, set('b === 0 ? a : (a === -2147483648 && b === -1) ? 0 : (a % b) | 0')); break;
      case Op.REMU: out.push(`a = ${A} >>> 0; b = ${B} >>> 0;`, set('b === 0 ? a | 0 : (a % b) | 0')); break;
      case Op.AUIPC: out.push(set(pcOf(imm))); break;
      case Op.FENCE: out.push('Atomics.load(m32, 0);'); break;
      case Op.LW: case Op.LH: case Op.LHU: case Op.LB: case Op.LBU: {
        const size = op === Op.LW ? 4 : op === Op.LB || op === Op.LBU ? 1 : 2;
        const aligned = size === 1 ? '' : ` || (a & ${size - 1}) !== 0`;
        out.push(`a = ${A} + ${lit(imm)} | 0; t = (a >>> 12) & ${tlbMask};`);
        out.push(`if (ltag[t] !== ((a >>> 12) | cx)${aligned}) ${slow}`);
        if (w < 0) break; // a load into x0 only needs its fast-path check
        const v = size === 4 ? 'm32[(loff[t] + (a & 4095)) >> 2]' : size === 2 ? 'm16[(loff[t] + (a & 4095)) >> 1]' : 'm8[loff[t] + (a & 4095)]';
        out.push(set(op === Op.LW ? v : op === Op.LH ? `(${v} << 16) >> 16` : op === Op.LB ? `(${v} << 24) >> 24` : v));
        break;
      }
      case Op.SW: case Op.SH: case Op.SB: {
        const size = op === Op.SW ? 4 : op === Op.SH ? 2 : 1;
        const aligned = size === 1 ? '' : ` || (a & ${size - 1}) !== 0`;
        out.push(`a = ${A} + ${lit(imm)} | 0; t = (a >>> 12) & ${tlbMask};`);
        out.push(`if (stag[t] !== ((a >>> 12) | cx)${aligned}) ${slow}`);
        out.push(size === 4 ? `m32[(soff[t] + (a & 4095)) >> 2] = ${B};` : size === 2 ? `m16[(soff[t] + (a & 4095)) >> 1] = ${B};` : `m8[soff[t] + (a & 4095)] = ${B};`);
        break;
      }
      case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU: {
        const cond = op === Op.BEQ ? `${A} === ${B}` : op === Op.BNE ? `${A} !== ${B}` : op === Op.BLT ? `${A} < ${B}`
          : op === Op.BGE ? `${A} >= ${B}` : op === Op.BLTU ? `(${A} >>> 0) < (${B} >>> 0)` : `(${A} >>> 0) >= (${B} >>> 0)`;
        out.push(`if (${cond}) { ${goto(it.off + imm)} }`);
        out.push(goto(it.off + len));
        break;
      }
      case Op.JAL:
        out.push(set(pcOf(len)));
        out.push(goto(it.off + imm));
        break;
      case Op.JALR:
        // The target is computed before the link is written (rd may be rs1). A target on this page that is an
        // entry point stays in the region; anything else goes back to the run loop.
        out.push(`t = (${A} + ${lit(imm)}) & -2;`);
        out.push(set(pcOf(len)));
        out.push('a = t - pc0 | 0;');
        out.push('if ((a >>> 0) < 4096) { s = map[a >> 1]; if (s >= 0) continue out; }');
        out.push('npc = a; break out;');
        break;
      default:
        throw new Error(`translator: op ${op} cannot be translated`);
    }
  }
  const last = run.insts[k1 - 1];
  // Fall into the next segment's case, or leave: the run ends before code outside the region.
  if (last.kind <= Kind.Memory && (loop || k1 === run.insts.length)) out.push(goto(last.off + last.len));
  if (loop) out.push('}');
}

/** Ops that read rs2. */
function usesRs2(op: number): boolean {
  return (op >= Op.ADD && op <= Op.REMU) || (op >= Op.BEQ && op <= Op.BGEU) || (op >= Op.SB && op <= Op.SW);
}

/** Ops that write rd. */
function writesRd(op: number): boolean {
  return (op >= Op.ADDI && op <= Op.JALR) || (op >= Op.LB && op <= Op.LHU);
}

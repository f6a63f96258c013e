/**
 * Guest physical RAM: one SharedArrayBuffer at a fixed guest-physical base, shared by every vCPU thread.
 * Views are made once (a SAB never grows). Word views are used by the engine for aligned accesses and by
 * Atomics for LR/SC and AMOs, so cross-thread atomicity holds.
 *
 * The buffer is normally that of a shared `WebAssembly.Memory` (`backing`), so that translated code compiled to
 * WebAssembly reaches guest RAM at offset 0. WebAssembly code reaches nothing outside its memory, so the same
 * memory also holds, after RAM, the engine state such code works on: HART_SLOTS slots of registers and data TLBs,
 * one per hart, claimed with `claimHartSlot` (a hart without a slot keeps its state in its own arrays and its
 * translations in JavaScript).
 */
import { Body, W, moduleBytes } from './wasm-emit.js';

export const RAM_BASE = 0x80000000;
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** Hart-state slots after RAM, and the layout of one (byte offsets). */
export const HART_SLOTS = 32;
export const enum HartSlot {
  // Words 0-33: x0..x31 and the sink x32 (hart.ts); then the engine's words.
  /** Word index: the budget a translated region or the WebAssembly interpreter leaves. */
  JIT_LEFT = 34,
  /** Word index: the hart's data TLB context (`Hart.dataCtx`). */
  DATA_CTX = 35,
  /** Word indexes: the fetch TLB context, the TLB index mask (interp-wasm.ts reads both). */
  FETCH_CTX = 36,
  TLB_MASK = 37,
  /** Word index: why the WebAssembly interpreter returned (interp-wasm.ts `Stop`). */
  STOP = 38,
  /** Word indexes: the WebAssembly interpreter's loop-hotness state (hart.ts `backEdge`): the frame of the last
   *  backward branch, the streak on it, the threshold and the streak from which iterations count. */
  LAST_BACK = 39,
  STREAK = 40,
  LOOP_HOT = 41,
  LOOP_STREAK = 42,
  /** Word index: byte address of the slot's code map (one word per RAM page: the address of its decoded frame,
   *  or 0). */
  CODE_MAP = 43,
  /** Word index: the first of the decoded-page frames this slot owns (a list through each frame's link word). */
  FRAMES = 44,
  /** Word indexes: the LR/SC reservation (RAM byte offset, or -1) and the value LR saw (hart.ts). */
  RES_OFF = 45,
  RES_VAL = 46,
  /** Word index: mstatus (hart.ts; the WebAssembly interpreter's SFENCE.VMA reads TVM). */
  MSTATUS = 47,
  /** Word indexes: satp; TLB refills made by the WebAssembly interpreter's page walks (hart.ts adds them up);
   *  1 once a decoded page had no frame (then that interpreter leaves stores that miss to JavaScript); RAM's
   *  guest-physical base and size. */
  SATP = 48,
  REFILLS = 49,
  NO_FRAMES = 50,
  RAM_BASE = 51,
  RAM_SIZE = 52,
  /** Word indexes: mip and mie (hart.ts; the WebAssembly interpreter's sstatus writes check them). */
  MIP = 53,
  MIE = 54,
  /** Word indexes: sscratch, sepc, scause, stval (hart.ts; the WebAssembly interpreter reads and writes them). */
  SSCRATCH = 55,
  SEPC = 56,
  SCAUSE = 57,
  STVAL = 58,
  /** Word indexes: the time CSR's halves, as the WebAssembly interpreter's last read left them (hart.ts wasmTime). */
  TIME_LO = 59,
  TIME_HI = 60,
  /** Word indexes: pause-loop exiting (hart.ts; the WebAssembly interpreter runs PAUSE): PAUSE instructions run,
   *  the instruction clock (instret, low 32 bits) when the interpreter was entered, the clock at the last PAUSE and
   *  at the start of the spin, the gap and window, and 1 to exit on every PAUSE. */
  PAUSES = 61,
  ICLOCK = 62,
  LAST_PAUSE = 63,
  SPIN_START = 64,
  PLE_GAP = 65,
  PLE_WINDOW = 66,
  EXIT_ON_PAUSE = 67,
  /** Words of the slot's header that hart.ts views. */
  WORDS = 96,
  /** Byte offsets of the TLBs, each room for 32,768 entries (hart.ts BIG_TLB_SIZE). */
  LOAD_TAG = 4 * WORDS,
  LOAD_OFF = LOAD_TAG + 4 * 32768,
  STORE_TAG = LOAD_OFF + 4 * 32768,
  STORE_OFF = STORE_TAG + 4 * 32768,
  FETCH_TAG = STORE_OFF + 4 * 32768,
  FETCH_OFF = FETCH_TAG + 4 * 32768,
  /** Byte offset of the superpage regions (hart.ts `superRegions`, 1,024 bytes). */
  SUPER = FETCH_OFF + 4 * 32768,
  BYTES = SUPER + 1024,
}
/** Room before the slots: one claim word per slot, then the frame allocator's top (word FRAME_TOP). */
const CLAIMS_BYTES = 4096;
const FRAME_TOP = 64;
const WASM_PAGE = 65536;
/** Words of a decoded page that hold decoded instructions ([word, imm] per halfword; hart.ts). */
const DECODED_WORDS = PAGE_SIZE;
/**
 * A decoded page (hart.ts): decoded instructions, a straddling instruction's decoding, loop counts, then, from word
 * SNAPSHOT_WORD, the page's bytes as the hart fetched them: instructions are decoded from this snapshot, never from
 * RAM, so a decoded page is exactly a decoding of its snapshot, and it is current while the snapshot equals RAM
 * (`snapshotMatches`: a fence.i keeps the pages that pass, a copy to another hart needs it).
 */
export const CODE_PAGE_WORDS = PAGE_SIZE + 2 + PAGE_SIZE / 2 + PAGE_SIZE / 4;
export const SNAPSHOT_WORD = CODE_PAGE_WORDS - PAGE_SIZE / 4;

/** The bits of the instruction at byte `o` of decoded page `page`'s snapshot: a compressed one's 16, else its 32, but
 *  only the lower 16 at the page's last halfword (the upper half is on the next page). */
export function snapshotInstruction(page: Int32Array, o: number): number {
  const w = page[SNAPSHOT_WORD + (o >> 2)];
  if ((o & 2) === 0) return (w & 3) === 3 ? w : w & 0xffff;
  const lo = w >>> 16;
  return (lo & 3) !== 3 || o === 0xffe ? lo : lo | (page[SNAPSHOT_WORD + (o >> 2) + 1] << 16);
}
/**
 * A decoded-page frame: a link word (the next frame of its slot), a generation word (bumped each time the frame is
 * given to a page), then the decoded page itself (hart.ts CODE_PAGE_LENGTH words). Frames are carved from the memory
 * above the code maps, which grows on demand up to FRAME_PAGES more WebAssembly pages.
 */
const FRAME_WORDS = 2 + CODE_PAGE_WORDS;
const FRAME_BYTES = FRAME_WORDS * 4;
const FRAME_PAGES = 16384;
const GROW_PAGES = 64;

export class GuestMemory {
  readonly sab: SharedArrayBuffer;
  /** The WebAssembly memory whose buffer `sab` is (RAM at offset 0, then the hart slots), or null. */
  readonly wasm: WebAssembly.Memory | null;
  /** Guest-physical address of byte 0 (unsigned). */
  readonly base: number;
  /** Size in bytes, a multiple of the page size. */
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;

  /** The claim words (1: slot taken) and the frame top, or null without slots; the byte offset of slot 0 and of
   *  slot 0's code map. */
  private readonly claims: Int32Array | null;
  private readonly slots: number;
  private readonly codeMaps: number;

  /** `backing`: a buffer from `GuestMemory.allocate` (or a plain SharedArrayBuffer of exactly `size` bytes, which
   *  has no hart slots); a new one when absent. */
  constructor(size: number, backing?: SharedArrayBuffer | WebAssembly.Memory, base = RAM_BASE) {
    if (!Number.isInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || size > 0x7ffff000) {
      throw new RangeError(`guest RAM size must be a positive multiple of ${PAGE_SIZE} bytes below 2 GiB, got ${size}`);
    }
    const b = backing ?? GuestMemory.allocate(size);
    this.wasm = b instanceof WebAssembly.Memory ? b : null;
    this.sab = this.wasm !== null ? this.wasm.buffer as unknown as SharedArrayBuffer : b as SharedArrayBuffer;
    const ramEnd = roundUp(size, WASM_PAGE);
    // (A WebAssembly memory may have grown already: frames, by another thread.)
    if (this.wasm !== null ? this.sab.byteLength < wasmBytes(size) : this.sab.byteLength !== size) {
      throw new RangeError('shared buffer does not match the RAM size');
    }
    this.claims = this.wasm !== null ? new Int32Array(this.sab, ramEnd, CLAIMS_BYTES / 4) : null;
    this.slots = ramEnd + CLAIMS_BYTES;
    this.codeMaps = this.slots + HART_SLOTS * HartSlot.BYTES;
    if (this.claims !== null) Atomics.compareExchange(this.claims, FRAME_TOP, 0, wasmBytes(size));
    this.base = base >>> 0;
    this.size = size;
    this.u8 = new Uint8Array(this.sab, 0, size);
    this.u16 = new Uint16Array(this.sab, 0, size >> 1);
    this.i32 = new Int32Array(this.sab, 0, size >> 2);
  }

  /** Backing for `size` bytes of RAM: a shared WebAssembly memory with the hart slots after RAM, or, where the
   *  platform refuses one, a SharedArrayBuffer of RAM alone. */
  static allocate(size: number): WebAssembly.Memory | SharedArrayBuffer {
    const pages = wasmBytes(size) / WASM_PAGE;
    if (pages <= 65536) {
      try {
        return new WebAssembly.Memory({ initial: pages, maximum: Math.min(65536, pages + FRAME_PAGES), shared: true });
      } catch { /* below */ }
    }
    return new SharedArrayBuffer(size);
  }

  /**
   * Claims a free hart slot (preferring slot `want`), for any thread: returns its byte offset in the buffer, or -1
   * when there is none (no WebAssembly memory, or every slot taken). `releaseHartSlot` gives it back.
   */
  claimHartSlot(want = 0): number {
    if (this.claims === null) return -1;
    for (let k = 0; k < HART_SLOTS; k++) {
      const s = (want + k) % HART_SLOTS;
      if (Atomics.compareExchange(this.claims, s, 0, 1) === 0) return this.slots + s * HartSlot.BYTES;
    }
    return -1;
  }

  /** Hart slots claimed now, by any thread. */
  claimedHartSlots(): number {
    let n = 0;
    for (let s = 0; this.claims !== null && s < HART_SLOTS; s++) n += Atomics.load(this.claims, s);
    return n;
  }

  /** Byte address of the code map of the slot at `offset` (RAM pages words). */
  codeMapOf(offset: number): number {
    return this.codeMaps + ((offset - this.slots) / HartSlot.BYTES) * (this.size / PAGE_SIZE) * 4;
  }

  /**
   * A new frame for decoded code (FRAME_WORDS words, zero), for any thread: its byte address, or -1 when the memory
   * cannot grow further. Frames are never given back to the memory: a slot keeps those its harts made (hart.ts).
   */
  allocateFrame(): number {
    if (this.claims === null || this.wasm === null) return -1;
    const at = Atomics.add(this.claims, FRAME_TOP, FRAME_BYTES);
    const need = at + FRAME_BYTES;
    if (need > 0x7fffffff) return -1;
    // This thread's `buffer` covers the frame already (most frames): no grow(0), which makes a new buffer object each
    // time (10% of a new vCPU thread's CPU in its first 10 ms, in V8's profile of a 4-vCPU boot's bring-up).
    if ((this.wasm.buffer as unknown as SharedArrayBuffer).byteLength >= need) return at;
    // grow(0) gives the size every thread has grown it to (and refreshes this thread's `buffer`).
    let have = this.wasm.grow(0) * WASM_PAGE;
    while (have < need) {
      try { this.wasm.grow(GROW_PAGES); } catch { return -1; }
      have = this.wasm.grow(0) * WASM_PAGE;
    }
    return at;
  }

  /** A view of `words` words at byte `offset` of the WebAssembly memory, grown parts included. */
  view(offset: number, words: number): Int32Array {
    const b = this.wasm !== null ? this.wasm.buffer as unknown as SharedArrayBuffer : this.sab;
    return new Int32Array(b.byteLength >= offset + 4 * words ? b : (this.wasm!.grow(0), this.wasm!.buffer as unknown as SharedArrayBuffer), offset, words);
  }

  /** A word of the WebAssembly memory at byte `offset` (frames' link words), and its setter. */
  i32Word(offset: number): number { return this.view(offset, 1)[0]; }
  setI32Word(offset: number, v: number): void { this.view(offset, 1)[0] = v; }

  /** Copies RAM page `pn` into the snapshot of decoded page `page` (see SNAPSHOT_WORD). */
  takeSnapshot(page: Int32Array, pn: number): void {
    page.set(this.i32.subarray(pn << 10, (pn + 1) << 10), SNAPSHOT_WORD);
  }

  /** True if the snapshot of decoded page `page` equals RAM page `pn` now. */
  snapshotMatches(page: Int32Array, pn: number): boolean {
    // A page in a frame is a view of the WebAssembly memory (of whichever buffer it had when the view was made: its
    // byte offset is the address all the same); a page without a frame has its own, unshared buffer.
    if (this.wasm !== null && page.buffer instanceof SharedArrayBuffer) return pageLoops(this.wasm).equal(page.byteOffset + 4 * SNAPSHOT_WORD, pn << 12, PAGE_SIZE) !== 0;
    const ram = this.i32, o = pn << 10;
    for (let k = 0; k < PAGE_SIZE / 4; k++) if (page[SNAPSHOT_WORD + k] !== ram[o + k]) return false;
    return true;
  }

  /** Bumps the generation word of the frame at byte `frame` (it is being given to a page). */
  renewFrame(frame: number): void {
    Atomics.add(this.words(frame + 4), (frame + 4) >> 2, 1);
  }

  private peerMaps: (Int32Array | undefined)[] = [];

  /**
   * Copies another hart's decoding of RAM page `pn` into `into` (an empty decoded page, in a frame), from the first
   * claimed slot other than `ownSlot` that holds one whose snapshot equals RAM now; true if it did (`into` then has
   * that snapshot). A new vCPU thread thus starts from the code its peers decoded instead of decoding page by page in
   * front of the WebAssembly interpreter (each first execution a return to JavaScript). The copy is checked
   * afterwards: the frame still holds that page in the same generation; else it is wiped. Owners write an
   * instruction's immediate before its word, so a word read non-zero comes with its immediate. Left out: the
   * owner's marks of translated entry points (bit 31), its loop counts, and the decoding of an instruction that
   * straddles the page end (its two words could be read from two different decodings). A new thread's bring-up
   * copied ~130-230 pages in a 4-vCPU Linux boot, ~7 us each; a page no peer holds costs a scan of 1-3 us.
   */
  adoptDecodedPage(pn: number, ownSlot: number, into: Int32Array): boolean {
    const claims = this.claims;
    if (claims === null || this.wasm === null) return false;
    for (let s = 0; s < HART_SLOTS; s++) {
      const at = this.slots + s * HartSlot.BYTES;
      // (Most pages are in no other map: that is checked first, with one load.)
      const map = this.peerMaps[s] ??= new Int32Array(this.sab, this.codeMapOf(at), this.size / PAGE_SIZE);
      const page = Atomics.load(map, pn);
      if (page === 0 || at === ownSlot || Atomics.load(claims, s) === 0) continue;
      const words = this.words(page);
      const gen = Atomics.load(words, (page - 4) >> 2);
      pageLoops(this.wasm).copy(page, into.byteOffset, DECODED_WORDS * 4);
      into.set(words.subarray((page >> 2) + SNAPSHOT_WORD, (page >> 2) + CODE_PAGE_WORDS), SNAPSHOT_WORD);
      if (Atomics.load(map, pn) === page && Atomics.load(words, (page - 4) >> 2) === gen && this.snapshotMatches(into, pn)) return true;
      into.fill(0, 0, DECODED_WORDS);
    }
    return false;
  }

  /** A word view of the whole WebAssembly memory that covers byte `offset` (remade only after the memory grew). */
  private words(offset: number): Int32Array {
    let w = this.allWords;
    if (w === null || w.byteLength <= offset) w = this.allWords = new Int32Array(this.wasm!.buffer as unknown as SharedArrayBuffer);
    return w;
  }
  private allWords: Int32Array | null = null;

  releaseHartSlot(offset: number): void {
    if (offset >= 0 && this.claims !== null) Atomics.store(this.claims, (offset - this.slots) / HartSlot.BYTES, 0);
  }

  /** True when [paddr, paddr+len) lies inside RAM. */
  contains(paddr: number, len = 1): boolean {
    const off = (paddr >>> 0) - this.base;
    return off >= 0 && len >= 0 && off + len <= this.size;
  }

  /** Copies bytes into RAM at a guest-physical address (host side: loaders, SBI). */
  write(paddr: number, bytes: Uint8Array): void {
    if (!this.contains(paddr, bytes.length)) throw new RangeError(`write of ${bytes.length} bytes at 0x${(paddr >>> 0).toString(16)} is outside RAM`);
    this.u8.set(bytes, (paddr >>> 0) - this.base);
  }

  /** Copies bytes out of RAM (host side). */
  read(paddr: number, len: number): Uint8Array {
    if (!this.contains(paddr, len)) throw new RangeError(`read of ${len} bytes at 0x${(paddr >>> 0).toString(16)} is outside RAM`);
    const off = (paddr >>> 0) - this.base;
    return this.u8.slice(off, off + len);
  }

  /** Reads a little-endian 32-bit word (any alignment), unsigned. */
  readU32(paddr: number): number {
    const o = (paddr >>> 0) - this.base;
    if (!this.contains(paddr, 4)) throw new RangeError(`read at 0x${(paddr >>> 0).toString(16)} is outside RAM`);
    if ((o & 3) === 0) return Atomics.load(this.i32, o >> 2) >>> 0;
    const b = this.u8;
    return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  }

  /** Writes a little-endian 32-bit word (any alignment). */
  writeU32(paddr: number, value: number): void {
    const o = (paddr >>> 0) - this.base;
    if (!this.contains(paddr, 4)) throw new RangeError(`write at 0x${(paddr >>> 0).toString(16)} is outside RAM`);
    if ((o & 3) === 0) { Atomics.store(this.i32, o >> 2, value | 0); return; }
    const b = this.u8;
    b[o] = value; b[o + 1] = value >>> 8; b[o + 2] = value >>> 16; b[o + 3] = value >>> 24;
  }
}

/**
 * Two loops over decoded pages, in WebAssembly (in JavaScript a new vCPU thread ran them interpreted, ~65 us a page):
 * `copy(from, to, bytes)` copies decoded instructions between two decoded pages of the memory (byte addresses), words
 * read atomically (an owner may be decoding into `from`), immediates only with their words, marks of translated entry
 * points (bit 31) cleared; `equal(a, b, bytes)` is 1 if the bytes at a and at b are the same, else 0 (a fence.i
 * compares every page a hart has decoded with RAM). `bytes` is a multiple of 8.
 */
interface PageLoops {
  copy(from: number, to: number, bytes: number): number;
  equal(a: number, b: number, bytes: number): number;
}
let loopModules: { copy: WebAssembly.Module; equal: WebAssembly.Module } | null = null;
const loops = new WeakMap<WebAssembly.Memory, PageLoops>();
function pageLoops(mem: WebAssembly.Memory): PageLoops {
  let l = loops.get(mem);
  if (l === undefined) {
    loopModules ??= { copy: new WebAssembly.Module(moduleBytes(3, 2, copyBody())), equal: new WebAssembly.Module(moduleBytes(3, 1, equalBody())) };
    const fn = (m: WebAssembly.Module) => new WebAssembly.Instance(m, { e: { m: mem } }).exports.f as PageLoops['copy'];
    l = { copy: fn(loopModules.copy), equal: fn(loopModules.equal) };
    loops.set(mem, l);
  }
  return l;
}

/** For I = 0, 8, ... below the byte count in local 2: `step`; then `result`. (Locals: 0, 1 the addresses, 3 I.) */
function eightByteLoop(step: (f: Body) => void, result: number): Body {
  const BYTES = 2, I = 3;
  const f = new Body();
  f.open(W.Block, 'exit').open(W.Loop, 'top');
  f.get(I).get(BYTES).op(W.I32GeU, W.BrIf).uleb(f.depth('exit'));
  step(f);
  f.get(I).i32(8).op(W.I32Add).set(I).br('top');
  f.end().end();
  f.i32(result);
  return f;
}

function copyBody(): Body {
  const FROM = 0, TO = 1, I = 3, WD = 4;
  return eightByteLoop((f) => {
    f.get(FROM).get(I).op(W.I32Add).op(0xfe, 0x10, 2, 0).op(W.LocalTee).uleb(WD).open(W.If, 'if'); // i32.atomic.load
    f.get(TO).get(I).op(W.I32Add).get(FROM).get(I).op(W.I32Add).mem(W.I32Load, 2, 4).mem(W.I32Store, 2, 4);
    f.get(TO).get(I).op(W.I32Add).get(WD).i32(0x7fffffff).op(W.I32And).mem(W.I32Store, 2, 0);
    f.end();
  }, 0);
}

function equalBody(): Body {
  const A = 0, B = 1, I = 3;
  return eightByteLoop((f) => {
    f.get(A).get(I).op(W.I32Add).mem(W.I64Load, 3, 0).get(B).get(I).op(W.I32Add).mem(W.I64Load, 3, 0).op(W.I64Ne);
    f.open(W.If, 'if').i32(0).op(W.Return).end();
  }, 1);
}

/** Bytes of the WebAssembly memory for `size` bytes of RAM before any frame: RAM, the claim words, the slots, the
 *  code maps, in whole pages. */
function wasmBytes(size: number): number {
  return roundUp(roundUp(size, WASM_PAGE) + CLAIMS_BYTES + HART_SLOTS * (HartSlot.BYTES + (size / PAGE_SIZE) * 4), WASM_PAGE);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

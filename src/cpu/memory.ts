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
/**
 * A decoded-page frame: a link word (the next frame of its slot), a spare word, then the decoded page itself
 * (hart.ts CODE_PAGE_LENGTH words). Frames are carved from the memory above the code maps, which grows on demand up
 * to FRAME_PAGES more WebAssembly pages.
 */
const FRAME_WORDS = 2 + 6146;
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

/** Bytes of the WebAssembly memory for `size` bytes of RAM before any frame: RAM, the claim words, the slots, the
 *  code maps, in whole pages. */
function wasmBytes(size: number): number {
  return roundUp(roundUp(size, WASM_PAGE) + CLAIMS_BYTES + HART_SLOTS * (HartSlot.BYTES + (size / PAGE_SIZE) * 4), WASM_PAGE);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

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
  /** Word index: the budget a translated region leaves. */
  JIT_LEFT = 34,
  /** Word index: the hart's data TLB context (`Hart.dataCtx`). */
  DATA_CTX = 35,
  /** Byte offsets of the data TLBs, each room for 32,768 entries (hart.ts BIG_TLB_SIZE). */
  LOAD_TAG = 256,
  LOAD_OFF = LOAD_TAG + 4 * 32768,
  STORE_TAG = LOAD_OFF + 4 * 32768,
  STORE_OFF = STORE_TAG + 4 * 32768,
  BYTES = STORE_OFF + 4 * 32768,
}
/** Room before the slots: one claim word per slot. */
const CLAIMS_BYTES = 4096;
const WASM_PAGE = 65536;

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

  /** The claim words (1: slot taken), or null without slots; the byte offset of slot 0. */
  private readonly claims: Int32Array | null;
  private readonly slots: number;

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
    if (this.sab.byteLength !== (this.wasm !== null ? wasmBytes(size) : size)) {
      throw new RangeError('shared buffer does not match the RAM size');
    }
    this.claims = this.wasm !== null ? new Int32Array(this.sab, ramEnd, HART_SLOTS) : null;
    this.slots = ramEnd + CLAIMS_BYTES;
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
      try { return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }); } catch { /* below */ }
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

/** Bytes of the WebAssembly memory for `size` bytes of RAM: RAM, the claim words, the slots, in whole pages. */
function wasmBytes(size: number): number {
  return roundUp(roundUp(size, WASM_PAGE) + CLAIMS_BYTES + HART_SLOTS * HartSlot.BYTES, WASM_PAGE);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

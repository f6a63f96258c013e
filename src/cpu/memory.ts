/**
 * Guest physical RAM: one SharedArrayBuffer at a fixed guest-physical base, shared by every vCPU thread.
 * Views are made once (a SAB never grows). Word views are used by the engine for aligned accesses and by
 * Atomics for LR/SC and AMOs, so cross-thread atomicity holds.
 */
export const RAM_BASE = 0x80000000;
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

export class GuestMemory {
  readonly sab: SharedArrayBuffer;
  /** Guest-physical address of byte 0 (unsigned). */
  readonly base: number;
  /** Size in bytes, a multiple of the page size. */
  readonly size: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;

  constructor(size: number, sab?: SharedArrayBuffer, base = RAM_BASE) {
    if (!Number.isInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || size > 0x7ffff000) {
      throw new RangeError(`guest RAM size must be a positive multiple of ${PAGE_SIZE} bytes below 2 GiB, got ${size}`);
    }
    this.sab = sab ?? new SharedArrayBuffer(size);
    if (this.sab.byteLength !== size) throw new RangeError('shared buffer does not match the RAM size');
    this.base = base >>> 0;
    this.size = size;
    this.u8 = new Uint8Array(this.sab);
    this.u16 = new Uint16Array(this.sab);
    this.i32 = new Int32Array(this.sab);
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

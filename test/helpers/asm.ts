/**
 * Test helper: a tiny RV32IMAC instruction encoder and a label-aware program builder, written from the
 * instruction formats of the RISC-V unprivileged spec. Every encoder returns the instruction as an unsigned
 * number (32-bit words) or a 16-bit halfword (compressed). Immediates are range-checked so a broken test
 * fails loudly instead of producing a different instruction.
 */

// Register numbers (ABI names).
export const zero = 0, ra = 1, sp = 2, gp = 3, tp = 4, t0 = 5, t1 = 6, t2 = 7, s0 = 8, s1 = 9;
export const a0 = 10, a1 = 11, a2 = 12, a3 = 13, a4 = 14, a5 = 15, a6 = 16, a7 = 17;
export const s2 = 18, s3 = 19, s4 = 20, s5 = 21, s6 = 22, s7 = 23, s8 = 24, s9 = 25, s10 = 26, s11 = 27;
export const t3 = 28, t4 = 29, t5 = 30, t6 = 31;

function reg(r: number): number {
  if (!Number.isInteger(r) || r < 0 || r > 31) throw new RangeError(`bad register ${r}`);
  return r;
}
function signedFits(v: number, bits: number): boolean {
  return Number.isInteger(v) && v >= -(2 ** (bits - 1)) && v < 2 ** (bits - 1);
}
function checkSigned(v: number, bits: number, what: string): void {
  if (!signedFits(v, bits)) throw new RangeError(`${what} ${v} does not fit in ${bits} signed bits`);
}
function checkUnsigned(v: number, bits: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new RangeError(`${what} ${v} does not fit in ${bits} unsigned bits`);
}
function checkEven(v: number, what: string): void {
  if ((v & 1) !== 0) throw new RangeError(`${what} ${v} is odd`);
}
const bit = (v: number, n: number): number => (v >>> n) & 1;
const bits = (v: number, hi: number, lo: number): number => (v >>> lo) & ((1 << (hi - lo + 1)) - 1);

// ---------------------------------------------------------------------------------------------------------
// 32-bit formats.

export function rType(opcode: number, rd: number, f3: number, rs1: number, rs2: number, f7: number): number {
  return ((f7 << 25) | (reg(rs2) << 20) | (reg(rs1) << 15) | (f3 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}
export function iType(opcode: number, rd: number, f3: number, rs1: number, imm: number): number {
  checkSigned(imm, 12, 'I-immediate');
  return (((imm & 0xfff) << 20) | (reg(rs1) << 15) | (f3 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}
export function sType(opcode: number, f3: number, rs1: number, rs2: number, imm: number): number {
  checkSigned(imm, 12, 'S-immediate');
  return ((bits(imm, 11, 5) << 25) | (reg(rs2) << 20) | (reg(rs1) << 15) | (f3 << 12) | (bits(imm, 4, 0) << 7) | opcode) >>> 0;
}
export function bType(opcode: number, f3: number, rs1: number, rs2: number, imm: number): number {
  checkSigned(imm, 13, 'B-offset'); checkEven(imm, 'B-offset');
  return ((bit(imm, 12) << 31) | (bits(imm, 10, 5) << 25) | (reg(rs2) << 20) | (reg(rs1) << 15) | (f3 << 12) |
    (bits(imm, 4, 1) << 8) | (bit(imm, 11) << 7) | opcode) >>> 0;
}
/** U-type; `imm20` is the 20-bit upper immediate (0..0xfffff). */
export function uType(opcode: number, rd: number, imm20: number): number {
  checkUnsigned(imm20, 20, 'U-immediate');
  return ((imm20 << 12) | (reg(rd) << 7) | opcode) >>> 0;
}
export function jType(opcode: number, rd: number, imm: number): number {
  checkSigned(imm, 21, 'J-offset'); checkEven(imm, 'J-offset');
  return ((bit(imm, 20) << 31) | (bits(imm, 10, 1) << 21) | (bit(imm, 11) << 20) | (bits(imm, 19, 12) << 12) |
    (reg(rd) << 7) | opcode) >>> 0;
}

// RV32I
export const lui = (rd: number, imm20: number) => uType(0x37, rd, imm20);
export const auipc = (rd: number, imm20: number) => uType(0x17, rd, imm20);
export const jal = (rd: number, off: number) => jType(0x6f, rd, off);
export const jalr = (rd: number, rs1: number, off: number) => iType(0x67, rd, 0, rs1, off);
export const beq = (rs1: number, rs2: number, off: number) => bType(0x63, 0, rs1, rs2, off);
export const bne = (rs1: number, rs2: number, off: number) => bType(0x63, 1, rs1, rs2, off);
export const blt = (rs1: number, rs2: number, off: number) => bType(0x63, 4, rs1, rs2, off);
export const bge = (rs1: number, rs2: number, off: number) => bType(0x63, 5, rs1, rs2, off);
export const bltu = (rs1: number, rs2: number, off: number) => bType(0x63, 6, rs1, rs2, off);
export const bgeu = (rs1: number, rs2: number, off: number) => bType(0x63, 7, rs1, rs2, off);
export const lb = (rd: number, rs1: number, off: number) => iType(0x03, rd, 0, rs1, off);
export const lh = (rd: number, rs1: number, off: number) => iType(0x03, rd, 1, rs1, off);
export const lw = (rd: number, rs1: number, off: number) => iType(0x03, rd, 2, rs1, off);
export const lbu = (rd: number, rs1: number, off: number) => iType(0x03, rd, 4, rs1, off);
export const lhu = (rd: number, rs1: number, off: number) => iType(0x03, rd, 5, rs1, off);
/** Stores take (value register, base register, offset), like `sw rs2, off(rs1)`. */
export const sb = (rs2: number, rs1: number, off: number) => sType(0x23, 0, rs1, rs2, off);
export const sh = (rs2: number, rs1: number, off: number) => sType(0x23, 1, rs1, rs2, off);
export const sw = (rs2: number, rs1: number, off: number) => sType(0x23, 2, rs1, rs2, off);
export const addi = (rd: number, rs1: number, imm: number) => iType(0x13, rd, 0, rs1, imm);
export const slti = (rd: number, rs1: number, imm: number) => iType(0x13, rd, 2, rs1, imm);
export const sltiu = (rd: number, rs1: number, imm: number) => iType(0x13, rd, 3, rs1, imm);
export const xori = (rd: number, rs1: number, imm: number) => iType(0x13, rd, 4, rs1, imm);
export const ori = (rd: number, rs1: number, imm: number) => iType(0x13, rd, 6, rs1, imm);
export const andi = (rd: number, rs1: number, imm: number) => iType(0x13, rd, 7, rs1, imm);
function shiftImm(f3: number, f7: number, rd: number, rs1: number, sh: number): number {
  checkUnsigned(sh, 5, 'shift amount');
  return rType(0x13, rd, f3, rs1, sh, f7);
}
export const slli = (rd: number, rs1: number, sh: number) => shiftImm(1, 0x00, rd, rs1, sh);
export const srli = (rd: number, rs1: number, sh: number) => shiftImm(5, 0x00, rd, rs1, sh);
export const srai = (rd: number, rs1: number, sh: number) => shiftImm(5, 0x20, rd, rs1, sh);
export const add = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 0, rs1, rs2, 0x00);
export const sub = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 0, rs1, rs2, 0x20);
export const sll = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 1, rs1, rs2, 0x00);
export const slt = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 2, rs1, rs2, 0x00);
export const sltu = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 3, rs1, rs2, 0x00);
export const xor = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 4, rs1, rs2, 0x00);
export const srl = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 5, rs1, rs2, 0x00);
export const sra = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 5, rs1, rs2, 0x20);
export const or = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 6, rs1, rs2, 0x00);
export const and = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 7, rs1, rs2, 0x00);
// RV32M
export const mul = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 0, rs1, rs2, 0x01);
export const mulh = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 1, rs1, rs2, 0x01);
export const mulhsu = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 2, rs1, rs2, 0x01);
export const mulhu = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 3, rs1, rs2, 0x01);
export const div = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 4, rs1, rs2, 0x01);
export const divu = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 5, rs1, rs2, 0x01);
export const rem = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 6, rs1, rs2, 0x01);
export const remu = (rd: number, rs1: number, rs2: number) => rType(0x33, rd, 7, rs1, rs2, 0x01);
// Fences and system
export const fence = (pred = 0xf, succ = 0xf) => (((pred & 0xf) << 24) | ((succ & 0xf) << 20) | 0x0f) >>> 0;
export const fenceI = () => 0x0000100f;
export const pause = () => 0x0100000f; // fence w,0
export const ecall = () => 0x00000073;
export const ebreak = () => 0x00100073;
export const mret = () => 0x30200073;
export const sret = () => 0x10200073;
export const wfi = () => 0x10500073;
export const sfenceVma = (rs1 = 0, rs2 = 0) => rType(0x73, 0, 0, rs1, rs2, 0x09);
function csrOp(f3: number, rd: number, csr: number, src: number): number {
  checkUnsigned(csr, 12, 'CSR number'); checkUnsigned(src, 5, 'CSR source');
  return ((csr << 20) | (src << 15) | (f3 << 12) | (reg(rd) << 7) | 0x73) >>> 0;
}
export const csrrw = (rd: number, csr: number, rs1: number) => csrOp(1, rd, csr, rs1);
export const csrrs = (rd: number, csr: number, rs1: number) => csrOp(2, rd, csr, rs1);
export const csrrc = (rd: number, csr: number, rs1: number) => csrOp(3, rd, csr, rs1);
export const csrrwi = (rd: number, csr: number, uimm: number) => csrOp(5, rd, csr, uimm);
export const csrrsi = (rd: number, csr: number, uimm: number) => csrOp(6, rd, csr, uimm);
export const csrrci = (rd: number, csr: number, uimm: number) => csrOp(7, rd, csr, uimm);
export const csrr = (rd: number, csr: number) => csrrs(rd, csr, 0);
export const csrw = (csr: number, rs1: number) => csrrw(0, csr, rs1);
export const csrs = (csr: number, rs1: number) => csrrs(0, csr, rs1);
export const csrc = (csr: number, rs1: number) => csrrc(0, csr, rs1);
export const nop = () => addi(0, 0, 0);
// RV32A
export const AMO = { add: 0x00, swap: 0x01, lr: 0x02, sc: 0x03, xor: 0x04, or: 0x08, and: 0x0c, min: 0x10, max: 0x14, minu: 0x18, maxu: 0x1c } as const;
export function amo(f5: number, rd: number, rs1: number, rs2: number, aq = 0, rl = 0): number {
  return ((f5 << 27) | (aq << 26) | (rl << 25) | (reg(rs2) << 20) | (reg(rs1) << 15) | (2 << 12) | (reg(rd) << 7) | 0x2f) >>> 0;
}
export const lrW = (rd: number, rs1: number) => amo(AMO.lr, rd, rs1, 0);
export const scW = (rd: number, rs1: number, rs2: number) => amo(AMO.sc, rd, rs1, rs2);

/** `li` as exactly two instructions (lui + addi), so programs have a fixed layout. */
export function li(rd: number, value: number): [number, number] {
  const v = value | 0;
  const lo = (v << 20) >> 20; // sign-extended low 12 bits
  const hi = ((v - lo) >>> 12) & 0xfffff;
  return [lui(rd, hi), addi(rd, rd, lo)];
}

// ---------------------------------------------------------------------------------------------------------
// Compressed (RV32C). rd'/rs1'/rs2' arguments are full register numbers 8..15.

function creg(r: number): number {
  if (!Number.isInteger(r) || r < 8 || r > 15) throw new RangeError(`register x${r} is not a compressed register`);
  return r - 8;
}
const h = (v: number): number => v & 0xffff;

export function cAddi4spn(rd: number, nzuimm: number): number {
  checkUnsigned(nzuimm, 10, 'c.addi4spn immediate');
  if (nzuimm === 0 || (nzuimm & 3) !== 0) throw new RangeError('c.addi4spn immediate must be a nonzero multiple of 4');
  return h((bits(nzuimm, 5, 4) << 11) | (bits(nzuimm, 9, 6) << 7) | (bit(nzuimm, 2) << 6) | (bit(nzuimm, 3) << 5) | (creg(rd) << 2) | 0);
}
function clsOffset(off: number): number {
  checkUnsigned(off, 7, 'c.lw/c.sw offset');
  if (off & 3) throw new RangeError('c.lw/c.sw offset must be a multiple of 4');
  return (bits(off, 5, 3) << 10) | (bit(off, 2) << 6) | (bit(off, 6) << 5);
}
export const cLw = (rd: number, rs1: number, off: number) => h((2 << 13) | clsOffset(off) | (creg(rs1) << 7) | (creg(rd) << 2));
export const cSw = (rs2: number, rs1: number, off: number) => h((6 << 13) | clsOffset(off) | (creg(rs1) << 7) | (creg(rs2) << 2));
function ci(f3: number, rd: number, imm6: number, q: number): number {
  return h((f3 << 13) | (bit(imm6, 5) << 12) | (reg(rd) << 7) | (bits(imm6, 4, 0) << 2) | q);
}
export const cNop = () => 0x0001;
export function cAddi(rd: number, imm: number): number { checkSigned(imm, 6, 'c.addi immediate'); return ci(0, rd, imm, 1); }
export function cLi(rd: number, imm: number): number { checkSigned(imm, 6, 'c.li immediate'); return ci(2, rd, imm, 1); }
/** c.lui rd, nzimm where nzimm is the 6-bit signed value placed in bits 17:12. */
export function cLui(rd: number, imm6: number): number {
  checkSigned(imm6, 6, 'c.lui immediate');
  if (imm6 === 0 || rd === 0 || rd === 2) throw new RangeError('c.lui: reserved/HINT encoding');
  return ci(3, rd, imm6, 1);
}
export function cAddi16sp(nzimm: number): number {
  checkSigned(nzimm, 10, 'c.addi16sp immediate');
  if (nzimm === 0 || (nzimm & 15) !== 0) throw new RangeError('c.addi16sp immediate must be a nonzero multiple of 16');
  return h((3 << 13) | (bit(nzimm, 9) << 12) | (2 << 7) | (bit(nzimm, 4) << 6) | (bit(nzimm, 6) << 5) | (bits(nzimm, 8, 7) << 3) |
    (bit(nzimm, 5) << 2) | 1);
}
function cjOffset(off: number): number {
  checkSigned(off, 12, 'c.j/c.jal offset'); checkEven(off, 'c.j/c.jal offset');
  return (bit(off, 11) << 12) | (bit(off, 4) << 11) | (bits(off, 9, 8) << 9) | (bit(off, 10) << 8) | (bit(off, 6) << 7) |
    (bit(off, 7) << 6) | (bits(off, 3, 1) << 3) | (bit(off, 5) << 2);
}
export const cJal = (off: number) => h((1 << 13) | cjOffset(off) | 1);
export const cJ = (off: number) => h((5 << 13) | cjOffset(off) | 1);
function shamt5(sh: number): number { checkUnsigned(sh, 5, 'compressed shift amount'); return sh; }
export const cSrli = (rd: number, sh: number) => h((4 << 13) | (0 << 10) | (creg(rd) << 7) | (shamt5(sh) << 2) | 1);
export const cSrai = (rd: number, sh: number) => h((4 << 13) | (1 << 10) | (creg(rd) << 7) | (shamt5(sh) << 2) | 1);
export function cAndi(rd: number, imm: number): number {
  checkSigned(imm, 6, 'c.andi immediate');
  return h((4 << 13) | (bit(imm, 5) << 12) | (2 << 10) | (creg(rd) << 7) | (bits(imm, 4, 0) << 2) | 1);
}
function carith(f2: number, rd: number, rs2: number): number {
  return h((4 << 13) | (3 << 10) | (creg(rd) << 7) | (f2 << 5) | (creg(rs2) << 2) | 1);
}
export const cSub = (rd: number, rs2: number) => carith(0, rd, rs2);
export const cXor = (rd: number, rs2: number) => carith(1, rd, rs2);
export const cOr = (rd: number, rs2: number) => carith(2, rd, rs2);
export const cAnd = (rd: number, rs2: number) => carith(3, rd, rs2);
function cbOffset(off: number): number {
  checkSigned(off, 9, 'c.beqz/c.bnez offset'); checkEven(off, 'c.beqz/c.bnez offset');
  return (bit(off, 8) << 12) | (bits(off, 4, 3) << 10) | (bits(off, 7, 6) << 5) | (bits(off, 2, 1) << 3) | (bit(off, 5) << 2);
}
export const cBeqz = (rs1: number, off: number) => h((6 << 13) | cbOffset(off) | (creg(rs1) << 7) | 1);
export const cBnez = (rs1: number, off: number) => h((7 << 13) | cbOffset(off) | (creg(rs1) << 7) | 1);
export const cSlli = (rd: number, sh: number) => h((0 << 13) | (reg(rd) << 7) | (shamt5(sh) << 2) | 2);
export function cLwsp(rd: number, off: number): number {
  checkUnsigned(off, 8, 'c.lwsp offset');
  if (off & 3) throw new RangeError('c.lwsp offset must be a multiple of 4');
  if (rd === 0) throw new RangeError('c.lwsp with rd=x0 is reserved');
  return h((2 << 13) | (bit(off, 5) << 12) | (reg(rd) << 7) | (bits(off, 4, 2) << 4) | (bits(off, 7, 6) << 2) | 2);
}
export function cSwsp(rs2: number, off: number): number {
  checkUnsigned(off, 8, 'c.swsp offset');
  if (off & 3) throw new RangeError('c.swsp offset must be a multiple of 4');
  return h((6 << 13) | (bits(off, 5, 2) << 9) | (bits(off, 7, 6) << 7) | (reg(rs2) << 2) | 2);
}
export function cJr(rs1: number): number { if (rs1 === 0) throw new RangeError('c.jr x0 is reserved'); return h((4 << 13) | (reg(rs1) << 7) | 2); }
export function cJalr(rs1: number): number { if (rs1 === 0) throw new RangeError('c.jalr x0 is c.ebreak'); return h((4 << 13) | (1 << 12) | (reg(rs1) << 7) | 2); }
export function cMv(rd: number, rs2: number): number { if (rs2 === 0) throw new RangeError('c.mv rs2=x0 is c.jr'); return h((4 << 13) | (reg(rd) << 7) | (reg(rs2) << 2) | 2); }
export function cAdd(rd: number, rs2: number): number { if (rs2 === 0) throw new RangeError('c.add rs2=x0 is c.jalr'); return h((4 << 13) | (1 << 12) | (reg(rd) << 7) | (reg(rs2) << 2) | 2); }
export const cEbreak = () => 0x9002;

// ---------------------------------------------------------------------------------------------------------
// Program builder with labels.

type Enc = number | ((pc: number, label: (name: string) => number) => number);
interface Item { at: number; size: 2 | 4; enc: Enc }

/**
 * Lays out 16- and 32-bit instructions (or data words) from an origin address. Items may be functions of
 * their own address and of label addresses, resolved at `bytes()` time, so forward branches work:
 *   p.w((pc, L) => beq(t0, t1, L('done') - pc))
 */
export class Asm {
  private readonly items: Item[] = [];
  private readonly labels = new Map<string, number>();
  private cur: number;

  constructor(readonly origin: number) { this.cur = origin >>> 0; }

  /** Address of the next item. */
  get here(): number { return this.cur; }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.cur);
    return this;
  }

  /** Address of a label (defined so far, or after the whole program was laid out). */
  addr(name: string): number {
    const a = this.labels.get(name);
    if (a === undefined) throw new Error(`undefined label ${name}`);
    return a;
  }

  /** Appends 32-bit items. */
  w(...encs: Enc[]): this {
    for (const enc of encs) { this.items.push({ at: this.cur, size: 4, enc }); this.cur = (this.cur + 4) >>> 0; }
    return this;
  }

  /** Appends 16-bit items. */
  h(...encs: Enc[]): this {
    for (const enc of encs) { this.items.push({ at: this.cur, size: 2, enc }); this.cur = (this.cur + 2) >>> 0; }
    return this;
  }

  /** Skips to an absolute address (must not go backwards); the gap is zero-filled. */
  org(addr: number): this {
    if ((addr >>> 0) < this.cur) throw new Error('org goes backwards');
    this.cur = addr >>> 0;
    return this;
  }

  /** Loads a label's absolute address into rd (lui + addi). */
  la(rd: number, name: string): this {
    return this.w((_pc, L) => li(rd, L(name))[0], (_pc, L) => li(rd, L(name))[1]);
  }

  /** Loads a constant into rd (lui + addi). */
  li(rd: number, value: number): this { return this.w(...li(rd, value)); }

  /** Byte image from the origin to the end of the last item. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.cur - this.origin);
    const L = (n: string) => this.addr(n);
    for (const it of this.items) {
      const v = typeof it.enc === 'number' ? it.enc : it.enc(it.at, L);
      const o = it.at - this.origin;
      out[o] = v; out[o + 1] = v >>> 8;
      if (it.size === 4) { out[o + 2] = v >>> 16; out[o + 3] = v >>> 24; }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sv32 page tables, built by the host in guest RAM.

export const PTE = { V: 1, R: 2, W: 4, X: 8, U: 16, G: 32, A: 64, D: 128 } as const;

interface WordMemory { readU32(paddr: number): number; writeU32(paddr: number, value: number): void }

/** Builds Sv32 tables: a root page at `root`, second-level tables allocated upwards from `pool`. */
export class Sv32 {
  private readonly l0 = new Map<number, number>();
  constructor(private readonly mem: WordMemory, readonly root: number, private pool: number) {}

  /** satp value selecting these tables (mode Sv32, ASID 0). */
  get satp(): number { return (0x80000000 | (this.root / 4096)) >>> 0; }

  /** Physical address of the root PTE for `va`. */
  l1Addr(va: number): number { return this.root + (va >>> 22) * 4; }

  /** Physical address of the leaf-level PTE for `va`, creating the second-level table on first use. */
  l0Addr(va: number): number {
    const vpn1 = va >>> 22;
    let t = this.l0.get(vpn1);
    if (t === undefined) {
      t = this.pool; this.pool += 4096;
      this.l0.set(vpn1, t);
      for (let i = 0; i < 1024; i++) this.mem.writeU32(t + i * 4, 0);
      this.mem.writeU32(this.l1Addr(va), Sv32.pte(t, PTE.V));
    }
    return t + ((va >>> 12) & 0x3ff) * 4;
  }

  /** A PTE with the physical page of `pa` (may exceed 2^32) and the given flag bits. */
  static pte(pa: number, flags: number): number {
    const p = pa < 0 ? pa + 2 ** 32 : pa; // accept int32-style addresses too
    return ((Math.floor(p / 4096) << 10) | flags) >>> 0;
  }

  /** Maps one 4 KiB page. */
  map(va: number, pa: number, flags: number): this { this.mem.writeU32(this.l0Addr(va), Sv32.pte(pa, flags)); return this; }

  /** Maps one 4 MiB superpage (a leaf in the root table). */
  mapSuper(va: number, pa: number, flags: number): this { this.mem.writeU32(this.l1Addr(va), Sv32.pte(pa, flags)); return this; }

  /** Reads the leaf PTE of a 4 KiB mapping (to check A/D bits). */
  leaf(va: number): number { return this.mem.readU32(this.l0Addr(va)); }
}

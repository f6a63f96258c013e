/**
 * Differential property tests of the RV32IM arithmetic against a BigInt reference model, and of every RV32C
 * instruction against its 32-bit expansion (both run on the engine, results compared).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory } from '../src/cpu/memory.js';
import { Exit, Hart } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';

const RAM = 64 * 1024;
const BASE = 0x80000000;
const RUNS = 250;

const mem = new GuestMemory(RAM);

// ---------------------------------------------------------------------------------------------------------
// Reference model.

const s32 = (x: bigint | number): bigint => BigInt.asIntN(32, BigInt(x));
const u32 = (x: bigint | number): bigint => BigInt.asUintN(32, BigInt(x));
/** Canonical int32 result from a BigInt. */
const res = (x: bigint): number => Number(BigInt.asIntN(32, x));

type RegOp = (a: number, b: number) => number;
const REF_R: Record<string, RegOp> = {
  add: (a, b) => res(s32(a) + s32(b)),
  sub: (a, b) => res(s32(a) - s32(b)),
  sll: (a, b) => res(u32(a) << (u32(b) & 31n)),
  slt: (a, b) => (s32(a) < s32(b) ? 1 : 0),
  sltu: (a, b) => (u32(a) < u32(b) ? 1 : 0),
  xor: (a, b) => res(s32(a) ^ s32(b)),
  srl: (a, b) => res(u32(a) >> (u32(b) & 31n)),
  sra: (a, b) => res(s32(a) >> (u32(b) & 31n)),
  or: (a, b) => res(s32(a) | s32(b)),
  and: (a, b) => res(s32(a) & s32(b)),
  mul: (a, b) => res(s32(a) * s32(b)),
  mulh: (a, b) => res((s32(a) * s32(b)) >> 32n),
  mulhsu: (a, b) => res((s32(a) * u32(b)) >> 32n),
  mulhu: (a, b) => res((u32(a) * u32(b)) >> 32n),
  div: (a, b) => (s32(b) === 0n ? -1 : s32(a) === -(2n ** 31n) && s32(b) === -1n ? res(s32(a)) : res(s32(a) / s32(b))),
  divu: (a, b) => (u32(b) === 0n ? -1 : res(u32(a) / u32(b))),
  rem: (a, b) => (s32(b) === 0n ? res(s32(a)) : s32(a) === -(2n ** 31n) && s32(b) === -1n ? 0 : res(s32(a) % s32(b))),
  remu: (a, b) => (u32(b) === 0n ? res(u32(a)) : res(u32(a) % u32(b))),
};
const ENC_R: Record<string, (rd: number, rs1: number, rs2: number) => number> = {
  add: A.add, sub: A.sub, sll: A.sll, slt: A.slt, sltu: A.sltu, xor: A.xor, srl: A.srl, sra: A.sra, or: A.or, and: A.and,
  mul: A.mul, mulh: A.mulh, mulhsu: A.mulhsu, mulhu: A.mulhu, div: A.div, divu: A.divu, rem: A.rem, remu: A.remu,
};
const REF_I: Record<string, RegOp> = {
  addi: REF_R.add, slti: REF_R.slt, sltiu: REF_R.sltu, xori: REF_R.xor, ori: REF_R.or, andi: REF_R.and,
  slli: REF_R.sll, srli: REF_R.srl, srai: REF_R.sra,
};
const ENC_I: Record<string, (rd: number, rs1: number, imm: number) => number> = {
  addi: A.addi, slti: A.slti, sltiu: A.sltiu, xori: A.xori, ori: A.ori, andi: A.andi, slli: A.slli, srli: A.srli, srai: A.srai,
};

// ---------------------------------------------------------------------------------------------------------
// Harness: one instruction at `pc` on a fresh hart.

/** Interesting 32-bit values mixed with uniform ones. */
const word = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -0x80000000, max: 0x7fffffff }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, -1, 2, -2, 31, 32, 33, 0x7fffffff, -0x80000000, 0x80000001 | 0, 0xffff, -0x10000, 0x55555555, -0x55555556) },
);
const regNum = fc.integer({ min: 0, max: 31 });
const filler = fc.array(fc.integer({ min: -0x80000000, max: 0x7fffffff }), { minLength: 32, maxLength: 32 });

function freshHart(pc: number, regs: number[]): Hart {
  const h = new Hart(mem);
  h.reset(pc, 3);
  for (let i = 1; i < 32; i++) h.regs[i] = regs[i];
  return h;
}

function runOne(h: Hart): void {
  const exit = h.run(1);
  assert.equal(exit, Exit.Budget);
}

function snapshotRegs(h: Hart): number[] { return Array.from(h.regs.subarray(0, 32)); }

const CODE = BASE + 0x8000;

for (const name of Object.keys(REF_R)) {
  test(`${name} matches the BigInt reference`, () => {
    fc.assert(fc.property(regNum, regNum, regNum, word, word, filler, (rd, rs1, rs2, va, vb, fill) => {
      mem.writeU32(CODE, ENC_R[name](rd, rs1, rs2));
      const h = freshHart(CODE, fill);
      if (rs1 !== 0) h.regs[rs1] = va;
      if (rs2 !== 0) h.regs[rs2] = vb;
      const before = snapshotRegs(h);
      const a = before[rs1], b = before[rs2];
      runOne(h);
      const expected = before.slice();
      if (rd !== 0) expected[rd] = REF_R[name](a, b);
      assert.deepEqual(snapshotRegs(h), expected, `${name} x${rd}, x${rs1}=${a}, x${rs2}=${b}`);
      assert.equal(h.pc >>> 0, CODE + 4);
      assert.equal(h.instret, 1);
    }), { numRuns: RUNS });
  });
}

test('division corner cases (by zero, overflow) are exact', () => {
  const cases: [string, number, number, number][] = [
    ['div', 7, 0, -1], ['div', -0x80000000, 0, -1], ['div', -0x80000000, -1, -0x80000000], ['div', -7, 2, -3], ['div', 7, -2, -3],
    ['divu', 7, 0, -1], ['divu', -1, 1, -1], ['divu', -1, -1, 1], ['divu', -0x80000000, -1, 0],
    ['rem', 7, 0, 7], ['rem', -0x80000000, 0, -0x80000000], ['rem', -0x80000000, -1, 0], ['rem', -7, 2, -1], ['rem', 7, -2, 1],
    ['remu', 7, 0, 7], ['remu', -1, 0, -1], ['remu', -1, 10, 5], ['remu', -0x80000000, -1, -0x80000000],
    ['mulh', -0x80000000, -0x80000000, 0x40000000], ['mulhu', -1, -1, -2], ['mulhsu', -1, -1, -1], ['mulhsu', -0x80000000, -1, -0x80000000],
    ['mul', 0x10000, 0x10000, 0], ['mulh', -1, 1, -1], ['mulhu', -0x80000000, 2, 1],
  ];
  for (const [name, a, b, want] of cases) {
    mem.writeU32(CODE, ENC_R[name](A.a0, A.a1, A.a2));
    const h = freshHart(CODE, new Array(32).fill(0));
    h.regs[A.a1] = a; h.regs[A.a2] = b;
    runOne(h);
    assert.equal(h.regs[A.a0], want, `${name} ${a}, ${b}`);
    assert.equal(REF_R[name](a, b), want, `reference ${name} ${a}, ${b}`);
  }
});

for (const name of Object.keys(REF_I)) {
  const shift = name === 'slli' || name === 'srli' || name === 'srai';
  const immArb = shift ? fc.integer({ min: 0, max: 31 }) : fc.integer({ min: -2048, max: 2047 });
  test(`${name} matches the BigInt reference`, () => {
    fc.assert(fc.property(regNum, regNum, word, immArb, filler, (rd, rs1, va, imm, fill) => {
      mem.writeU32(CODE, ENC_I[name](rd, rs1, imm));
      const h = freshHart(CODE, fill);
      if (rs1 !== 0) h.regs[rs1] = va;
      const before = snapshotRegs(h);
      runOne(h);
      const expected = before.slice();
      if (rd !== 0) expected[rd] = REF_I[name](before[rs1], imm);
      assert.deepEqual(snapshotRegs(h), expected, `${name} x${rd}, x${rs1}=${before[rs1]}, ${imm}`);
      assert.equal(h.pc >>> 0, CODE + 4);
    }), { numRuns: RUNS });
  });
}

test('lui and auipc match the reference at random pcs', () => {
  fc.assert(fc.property(regNum, fc.integer({ min: 0, max: 0xfffff }), fc.integer({ min: 0, max: RAM / 4 - 1 }), fc.boolean(), filler,
    (rd, imm20, slot, isAuipc, fill) => {
      const pc = BASE + slot * 4;
      mem.writeU32(pc, isAuipc ? A.auipc(rd, imm20) : A.lui(rd, imm20));
      const h = freshHart(pc, fill);
      const before = snapshotRegs(h);
      runOne(h);
      const expected = before.slice();
      if (rd !== 0) expected[rd] = res(BigInt(imm20) * 4096n + (isAuipc ? BigInt(pc) : 0n));
      assert.deepEqual(snapshotRegs(h), expected);
      assert.equal(h.pc >>> 0, pc + 4);
    }), { numRuns: RUNS * 2 });
});

test('branches, jal and jalr match the reference', () => {
  const BR: [string, (a: number, b: number) => boolean, (r1: number, r2: number, o: number) => number][] = [
    ['beq', (a, b) => a === b, A.beq], ['bne', (a, b) => a !== b, A.bne],
    ['blt', (a, b) => s32(a) < s32(b), A.blt], ['bge', (a, b) => s32(a) >= s32(b), A.bge],
    ['bltu', (a, b) => u32(a) < u32(b), A.bltu], ['bgeu', (a, b) => u32(a) >= u32(b), A.bgeu],
  ];
  fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), regNum, regNum, word, word, fc.integer({ min: -2048, max: 2047 }), filler, fc.boolean(),
    (k, rs1, rs2, va, vb, half, fill, equal) => {
      const [, cond, enc] = BR[k];
      mem.writeU32(CODE, enc(rs1, rs2, half * 2));
      const h = freshHart(CODE, fill);
      if (rs1 !== 0) h.regs[rs1] = va;
      if (rs2 !== 0) h.regs[rs2] = equal && rs1 !== 0 ? va : vb;
      const before = snapshotRegs(h);
      runOne(h);
      const taken = cond(before[rs1], before[rs2]);
      assert.equal(h.pc >>> 0, taken ? (CODE + half * 2) >>> 0 : CODE + 4);
      assert.deepEqual(snapshotRegs(h), before);
    }), { numRuns: RUNS * 2 });
  fc.assert(fc.property(regNum, regNum, word, fc.integer({ min: -2048, max: 2047 }), fc.integer({ min: -0x80000, max: 0x7ffff }), filler, fc.boolean(),
    (rd, rs1, va, imm, joff, fill, isJalr) => {
      mem.writeU32(CODE, isJalr ? A.jalr(rd, rs1, imm) : A.jal(rd, joff * 2));
      const h = freshHart(CODE, fill);
      if (rs1 !== 0) h.regs[rs1] = va;
      const before = snapshotRegs(h);
      runOne(h);
      const target = isJalr ? (Number(u32(s32(before[rs1]) + BigInt(imm))) & ~1) >>> 0 : Number(u32(BigInt(CODE) + BigInt(joff * 2)));
      assert.equal(h.pc >>> 0, target);
      const expected = before.slice();
      if (rd !== 0) expected[rd] = (CODE + 4) | 0;
      assert.deepEqual(snapshotRegs(h), expected);
    }), { numRuns: RUNS * 2 });
});

test('loads and stores match the reference (sign/zero extension, sizes, misaligned)', () => {
  const DATA = BASE + 0x2000;
  fc.assert(fc.property(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 31 }), fc.integer({ min: 0, max: 31 }),
    fc.integer({ min: 0, max: 0xff8 }), fc.integer({ min: -64, max: 63 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), filler, word,
    (kind, rs1, rd, off, imm, bytes, fill, v) => {
      const addr = DATA + off;
      mem.write(addr, bytes);
      const lds = [A.lb, A.lh, A.lw, A.lbu, A.lhu];
      mem.writeU32(CODE, lds[kind](rd, rs1, imm));
      const h = freshHart(CODE, fill);
      h.regs[rs1] = (addr - imm) | 0;
      const before = snapshotRegs(h);
      runOne(h);
      const size = [1, 2, 4, 1, 2][kind];
      let raw = 0n;
      for (let k = size - 1; k >= 0; k--) raw = (raw << 8n) | BigInt(bytes[k]);
      const signed = kind < 3;
      const val = signed ? res(BigInt.asIntN(size * 8, raw)) : res(raw);
      const expected = before.slice();
      if (rd !== 0) expected[rd] = val;
      assert.deepEqual(snapshotRegs(h), expected);

      // Stores: same size at the same address.
      const sts = [A.sb, A.sh, A.sw];
      const sk = kind % 3;
      const rs2 = rd === rs1 ? 0 : rd;
      mem.write(addr, bytes);
      mem.writeU32(CODE, sts[sk](rs2, rs1, imm));
      const g = freshHart(CODE, fill);
      g.regs[rs1] = (addr - imm) | 0;
      if (rs2 !== 0) g.regs[rs2] = v;
      const sv = rs2 === 0 ? 0 : v;
      runOne(g);
      const ssize = [1, 2, 4][sk];
      const got = mem.read(addr, 8);
      const want = bytes.slice();
      for (let k = 0; k < ssize; k++) want[k] = (sv >>> (8 * k)) & 0xff;
      assert.deepEqual(got, want);
    }), { numRuns: RUNS * 2 });
});

// ---------------------------------------------------------------------------------------------------------
// Compressed instructions against their expansions.

interface CPair { name: string; c: number; e: number; /** c.jal/c.jalr: the link register gets pc+2, not pc+4. */ link?: number }

const cr = fc.integer({ min: 8, max: 15 });
const anyR = fc.integer({ min: 0, max: 31 });
const nzR = fc.integer({ min: 1, max: 31 });
const imm6 = fc.integer({ min: -32, max: 31 });
const nzImm6 = imm6.filter((x) => x !== 0);
const sh5 = fc.integer({ min: 0, max: 31 });

const pairs: fc.Arbitrary<CPair>[] = [
  fc.tuple(cr, fc.integer({ min: 1, max: 255 })).map(([rd, k]) => ({ name: 'c.addi4spn', c: A.cAddi4spn(rd, k * 4), e: A.addi(rd, A.sp, k * 4) })),
  fc.tuple(cr, cr, fc.integer({ min: 0, max: 31 })).map(([rd, rs1, k]) => ({ name: 'c.lw', c: A.cLw(rd, rs1, k * 4), e: A.lw(rd, rs1, k * 4) })),
  fc.tuple(cr, cr, fc.integer({ min: 0, max: 31 })).map(([rs2, rs1, k]) => ({ name: 'c.sw', c: A.cSw(rs2, rs1, k * 4), e: A.sw(rs2, rs1, k * 4) })),
  fc.constant({ name: 'c.nop', c: A.cNop(), e: A.addi(0, 0, 0) }),
  fc.tuple(nzR, nzImm6).map(([rd, i]) => ({ name: 'c.addi', c: A.cAddi(rd, i), e: A.addi(rd, rd, i) })),
  fc.integer({ min: -1024, max: 1023 }).map((o) => ({ name: 'c.jal', c: A.cJal(o * 2), e: A.jal(A.ra, o * 2), link: A.ra })),
  fc.tuple(nzR, imm6).map(([rd, i]) => ({ name: 'c.li', c: A.cLi(rd, i), e: A.addi(rd, 0, i) })),
  fc.integer({ min: -32, max: 31 }).filter((x) => x !== 0).map((k) => ({ name: 'c.addi16sp', c: A.cAddi16sp(k * 16), e: A.addi(A.sp, A.sp, k * 16) })),
  fc.tuple(nzR.filter((r) => r !== 2), nzImm6).map(([rd, i]) => ({ name: 'c.lui', c: A.cLui(rd, i), e: A.lui(rd, i & 0xfffff) })),
  fc.tuple(cr, sh5).map(([rd, s]) => ({ name: 'c.srli', c: A.cSrli(rd, s), e: A.srli(rd, rd, s) })),
  fc.tuple(cr, sh5).map(([rd, s]) => ({ name: 'c.srai', c: A.cSrai(rd, s), e: A.srai(rd, rd, s) })),
  fc.tuple(cr, imm6).map(([rd, i]) => ({ name: 'c.andi', c: A.cAndi(rd, i), e: A.andi(rd, rd, i) })),
  fc.tuple(cr, cr).map(([rd, rs2]) => ({ name: 'c.sub', c: A.cSub(rd, rs2), e: A.sub(rd, rd, rs2) })),
  fc.tuple(cr, cr).map(([rd, rs2]) => ({ name: 'c.xor', c: A.cXor(rd, rs2), e: A.xor(rd, rd, rs2) })),
  fc.tuple(cr, cr).map(([rd, rs2]) => ({ name: 'c.or', c: A.cOr(rd, rs2), e: A.or(rd, rd, rs2) })),
  fc.tuple(cr, cr).map(([rd, rs2]) => ({ name: 'c.and', c: A.cAnd(rd, rs2), e: A.and(rd, rd, rs2) })),
  fc.integer({ min: -1024, max: 1023 }).map((o) => ({ name: 'c.j', c: A.cJ(o * 2), e: A.jal(0, o * 2) })),
  fc.tuple(cr, fc.integer({ min: -128, max: 127 })).map(([rs1, o]) => ({ name: 'c.beqz', c: A.cBeqz(rs1, o * 2), e: A.beq(rs1, 0, o * 2) })),
  fc.tuple(cr, fc.integer({ min: -128, max: 127 })).map(([rs1, o]) => ({ name: 'c.bnez', c: A.cBnez(rs1, o * 2), e: A.bne(rs1, 0, o * 2) })),
  fc.tuple(nzR, sh5).map(([rd, s]) => ({ name: 'c.slli', c: A.cSlli(rd, s), e: A.slli(rd, rd, s) })),
  fc.tuple(nzR, fc.integer({ min: 0, max: 63 })).map(([rd, k]) => ({ name: 'c.lwsp', c: A.cLwsp(rd, k * 4), e: A.lw(rd, A.sp, k * 4) })),
  fc.tuple(anyR, fc.integer({ min: 0, max: 63 })).map(([rs2, k]) => ({ name: 'c.swsp', c: A.cSwsp(rs2, k * 4), e: A.sw(rs2, A.sp, k * 4) })),
  nzR.map((rs1) => ({ name: 'c.jr', c: A.cJr(rs1), e: A.jalr(0, rs1, 0) })),
  nzR.map((rs1) => ({ name: 'c.jalr', c: A.cJalr(rs1), e: A.jalr(A.ra, rs1, 0), link: A.ra })),
  fc.tuple(nzR, nzR).map(([rd, rs2]) => ({ name: 'c.mv', c: A.cMv(rd, rs2), e: A.add(rd, 0, rs2) })),
  fc.tuple(nzR, nzR).map(([rd, rs2]) => ({ name: 'c.add', c: A.cAdd(rd, rs2), e: A.add(rd, rd, rs2) })),
  fc.constant({ name: 'c.ebreak', c: A.cEbreak(), e: A.ebreak() }),
];

const JUMPS = new Set(['c.j', 'c.jal', 'c.jr', 'c.jalr']);
const memC = new GuestMemory(RAM);
const memE = new GuestMemory(RAM);
const CCODE = BASE + 0x8000;
const DATA_LO = BASE + 0x1000; // registers used as bases point into [DATA_LO, DATA_LO + 0x4000)

test('every compressed instruction behaves as its 32-bit expansion', () => {
  const seen = new Set<string>();
  const data = new Uint8Array(0x5000);
  fc.assert(fc.property(fc.oneof(...pairs), filler, fc.integer(),
    fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }), fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
    (p, fill, dataSeed, asPtr, zeroed) => {
      seen.add(p.name);
      let x = dataSeed | 1;
      for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x; }
      // Registers: random, or pointers into the data area (word-aligned, sometimes not), or zero (for c.beqz/c.bnez).
      const regs = fill.map((v, i) => {
        if (i === 0 || (zeroed[i] && (v & 3) === 0)) return 0;
        if (!asPtr[i] && i !== A.sp) return v;
        const ptr = DATA_LO + ((v >>> 0) % 0x3f00);
        return (v & 0x300) === 0x300 ? ptr : ptr & ~3;
      });
      const run = (m: GuestMemory, inst: number, size: 2 | 4): Hart => {
        m.write(DATA_LO, data);
        m.writeU32(CCODE, 0);
        if (size === 2) m.u16[(CCODE - BASE) >> 1] = inst; else m.writeU32(CCODE, inst);
        const h = new Hart(m);
        h.mtvec = BASE + 0xf000;
        h.reset(CCODE, 3);
        for (let i = 1; i < 32; i++) h.regs[i] = regs[i];
        assert.equal(h.run(1), Exit.Budget);
        return h;
      };
      const hc = run(memC, p.c, 2);
      const he = run(memE, p.e, 4);
      const rc = snapshotRegs(hc), re = snapshotRegs(he);
      if (p.link !== undefined) re[p.link] = (re[p.link] - 2) | 0;
      assert.deepEqual(rc, re, `${p.name} 0x${p.c.toString(16)} vs 0x${p.e.toString(16)}: registers`);
      const dc = hc.pc - CCODE | 0, de = he.pc - CCODE | 0;
      const trapped = hc.mcause !== 0 || he.mcause !== 0 || (hc.pc >>> 0) === BASE + 0xf000;
      if (trapped) {
        assert.equal(hc.pc, he.pc, `${p.name}: trap vector`);
        assert.equal(hc.mcause, he.mcause); assert.equal(hc.mepc, he.mepc); assert.equal(hc.mtval, he.mtval);
      } else if (dc === 2 && de === 4 && !JUMPS.has(p.name)) {
        // Fell through (not a jump; a branch not taken).
      } else {
        assert.equal(dc, de, `${p.name}: control transfer target`);
      }
      assert.ok(Buffer.from(memC.read(DATA_LO, 0x5000)).equals(Buffer.from(memE.read(DATA_LO, 0x5000))), `${p.name}: memory`);
    }), { numRuns: 3000 });
  assert.equal(seen.size, pairs.length, `every compressed form was generated (${[...seen].join(' ')})`);
});

test('reserved and RV64/F-only compressed encodings are illegal with mtval = the 16 bits', () => {
  const reserved = [
    0x0000, // all zeros
    A.cAddi4spn(8, 4) & ~0x1fe0, // c.addi4spn with nzuimm = 0
    (1 << 13) | 0, // c.fld
    (3 << 13) | 0, // c.flw
    (4 << 13) | 0 | (1 << 2), // q0 f3=4 reserved
    (5 << 13) | 0, // c.fsd
    (7 << 13) | 0, // c.fsw
    (3 << 13) | (2 << 7) | 1, // c.addi16sp with 0
    (3 << 13) | (10 << 7) | 1, // c.lui a0, 0
    (4 << 13) | (1 << 12) | (0 << 10) | (2 << 7) | (3 << 2) | 1, // c.srli shamt[5]=1
    (4 << 13) | (1 << 12) | (1 << 10) | (2 << 7) | (3 << 2) | 1, // c.srai shamt[5]=1
    (4 << 13) | (1 << 12) | (3 << 10) | (2 << 7) | (0 << 5) | (3 << 2) | 1, // c.subw (RV64)
    (4 << 13) | (1 << 12) | (3 << 10) | (2 << 7) | (1 << 5) | (3 << 2) | 1, // c.addw (RV64)
    (1 << 12) | (10 << 7) | (3 << 2) | 2, // c.slli shamt[5]=1
    (1 << 13) | (10 << 7) | 2, // c.fldsp
    (2 << 13) | (0 << 7) | (1 << 4) | 2, // c.lwsp rd=0
    (3 << 13) | (10 << 7) | 2, // c.flwsp
    (4 << 13) | 2, // c.jr x0
    (5 << 13) | 2, // c.fsdsp
    (7 << 13) | 2, // c.fswsp
  ];
  for (const c of reserved) {
    memC.u8.fill(0);
    memC.u16[(CCODE - BASE) >> 1] = c;
    const h = new Hart(memC);
    h.mtvec = BASE + 0xf000;
    h.reset(CCODE, 3);
    h.run(1);
    assert.equal(h.mcause, 2, `0x${c.toString(16)} is illegal`);
    assert.equal(h.mtval >>> 0, c, `mtval of 0x${c.toString(16)}`);
    assert.equal(h.mepc >>> 0, CCODE);
  }
});

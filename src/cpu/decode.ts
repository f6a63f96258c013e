/**
 * RV32IMAC instruction decoder. Every instruction, 16 or 32 bits, becomes one pre-decoded word plus an
 * immediate, cached per physical code page by the hart, so the run loop never re-extracts fields.
 *
 * Decoded word layout (int32):
 *   bits 0..7   Op (below; 0 means "not decoded yet")
 *   bits 8..13  rd, with x0 mapped to the sink register 32 so writes need no x0 check
 *   bits 14..18 rs1
 *   bits 19..23 rs2
 *   bits 24..26 instruction length in bytes (2 or 4)
 *   bit  31     set by the hart for an instruction that straddles a page: never cached (see hart.ts)
 * Compressed instructions are expanded to the Op of their 32-bit equivalent.
 */
export const enum Op {
  NONE = 0,
  ILLEGAL, // imm = raw instruction bits (for mtval)
  ADDI, SLTI, SLTIU, XORI, ORI, ANDI, SLLI, SRLI, SRAI,
  ADD, SUB, SLL, SLT, SLTU, XOR, SRL, SRA, OR, AND,
  MUL, MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU,
  AUIPC, JAL, JALR,
  BEQ, BNE, BLT, BGE, BLTU, BGEU,
  LB, LH, LW, LBU, LHU, SB, SH, SW,
  FENCE, FENCE_I, PAUSE,
  ECALL, EBREAK, MRET, SRET, WFI, SFENCE_VMA,
  CSRRW, CSRRS, CSRRC, CSRRWI, CSRRSI, CSRRCI, // imm = csr number; for the I forms rs1 holds uimm
  LR_W, SC_W, AMOSWAP_W, AMOADD_W, AMOXOR_W, AMOAND_W, AMOOR_W, AMOMIN_W, AMOMAX_W, AMOMINU_W, AMOMAXU_W,
  COUNT,
}

/** Result of decoding: the packed word goes in `word`, the immediate in `imm`. Reused, never allocated per call. */
export interface Decoded { word: number; imm: number }

const SINK = 32;

function pack(op: number, rd: number, rs1: number, rs2: number, len: number): number {
  return op | ((rd === 0 ? SINK : rd) << 8) | (rs1 << 14) | (rs2 << 19) | (len << 24);
}

function illegal(out: Decoded, inst: number, len: number): void {
  out.word = pack(Op.ILLEGAL, 0, 0, 0, len);
  out.imm = inst;
}

/** Decodes a 32-bit instruction (low two bits 11). */
export function decode32(inst: number, out: Decoded): void {
  const opcode = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const f3 = (inst >>> 12) & 7;
  const rs1 = (inst >>> 15) & 31;
  const rs2 = (inst >>> 20) & 31;
  const f7 = inst >>> 25;
  const immI = inst >> 20;
  let op: number = Op.ILLEGAL;
  let imm = 0;
  switch (opcode) {
    case 0x37: // LUI: addi rd, x0, imm
      out.word = pack(Op.ADDI, rd, 0, 0, 4); out.imm = inst & 0xfffff000; return;
    case 0x17: // AUIPC
      out.word = pack(Op.AUIPC, rd, 0, 0, 4); out.imm = inst & 0xfffff000; return;
    case 0x6f: { // JAL
      imm = ((inst >> 31) << 20) | (((inst >>> 12) & 0xff) << 12) | (((inst >>> 20) & 1) << 11) | (((inst >>> 21) & 0x3ff) << 1);
      out.word = pack(Op.JAL, rd, 0, 0, 4); out.imm = imm; return;
    }
    case 0x67: // JALR
      if (f3 !== 0) break;
      out.word = pack(Op.JALR, rd, rs1, 0, 4); out.imm = immI; return;
    case 0x63: { // branches
      const b = [Op.BEQ, Op.BNE, -1, -1, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU][f3];
      if (b < 0) break;
      imm = ((inst >> 31) << 12) | (((inst >>> 7) & 1) << 11) | (((inst >>> 25) & 0x3f) << 5) | (((inst >>> 8) & 0xf) << 1);
      out.word = pack(b, 0, rs1, rs2, 4); out.imm = imm; return;
    }
    case 0x03: { // loads
      const l = [Op.LB, Op.LH, Op.LW, -1, Op.LBU, Op.LHU, -1, -1][f3];
      if (l < 0) break;
      out.word = pack(l, rd, rs1, 0, 4); out.imm = immI; return;
    }
    case 0x23: { // stores
      const s = [Op.SB, Op.SH, Op.SW, -1, -1, -1, -1, -1][f3];
      if (s < 0) break;
      imm = ((inst >> 25) << 5) | ((inst >>> 7) & 31);
      out.word = pack(s, 0, rs1, rs2, 4); out.imm = imm; return;
    }
    case 0x13: // OP-IMM
      switch (f3) {
        case 0: op = Op.ADDI; imm = immI; break;
        case 2: op = Op.SLTI; imm = immI; break;
        case 3: op = Op.SLTIU; imm = immI; break;
        case 4: op = Op.XORI; imm = immI; break;
        case 6: op = Op.ORI; imm = immI; break;
        case 7: op = Op.ANDI; imm = immI; break;
        case 1: if (f7 !== 0) { illegal(out, inst, 4); return; } op = Op.SLLI; imm = rs2; break;
        case 5:
          if (f7 === 0) op = Op.SRLI; else if (f7 === 0x20) op = Op.SRAI; else { illegal(out, inst, 4); return; }
          imm = rs2; break;
      }
      out.word = pack(op, rd, rs1, 0, 4); out.imm = imm; return;
    case 0x33: // OP
      if (f7 === 0) op = [Op.ADD, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.OR, Op.AND][f3];
      else if (f7 === 0x20) { if (f3 === 0) op = Op.SUB; else if (f3 === 5) op = Op.SRA; else break; }
      else if (f7 === 1) op = [Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU][f3];
      else break;
      out.word = pack(op, rd, rs1, rs2, 4); out.imm = 0; return;
    case 0x0f: // MISC-MEM
      if (f3 === 0) {
        // PAUSE is FENCE with pred=W, succ=0, fm=0, rs1=rd=x0 (Zihintpause).
        if (inst === 0x0100000f) { out.word = pack(Op.PAUSE, 0, 0, 0, 4); out.imm = 0; return; }
        out.word = pack(Op.FENCE, 0, 0, 0, 4); out.imm = 0; return;
      }
      if (f3 === 1) { out.word = pack(Op.FENCE_I, 0, 0, 0, 4); out.imm = 0; return; }
      break;
    case 0x73: // SYSTEM
      if (f3 === 0) {
        if (rd !== 0) break;
        if (inst === 0x00000073) op = Op.ECALL;
        else if (inst === 0x00100073) op = Op.EBREAK;
        else if (inst === 0x30200073) op = Op.MRET;
        else if (inst === 0x10200073) op = Op.SRET;
        else if (inst === 0x10500073) op = Op.WFI;
        else if (f7 === 0x09) op = Op.SFENCE_VMA;
        else break;
        out.word = pack(op, 0, rs1, rs2, 4); out.imm = inst; return;
      }
      if (f3 === 4) break;
      op = [0, Op.CSRRW, Op.CSRRS, Op.CSRRC, 0, Op.CSRRWI, Op.CSRRSI, Op.CSRRCI][f3];
      // CSR ops keep rd = 0 visible (a CSRRW with rd = x0 must not read), so no sink mapping for rd here.
      out.word = op | (rd << 8) | (rs1 << 14) | (4 << 24); out.imm = (inst >>> 20) & 0xfff; return;
    case 0x2f: { // AMO
      if (f3 !== 2) break;
      const f5 = inst >>> 27;
      switch (f5) {
        case 0x02: if (rs2 !== 0) { illegal(out, inst, 4); return; } op = Op.LR_W; break;
        case 0x03: op = Op.SC_W; break;
        case 0x01: op = Op.AMOSWAP_W; break;
        case 0x00: op = Op.AMOADD_W; break;
        case 0x04: op = Op.AMOXOR_W; break;
        case 0x0c: op = Op.AMOAND_W; break;
        case 0x08: op = Op.AMOOR_W; break;
        case 0x10: op = Op.AMOMIN_W; break;
        case 0x14: op = Op.AMOMAX_W; break;
        case 0x18: op = Op.AMOMINU_W; break;
        case 0x1c: op = Op.AMOMAXU_W; break;
        default: illegal(out, inst, 4); return;
      }
      out.word = pack(op, rd, rs1, rs2, 4); out.imm = 0; return;
    }
  }
  illegal(out, inst, 4);
}

/** Decodes a 16-bit compressed instruction (low two bits not 11) into its 32-bit equivalent's Op. */
export function decode16(inst: number, out: Decoded): void {
  const q = inst & 3;
  const f3 = (inst >>> 13) & 7;
  const rdp = ((inst >>> 2) & 7) + 8; // rd' / rs2'
  const rs1p = ((inst >>> 7) & 7) + 8; // rs1' / rd'
  const rd = (inst >>> 7) & 31;
  const rs2 = (inst >>> 2) & 31;
  if (inst === 0) { illegal(out, inst, 2); return; }
  if (q === 0) {
    switch (f3) {
      case 0: { // C.ADDI4SPN
        const nz = (((inst >>> 7) & 0xf) << 6) | (((inst >>> 11) & 3) << 4) | (((inst >>> 5) & 1) << 3) | (((inst >>> 6) & 1) << 2);
        if (nz === 0) break;
        out.word = pack(Op.ADDI, rdp, 2, 0, 2); out.imm = nz; return;
      }
      case 2: { // C.LW
        const off = (((inst >>> 10) & 7) << 3) | (((inst >>> 6) & 1) << 2) | (((inst >>> 5) & 1) << 6);
        out.word = pack(Op.LW, rdp, rs1p, 0, 2); out.imm = off; return;
      }
      case 6: { // C.SW
        const off = (((inst >>> 10) & 7) << 3) | (((inst >>> 6) & 1) << 2) | (((inst >>> 5) & 1) << 6);
        out.word = pack(Op.SW, 0, rs1p, rdp, 2); out.imm = off; return;
      }
    }
    illegal(out, inst, 2); return;
  }
  if (q === 1) {
    const imm6 = ((((inst >>> 12) & 1) << 31) >> 26) | ((inst >>> 2) & 31); // sign-extended 6-bit
    switch (f3) {
      case 0: // C.NOP / C.ADDI
        out.word = pack(Op.ADDI, rd, rd, 0, 2); out.imm = imm6; return;
      case 1: // C.JAL (RV32)
      case 5: { // C.J
        const o = ((((inst >>> 12) & 1) << 31) >> 20) | (((inst >>> 8) & 1) << 10) | (((inst >>> 9) & 3) << 8) |
          (((inst >>> 6) & 1) << 7) | (((inst >>> 7) & 1) << 6) | (((inst >>> 2) & 1) << 5) | (((inst >>> 11) & 1) << 4) | (((inst >>> 3) & 7) << 1);
        out.word = pack(Op.JAL, f3 === 1 ? 1 : 0, 0, 0, 2); out.imm = o; return;
      }
      case 2: // C.LI
        out.word = pack(Op.ADDI, rd, 0, 0, 2); out.imm = imm6; return;
      case 3:
        if (rd === 2) { // C.ADDI16SP
          const o = ((((inst >>> 12) & 1) << 31) >> 22) | (((inst >>> 3) & 3) << 7) | (((inst >>> 5) & 1) << 6) | (((inst >>> 2) & 1) << 5) | (((inst >>> 6) & 1) << 4);
          if (o === 0) break;
          out.word = pack(Op.ADDI, 2, 2, 0, 2); out.imm = o; return;
        }
        if (imm6 === 0) break; // C.LUI with nzimm = 0 is reserved
        out.word = pack(Op.ADDI, rd, 0, 0, 2); out.imm = imm6 << 12; return;
      case 4: {
        const f2 = (inst >>> 10) & 3;
        if (f2 === 0 || f2 === 1) { // C.SRLI / C.SRAI
          if ((inst >>> 12) & 1) break; // shamt[5] = 1 is reserved on RV32
          out.word = pack(f2 === 0 ? Op.SRLI : Op.SRAI, rs1p, rs1p, 0, 2); out.imm = (inst >>> 2) & 31; return;
        }
        if (f2 === 2) { out.word = pack(Op.ANDI, rs1p, rs1p, 0, 2); out.imm = imm6; return; } // C.ANDI
        if ((inst >>> 12) & 1) break; // RV64-only C.SUBW/C.ADDW
        const op = [Op.SUB, Op.XOR, Op.OR, Op.AND][(inst >>> 5) & 3];
        out.word = pack(op, rs1p, rs1p, rdp, 2); out.imm = 0; return;
      }
      case 6: // C.BEQZ
      case 7: { // C.BNEZ
        const o = ((((inst >>> 12) & 1) << 31) >> 23) | (((inst >>> 5) & 3) << 6) | (((inst >>> 2) & 1) << 5) | (((inst >>> 10) & 3) << 3) | (((inst >>> 3) & 3) << 1);
        out.word = pack(f3 === 6 ? Op.BEQ : Op.BNE, 0, rs1p, 0, 2); out.imm = o; return;
      }
    }
    illegal(out, inst, 2); return;
  }
  // q === 2
  switch (f3) {
    case 0: // C.SLLI
      if ((inst >>> 12) & 1) break;
      out.word = pack(Op.SLLI, rd, rd, 0, 2); out.imm = rs2; return;
    case 2: { // C.LWSP
      if (rd === 0) break;
      const off = (((inst >>> 12) & 1) << 5) | (((inst >>> 4) & 7) << 2) | (((inst >>> 2) & 3) << 6);
      out.word = pack(Op.LW, rd, 2, 0, 2); out.imm = off; return;
    }
    case 4:
      if (((inst >>> 12) & 1) === 0) {
        if (rs2 === 0) { // C.JR
          if (rd === 0) break;
          out.word = pack(Op.JALR, 0, rd, 0, 2); out.imm = 0; return;
        }
        out.word = pack(Op.ADD, rd, 0, rs2, 2); out.imm = 0; return; // C.MV
      }
      if (rs2 === 0) {
        if (rd === 0) { out.word = pack(Op.EBREAK, 0, 0, 0, 2); out.imm = inst; return; } // C.EBREAK
        out.word = pack(Op.JALR, 1, rd, 0, 2); out.imm = 0; return; // C.JALR
      }
      out.word = pack(Op.ADD, rd, rd, rs2, 2); out.imm = 0; return; // C.ADD
    case 6: { // C.SWSP
      const off = (((inst >>> 9) & 0xf) << 2) | (((inst >>> 7) & 3) << 6);
      out.word = pack(Op.SW, 0, 2, rs2, 2); out.imm = off; return;
    }
  }
  illegal(out, inst, 2);
}

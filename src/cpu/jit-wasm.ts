/**
 * The translator's WebAssembly back end: a region (jit.ts `layout`) becomes a module of one function, with the same
 * contract as the JavaScript back end's `(pc0, entry, left) => npc` and the same exits, so that the run loop cannot
 * tell them apart. Why WebAssembly: V8 compiles it in one fast pass (Liftoff, ~0.3 us per guest instruction, then
 * optimizes hot functions in the background), against milliseconds per region, several times over, for a
 * JavaScript region; and it never deoptimizes.
 *
 * The module imports the guest memory (memory.ts: RAM at offset 0, then the hart slots); it reaches the hart's
 * registers, budget word, TLB context and data TLBs in the hart's slot at fixed addresses, so a module belongs to
 * one hart. Guest registers live in locals, loaded at entry and stored back at the one exit, as in JavaScript.
 *
 * Shape of the function: `block $exit (loop $out (block $cN-1 ... (block $c0 (br_table s)) code0 ... ) codeN-1))`.
 * Case k's code follows the end of its block, so it falls into case k+1's; a jump to a later case is a direct
 * branch to that case's block, a jump back dispatches again through the table (`s`, then `br $out`).
 */
import { Op } from './decode.js';
import { HartSlot } from './memory.js';
import { Body, W, divRem, moduleBytes } from './wasm-emit.js';
import type { Region, RegionFn, Run } from './jit.js';
import { Kind, registers, segments, writes } from './jit.js';

// Locals: the parameters pc0, s, left; then npc, a, t, back, b, cx; then x1..x31 (x(q) = X0 + q; x0 has no local,
// so X0 + 0 may be cx).
const PC0 = 0, S = 1, LEFT = 2, NPC = 3, A = 4, T = 5, BACK = 6, B = 7, CX = 8, X0 = 8;
const LOCALS = 5 + 1 + 31;

/** Compiles a region to a WebAssembly function over `memory` for the hart whose slot is at `slot`. */
export function compileWasm(region: Region, tlbMask: number, slot: number, memory: WebAssembly.Memory): RegionFn {
  const bytes = moduleBytes(3, LOCALS, functionBody(region, tlbMask, slot));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { m: memory } });
  return inst.exports.f as RegionFn;
}

/** The function body (see the file comment). */
function functionBody(region: Region, tlbMask: number, slot: number): Body {
  const { runs, map } = region;
  const { used, written } = registers(region);
  // The return points of calls made inside the region: a JALR landing on one stays inside.
  const returns = new Set<number>();
  for (const run of runs) {
    for (const it of run.insts) {
      if (it.kind === Kind.Jal && writes(it) >= 0 && map[(it.off + it.len) >> 1] >= 0) returns.add(it.off + it.len);
    }
  }
  const cases = segments(region);
  const f = new Body();
  for (const q of used) f.i32(0).mem(W.I32Load, 2, slot + 4 * q).set(X0 + q);
  f.i32(0).mem(W.I32Load, 2, slot + 4 * HartSlot.DATA_CTX).set(CX);
  f.open(W.Block, 'exit').open(W.Loop, 'out');
  for (let p = cases.length - 1; p >= 0; p--) f.open(W.Block, `c${cases[p].idx}`);
  // the dispatch: entry idx → its block (innermost is position 0)
  const pos = new Map<number, number>(cases.map((c, p) => [c.idx, p]));
  const n = Math.max(...cases.map((c) => c.idx)) + 1;
  f.get(S).op(W.BrTable).uleb(n);
  for (let i = 0; i < n; i++) f.uleb(pos.has(i) ? pos.get(i)! : cases.length + 1);
  f.uleb(cases.length + 1); // default: leave (unreachable: every entry is a case)
  for (const c of cases) {
    f.end();
    segment(f, c.run, c.k0, c.k1, c.idx, map, c.loop, tlbMask, slot, returns);
  }
  // (unreachable: the last case's code ends with a jump)
  f.i32(0).set(NPC).br('exit');
  f.end().end();
  for (const q of written) f.i32(0).get(X0 + q).mem(W.I32Store, 2, slot + 4 * q);
  f.i32(0).get(LEFT).get(BACK).op(W.I32Add).mem(W.I32Store, 2, slot + 4 * HartSlot.JIT_LEFT);
  f.get(PC0).get(NPC).op(W.I32Add);
  return f;
}

/** Emits instructions [k0, k1) of a run as case `idx` (jit.ts emitSegment, in WebAssembly). */
function segment(f: Body, run: Run, k0: number, k1: number, idx: number, map: Int16Array, loop: boolean, tlbMask: number,
  slot: number, returns: Set<number>): void {
  const n = k1 - k0;
  const start = run.insts[0].off;
  const leave = (npc: number): void => { f.i32(npc).set(NPC).br('exit'); };
  const goto = (target: number): void => {
    if (loop && target === start) { f.br('inner'); return; }
    const j = target >= 0 && target < 4096 ? map[target >> 1] : -1;
    if (j < 0) { leave(target); return; }
    if (f.has(`c${j}`)) { f.br(`c${j}`); return; } // a later case: straight there
    f.i32(j).set(S).br('out');
  };
  if (loop) f.open(W.Loop, 'inner');
  f.get(LEFT).i32(n).op(W.I32LtS).open(W.If, 'if');
  leave(run.insts[k0].off);
  f.end();
  f.get(LEFT).i32(n).op(W.I32Sub).set(LEFT);
  const reg = (q: number): void => { if (q === 0) f.i32(0); else f.get(X0 + q); };
  for (let k = 0; k < n; k++) {
    const it = run.insts[k0 + k];
    const c = it.word, imm = it.imm, op = c & 0xff, len = it.len;
    const rd = (c >> 8) & 63, rs1 = (c >> 14) & 31, rs2 = (c >> 19) & 31;
    const w = writes(it);
    const bin = (o: number): void => { if (w >= 0) { reg(rs1); reg(rs2); f.op(o).set(X0 + rd); } };
    const imm2 = (o: number, v = imm): void => { if (w >= 0) { reg(rs1); f.i32(v).op(o).set(X0 + rd); } };
    // The fast path does not apply: give back this instruction and the rest of the segment; the interpreter runs it.
    const slow = (): void => {
      f.open(W.If, 'if');
      f.i32(n - k).set(BACK);
      leave(it.off + 1);
      f.end();
    };
    switch (op) {
      case Op.ADDI: imm2(W.I32Add); break;
      case Op.SLTI: imm2(W.I32LtS); break;
      case Op.SLTIU: imm2(W.I32LtU); break;
      case Op.XORI: imm2(W.I32Xor); break;
      case Op.ORI: imm2(W.I32Or); break;
      case Op.ANDI: imm2(W.I32And); break;
      case Op.SLLI: imm2(W.I32Shl); break;
      case Op.SRLI: imm2(W.I32ShrU); break;
      case Op.SRAI: imm2(W.I32ShrS); break;
      case Op.ADD: bin(W.I32Add); break;
      case Op.SUB: bin(W.I32Sub); break;
      case Op.SLL: bin(W.I32Shl); break;
      case Op.SLT: bin(W.I32LtS); break;
      case Op.SLTU: bin(W.I32LtU); break;
      case Op.XOR: bin(W.I32Xor); break;
      case Op.SRL: bin(W.I32ShrU); break;
      case Op.SRA: bin(W.I32ShrS); break;
      case Op.OR: bin(W.I32Or); break;
      case Op.AND: bin(W.I32And); break;
      case Op.MUL: bin(W.I32Mul); break;
      case Op.MULH: case Op.MULHSU: case Op.MULHU:
        if (w < 0) break;
        reg(rs1); f.op(op === Op.MULHU ? W.I64ExtendI32U : W.I64ExtendI32S);
        reg(rs2); f.op(op === Op.MULH ? W.I64ExtendI32S : W.I64ExtendI32U);
        f.op(W.I64Mul, W.I64Const, 32, op === Op.MULHU ? W.I64ShrU : W.I64ShrS, W.I32WrapI64).set(X0 + rd);
        break;
      case Op.DIV: case Op.DIVU: case Op.REM: case Op.REMU: {
        if (w < 0) break;
        reg(rs1); f.set(A); reg(rs2); f.set(B);
        divRem(f, op, A, B); f.set(X0 + rd);
        break;
      }
      case Op.AUIPC: if (w >= 0) f.get(PC0).i32(it.off + imm).op(W.I32Add).set(X0 + rd); break;
      case Op.FENCE: f.op(0xfe, 0x03, 0x00); break; // atomic.fence
      case Op.LW: case Op.LH: case Op.LHU: case Op.LB: case Op.LBU:
      case Op.SW: case Op.SH: case Op.SB: {
        const store = op === Op.SW || op === Op.SH || op === Op.SB;
        const size = op === Op.LW || op === Op.SW ? 4 : op === Op.LB || op === Op.LBU || op === Op.SB ? 1 : 2;
        // a = rs1 + imm; t = TLB index * 4; slow path unless tag matches (and aligned)
        reg(rs1); f.i32(imm).op(W.I32Add).op(W.LocalTee).uleb(A);
        f.i32(10).op(W.I32ShrU).i32(tlbMask << 2).op(W.I32And).set(T);
        f.get(T).mem(W.I32Load, 2, slot + (store ? HartSlot.STORE_TAG : HartSlot.LOAD_TAG));
        f.get(A).i32(12).op(W.I32ShrU).get(CX).op(W.I32Or, W.I32Ne);
        if (size > 1) f.get(A).i32(size - 1).op(W.I32And, W.I32Or);
        slow();
        if (!store && w < 0) break; // a load into x0 only needs its fast-path check
        f.get(T).mem(W.I32Load, 2, slot + (store ? HartSlot.STORE_OFF : HartSlot.LOAD_OFF));
        f.get(A).i32(4095).op(W.I32And, W.I32Add);
        if (store) {
          reg(rs2);
          f.mem(size === 4 ? W.I32Store : size === 2 ? W.I32Store16 : W.I32Store8, size === 4 ? 2 : size === 2 ? 1 : 0, 0);
        } else {
          const lop = op === Op.LW ? W.I32Load : op === Op.LH ? W.I32Load16S : op === Op.LHU ? W.I32Load16U : op === Op.LB ? W.I32Load8S : W.I32Load8U;
          f.mem(lop, size === 4 ? 2 : size === 2 ? 1 : 0, 0).set(X0 + rd);
        }
        break;
      }
      case Op.BEQ: case Op.BNE: case Op.BLT: case Op.BGE: case Op.BLTU: case Op.BGEU:
        reg(rs1); reg(rs2);
        f.op(op === Op.BEQ ? W.I32Eq : op === Op.BNE ? W.I32Ne : op === Op.BLT ? W.I32LtS : op === Op.BGE ? W.I32GeS : op === Op.BLTU ? W.I32LtU : W.I32GeU);
        f.open(W.If, 'if');
        goto(it.off + imm);
        f.end();
        goto(it.off + len);
        break;
      case Op.JAL:
        if (w >= 0) f.get(PC0).i32(it.off + len).op(W.I32Add).set(X0 + rd);
        goto(it.off + imm);
        break;
      case Op.JALR: {
        // The target before the link is written (rd may be rs1); a return to a call's return point in this region
        // stays inside, anything else goes back to the run loop.
        reg(rs1); f.i32(imm).op(W.I32Add).i32(-2).op(W.I32And).get(PC0).op(W.I32Sub).set(A);
        if (w >= 0) f.get(PC0).i32(it.off + len).op(W.I32Add).set(X0 + rd);
        for (const r of returns) {
          f.get(A).i32(r).op(W.I32Eq).open(W.If, 'if');
          goto(r);
          f.end();
        }
        f.get(A).set(NPC).br('exit');
        break;
      }
      default:
        throw new Error(`translator: op ${op} cannot be translated`);
    }
  }
  const last = run.insts[k1 - 1];
  if (last.kind <= Kind.Memory && (loop || k1 === run.insts.length)) goto(last.off + last.len);
  if (loop) f.end();
}


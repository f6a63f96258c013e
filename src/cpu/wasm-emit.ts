/**
 * A small WebAssembly emitter shared by the translator's back end (jit-wasm.ts) and the interpreter in WebAssembly
 * (interp-wasm.ts): opcodes, a function body with named labels, and a one-function module over the guest memory.
 */
import { Op } from './decode.js';

export const enum W {
  Unreachable = 0x00, Block = 0x02, Loop = 0x03, If = 0x04, Else = 0x05, End = 0x0b, Br = 0x0c, BrIf = 0x0d, BrTable = 0x0e,
  Return = 0x0f,
  Call = 0x10,
  LocalGet = 0x20, LocalSet = 0x21, LocalTee = 0x22,
  I32Load = 0x28, I64Load = 0x29, I32Load8S = 0x2c, I32Load8U = 0x2d, I32Load16S = 0x2e, I32Load16U = 0x2f,
  I32Store = 0x36, I32Store8 = 0x3a, I32Store16 = 0x3b,
  I32Const = 0x41, I64Const = 0x42,
  I32Eqz = 0x45, I32Eq = 0x46, I32Ne = 0x47, I32LtS = 0x48, I32LtU = 0x49, I32GtS = 0x4a, I32GtU = 0x4b, I32LeS = 0x4c,
  I32GeS = 0x4e, I32GeU = 0x4f,
  I32Add = 0x6a, I32Sub = 0x6b, I32Mul = 0x6c, I32DivS = 0x6d, I32DivU = 0x6e, I32RemS = 0x6f, I32RemU = 0x70,
  I32And = 0x71, I32Or = 0x72, I32Xor = 0x73, I32Shl = 0x74, I32ShrS = 0x75, I32ShrU = 0x76,
  I64Ne = 0x52, I64Mul = 0x7e, I64ShrS = 0x87, I64ShrU = 0x88, I32WrapI64 = 0xa7, I64ExtendI32S = 0xac, I64ExtendI32U = 0xad,
  Void = 0x40, I32 = 0x7f,
}

/** Byte code of one function body, with a stack of labels for branch depths. */
export class Body {
  readonly b: number[] = [];
  private readonly labels: string[] = [];
  op(...bytes: number[]): this { for (const x of bytes) this.b.push(x); return this; }
  uleb(v: number): this { return this.op(...leb(v)); }
  sleb(v: number): this {
    v |= 0;
    for (;;) {
      const byte = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) { this.b.push(byte); return this; }
      this.b.push(byte | 0x80);
    }
  }
  get(l: number): this { return this.op(W.LocalGet).uleb(l); }
  set(l: number): this { return this.op(W.LocalSet).uleb(l); }
  i32(v: number): this { return this.op(W.I32Const).sleb(v); }
  /** A load or store at a fixed address (offset immediate) or address-on-stack plus `offset`. */
  mem(op: number, align: number, offset: number): this { return this.op(op).uleb(align).uleb(offset); }
  open(kind: W.Block | W.Loop | W.If, label: string, type: number = W.Void): this { this.labels.push(label); return this.op(kind, type); }
  end(): this { this.labels.pop(); return this.op(W.End); }
  has(label: string): boolean { return this.labels.includes(label); }
  depth(label: string): number {
    const k = this.labels.lastIndexOf(label);
    if (k < 0) throw new Error(`wasm back end: no label ${label}`);
    return this.labels.length - 1 - k;
  }
  br(label: string): this { return this.op(W.Br).uleb(this.depth(label)); }
}

/** RV32 DIV, DIVU, REM or REMU (`op`) of locals `a` and `b`, its result left on the stack. */
export function divRem(f: Body, op: number, a: number, b: number): void {
  const rem = op === Op.REM || op === Op.REMU, signed = op === Op.DIV || op === Op.REM;
  // b = 0: -1 (DIV, DIVU) or a (REM, REMU); -2^31 / -1: -2^31 (DIV); wasm's rem_s gives 0 there itself.
  f.get(b).op(W.I32Eqz).open(W.If, 'if', W.I32);
  if (rem) f.get(a); else f.i32(-1);
  f.op(W.Else);
  if (op === Op.DIV) {
    f.get(a).i32(-2147483648).op(W.I32Eq).get(b).i32(-1).op(W.I32Eq, W.I32And).open(W.If, 'if', W.I32);
    f.get(a).op(W.Else).get(a).get(b).op(W.I32DivS).end();
  } else {
    f.get(a).get(b).op(rem ? (signed ? W.I32RemS : W.I32RemU) : W.I32DivU);
  }
  f.end();
}

/** A module importing a shared memory "e"."m" (and, with `importFn`, a function "e".`importFn`: (i32) -> i32, which
 *  the body calls as function 0) and exporting `f: (i32 x params) -> i32` with this body and `locals` more i32
 *  locals. */
export function moduleBytes(params: number, locals: number, body: Body, importFn?: string): Uint8Array {
  // (Loops, not spreads: V8 spent ~60 ms optimizing the spread version, in each thread that compiles regions.)
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const put = (bytes: readonly number[]): void => { for (let k = 0; k < bytes.length; k++) out.push(bytes[k]); };
  const section = (id: number, content: readonly number[]): void => { out.push(id); put(leb(content.length)); put(content); };
  const type = [importFn === undefined ? 1 : 2, 0x60, params];
  for (let k = 0; k < params; k++) type.push(W.I32);
  type.push(1, W.I32);
  if (importFn !== undefined) type.push(0x60, 1, W.I32, 1, W.I32); // type 1: (i32) -> i32
  section(1, type);
  const imports = [importFn === undefined ? 1 : 2];
  if (importFn !== undefined) {
    imports.push(1, 0x65, importFn.length);
    for (let k = 0; k < importFn.length; k++) imports.push(importFn.charCodeAt(k));
    imports.push(0x00, 1); // a function of type 1
  }
  for (let k = 0; k < MEMORY_IMPORT.length; k++) imports.push(MEMORY_IMPORT[k]);
  section(2, imports);
  section(3, [1, 0]);
  section(7, [1, 1, 0x66, 0x00, importFn === undefined ? 0 : 1]);
  const fn = [1];
  for (const x of leb(locals)) fn.push(x);
  fn.push(W.I32);
  for (let k = 0; k < body.b.length; k++) fn.push(body.b[k]);
  fn.push(W.End);
  const code = [1];
  for (const x of leb(fn.length)) code.push(x);
  for (let k = 0; k < fn.length; k++) code.push(fn[k]);
  section(10, code);
  return Uint8Array.from(out);
}

/** The import of "e"."m": a shared memory, min 0, max 65536 pages (any guest memory fits). */
const MEMORY_IMPORT = [1, 0x65, 1, 0x6d, 0x02, 0x03, 0, 0x80, 0x80, 0x04];

/** Unsigned LEB128. */
function leb(v: number): number[] {
  const r: number[] = [];
  v >>>= 0;
  do { let byte = v & 0x7f; v >>>= 7; if (v !== 0) byte |= 0x80; r.push(byte); } while (v !== 0);
  return r;
}


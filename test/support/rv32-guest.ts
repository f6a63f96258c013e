/**
 * Test support: tiny hand-encoded RV32I guests that talk HTIF, as ELF images. Enough instructions to print a
 * string, exit with a code or spin forever; no assembler needed.
 */
import { buildElf } from './elf-builder.js';

export const CODE_BASE = 0x80000000;
export const TOHOST = 0x80001000;
export const FROMHOST = 0x80001040;

const T0 = 5, T1 = 6, T2 = 7, T3 = 28;

const addi = (rd: number, rs1: number, imm: number) => ((imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
const lui = (rd: number, imm20: number) => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37;
const sw = (rs2: number, off: number, rs1: number) =>
  (((off >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | ((off & 0x1f) << 7) | 0x23;
const lw = (rd: number, off: number, rs1: number) => ((off & 0xfff) << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x03;
const bne = (rs1: number, rs2: number, off: number) => {
  const i = off & 0x1fff;
  return (((i >> 12) & 1) << 31) | (((i >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (1 << 12) |
    (((i >> 1) & 0xf) << 8) | (((i >> 11) & 1) << 7) | 0x63;
};
const jal = (rd: number, off: number) => {
  const i = off & 0x1fffff;
  return (((i >> 20) & 1) << 31) | (((i >> 1) & 0x3ff) << 21) | (((i >> 11) & 1) << 20) | (((i >> 12) & 0xff) << 12) | (rd << 7) | 0x6f;
};

function words(list: number[]): Uint8Array {
  const out = new Uint8Array(list.length * 4);
  const dv = new DataView(out.buffer);
  list.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return out;
}

function image(code: number[]): Uint8Array {
  return buildElf({
    entry: CODE_BASE,
    segments: [
      { paddr: CODE_BASE, data: words(code), flags: 5 },
      { paddr: TOHOST, data: new Uint8Array(0), memsz: 0x80, flags: 6 }, // tohost + fromhost, in bss
    ],
    symbols: [
      { name: 'tohost', value: TOHOST, global: true },
      { name: 'fromhost', value: FROMHOST, global: true },
      { name: '_start', value: CODE_BASE, global: true },
    ],
  }).bytes;
}

/** A guest that writes `text` (ASCII) through the HTIF console, then exits with `exitCode` (0..1023). */
export function printAndExitGuest(text: string, exitCode: number): Uint8Array {
  const code = [lui(T0, TOHOST >>> 12)];
  for (const ch of text) {
    code.push(
      addi(T1, 0, ch.charCodeAt(0)),
      lui(T2, 0x01010), // device 1, command 1
      sw(T1, 0, T0),
      sw(T2, 4, T0),
      lw(T3, 0, T0), // wait until the host has cleared tohost
      bne(T3, 0, -4),
    );
  }
  code.push(addi(T1, 0, (exitCode << 1) | 1), sw(T1, 0, T0), sw(0, 4, T0), jal(0, -8));
  return image(code);
}

/** A guest that spins forever (it has tohost but never writes it). */
export function spinGuest(): Uint8Array {
  return image([jal(0, 0)]);
}

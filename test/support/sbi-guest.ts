/**
 * Test support: tiny hand-encoded S-mode guests that talk SBI, as flat images (hartvisor boots a flat image in
 * S-mode at RAM + 4 MiB). All code is position-independent. Enough to print, echo console input, shut down with
 * a reason, stop the only hart, or spin.
 */

const A0 = 10, A1 = 11, A6 = 16, A7 = 17, T0 = 5;

const SBI_LEGACY_PUTCHAR = 1;
const SBI_LEGACY_GETCHAR = 2;
const SBI_EXT_SRST = 0x53525354;
const SBI_EXT_HSM = 0x48534d;
const HSM_HART_STOP = 1;

const addi = (rd: number, rs1: number, imm: number) => ((imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
const lui = (rd: number, imm20: number) => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37;
const ECALL = 0x00000073;
const branch = (funct3: number, rs1: number, rs2: number, off: number) => {
  const i = off & 0x1fff;
  return (((i >> 12) & 1) << 31) | (((i >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) |
    (((i >> 1) & 0xf) << 8) | (((i >> 11) & 1) << 7) | 0x63;
};
const beq = (rs1: number, rs2: number, off: number) => branch(0, rs1, rs2, off);
const blt = (rs1: number, rs2: number, off: number) => branch(4, rs1, rs2, off);
const jal = (rd: number, off: number) => {
  const i = off & 0x1fffff;
  return (((i >> 20) & 1) << 31) | (((i >> 1) & 0x3ff) << 21) | (((i >> 11) & 1) << 20) | (((i >> 12) & 0xff) << 12) | (rd << 7) | 0x6f;
};

/** `li rd, value` for any 32-bit value (lui + addi). */
function li(rd: number, value: number): number[] {
  const lo = ((value & 0xfff) << 20) >> 20; // sign-extended low 12 bits
  const hi = ((value - lo) >>> 12) & 0xfffff;
  return hi === 0 ? [addi(rd, 0, lo)] : [lui(rd, hi), addi(rd, rd, lo)];
}

function flat(code: number[]): Uint8Array {
  const out = new Uint8Array(code.length * 4);
  const dv = new DataView(out.buffer);
  code.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return out;
}

/** SBI SRST system shutdown with `reason` (0 = none, 1 = system failure); spins if the call returns. */
function shutdown(reason: number): number[] {
  return [...li(A7, SBI_EXT_SRST), addi(A6, 0, 0), addi(A0, 0, 0), addi(A1, 0, reason), ECALL, jal(0, 0)];
}

function print(text: string): number[] {
  const code: number[] = [];
  for (const ch of text) code.push(addi(A0, 0, ch.charCodeAt(0)), addi(A7, 0, SBI_LEGACY_PUTCHAR), ECALL);
  return code;
}

/** Prints `text` (ASCII) with SBI legacy putchar, then shuts down with `reason`. */
export function printAndShutdownGuest(text: string, reason = 0): Uint8Array {
  return flat([...print(text), ...shutdown(reason)]);
}

/**
 * Echoes console input (SBI legacy getchar/putchar) until it reads `q`, then shuts down with reason 0; `f`
 * shuts down with reason 1 (system failure).
 */
export function echoGuest(): Uint8Array {
  const LOOP_WORDS = 11;
  const shutdown0 = LOOP_WORDS * 4; // where shutdown(0) starts
  const shutdown1 = shutdown0 + shutdown(0).length * 4; // and shutdown(1)
  const loop = [
    addi(A7, 0, SBI_LEGACY_GETCHAR), // 0
    ECALL, //                           4
    blt(A0, 0, -8), //                  8: nothing yet: ask again
    addi(T0, 0, 'q'.charCodeAt(0)), // 12
    beq(A0, T0, shutdown0 - 16), //    16
    addi(T0, 0, 'f'.charCodeAt(0)), // 20
    beq(A0, T0, shutdown1 - 24), //    24
    addi(A7, 0, SBI_LEGACY_PUTCHAR), // 28
    ECALL, //                           32
    jal(0, -36), //                     36: -> 0
    jal(0, 0), //                       40: (padding, never run)
  ];
  if (loop.length !== LOOP_WORDS) throw new Error('echoGuest: loop length changed');
  return flat([...loop, ...shutdown(0), ...shutdown(1)]);
}

/** Prints `text`, then stops its own hart with SBI HSM hart_stop: no hart is left to run. */
export function stopOnlyHartGuest(text: string): Uint8Array {
  return flat([...print(text), ...li(A7, SBI_EXT_HSM), addi(A6, 0, HSM_HART_STOP), ECALL, jal(0, 0)]);
}

/** Spins forever in S-mode. */
export function spinSmodeGuest(): Uint8Array {
  return flat([jal(0, 0)]);
}

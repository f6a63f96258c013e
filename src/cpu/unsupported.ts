/**
 * Names the standard RISC-V instructions and CSRs this engine does not implement (it is RV32IMAC + Zicsr,
 * Zifencei, Zihintpause, Sv32), from their encodings in the unprivileged and privileged specifications.
 *
 * Why: on hardware such an instruction raises an illegal-instruction exception like any reserved encoding, and the
 * engine does the same. But a guest kernel that executes one was built for a machine we are not, and the user
 * should be told what it needed, instead of watching the kernel die of an illegal instruction somewhere. Encodings
 * that belong to no extension (or that the engine refuses for privilege reasons) get null: they are the guest's own
 * bugs or deliberate probes, and trap as the architecture says.
 */

/** The extension an unimplemented instruction (32-bit word, or 16-bit parcel) belongs to, or null. */
export function unsupportedInstruction(inst: number): string | null {
  inst >>>= 0;
  if ((inst & 3) !== 3) return compressed(inst & 0xffff);
  const op = inst & 0x7f, f3 = (inst >>> 12) & 7, f7 = inst >>> 25, rs2 = (inst >>> 20) & 31;
  switch (op) {
    case 0x07: return f3 >= 1 && f3 <= 4 ? 'floating-point load (F/D/Q/Zfh extension)' : 'vector load (V extension)';
    case 0x27: return f3 >= 1 && f3 <= 4 ? 'floating-point store (F/D/Q/Zfh extension)' : 'vector store (V extension)';
    case 0x43: case 0x47: case 0x4b: case 0x4f: return 'floating-point fused multiply-add (F/D extension)';
    case 0x53: return 'floating-point operation (F/D extension)';
    case 0x57: return 'vector operation (V extension)';
    case 0x0b: case 0x2b: case 0x5b: case 0x7b: return 'custom (vendor-specific) instruction';
    case 0x1b: case 0x3b: return 'RV64-only instruction (this is an RV32 machine)';
    case 0x2f: {
      if (f3 === 3) return '64-bit atomic (RV64A; this is an RV32 machine)';
      if (f3 === 0 || f3 === 1) return 'byte/halfword atomic (Zabha extension)';
      if (f3 === 2 && inst >>> 27 === 0x05) return 'compare-and-swap (Zacas extension)';
      return null;
    }
    case 0x33:
      if (f7 === 0x20 && (f3 === 4 || f3 === 6 || f3 === 7)) return 'bit manipulation (Zbb extension: xnor/orn/andn)';
      if (f7 === 0x05) return f3 >= 4 ? 'bit manipulation (Zbb extension: min/max)' : 'carry-less multiply (Zbc extension)';
      if (f7 === 0x30 && (f3 === 1 || f3 === 5)) return 'bit manipulation (Zbb extension: rol/ror)';
      if (f7 === 0x10 && (f3 === 2 || f3 === 4 || f3 === 6)) return 'address generation (Zba extension: shNadd)';
      if ((f7 === 0x14 || f7 === 0x24 || f7 === 0x34) && (f3 === 1 || f3 === 5)) return 'single-bit operation (Zbs extension)';
      if (f7 === 0x04 && f3 === 4 && rs2 === 0) return 'bit manipulation (Zbb extension: zext.h)';
      if (f7 === 0x07 && (f3 === 5 || f3 === 7)) return 'conditional zero (Zicond extension)';
      return null;
    case 0x13:
      if (f3 === 1 && f7 === 0x30) return 'bit manipulation (Zbb extension: clz/ctz/cpop/sext)';
      if (f3 === 5 && (f7 === 0x30 || f7 === 0x34 || (f7 === 0x14 && rs2 === 7))) return 'bit manipulation (Zbb extension: rori/rev8/orc.b)';
      if ((f3 === 1 || f3 === 5) && (f7 === 0x14 || f7 === 0x24 || f7 === 0x34)) return 'single-bit operation (Zbs extension)';
      if ((f3 === 1 || f3 === 5) && f7 === 0x04) return 'bit manipulation for cryptography (Zbkb extension: zip/unzip)';
      return null;
    case 0x0f: return f3 === 2 ? 'cache-block operation (Zicbom/Zicboz extension)' : null;
    case 0x73: {
      if (f3 === 0) {
        if (f7 === 0x11 || f7 === 0x31) return 'hypervisor fence (H extension)';
        if (f7 === 0x0b || (f7 === 0x0c && (rs2 === 0 || rs2 === 1))) return 'fine-grained TLB invalidation (Svinval extension)';
        if (inst === 0x00d00073 || inst === 0x01d00073) return 'wait-on-reservation-set (Zawrs extension)';
        return null;
      }
      if (f3 === 4) return f7 >= 0x30 && f7 <= 0x3b ? 'hypervisor virtual-machine load/store (H extension)' : null;
      return unsupportedCsr(inst >>> 20);
    }
  }
  return null;
}

/** The extension an unimplemented standard CSR belongs to, or null. */
export function unsupportedCsr(csr: number): string | null {
  if (csr >= 0x001 && csr <= 0x003) return 'floating-point CSR (F extension)';
  if ((csr >= 0x008 && csr <= 0x00a) || csr === 0x00f || (csr >= 0xc20 && csr <= 0xc22)) return 'vector CSR (V extension)';
  if (csr === 0x015) return 'entropy source CSR seed (Zkr extension)';
  if (csr === 0x14d || csr === 0x15d) return 'supervisor timer compare CSR stimecmp (Sstc extension)';
  if (csr === 0x150 || csr === 0x151 || csr === 0x15c || csr === 0xdb0) return 'advanced interrupt CSR (Ssaia extension)';
  if (csr === 0xda0) return 'counter overflow CSR scountovf (Sscofpmf extension)';
  if ((csr >= 0x600 && csr <= 0x6ff) || (csr >= 0x200 && csr <= 0x2ff) || csr === 0xe12) return 'hypervisor CSR (H extension)';
  return null;
}

function compressed(p: number): string | null {
  const q = p & 3, f3 = p >>> 13;
  if (q === 0 && (f3 === 1 || f3 === 5)) return 'compressed double-precision load/store (D extension)';
  if (q === 0 && (f3 === 3 || f3 === 7)) return 'compressed single-precision load/store (F extension)';
  if (q === 0 && f3 === 4) return 'compressed byte/halfword operation (Zcb extension)';
  if (q === 2 && (f3 === 1 || f3 === 5)) return 'compressed double-precision stack load/store (D extension)';
  if (q === 2 && (f3 === 3 || f3 === 7)) return 'compressed single-precision stack load/store (F extension)';
  if (q === 1 && f3 === 4 && ((p >>> 10) & 7) === 7) return 'compressed bit manipulation (Zcb extension)';
  return null;
}

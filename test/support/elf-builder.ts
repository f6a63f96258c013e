/**
 * Test support: builds small ELF32 RISC-V executables byte by byte, with the layout reported back so tests can
 * damage exactly one field. Layout: ELF header | program headers | segment data | .strtab | .symtab | .shstrtab |
 * section headers (null, .symtab, .strtab, .shstrtab).
 */

export interface SegmentSpec {
  paddr: number;
  data: Uint8Array;
  /** Default: data.length. */
  memsz?: number;
  /** Default: paddr. */
  vaddr?: number;
  /** p_flags, default R|X. */
  flags?: number;
  /** p_type, default PT_LOAD (1). */
  type?: number;
}

export interface SymbolSpec {
  name: string;
  value: number;
  /** STB_GLOBAL when true, else STB_LOCAL. */
  global?: boolean;
  /** st_shndx, default 1 (defined). 0 = undefined. */
  shndx?: number;
  /** STT_*, default 0 (NOTYPE). */
  type?: number;
}

export interface ElfSpec {
  entry?: number;
  segments: SegmentSpec[];
  symbols?: SymbolSpec[];
  /** Leave out the section header table (a stripped image). */
  noSections?: boolean;
}

export interface ElfLayout {
  phoff: number;
  shoff: number;
  segmentOffsets: number[];
  symtabOff: number;
  strtabOff: number;
  /** Offset of section header i is shoff + 40 * i; the symtab is section 1, its strtab section 2. */
  shnum: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export function buildElf(spec: ElfSpec): { bytes: Uint8Array; layout: ElfLayout } {
  const phoff = 52;
  let off = phoff + 32 * spec.segments.length;
  const segmentOffsets: number[] = [];
  for (const s of spec.segments) {
    off = align(off, 4);
    segmentOffsets.push(off);
    off += s.data.length;
  }

  const symbols = spec.symbols ?? [];
  const strParts: number[] = [0];
  const nameOffsets = symbols.map((s) => {
    const at = strParts.length;
    for (const ch of new TextEncoder().encode(s.name)) strParts.push(ch);
    strParts.push(0);
    return at;
  });
  const strtab = Uint8Array.from(strParts);
  const strtabOff = off;
  off += strtab.length;
  off = align(off, 4);
  const symtabOff = off;
  const symtabSize = 16 * (symbols.length + 1);
  off += symtabSize;
  const shstr = new TextEncoder().encode('\0.symtab\0.strtab\0.shstrtab\0');
  const shstrOff = off;
  off += shstr.length;
  off = align(off, 4);
  const shoff = spec.noSections ? 0 : off;
  const shnum = spec.noSections ? 0 : 4;
  const total = off + 40 * shnum;

  const bytes = new Uint8Array(total);
  const dv = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 243, true); // EM_RISCV
  dv.setUint32(20, 1, true);
  dv.setUint32(24, spec.entry ?? spec.segments[0]?.paddr ?? 0, true);
  dv.setUint32(28, phoff, true);
  dv.setUint32(32, shoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, spec.segments.length, true);
  dv.setUint16(46, 40, true);
  dv.setUint16(48, shnum, true);
  dv.setUint16(50, spec.noSections ? 0 : 3, true);

  spec.segments.forEach((s, i) => {
    const ph = phoff + 32 * i;
    dv.setUint32(ph, s.type ?? 1, true);
    dv.setUint32(ph + 4, segmentOffsets[i], true);
    dv.setUint32(ph + 8, s.vaddr ?? s.paddr, true);
    dv.setUint32(ph + 12, s.paddr, true);
    dv.setUint32(ph + 16, s.data.length, true);
    dv.setUint32(ph + 20, s.memsz ?? s.data.length, true);
    dv.setUint32(ph + 24, s.flags ?? 5, true);
    dv.setUint32(ph + 28, 4, true);
    bytes.set(s.data, segmentOffsets[i]);
  });

  bytes.set(strtab, strtabOff);
  symbols.forEach((s, i) => {
    const e = symtabOff + 16 * (i + 1);
    dv.setUint32(e, nameOffsets[i], true);
    dv.setUint32(e + 4, s.value, true);
    bytes[e + 12] = ((s.global ? 1 : 0) << 4) | (s.type ?? 0);
    dv.setUint16(e + 14, s.shndx ?? 1, true);
  });
  bytes.set(shstr, shstrOff);

  if (!spec.noSections) {
    const sh = (i: number, name: number, type: number, offset: number, size: number, link: number, entsize: number) => {
      const b = shoff + 40 * i;
      dv.setUint32(b, name, true);
      dv.setUint32(b + 4, type, true);
      dv.setUint32(b + 16, offset, true);
      dv.setUint32(b + 20, size, true);
      dv.setUint32(b + 24, link, true);
      dv.setUint32(b + 36, entsize, true);
    };
    sh(1, 1, 2, symtabOff, symtabSize, 2, 16); // .symtab → .strtab
    sh(2, 9, 3, strtabOff, strtab.length, 0, 0); // .strtab
    sh(3, 17, 3, shstrOff, shstr.length, 0, 0); // .shstrtab
  }
  return { bytes, layout: { phoff, shoff, segmentOffsets, symtabOff, strtabOff, shnum } };
}

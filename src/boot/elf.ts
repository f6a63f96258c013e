/**
 * ELF32 reader for RISC-V executables: the header, the loadable segments and the symbol table, nothing more.
 *
 * Field offsets follow the System V ABI (ELF32, little-endian) and the RISC-V ELF psABI (EM_RISCV = 243).
 * The parser only reads the bytes it is given: it never touches guest memory (`image.ts` places the segments)
 * and it checks every offset and size before use, so a hostile or damaged file ends in an `ImageError`, never in
 * a RangeError or an out-of-bounds read.
 */
import { ImageError, hex } from './image-error.js';

/** e_machine of RISC-V. */
export const EM_RISCV = 243;

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46]; // "\x7fELF"
const EHDR_SIZE = 52;
const PHDR_SIZE = 32;
const SHDR_SIZE = 40;
const SYM_SIZE = 16;

const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFDATA2MSB = 2;
const EV_CURRENT = 1;
const ET_EXEC = 2;

const PT_LOAD = 1;
const PT_INTERP = 3;
const PN_XNUM = 0xffff;

const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHN_UNDEF = 0;

const STB_LOCAL = 0;
const STT_SECTION = 3;
const STT_FILE = 4;

/** Segment permission bits (p_flags). */
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

const ET_NAMES: Record<number, string> = { 0: 'NONE', 1: 'REL (an object file, not linked)', 3: 'DYN (position-independent or shared)', 4: 'CORE (a core dump)' };
const EM_NAMES: Record<number, string> = { 3: 'x86', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 40: 'ARM', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V', 258: 'LoongArch' };

/** One PT_LOAD segment: `filesz` bytes of `data` go to `paddr`, then zeros up to `memsz` (the bss). */
export interface ElfSegment {
  /** Guest-physical load address (p_paddr), unsigned. */
  readonly paddr: number;
  /** Virtual address (p_vaddr), unsigned; informational for bare-metal images. */
  readonly vaddr: number;
  readonly filesz: number;
  readonly memsz: number;
  /** PF_R | PF_W | PF_X bits. */
  readonly flags: number;
  /** The file bytes of the segment (a view into the input, `filesz` long). */
  readonly data: Uint8Array;
}

/** A parsed ELF32 RISC-V executable. */
export interface ElfImage {
  /** e_entry, unsigned. */
  readonly entry: number;
  /** e_flags (RISC-V: float ABI, RVC, RVE bits). */
  readonly flags: number;
  /** PT_LOAD segments with a non-zero memsz, sorted by paddr, pairwise disjoint. */
  readonly segments: readonly ElfSegment[];
  /**
   * Symbol name → value (unsigned), from the first SHT_SYMTAB. A global or weak definition wins over a local one
   * of the same name; among equals the first wins. Undefined, section and file symbols are left out. Empty when the
   * file has no symbol table (a stripped image).
   */
  readonly symbols: ReadonlyMap<string, number>;
}

/** True when `bytes` begins with the ELF magic (any class or machine). */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Parses an ELF32 little-endian RISC-V executable.
 * @throws ImageError for anything that is not a well-formed one, with a one-line message.
 */
export function parseElf(bytes: Uint8Array): ElfImage {
  if (bytes.length === 0) throw new ImageError('empty', 'image is empty');
  if (!isElf(bytes)) throw new ImageError('bad-header', 'not an ELF file (no ELF magic)');
  if (bytes.length < 16) throw new ImageError('truncated', `truncated ELF: ${bytes.length} bytes, shorter than the ELF identification`);

  const cls = bytes[4];
  const data = bytes[5];
  if (data === ELFDATA2MSB) throw new ImageError('wrong-endian', 'big-endian ELF: RISC-V images are little-endian');
  if (data !== ELFDATA2LSB) throw new ImageError('bad-header', `unknown ELF data encoding ${data}`);
  if (cls === ELFCLASS64) {
    const machine = bytes.length >= 20 ? bytes[18] | (bytes[19] << 8) : -1;
    const what = machine === EM_RISCV ? 'RV64 (ELF64) image' : `ELF64 image for ${machineName(machine)}`;
    throw new ImageError('not-elf32', `${what}: hartvisor runs 32-bit RISC-V (RV32, ELFCLASS32) images only`);
  }
  if (cls !== ELFCLASS32) throw new ImageError('not-elf32', `unknown ELF class ${cls}: expected ELFCLASS32 (1)`);
  if (bytes[6] !== EV_CURRENT) throw new ImageError('bad-version', `unknown ELF identification version ${bytes[6]}, expected 1`);
  if (bytes.length < EHDR_SIZE) throw new ImageError('truncated', `truncated ELF: ${bytes.length} bytes, shorter than the ${EHDR_SIZE}-byte ELF32 header`);

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (off: number) => dv.getUint16(off, true);
  const u32 = (off: number) => dv.getUint32(off, true);

  const type = u16(16);
  const machine = u16(18);
  if (machine !== EM_RISCV) throw new ImageError('wrong-machine', `not a RISC-V image: ELF32 for ${machineName(machine)}, expected machine ${EM_RISCV} (RISC-V)`);
  if (type !== ET_EXEC) throw new ImageError('wrong-type', `not an executable: ELF type ${ET_NAMES[type] ?? type}, expected EXEC`);
  if (u32(20) !== EV_CURRENT) throw new ImageError('bad-version', `unknown ELF version ${u32(20)}, expected 1`);

  const entry = u32(24);
  const phoff = u32(28);
  const shoff = u32(32);
  const flags = u32(36);
  const ehsize = u16(40);
  const phentsize = u16(42);
  let phnum = u16(44);
  const shentsize = u16(46);
  let shnum = u16(48);
  if (ehsize < EHDR_SIZE) throw new ImageError('bad-header', `ELF header size ${ehsize} is smaller than ${EHDR_SIZE}`);

  // Section headers first: extended numbering keeps the real counts in section 0.
  if (shoff !== 0) {
    if (shentsize !== SHDR_SIZE) throw new ImageError('bad-header', `section header entry size ${shentsize}, expected ${SHDR_SIZE}`);
    checkRange(bytes, shoff, SHDR_SIZE, 'section header 0');
    if (shnum === 0) shnum = u32(shoff + 20);
    if (phnum === PN_XNUM) phnum = u32(shoff + 28);
    checkRange(bytes, shoff, shnum * SHDR_SIZE, `section header table (${shnum} entries)`);
  } else {
    shnum = 0;
    if (phnum === PN_XNUM) throw new ImageError('bad-header', 'extended program header count without section headers');
  }

  if (phnum === 0) throw new ImageError('no-segments', 'ELF has no program headers: nothing to load');
  if (phentsize !== PHDR_SIZE) throw new ImageError('bad-header', `program header entry size ${phentsize}, expected ${PHDR_SIZE}`);
  checkRange(bytes, phoff, phnum * PHDR_SIZE, `program header table (${phnum} entries)`);

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * PHDR_SIZE;
    const ptype = u32(ph);
    if (ptype === PT_INTERP) {
      throw new ImageError('wrong-type', 'dynamically linked program (it names an interpreter): hartvisor runs static bare-metal or kernel images');
    }
    if (ptype !== PT_LOAD) continue;
    const offset = u32(ph + 4);
    const vaddr = u32(ph + 8);
    const paddr = u32(ph + 12);
    const filesz = u32(ph + 16);
    const memsz = u32(ph + 20);
    const pflags = u32(ph + 24);
    if (filesz > memsz) throw new ImageError('bad-segment', `segment ${i} at ${hex(paddr)}: file size ${hex(filesz)} exceeds memory size ${hex(memsz)}`);
    if (paddr + memsz > 0x1_0000_0000) throw new ImageError('bad-segment', `segment ${i} at ${hex(paddr)} with size ${hex(memsz)} wraps past the 4 GiB address space`);
    if (memsz === 0) continue;
    checkRange(bytes, offset, filesz, `segment ${i} (${hex(paddr)})`);
    segments.push({ paddr, vaddr, filesz, memsz, flags: pflags, data: bytes.subarray(offset, offset + filesz) });
  }
  if (segments.length === 0) throw new ImageError('no-segments', 'ELF has no loadable (PT_LOAD) segments');
  segments.sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1];
    const cur = segments[i];
    if (prev.paddr + prev.memsz > cur.paddr) {
      throw new ImageError('overlap', `loadable segments overlap: ${span(prev.paddr, prev.memsz)} and ${span(cur.paddr, cur.memsz)}`);
    }
  }
  if (!segments.some((s) => entry >= s.paddr && entry < s.paddr + s.memsz)) {
    throw new ImageError('bad-entry', `entry point ${hex(entry)} is outside every loadable segment`);
  }

  const symbols = shnum > 0 ? readSymbols(bytes, dv, shoff, shnum) : new Map<string, number>();
  return { entry, flags, segments, symbols };
}

/** Reads the first SHT_SYMTAB and its linked string table. */
function readSymbols(bytes: Uint8Array, dv: DataView, shoff: number, shnum: number): Map<string, number> {
  const u32 = (off: number) => dv.getUint32(off, true);
  const symbols = new Map<string, number>();
  let sym = -1;
  for (let i = 0; i < shnum; i++) {
    if (u32(shoff + i * SHDR_SIZE + 4) === SHT_SYMTAB) { sym = i; break; }
  }
  if (sym < 0) return symbols;

  const sh = shoff + sym * SHDR_SIZE;
  const symOff = u32(sh + 16);
  const symSize = u32(sh + 20);
  const link = u32(sh + 24);
  const entsize = u32(sh + 36);
  if (entsize !== SYM_SIZE) throw new ImageError('bad-symtab', `symbol table entry size ${entsize}, expected ${SYM_SIZE}`);
  if (symSize % SYM_SIZE !== 0) throw new ImageError('bad-symtab', `symbol table size ${symSize} is not a multiple of ${SYM_SIZE}`);
  checkRange(bytes, symOff, symSize, 'symbol table');
  if (link === 0 || link >= shnum) throw new ImageError('bad-symtab', `symbol table links to section ${link}, which does not exist`);
  const st = shoff + link * SHDR_SIZE;
  if (u32(st + 4) !== SHT_STRTAB) throw new ImageError('bad-symtab', `symbol table links to section ${link}, which is not a string table`);
  const strOff = u32(st + 16);
  const strSize = u32(st + 20);
  checkRange(bytes, strOff, strSize, 'symbol string table');
  const strtab = bytes.subarray(strOff, strOff + strSize);
  const decoder = new TextDecoder('utf-8');
  const bound = new Set<string>(); // names already defined by a global or weak symbol

  for (let off = symOff + SYM_SIZE; off < symOff + symSize; off += SYM_SIZE) {
    // Entry 0 is the reserved null symbol.
    const nameOff = u32(off);
    const value = u32(off + 4);
    const info = bytes[off + 12];
    const shndx = dv.getUint16(off + 14, true);
    const kind = info & 0xf;
    if (nameOff === 0 || shndx === SHN_UNDEF || kind === STT_SECTION || kind === STT_FILE) continue;
    if (nameOff >= strSize) throw new ImageError('bad-symtab', `symbol name offset ${nameOff} is past the end of the string table (${strSize} bytes)`);
    const end = strtab.indexOf(0, nameOff);
    if (end < 0) throw new ImageError('bad-symtab', 'symbol string table is not NUL-terminated');
    const name = decoder.decode(strtab.subarray(nameOff, end));
    const global = info >> 4 !== STB_LOCAL;
    if (global) {
      if (!bound.has(name)) { symbols.set(name, value); bound.add(name); }
    } else if (!symbols.has(name)) {
      symbols.set(name, value);
    }
  }
  return symbols;
}

/** Throws a 'truncated' ImageError unless [off, off+len) lies inside the file. */
function checkRange(bytes: Uint8Array, off: number, len: number, what: string): void {
  if (off + len > bytes.length) {
    throw new ImageError('truncated', `truncated ELF: ${what} at file offset ${hex(off)} + ${hex(len)} runs past the end of the file (${bytes.length} bytes)`);
  }
}

function span(addr: number, size: number): string {
  return `${hex(addr)}-${hex(addr + size - 1)}`;
}

function machineName(machine: number): string {
  if (machine < 0) return 'an unknown machine';
  const name = EM_NAMES[machine];
  return name ? `${name} (machine ${machine})` : `machine ${machine}`;
}

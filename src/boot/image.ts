/**
 * Places a guest image in guest RAM: an ELF32 RISC-V executable (segments at their physical addresses, bss
 * zeroed) or a raw flat binary copied to one address. Everything is checked against RAM before a byte is
 * written, so a refused image leaves memory untouched.
 */
import type { GuestMemory } from '../cpu/memory.js';
import { RAM_BASE } from '../cpu/memory.js';
import { isElf, parseElf } from './elf.js';
import { ImageError, hex } from './image-error.js';

/** How to treat an image that is not ELF. */
export interface LoadImageOptions {
  /** Guest-physical address of a flat binary's first byte (and its entry point). Default: RAM base. */
  flatAddress?: number;
}

/** What the loader put where. */
export interface LoadedImage {
  readonly format: 'elf' | 'flat';
  /** Where the boot hart starts (ELF e_entry, or the flat address). Unsigned. */
  readonly entry: number;
  /** ELF symbols (name → value); empty for a flat binary or a stripped ELF. */
  readonly symbols: ReadonlyMap<string, number>;
  /** The guest-physical ranges written, [start, end) with end exclusive, sorted. */
  readonly regions: readonly { readonly start: number; readonly end: number }[];
}

/**
 * Loads `bytes` into `mem`. ELF is recognised by its magic; anything else is a flat binary.
 * @throws ImageError when the image is malformed or does not fit in guest RAM.
 */
export function loadImage(mem: GuestMemory, bytes: Uint8Array, opts: LoadImageOptions = {}): LoadedImage {
  if (bytes.length === 0) throw new ImageError('empty', 'image is empty');
  if (isElf(bytes)) {
    const elf = parseElf(bytes);
    for (const seg of elf.segments) checkFits(mem, seg.paddr, seg.memsz);
    for (const seg of elf.segments) {
      mem.write(seg.paddr, seg.data);
      if (seg.memsz > seg.filesz) {
        const off = seg.paddr - mem.base + seg.filesz;
        mem.u8.fill(0, off, off + (seg.memsz - seg.filesz));
      }
    }
    return {
      format: 'elf',
      entry: elf.entry,
      symbols: elf.symbols,
      regions: elf.segments.map((s) => ({ start: s.paddr, end: s.paddr + s.memsz })),
    };
  }
  const at = (opts.flatAddress ?? RAM_BASE) >>> 0;
  checkFits(mem, at, bytes.length);
  mem.write(at, bytes);
  return { format: 'flat', entry: at, symbols: new Map(), regions: [{ start: at, end: at + bytes.length }] };
}

function checkFits(mem: GuestMemory, start: number, size: number): void {
  if (size === 0 || mem.contains(start, size)) return;
  const ramEnd = mem.base + mem.size - 1;
  throw new ImageError(
    'does-not-fit',
    `image does not fit in guest RAM: segment ${hex(start)} - ${hex(start + size - 1)} outside ${hex(mem.base)}-${hex(ramEnd)} (${describeSize(mem.size)})`,
  );
}

/** "1 MiB", "4 KiB", "1536 bytes". */
export function describeSize(bytes: number): string {
  if (bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

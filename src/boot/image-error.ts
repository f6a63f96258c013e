/**
 * The one error type of image loading (ELF parsing, flat binaries, placement in guest RAM).
 *
 * Every malformed or unusable guest image ends in an `ImageError`: a stable `code` that callers and tests can
 * match on, and a one-line message meant for a person (the CLI prints it after the file name, with no stack).
 */

/** Why an image was refused. Stable strings: tests and callers match on them, never on the message. */
export type ImageErrorCode =
  | 'empty' // zero bytes
  | 'truncated' // a header, table or segment reaches past the end of the file
  | 'not-elf32' // ELF64 or an unknown ELF class
  | 'wrong-endian' // big-endian ELF
  | 'wrong-machine' // not EM_RISCV
  | 'wrong-type' // not ET_EXEC
  | 'bad-version' // e_ident[EI_VERSION] or e_version is not 1
  | 'bad-header' // impossible field values in the ELF header
  | 'bad-segment' // a program header that makes no sense (filesz > memsz, address wrap…)
  | 'overlap' // two loadable segments share guest-physical bytes
  | 'no-segments' // nothing to load
  | 'bad-entry' // the entry point is outside every loadable segment
  | 'bad-symtab' // a malformed symbol or string table
  | 'does-not-fit' // a segment lies (partly) outside guest RAM
  | 'bad-htif'; // the image's HTIF mailboxes (tohost/fromhost symbols) are unusable

/** A guest image that cannot be loaded. `message` is one line, without the file name. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** `0x80000000`-style hex for messages (lower case; negative int32 values are shown as unsigned). */
export function hex(n: number): string {
  return '0x' + (n < 0 ? n >>> 0 : n).toString(16);
}

/**
 * A small builder for flattened device trees (FDT / DTB), following the Devicetree Specification
 * (blob format version 17, last compatible version 16).
 *
 * Usage: make an {@link Fdt}, add nodes under `fdt.root` with {@link FdtNode.addNode}, set properties
 * with the typed setters, then call {@link Fdt.toDtb}. Property values are encoded (big-endian) when
 * they are set, so a tree holds nothing but names and bytes.
 *
 * Blob layout written here: header (40 bytes) | memory reservation block (8-byte aligned, ends with a
 * zero entry) | structure block (4-byte aligned tokens) | strings block (deduplicated property names).
 */

/** Magic number at offset 0 of every blob. */
export const FDT_MAGIC = 0xd00dfeed;
/** Blob format version written by this builder. */
export const FDT_VERSION = 17;
/** Lowest version a reader must support to read the blobs written here. */
export const FDT_LAST_COMP_VERSION = 16;
/** Size of the version-17 header in bytes. */
export const FDT_HEADER_SIZE = 40;

/** Structure block tokens. */
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

// Devicetree spec §2.2.1 / §2.2.4: node names are 1..31 characters of [0-9a-zA-Z,._+-], optionally followed by
// '@' and a unit address; property names are 1..31 characters of [0-9a-zA-Z,._+?#-].
const NODE_NAME_RE = /^[0-9A-Za-z,._+-]{1,31}(@[0-9A-Za-z,._+-]+)?$/;
const PROP_NAME_RE = /^[0-9A-Za-z,._+?#-]{1,31}$/;

const utf8 = new TextEncoder();

function encodeString(s: string): Uint8Array {
  if (s.includes('\0')) throw new RangeError('device tree strings cannot contain NUL characters');
  return utf8.encode(s);
}

function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new RangeError(`${what}: ${v} is not a u32`);
  return v;
}

function toU64(v: number | bigint, what: string): bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`${what}: ${v} is not a safe integer`);
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`${what}: ${v} is not a u64`);
  return b;
}

/** Splits a u64 into its two big-endian 32-bit cells [high, low]. */
export function u64Cells(v: number | bigint): [number, number] {
  const b = toU64(v, 'u64Cells');
  return [Number(b >> 32n), Number(b & 0xffffffffn)];
}

/** One property: a name and its encoded value. */
export interface FdtProperty {
  readonly name: string;
  readonly value: Uint8Array;
}

/** A node of the tree. Property and child order is kept as inserted. */
export class FdtNode {
  /** Node name including any unit address, e.g. `cpu@0`; the root's name is the empty string. */
  readonly name: string;
  private readonly props: FdtProperty[] = [];
  private readonly kids: FdtNode[] = [];

  /** Creates a detached node; normally use {@link FdtNode.addNode}. Pass `''` only for a root. */
  constructor(name: string) {
    if (name !== '' && !NODE_NAME_RE.test(name)) throw new RangeError(`invalid device tree node name '${name}'`);
    this.name = name;
  }

  /** The properties, in insertion order. */
  get properties(): readonly FdtProperty[] {
    return this.props;
  }

  /** The child nodes, in insertion order. */
  get children(): readonly FdtNode[] {
    return this.kids;
  }

  /** Adds and returns a new child node; sibling names must be unique. */
  addNode(name: string): FdtNode {
    if (name === '') throw new RangeError('only the root node may have an empty name');
    if (this.getNode(name)) throw new RangeError(`duplicate node '${name}' under '${this.name || '/'}'`);
    const node = new FdtNode(name);
    this.kids.push(node);
    return node;
  }

  /** The child with this exact name, if any. */
  getNode(name: string): FdtNode | undefined {
    return this.kids.find((n) => n.name === name);
  }

  /** The encoded value of a property, if set. */
  getProperty(name: string): Uint8Array | undefined {
    return this.props.find((p) => p.name === name)?.value;
  }

  /** Sets a property to raw bytes (copied); replaces an existing property of the same name in place. */
  setBytes(name: string, bytes: Uint8Array | readonly number[]): this {
    if (!PROP_NAME_RE.test(name)) throw new RangeError(`invalid device tree property name '${name}'`);
    const value = Uint8Array.from(bytes, (b) => b & 0xff);
    const i = this.props.findIndex((p) => p.name === name);
    if (i >= 0) this.props[i] = { name, value };
    else this.props.push({ name, value });
    return this;
  }

  /** Sets an empty (boolean, present-means-true) property such as `interrupt-controller`. */
  setEmpty(name: string): this {
    return this.setBytes(name, new Uint8Array(0));
  }

  /** Sets a single 32-bit cell. */
  setU32(name: string, value: number): this {
    return this.setCells(name, [value]);
  }

  /** Sets an array of 32-bit cells (`<a b c>` in source form). */
  setCells(name: string, cells: readonly number[]): this {
    const bytes = new Uint8Array(cells.length * 4);
    const dv = new DataView(bytes.buffer);
    cells.forEach((c, i) => dv.setUint32(i * 4, checkU32(c, `property '${name}'`)));
    return this.setBytes(name, bytes);
  }

  /** Sets a 64-bit value as two cells, high cell first. */
  setU64(name: string, value: number | bigint): this {
    return this.setCells(name, u64Cells(value));
  }

  /** Sets a NUL-terminated string. */
  setString(name: string, value: string): this {
    return this.setStrings(name, [value]);
  }

  /** Sets a string list: each string NUL-terminated, one after another. */
  setStrings(name: string, values: readonly string[]): this {
    const parts = values.map(encodeString);
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
    let off = 0;
    for (const p of parts) {
      bytes.set(p, off);
      off += p.length + 1; // the byte after each string stays 0
    }
    return this.setBytes(name, bytes);
  }
}

/** A growable big-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1024);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u32(v: number): void {
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Pads with zero bytes to a multiple of 4. */
  align4(): void {
    const pad = (4 - (this.length & 3)) & 3;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A memory reservation entry (physical address and size, both u64). */
export interface FdtReservation {
  readonly address: bigint;
  readonly size: bigint;
}

/** Options for {@link Fdt.toDtb}. */
export interface DtbOptions {
  /** Zero bytes appended after the strings block and counted in `totalsize`, for in-place edits. Default 0. */
  extraSpace?: number;
}

/** A whole device tree: root node, memory reservations, boot CPU and phandle allocation. */
export class Fdt {
  /** The root node `/`. */
  readonly root = new FdtNode('');
  /** Physical id of the boot CPU, written to the header's `boot_cpuid_phys`. */
  bootCpuidPhys = 0;
  private readonly reservations: FdtReservation[] = [];
  private nextPhandle = 1;

  /** Adds a memory reservation block entry. */
  addReservation(address: number | bigint, size: number | bigint): void {
    this.reservations.push({ address: toU64(address, 'reservation address'), size: toU64(size, 'reservation size') });
  }

  /** The memory reservation entries added so far. */
  get memoryReservations(): readonly FdtReservation[] {
    return this.reservations;
  }

  /**
   * Gives `node` a `phandle` property and returns its value; a node that already has one keeps it.
   * Values count up from 1. Phandles set by hand with `setU32('phandle', …)` are not tracked here, but
   * {@link toDtb} rejects duplicates.
   */
  allocPhandle(node: FdtNode): number {
    const existing = node.getProperty('phandle');
    if (existing && existing.length === 4) return new DataView(existing.buffer, existing.byteOffset).getUint32(0);
    const ph = this.nextPhandle++;
    if (ph > 0xfffffffe) throw new RangeError('out of phandles');
    node.setU32('phandle', ph);
    return ph;
  }

  /** Serialises the tree into a version-17 DTB. */
  toDtb(options: DtbOptions = {}): Uint8Array {
    const extra = options.extraSpace ?? 0;
    if (!Number.isInteger(extra) || extra < 0) throw new RangeError(`extraSpace must be a non-negative integer`);
    checkU32(this.bootCpuidPhys, 'bootCpuidPhys');

    // Strings block: each distinct property name once.
    const strings = new ByteWriter();
    const nameOffsets = new Map<string, number>();
    const nameOffset = (name: string): number => {
      let off = nameOffsets.get(name);
      if (off === undefined) {
        off = strings.length;
        nameOffsets.set(name, off);
        strings.bytes(encodeString(name));
        strings.bytes(new Uint8Array(1));
      }
      return off;
    };

    // Structure block.
    const struct = new ByteWriter();
    const phandles = new Set<number>();
    const emit = (node: FdtNode): void => {
      struct.u32(FDT_BEGIN_NODE);
      struct.bytes(encodeString(node.name));
      struct.bytes(new Uint8Array(1));
      struct.align4();
      for (const p of node.properties) {
        if (p.name === 'phandle' || p.name === 'linux,phandle') {
          const ph = p.value.length === 4 ? new DataView(p.value.buffer, p.value.byteOffset).getUint32(0) : -1;
          if (ph <= 0 || ph === U32_MAX) throw new RangeError(`invalid phandle in node '${node.name}'`);
          if (p.name === 'phandle') {
            if (phandles.has(ph)) throw new RangeError(`duplicate phandle ${ph} (node '${node.name}')`);
            phandles.add(ph);
          }
        }
        struct.u32(FDT_PROP);
        struct.u32(p.value.length);
        struct.u32(nameOffset(p.name));
        struct.bytes(p.value);
        struct.align4();
      }
      for (const child of node.children) emit(child);
      struct.u32(FDT_END_NODE);
    };
    emit(this.root);
    struct.u32(FDT_END);

    // Memory reservation block: 16-byte entries, then an all-zero terminator.
    const rsvSize = (this.reservations.length + 1) * 16;
    const offRsv = FDT_HEADER_SIZE; // 40: already 8-byte aligned
    const offStruct = offRsv + rsvSize;
    const offStrings = offStruct + struct.length;
    const total = offStrings + strings.length + extra;
    if (total > U32_MAX) throw new RangeError('device tree too large');

    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    const header = [
      FDT_MAGIC,
      total,
      offStruct,
      offStrings,
      offRsv,
      FDT_VERSION,
      FDT_LAST_COMP_VERSION,
      this.bootCpuidPhys,
      strings.length,
      struct.length,
    ];
    header.forEach((v, i) => dv.setUint32(i * 4, v));
    this.reservations.forEach((r, i) => {
      dv.setBigUint64(offRsv + i * 16, r.address);
      dv.setBigUint64(offRsv + i * 16 + 8, r.size);
    });
    out.set(struct.result(), offStruct);
    out.set(strings.result(), offStrings);
    return out;
  }
}
